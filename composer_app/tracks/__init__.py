"""Tracks: the track panel (name, GM instrument, colour, mute, solo, add, delete, rename)."""

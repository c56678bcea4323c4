"""Editing every piano roll has: clipboard, quantize, transpose, legato, velocity tools."""

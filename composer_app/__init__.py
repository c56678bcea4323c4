"""Composer Assistant's PySide6 desktop app: piano roll, Continue, playback."""

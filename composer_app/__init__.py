"""Composer Assistant's PySide6 desktop app: piano roll, Continue, playback.

One package per feature: `document` (the composition, undo, autosave, files), `canvas`
(the piano roll), `continuation` (Continue and its panels), `playback` (timeline, synth,
player, transport) and `workers` (worker threads). The window and its assembly
(`main_window`, `app`), settings and dialogs sit here at the top. docs/ARCHITECTURE.md
draws the map.
"""

"""Listening: the shared timeline, the synthesizer, real-time playback and WAV export.

`timeline.Timeline` is the Qt-free model of the playhead, the loop region and whether
the view follows playback; the canvas, the ruler and the player observe it. `audio`
renders offline and writes WAV files, `synth` is the live FluidSynth output, `player`
plays a Score against a clock, and `transport` wires the player to the window (Space,
Export WAV, soundfont choice).
"""

"""The piano-roll editor surface: what the musician sees and draws on.

`canvas.PianoRollCanvas` lays out the ruler, the keyboard, the roll and the velocity
lane; `view.PianoRollView` mirrors the Document as note items and `gestures` turns mouse
drags into single undo commands; `note_item` draws one note, `grid` paints the
background, `geometry` is the one place that converts ticks and pitches to pixels and
snaps to the grid. Playhead and loop come from the shared `playback.timeline.Timeline`,
which the canvas and ruler observe.
"""

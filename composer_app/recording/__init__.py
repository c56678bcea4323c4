"""Recording from a MIDI keyboard: `recorder` (Qt-free: timed key presses to notes), `ports`
(mido input ports, optional at import) and `panel` (port choice, arm, count-in, quantize,
MIDI thru, one undo step per take)."""

"""A take's key presses, timed in seconds, turned into notes at the right ticks. No Qt.

Time zero is where the take lands (the playhead, after any count-in); the document's tempo
map converts seconds to ticks, so a piece with tempo changes records correctly. A key still
held when the take ends is released there. Optional input quantize snaps starts and ends to
a grid (never shorter than one step).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_core.music import Note, Score


@dataclass(frozen=True)
class RecordingSetup:
    meter: Score          # the document's tempo and meter map (notes-free)
    start_tick: int       # where second zero lands
    quantize: int = 0     # grid in ticks; 0 keeps the timing as played


class Recorder:
    """Collects note-on/note-off events of one take; `finish` gives its notes."""

    def __init__(self, setup: RecordingSetup) -> None:
        self.setup = setup
        self._origin_s = setup.meter.seconds_at(setup.start_tick)
        self._held: dict[int, tuple[float, int]] = {}   # pitch -> (pressed at, velocity)
        self._notes: list[Note] = []

    def tick_at(self, seconds: float) -> int:
        """The document tick `seconds` after time zero (earlier times land on zero)."""
        return self.setup.meter.tick_at_seconds(self._origin_s + max(0.0, seconds))

    def event(self, kind: str, pitch: int, velocity: int, seconds: float) -> None:
        """A MIDI channel message: 'note_on' (velocity 0 is a release) or 'note_off'."""
        if kind == "note_on" and velocity > 0:
            self.press(pitch, velocity, seconds)
        elif kind in ("note_on", "note_off"):
            self.release(pitch, seconds)

    def press(self, pitch: int, velocity: int, seconds: float) -> None:
        if pitch in self._held:            # pressed again without a release: end the first
            self.release(pitch, seconds)
        self._held[pitch] = (seconds, velocity)

    def release(self, pitch: int, seconds: float) -> None:
        pressed = self._held.pop(pitch, None)
        if pressed is not None:
            self._notes.append(self._note(pitch, pressed[1], pressed[0], seconds))

    def held(self) -> list[int]:
        return sorted(self._held)

    def finish(self, seconds: float) -> list[Note]:
        """The take's notes in time order (keys still down are released at `seconds`)."""
        for pitch in list(self._held):
            self.release(pitch, seconds)
        return sorted(self._notes)

    def _note(self, pitch: int, velocity: int, pressed: float, released: float) -> Note:
        start, end = self.tick_at(pressed), self.tick_at(released)
        grid = self.setup.quantize
        if grid > 0:
            origin = self.setup.start_tick
            start = origin + round((start - origin) / grid) * grid
            end = max(start + grid, origin + round((end - origin) / grid) * grid)
        return Note(pitch, start, max(1, end - start), min(127, max(1, velocity)))

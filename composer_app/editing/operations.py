"""Note operations behind the Edit menu, as pure functions over notes (Qt-free).

Each takes {note id: Note} and returns the changed notes; the caller makes them one undo
step with `Document.change_notes`. Notes that would leave MIDI's range are clamped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ml_core.music import PITCH_MAX, PITCH_MIN, Note


def quantize(notes: dict[int, Note], grid: int, strength: float = 1.0) -> dict[int, Note]:
    """Move each start towards the nearest grid line by `strength` (0..1); durations keep."""
    if grid < 1:
        raise ValueError(f"grid must be at least one tick, not {grid}")
    strength = min(1.0, max(0.0, strength))
    changed = {}
    for note_id, note in notes.items():
        target = round(note.start / grid) * grid
        start = max(0, round(note.start + (target - note.start) * strength))
        changed[note_id] = note.moved(start=start)
    return changed


def transpose(notes: dict[int, Note], semitones: int) -> dict[int, Note]:
    """Shift every pitch; refused (ValueError) if a note would leave 0..127."""
    moved = {i: n.moved(pitch=n.pitch + semitones) for i, n in notes.items()}
    if any(not PITCH_MIN <= n.pitch <= PITCH_MAX for n in moved.values()):
        raise ValueError(f"transposing by {semitones} takes notes outside MIDI's range")
    return moved


def legato(notes: dict[int, Note]) -> dict[int, Note]:
    """Each note lasts until the next later onset among the notes (the last keeps its length)."""
    onsets = sorted({n.start for n in notes.values()})
    changed = {}
    for note_id, note in notes.items():
        later = [tick for tick in onsets if tick > note.start]
        if later:
            changed[note_id] = note.moved(duration=later[0] - note.start)
        else:
            changed[note_id] = note
    return changed


def scale_velocity(notes: dict[int, Note], factor: float) -> dict[int, Note]:
    return {i: n.moved(velocity=min(127, max(1, round(n.velocity * factor))))
            for i, n in notes.items()}


def humanize_velocity(notes: dict[int, Note], amount: int,
                      seed: int | None = None) -> dict[int, Note]:
    """Add a random offset in -amount..amount to each velocity (clamped to 1..127)."""
    chooser = random.Random(seed)
    return {i: n.moved(velocity=min(127, max(1, n.velocity + chooser.randint(-amount, amount))))
            for i, n in sorted(notes.items())}


@dataclass(frozen=True)
class Clip:
    """Copied notes, with starts relative to the first one."""

    notes: tuple[Note, ...]

    @classmethod
    def of(cls, notes: list[Note]) -> Clip:
        first = min((n.start for n in notes), default=0)
        return cls(tuple(sorted(n.moved(start=n.start - first) for n in notes)))

    def placed_at(self, tick: int) -> list[Note]:
        return [n.moved(start=n.start + tick) for n in self.notes]

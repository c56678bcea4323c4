"""Making room for generated notes: what a continuation or a Fill changes around itself.

`room_for` works out, from the document's notes and meter, which entries change in the
same undo step that adds a model's notes: continuing at the playhead either replaces the
active track's notes up to the continuation's end or shifts everything after the playhead
later by whole bars, and either way cuts a note still sounding across the playhead; a Fill
removes the active track's notes starting inside its span. It reads, never writes: the
`ContinuationCommand` that `Document.add_generated` pushes applies the result.
"""

from __future__ import annotations

from composer_app.document.commands import Entry
from composer_app.document.preparing import DocumentError
from ml_core.music import Note, Score


def room_for(entries: dict[int, Entry], meter: Score, notes: list[Note], track: int,
             mode: str, tick: int, end_tick: int | None = None) -> dict[int, Entry | None]:
    """The entries (of `entries`, id -> (track, note)) that change to make room for `notes`
    continuing at `tick`: new values, or None for a note that goes."""
    if mode == "span" and end_tick is not None:
        return {note_id: None for note_id, (t, note) in entries.items()
                if t == track and tick <= note.start < end_tick}
    if not notes:
        return {}
    end = max(n.end for n in notes)
    changes: dict[int, Entry | None] = {}
    if mode in ("replace", "shift"):   # what sounds across the playhead stops there
        for note_id, (t, note) in entries.items():
            if t == track and note.start < tick < note.end:
                changes[note_id] = (t, note.moved(duration=tick - note.start))
    if mode == "replace":
        for note_id, (t, note) in entries.items():
            if t == track and tick <= note.start < end:
                changes[note_id] = None
    elif mode == "shift":
        bar_at_tick, _ = meter.bar_at(tick)
        bar_at_end, offset = meter.bar_at(end)
        bars = bar_at_end - bar_at_tick + (1 if offset else 0)
        shift = meter.bar_start(bar_at_tick + max(1, bars)) - meter.bar_start(bar_at_tick)
        for note_id, (t, note) in entries.items():
            if note.start >= tick:
                changes[note_id] = (t, note.moved(start=note.start + shift))
    else:
        raise DocumentError(f"unknown way to make room: {mode!r}")
    return changes

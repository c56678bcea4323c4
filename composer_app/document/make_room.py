"""Making room for generated notes: what a continuation or a Fill changes around itself.

`room_for` works out, from the document's notes and meter, which entries change in the
same undo step that adds a model's notes: continuing at the playhead either replaces the
active track's notes up to the continuation's end or shifts everything after the playhead
later by whole bars (the sustain pedal with them: `pedal_with_room`), and either way cuts
a note still sounding across the playhead; a Fill removes the active track's notes starting
inside its span. It reads, never writes: the `ContinuationCommand` that
`Document.add_generated` pushes applies the result.
"""

from __future__ import annotations

from composer_app.document.commands import Entry
from composer_app.document.preparing import DocumentError
from composer_app.document.tracks import TrackInfo
from composer_app.model.jobs import MakeRoom, RoomKind
from ml_core.music import Note, PedalSpan, Score


def room_for(entries: dict[int, Entry], meter: Score, notes: list[Note], track: int,
             room: MakeRoom) -> dict[int, Entry | None]:
    """The entries (of `entries`, id -> (track, note)) that change to make room for `notes`
    as `room` says: new values, or None for a note that goes."""
    tick = room.start
    if room.kind is RoomKind.SPAN:
        return {note_id: None for note_id, (t, note) in entries.items()
                if t == track and tick <= note.start < room.end}
    if not notes:
        return {}
    end = max(n.end for n in notes)
    changes: dict[int, Entry | None] = {}
    # what sounds across the playhead stops there
    if room.kind in (RoomKind.REPLACE, RoomKind.SHIFT):
        for note_id, (t, note) in entries.items():
            if t == track and note.start < tick < note.end:
                changes[note_id] = (t, note.moved(duration=tick - note.start))
    if room.kind is RoomKind.REPLACE:
        for note_id, (t, note) in entries.items():
            if t == track and tick <= note.start < end:
                changes[note_id] = None
    elif room.kind is RoomKind.SHIFT:
        shift = shift_ticks(meter, tick, end)
        for note_id, (t, note) in entries.items():
            if note.start >= tick:
                changes[note_id] = (t, note.moved(start=note.start + shift))
    else:
        raise DocumentError(f"unknown way to make room: {room.kind!r}")
    return changes


def shift_ticks(meter: Score, tick: int, end: int) -> int:
    """How far a shift moves what follows `tick` to make room up to `end`: whole bars."""
    bar_at_tick, _ = meter.bar_at(tick)
    bar_at_end, offset = meter.bar_at(end)
    bars = bar_at_end - bar_at_tick + (1 if offset else 0)
    return meter.bar_start(bar_at_tick + max(1, bars)) - meter.bar_start(bar_at_tick)


def pedal_with_room(tracks: list[TrackInfo], meter: Score, notes: list[Note],
                    room: MakeRoom) -> list[TrackInfo]:
    """The tracks with their sustain pedal moved as a shift moves the notes: a span from the
    playhead on moves with them; one held across the playhead comes up there and goes down
    again where the moved notes resume."""
    if room.kind is not RoomKind.SHIFT or not notes:
        return tracks
    tick = room.start
    shift = shift_ticks(meter, tick, max(n.end for n in notes))
    moved = []
    for info in tracks:
        pedal = [PedalSpan(span.start, min(span.end, tick)) for span in info.pedal
                 if span.start < tick]
        pedal += [PedalSpan(max(span.start, tick) + shift, span.end + shift)
                  for span in info.pedal if span.end > tick]
        moved.append(info.changed(pedal=tuple(pedal)) if info.pedal else info)
    return moved


def with_room(entries: dict[int, Entry], generated: set[int], added: dict[int, Entry],
              room: dict[int, Entry | None]) -> tuple[dict, dict, dict, dict]:
    """The diff of one continuation step: (entries before, after, generated flags before,
    after) for the `added` generated entries and the `room` (`room_for`) made for them."""
    before: dict[int, Entry | None] = dict.fromkeys(added)
    before.update({note_id: entries[note_id] for note_id in room})
    after: dict[int, Entry | None] = {**added, **room}
    flags = dict.fromkeys(added, True)
    flags.update({i: False for i in room if room[i] is None and i in generated})
    return before, after, {i: i in generated for i in before}, flags

"""Generated notes in several tracks, or in a new track, as ONE undo step.

A Continue of every audible track writes each new note into its own track; Add part
writes a new track. `add_parts` pushes either as one `ContinuationCommand` (the same diff
a single-track continuation is, flagged generated until accepted, its owner told of an
undo); with a new track it is a `PartCommand`, which adds the track and its notes
together, so one Ctrl+Z removes both (a shift's step is one too: it moves the tracks' sustain
pedal). It lives beside `Document` (whose internals it reads as the document's own commands
do) so that the document itself stays small; `continuation_step` builds every such step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from composer_app.document.commands import ContinuationCommand, Entry, NoteEditCommand
from composer_app.document.make_room import pedal_with_room, room_for, with_room
from composer_app.document.preparing import DocumentError, validate_note
from composer_app.document.tracks import TrackInfo, default_color
from composer_app.model.jobs import ContinueResult, MakeRoom, RoomKind
from ml_core.music import Note

if TYPE_CHECKING:
    from composer_app.document.document import Document


class PartCommand(ContinuationCommand):
    """A continuation that adds a track too (Add part): the track list before/after with
    the note diff, one step."""

    def __init__(self, document: Document, text: str, tracks_before: list[TrackInfo],
                 tracks_after: list[TrackInfo], *diff: Any) -> None:
        super().__init__(document, text, *diff)
        self.tracks_before = list(tracks_before)
        self.tracks_after = list(tracks_after)

    def redo(self) -> None:
        self._document._set_tracks(self.tracks_after, lambda: NoteEditCommand.redo(self))

    def undo(self) -> None:
        self._document._set_tracks(self.tracks_before, lambda: NoteEditCommand.undo(self))
        if self.owner is not None:
            self.owner.continuation_undone(self)


def new_track_info(document: Document, name: str, program: int) -> TrackInfo:
    """A new pitched track's description, with a colour no other track shows yet."""
    infos = document.track_infos()
    return TrackInfo(name, int(program), False,
                     default_color(len(infos), False, [t.color for t in infos]))


def add_parts(document: Document, notes: dict[int, list[Note]], text: str = "Continue",
              owner: Any = None, *, new_track: TrackInfo | None = None,
              make_room: MakeRoom | None = None) -> ContinuationCommand | None:
    """Add `notes` (track index -> notes; with `new_track`, the index after the last track
    is that track) as one generated step; the step, or None when there is no note."""
    notes = {track: [validate_note(n) for n in made] for track, made in notes.items() if made}
    if not notes:
        return None
    tracks_before = document.track_infos()
    tracks_after = tracks_before + ([new_track] if new_track is not None else [])
    for track in notes:
        if not 0 <= track < len(tracks_after):
            raise DocumentError(f"there is no track {track} (the document has "
                                f"{len(tracks_after)})")
    added: dict[int, Entry] = {}
    for track in sorted(notes):
        for note in notes[track]:
            added[document._next_id] = (track, note)
            document._next_id += 1
    command = continuation_step(document, text, added, notes, make_room, tracks_after)
    document.undo_stack.push(command)
    command.owner = owner   # after the push: pushing tells no one
    return command


def continuation_step(document: Document, text: str, added: dict[int, Entry],
                      notes: dict[int, list[Note]], make_room: MakeRoom | None,
                      tracks_after: list[TrackInfo] | None = None) -> ContinuationCommand:
    """The step adding `added` (new generated entries: `notes` by track, already checked)
    with the room `make_room` makes; a `PartCommand` when the track list changes with it (a
    new track in `tracks_after`, or the sustain pedal a shift moves)."""
    tracks_before = document.track_infos()
    tracks_after = tracks_before if tracks_after is None else tracks_after
    room: dict[int, Entry | None] = {}
    if make_room is not None:
        shift = make_room.kind is RoomKind.SHIFT
        everything = [n for made in notes.values() for n in made]
        for track in ([min(notes)] if shift else sorted(notes)):
            made = everything if shift else notes[track]
            room.update(room_for(document._notes, document.meter(), made, track, make_room))
        tracks_after = pedal_with_room(tracks_after, document.meter(), everything, make_room)
    diff = with_room(document._notes, document._generated, added, room)
    if tracks_after != tracks_before:
        return PartCommand(document, text, tracks_before, tracks_after, *diff)
    return ContinuationCommand(document, text, *diff)


def add_result(document: Document, result: ContinueResult, notes: list[Note], text: str,
               owner: Any) -> ContinuationCommand | None:
    """`notes` (a comp of `result`'s variations) as the session's one step: each in its
    own track, an Add part's in its new track (`ContinueSession`'s `add_parts`)."""
    part = result.job.part
    new_track = new_track_info(document, part.name, part.program) if part is not None else None
    return add_parts(document, result.by_track(notes), text, owner, new_track=new_track,
                     make_room=result.job.make_room)

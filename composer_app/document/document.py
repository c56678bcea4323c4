"""The edited composition: notes with stable ids, tempo, meter, an undo stack. No widgets.

Views subscribe to its signals and keep no copy of a note. Every public edit is one
QUndoCommand on `undo_stack` (which calls the private `_apply` / `_set_meta`). Note ids are
never reused, so undo gives a deleted note its old id. A continuation is added flagged
"generated" until accepted; a preview lives outside the undo stack and every save. Helpers:
`preparing` (checks), `make_room` (what a continuation replaces), `snapshot` (other threads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from composer_app.document.commands import (
    AcceptCommand,
    AcceptOwner,
    ContinuationCommand,
    ContinuationOwner,
    Entry,
    MetaCommand,
    NoteEditCommand,
)
from composer_app.document.parts import continuation_step
from composer_app.document.preparing import (
    DEFAULT_TRACK,
    DocumentError,
    PreparedScore,
    checked_tempo,
    checked_time_signature,
    pickup_in_meter,
    prepare_score,
    tracks_changed,
    tracks_without,
    validate_note,
)
from composer_app.document.snapshot import Snapshot
from composer_app.document.tracks import (
    TrackCommand,
    TrackInfo,
    audible,
    default_color,
    deleting_track,
)
from composer_app.model.jobs import MakeRoom
from ml_core.music import TICKS_PER_QUARTER, Note, Score, Track

__all__ = ["DEFAULT_TRACK", "Document", "DocumentError",
           "PreparedScore", "Snapshot", "prepare_score", "validate_note"]


class Document(QObject):
    """Score being edited + undo stack + change signals."""

    notes_added = Signal(list)      # ids
    notes_removed = Signal(list)    # ids
    notes_changed = Signal(list)    # ids whose note, track or generated flag changed
    meta_changed = Signal()         # tempo or time signature
    modified_changed = Signal(bool)
    reset = Signal()                # the whole document was replaced (load_score)
    preview_changed = Signal()
    path_changed = Signal(object)   # Path | None
    tracks_changed = Signal()       # a track was added, deleted, renamed, re-coloured, muted...
    active_track_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._notes: dict[int, Entry] = {}
        self._generated: set[int] = set()
        self._tracks: list[TrackInfo] = [TrackInfo(DEFAULT_TRACK.name, DEFAULT_TRACK.program)]
        self._active_track = 0
        self._meta = Score([])          # notes-free: tempo, meter and their changes
        self._next_id = 1
        self._end_tick: int | None = 0   # where the last note ends; None: to be recounted
        # (lowest, highest) pitch as loaded (prepared off the GUI thread) for views on `reset`
        self.loaded_pitch_span: tuple[int, int] | None = None
        self._preview: list[Note] = []
        self._preview_track = 0
        self._preview_replaces: tuple[int, int, int] | None = None   # a fill's (track, start, end)
        self._path: Path | None = None

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    # ------------------------------------------------------------------ state
    @property
    def path(self) -> Path | None:
        return self._path

    @path.setter
    def path(self, value: str | Path | None) -> None:
        self._path = Path(value) if value is not None else None
        self.path_changed.emit(self._path)

    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: str | Path | None = None) -> None:
        """The current state is what is on disk (at `path` when given)."""
        if path is not None:
            self.path = path
        self.undo_stack.setClean()

    def mark_modified(self) -> None:
        """Flag unsaved work that has no undo step (e.g. a restored recovery file)."""
        self.undo_stack.resetClean()

    @property
    def ticks_per_quarter(self) -> int:
        return TICKS_PER_QUARTER

    @property
    def tempo_bpm(self) -> float:
        return self._meta.tempo_bpm

    @property
    def time_signature(self) -> tuple[int, int]:
        return self._meta.time_signature

    def meter(self) -> Score:
        """A notes-free Score with this document's tempo and meter map, for bar arithmetic."""
        return self._meta

    def tracks(self) -> list[Track]:
        """Track descriptions (name, programs, drum flag); their notes lists are empty."""
        return [t.as_track() for t in self._tracks]

    def track_count(self) -> int:
        return len(self._tracks)

    def track_infos(self) -> list[TrackInfo]:
        """Name, instrument, colour, mute and solo of each track, in order."""
        return list(self._tracks)

    def track_info(self, index: int) -> TrackInfo:
        return self._tracks[index]

    def audible_tracks(self) -> list[bool]:
        return audible(self._tracks)

    @property
    def active_track(self) -> int:
        """The track that receives drawn and pasted notes and the continuation."""
        return self._active_track

    def set_active_track(self, index: int) -> None:
        index = max(0, min(len(self._tracks) - 1, int(index)))
        if index != self._active_track:
            self._active_track = index
            self.active_track_changed.emit(index)

    def track_note_ids(self, track: int) -> list[int]:
        return [i for i, (t, _) in self._notes.items() if t == track]

    def note_ids(self) -> list[int]:
        """Every note's id, in the order the notes were added (no copy of the notes)."""
        return list(self._notes)

    def notes(self) -> dict[int, tuple[int, Note]]:
        """Every note on the canvas (generated ones included): id -> (track index, note)."""
        return dict(self._notes)

    def note(self, note_id: int) -> Note:
        return self._notes[note_id][1]

    def entry(self, note_id: int) -> Entry:
        return self._notes[note_id]

    def __contains__(self, note_id: object) -> bool:
        return note_id in self._notes

    def generated_ids(self) -> set[int]:
        return set(self._generated)

    def is_generated(self, note_id: int) -> bool:
        return note_id in self._generated

    def end_tick(self) -> int:
        """Where the last note ends (0 for no notes). Kept up to date by `_apply`: it only
        recounts every note after the note that ended last was removed or shortened."""
        if self._end_tick is None:
            self._end_tick = max((note.end for _, note in self._notes.values()), default=0)
        return self._end_tick

    def score(self, include_generated: bool = False,
              tracks_wanted: list[bool] | None = None) -> Score:
        """A snapshot copy of the composition (unaccepted generated notes left out unless
        `include_generated`); the preview is never part of it. With `tracks_wanted`, the
        notes of the unwanted tracks are left out (the tracks stay, empty)."""
        return self.snapshot().score(include_generated, tracks_wanted)

    def snapshot(self) -> Snapshot:
        """The composition as it is now, captured in well under a millisecond (no Score is
        built), for a worker thread to turn into a Score while the document changes on."""
        meta = self._meta
        return Snapshot(dict(self._notes), frozenset(self._generated), tuple(self._tracks),
                        meta.with_tracks([]))

    def playback_score(self, include_generated: bool = True) -> Score:
        """What is heard: the score with muted (or not soloed) tracks silent."""
        return self.score(include_generated, self.audible_tracks())

    # ------------------------------------------------------------------ whole-document
    def load_score(self, score: Score | PreparedScore, path: str | Path | None = None) -> None:
        """Replace everything by `score`; the undo stack starts empty and clean. A large file
        is prepared on a worker thread first (`prepare_score`), leaving little to do here."""
        prepared = score if isinstance(score, PreparedScore) else prepare_score(score)
        notes, next_id = dict(prepared.notes), prepared.next_id
        self._tracks = list(prepared.tracks)
        self._active_track = prepared.active_track
        self._meta = prepared.meta
        self._notes = notes
        self._end_tick = prepared.end_tick
        self.loaded_pitch_span = prepared.pitch_span
        self._generated = set()
        self._next_id = next_id
        self._preview = []
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._path = Path(path) if path is not None else None
        self.reset.emit()
        self.tracks_changed.emit()
        self.active_track_changed.emit(self._active_track)
        self.path_changed.emit(self._path)

    # ------------------------------------------------------------------ preview
    def set_preview(self, notes: list[Note] | None, track: int = 0,
                    replaces: tuple[int, int] | None = None) -> None:
        """Provisional notes drawn in the generated style; not undoable, never saved.
        `replaces=(start, end)`: the notes of `track` starting there are to be replaced (a
        Fill), and views draw them faint meanwhile."""
        self._preview = list(notes) if notes else []
        self._preview_track = track
        self._preview_replaces = (track, *replaces) if replaces and self._preview else None
        self.preview_changed.emit()

    def preview(self) -> list[Note]:
        return list(self._preview)

    def preview_replaces(self) -> tuple[int, int, int] | None:
        """(track, start, end) of the notes the preview would replace, or None."""
        return self._preview_replaces

    # ------------------------------------------------------------------ edits (undoable)
    def add_notes(self, notes: Iterable[Note], track: int = 0,
                  text: str = "Add notes") -> list[int]:
        """Add notes to `track` as one undo step; returns their new ids."""
        return self._add(notes, track, text, generated=False)[0]

    def add_generated(self, notes: list[Note], track: int = 0, text: str = "Continue",
                      make_room: MakeRoom | None = None) -> list[int]:
        """Add a model's continuation as one undo step, flagged generated until accepted;
        the new notes' ids. `make_room` (replace, shift or a Fill's span: `make_room.room_for`)
        clears the way in the same step."""
        command = self.add_continuation(notes, track, text, make_room=make_room)
        return command.note_ids if command is not None else []

    def add_continuation(self, notes: list[Note], track: int = 0, text: str = "Continue",
                         owner: ContinuationOwner | None = None,
                         make_room: MakeRoom | None = None) -> ContinuationCommand | None:
        """As `add_generated`, returning the step (None: no notes); it tells `owner` of an undo."""
        command = self._add(notes, track, text, generated=True, make_room=make_room)[1]
        if isinstance(command, ContinuationCommand):
            command.owner = owner   # after the push: pushing tells no one
        return command

    def accept_generated(self, owner: AcceptOwner | None = None,
                         pending: object = None) -> AcceptCommand | None:
        """Make every generated note an ordinary note (one undo step, None: no such note);
        the step tells `owner` of its undo and redo, and keeps `pending` for it."""
        if not self._generated:
            return None
        self.undo_stack.push(command := AcceptCommand(self, self._generated, pending, owner))
        return command

    def discard_generated(self) -> None:
        """Remove every generated note (one undo step)."""
        if self._generated:
            self.remove_notes(self._generated, text="Discard continuation")

    def remove_notes(self, ids: Iterable[int], text: str = "Delete notes") -> None:
        ids = [i for i in ids if i in self._notes]
        if not ids:
            return
        before = {i: self._notes[i] for i in ids}
        generated = {i: True for i in ids if i in self._generated}
        self.undo_stack.push(NoteEditCommand(
            self, text, before, dict.fromkeys(ids), generated_before=generated,
            generated_after=dict.fromkeys(generated, False)))

    def change_notes(self, changes: dict[int, Note], text: str = "Edit notes",
                     merge_key: str | None = None) -> None:
        """Replace notes by new values (moved, resized, re-velocitied) as one undo step."""
        changes = {i: validate_note(n) for i, n in changes.items()
                   if i in self._notes and self._notes[i][1] != n}
        if not changes:
            return
        before = {i: self._notes[i] for i in changes}
        after = {i: (self._notes[i][0], note) for i, note in changes.items()}
        self.undo_stack.push(NoteEditCommand(self, text, before, after, merge_key=merge_key))

    def set_tempo(self, bpm: float) -> None:
        bpm = checked_tempo(bpm)
        if bpm != self._meta.tempo_bpm:
            self.undo_stack.push(MetaCommand(self, "Change tempo", "tempo",
                                             self._meta.tempo_bpm, bpm))

    def set_time_signature(self, numerator: int, denominator: int) -> None:
        signature = checked_time_signature(numerator, denominator)
        if signature != self._meta.time_signature:
            pickup = pickup_in_meter(self._meta, signature)
            self.undo_stack.push(MetaCommand(self, "Change time signature", "time_signature",
                                             (*self._meta.time_signature, self._meta.pickup_ticks),
                                             (*signature, pickup)))

    # ------------------------------------------------------------------ tracks
    def add_track(self, name: str | None = None, program: int = 0, is_drum: bool = False) -> int:
        """Append a track (one undo step) and make it the active one; returns its index."""
        index, used = len(self._tracks), [t.color for t in self._tracks]
        info = TrackInfo(name or ("Drums" if is_drum else f"Track {index + 1}"), int(program),
                         bool(is_drum), default_color(index, is_drum, used))
        self.undo_stack.push(TrackCommand(self, "Add track", self._tracks,
                                          self._tracks + [info], {}, {}))
        self.set_active_track(index)
        return index

    def delete_track(self, index: int) -> None:
        """Delete a track and its notes (one undo step); the last track cannot go."""
        tracks = tracks_without(self._tracks, index)
        before, after, generated = deleting_track(self._notes, self._generated, index)
        self.undo_stack.push(TrackCommand(self, "Delete track", self._tracks, tracks, before, after,
                                          generated, dict.fromkeys(generated, False)))

    def change_track(self, index: int, text: str = "Change track", **fields: object) -> None:
        """Rename, re-instrument or re-colour a track (one undo step)."""
        tracks = tracks_changed(self._tracks, index, fields)
        if tracks is not None:
            self.undo_stack.push(TrackCommand(self, text, self._tracks, tracks, {}, {}))

    def set_track_muted(self, index: int, muted: bool) -> None:
        """Mute or unmute a track (listening state: no undo step)."""
        self._set_listening(index, muted=bool(muted))

    def set_track_soloed(self, index: int, soloed: bool) -> None:
        self._set_listening(index, soloed=bool(soloed))

    def _set_listening(self, index: int, **fields: bool) -> None:
        info = self._tracks[index].changed(**fields)
        if info != self._tracks[index]:
            self._tracks[index] = info
            self.tracks_changed.emit()

    def _set_tracks(self, tracks: list[TrackInfo], apply_notes: Callable[[], None]) -> None:
        """Called by TrackCommand: the new track list and its note diff, in an order where
        every note entry always names an existing track."""
        if len(tracks) >= len(self._tracks):   # notes may move into a new track
            self._tracks = list(tracks)
        apply_notes()
        self._tracks = list(tracks)
        if self._active_track >= len(self._tracks):
            self.set_active_track(len(self._tracks) - 1)
        self.tracks_changed.emit()

    def _add(self, notes: Iterable[Note], track: int, text: str, generated: bool,
             make_room: MakeRoom | None = None) -> tuple[list[int], NoteEditCommand | None]:
        notes = [validate_note(n) for n in notes]
        if not 0 <= track < len(self._tracks):
            raise DocumentError(f"there is no track {track} (the document has {len(self._tracks)})")
        if not notes:
            return [], None
        ids = list(range(self._next_id, self._next_id + len(notes)))
        self._next_id += len(notes)
        after = {i: (track, n) for i, n in zip(ids, notes, strict=True)}
        if generated:   # the room it makes, and the pedal a shift moves, in the same step
            command = continuation_step(self, text, after, {track: notes}, make_room)
        else:
            command = NoteEditCommand(self, text, dict.fromkeys(ids), after)
        self.undo_stack.push(command)
        return ids, command

    def is_newest_step(self, command: object) -> bool:
        """True when `command` is the step the next Ctrl+Z would undo."""
        index = self.undo_stack.index()
        return index > 0 and self.undo_stack.command(index - 1) is command

    def undo(self) -> None:
        """Undo the newest step (what Ctrl+Z does)."""
        self.undo_stack.undo()

    # ------------------------------------------------------------------ called by commands
    def _apply(self, entries: dict[int, Entry | None], generated: dict[int, bool]) -> None:
        added, removed, changed = [], [], []
        for note_id, entry in entries.items():
            present = note_id in self._notes
            if present and (entry is None or entry[1].end < self._notes[note_id][1].end):
                self._forget_end(self._notes[note_id][1])
            if entry is None:
                if present:
                    del self._notes[note_id]
                    removed.append(note_id)
            elif not present:
                self._notes[note_id] = entry
                self._extend_end(entry[1])
                added.append(note_id)
            elif self._notes[note_id] != entry:
                self._notes[note_id] = entry
                self._extend_end(entry[1])
                changed.append(note_id)
        flag_changed = []
        for note_id, flag in generated.items():
            if flag and note_id in self._notes and note_id not in self._generated:
                self._generated.add(note_id)
                flag_changed.append(note_id)
            elif not flag and note_id in self._generated:
                self._generated.discard(note_id)
                flag_changed.append(note_id)
        self._generated &= self._notes.keys()
        settled = set(added) | set(removed) | set(changed)
        changed += [i for i in flag_changed if i not in settled and i in self._notes]
        if removed:
            self.notes_removed.emit(removed)
        if added:
            self.notes_added.emit(added)
        if changed:
            self.notes_changed.emit(changed)

    def _extend_end(self, note: Note) -> None:
        if self._end_tick is not None and note.end > self._end_tick:
            self._end_tick = note.end

    def _forget_end(self, note: Note) -> None:
        """`note` goes or ends earlier: if it may have ended last, recount on the next ask."""
        if self._end_tick is not None and note.end >= self._end_tick:
            self._end_tick = None

    def _set_meta(self, field: str, value: object) -> None:
        if field == "tempo":
            self._meta.tempo_bpm = float(value)
        elif field == "time_signature":   # (numerator, denominator[, pickup ticks])
            self._meta.time_signature = tuple(value[:2])
            self._meta.pickup_ticks = value[2] if len(value) > 2 else 0
        else:
            raise KeyError(field)
        self.meta_changed.emit()

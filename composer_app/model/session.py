"""The state of one Continue or Fill, as a model: the job, its variations, where they stand.

A `ContinueSession` is Qt-free. The panel renders it and feeds it the worker's messages;
the document tells it, through the session's own `ContinuationCommand`, when the musician
undoes its continuation. Nothing is inferred from a widget, from the undo stack's index
or from a command's text.

    begin(job)            a job started: RUNNING (progress() streams its notes as a preview)
    finish(result)        the job ended: the chosen variation enters the document as ONE
                          undo step and the session is PENDING (or back to IDLE if the
                          model made nothing)
    select(index)         swap the pending continuation for another variation (still one
                          undo step), or preview it when the musician has edited since
    withdraw()            take the pending continuation out again (Re-roll), giving back
                          the job to repeat
    accept()              the continuation becomes ordinary notes: ACCEPTED (one undo step
                          that keeps the variations: its Ctrl+Z makes them PENDING again)
    set_bars(bars, k)     comping: those bars of the pending continuation taken from
                          variation k (`model.comp`; still one undo step, swapped like select)
    accept_bars(bars)     accept only those bars of the pending comp (its two edits grouped
                          into one undo step by the caller's `one_step`)
    Ctrl+Z of it          UNDONE: its variations are dropped

A Fill job (`ContinueJob.fill_bars`) goes through the same states: its notes replace the
span's notes of the job's track in the same one undo step (`MakeRoom.span`), so swapping
variations, Re-roll and Ctrl+Z work as for a continuation. A job over several tracks
(`ContinueResult.note_tracks`) or an Add part job (`ContinueJob.part`) enters through the
`add_parts` callable the panel gives (`document.parts.add_result`): still one step, each
note in its own track, an Add part's new track with its notes.

The finish path is one call down and none back: `finish` asks the document for the undo
step (`Document.add_continuation`), which hands the step back and only then makes the
session its owner; when the session undoes its own step (a swap, a Re-roll) it lets go of
it first. So a Ctrl+Z by the musician is the only call that comes back.

`changed` fires after every state change, `continuation_added(ids)` when notes enter.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, Protocol

from composer_app.model.comp import Comp, bar_of, comp_span
from composer_app.model.events import Event
from composer_app.model.jobs import ContinueJob, ContinueProgress, ContinueResult, MakeRoom
from ml_core.music import Note, Score, Track

# undo step labels, for people only
COMMAND_TEXT = {"continue": "Continue", "fill": "Fill", "part": "Add part"}


def _replaced_span(job: ContinueJob) -> tuple[int, int] | None:
    """(start, end) of the notes a Fill job replaces; None for a continuation."""
    return job.make_room.replaced_span if job.make_room is not None else None


class SessionDocument(Protocol):
    """What the session asks of the document (`composer_app.document.Document`)."""

    def set_preview(self, notes: list[Note] | None, track: int = 0,
                    replaces: tuple[int, int] | None = None) -> None: ...

    def add_continuation(self, notes: list[Note], track: int = 0, text: str = "Continue",
                         owner: Any = None, make_room: MakeRoom | None = None) -> Any: ...

    def is_newest_step(self, command: object) -> bool: ...

    def accept_generated(self, owner: Any = None, pending: object = None) -> Any: ...

    def undo(self) -> None: ...

    def meter(self) -> Score: ...

    def note(self, note_id: int) -> Note: ...

    def remove_notes(self, ids: list[int], text: str = "Delete notes") -> None: ...

    def score(self, include_generated: bool = False,
              tracks_wanted: list[bool] | None = None) -> Score: ...


# (result, notes of its comp, undo text, owner) -> the one step adding them to their tracks
# (and the new track of an Add part): `composer_app.document.parts.add_result`
AddParts = Callable[[ContinueResult, list[Note], str, Any], Any]


class SessionState(Enum):
    IDLE = "idle"             # nothing generated yet (or the model made no note)
    RUNNING = "running"       # a job is generating
    PENDING = "pending"       # a continuation is in the document, not yet accepted
    ACCEPTED = "accepted"     # the last continuation became ordinary notes
    UNDONE = "undone"         # the musician undid the last continuation


@dataclass(frozen=True)
class PendingSession:
    """What a pending session holds (its fields of the same names), kept by its Accept step
    for an undo to bring back."""

    result: ContinueResult
    selected: int
    comp: Comp | None
    command_comp: Comp | None
    command: Any
    last_job: ContinueJob | None


class ContinuationRefused(ValueError):
    """The document refused the generated notes (the message says why)."""


class ContinueSession:
    """One continuation's state over a Document (see the module docstring)."""

    def __init__(self, document: SessionDocument, add_parts: AddParts | None = None) -> None:
        self.document = document
        self.add_parts = add_parts   # the step of notes in several tracks, or in a new one
        self.changed = Event()
        self.continuation_added = Event()          # (ids) the notes now pending in the document
        self.state = SessionState.IDLE
        self.job: ContinueJob | None = None        # the running job
        self.last_job: ContinueJob | None = None   # what Re-roll repeats
        self.result: ContinueResult | None = None  # the variations of the last job
        self.selected = 0                          # the variation shown
        self.command: Any = None                   # our undo step while PENDING
        self.comp: Comp | None = None              # the bars shown of each variation
        self.command_comp: Comp | None = None      # the comp that step holds

    # ------------------------------------------------------------------ questions
    @property
    def running(self) -> bool:
        return self.state is SessionState.RUNNING

    @property
    def command_variation(self) -> int | None:
        """The one variation our pending step holds (None: none, or a comp of several)."""
        return self.command_comp.single() if self.command_comp is not None else None

    @property
    def variation_count(self) -> int:
        return self.result.variation_count if self.result is not None else 0

    def is_pending(self) -> bool:
        """A continuation of ours is in the document and is the newest undo step (so it
        can be swapped or taken out without undoing anything of the musician's)."""
        return (self.state is SessionState.PENDING and self.command is not None
                and self.document.is_newest_step(self.command))

    def can_reroll(self) -> bool:
        """Re-roll replaces the pending continuation, or retries after a stop or error."""
        return (not self.running and self.last_job is not None
                and (self.is_pending() or self.result is None))

    # ------------------------------------------------------------------ the job
    def begin(self, job: ContinueJob) -> None:
        self.job = self.last_job = job
        self.result = None
        self.selected = 0
        self.command = None
        self.comp = self.command_comp = None
        self.state = SessionState.RUNNING
        self.changed.emit()

    def progress(self, progress: ContinueProgress) -> bool:
        """Show the notes streamed so far as a preview; False for a stale job's message."""
        if progress.job is not self.job:
            return False
        notes = progress.new_notes[self.selected] if progress.new_notes else []
        self.document.set_preview(notes, progress.job.track, _replaced_span(progress.job))
        return True

    def finish(self, result: ContinueResult) -> str | None:
        """Take the job's result in; the status line to show (None for a stale job).
        Raises ContinuationRefused when the document refused the notes."""
        if result.job is not self.job:
            return None
        self.job = None
        self.command = None
        self.command_comp = None
        if not any(result.new_notes):
            self.document.set_preview(None)
            self.result = None
            self.state = SessionState.IDLE
            self.changed.emit()
            return ("Stopped before any note was made." if result.cancelled
                    else "The model made no notes; try again or raise the temperature.")
        self.result = result
        self.selected = next(i for i, notes in enumerate(result.new_notes) if notes)
        self.comp = Comp.uniform(self.span(), self.selected)
        try:
            self._add()
        except ValueError as error:  # the document refused a note (DocumentError)
            self.document.set_preview(None)
            self.result = None
            self.state = SessionState.IDLE
            self.changed.emit()
            raise ContinuationRefused(f"The continuation could not be added: {error}") from None
        self.changed.emit()
        count = len(result.new_notes[self.selected])
        verb = "Stopped; kept" if result.cancelled else "Added"
        if result.job.fill_bars is not None:
            first, end = result.job.fill_bars
            bars = self.document.meter().bars_label(first, end)
            verb = f"{'Stopped; filled' if result.cancelled else 'Filled'} {bars} with"
        return (f"{verb} {count} notes ({result.tokens_generated} tokens in "
                f"{result.seconds:.1f} s on {result.device}). Ctrl+Z removes them.")

    def fail(self, job: ContinueJob) -> bool:
        """The job failed; False for a stale job."""
        if job is not self.job:
            return False
        self.job = None
        self.document.set_preview(None)
        self.state = SessionState.IDLE
        self.changed.emit()
        return True

    def abandon(self) -> None:
        """The running job was stopped for good (shutdown): its messages no longer count."""
        if self.running:
            self.job = None
            self.state = SessionState.IDLE
            self.changed.emit()

    # ------------------------------------------------------------------ the musician's choices
    def select(self, index: int) -> bool:
        """Show variation `index`: it replaces the pending continuation (one undo step), or,
        when the musician has edited since, is shown as a preview. False if not possible."""
        if self.result is None or self.running or not 0 <= index < self.variation_count:
            return False
        self.selected = index
        self.comp = Comp.uniform(self.span(), index)
        self._show()
        self.changed.emit()
        return True

    def _show(self) -> None:
        """Put the comp in the document in place of our step, or preview it when the
        musician has edited since."""
        assert self.result is not None
        if self.is_pending() and self.command_comp != self.comp:
            self._undo_ours()
            self._add()
        elif self.command_comp != self.comp:
            self.document.set_preview(self.comp_notes(), self.result.job.track,
                                      _replaced_span(self.result.job))
        else:
            self.document.set_preview(None)

    # ------------------------------------------------------------------ comping
    def span(self) -> tuple[int, int]:
        """(first, end) bars of the variations' onsets (and of a Fill's bars)."""
        if self.result is None:
            return (0, 0)
        return comp_span(self.result.new_notes, self.document.meter(), self.result.job.fill_bars)

    def comp_notes(self) -> list[Note]:
        """The notes of the comp shown (each bar's notes from its variation)."""
        if self.result is None or self.comp is None:
            return []
        return self.comp.notes(self.result.new_notes, self.document.meter())

    def can_comp(self) -> bool:
        """Bars can be taken from other variations: several, and ours the newest step."""
        return not self.running and self.variation_count > 1 and self.is_pending()

    def set_bars(self, bars: list[int] | range, variation: int) -> bool:
        """Take `bars` (those in the span) from `variation`, in place of the pending step
        (still one undo step). False when not possible or when no note would be left."""
        if not self.can_comp() or self.comp is None or not 0 <= variation < self.variation_count:
            return False
        inside = self.comp.inside(bars)
        comp = self.comp.with_bars(inside, variation)
        if not inside or not comp.notes(self.result.new_notes, self.document.meter()):
            return False
        self.comp = comp
        self.selected = variation
        self._show()
        self.changed.emit()
        return True

    def step_bars(self, bars: list[int] | range, step: int) -> bool:
        """Take `bars` from the next (`step` 1) or previous (-1) variation than the one
        their first bar keeps now (wrapping around)."""
        if self.comp is None or not self.comp.inside(bars):
            return False
        current = self.comp.choice(self.comp.inside(bars)[0])
        start = self.selected if current is None else current
        return self.set_bars(bars, (start + step) % max(1, self.variation_count))

    def accept_bars(self, bars: list[int] | range,
                    one_step: Callable[[], AbstractContextManager] = nullcontext) -> bool:
        """Accept only the pending notes in `bars`; the others go. Two document edits
        (remove, accept) made inside `one_step()` (the caller's grouping into one undo
        step). False, touching nothing, when nothing is pending or no pending note lies in
        `bars`."""
        if self.running or not self.is_pending():
            return False
        meter, wanted = self.document.meter(), set(bars)
        ids = list(self.command.note_ids)
        dropped = [i for i in ids if bar_of(self.document.note(i), meter) not in wanted]
        if len(dropped) == len(ids):
            return False
        with one_step():
            self.document.remove_notes(dropped, text="Drop the other bars")
            self.accept()
        return True

    def keep_pending(self) -> None:
        """Accept a pending continuation before continuing from it (continuing means keeping it)."""
        if self.is_pending():
            self._accept_generated()
        self.command = None

    def withdraw(self) -> ContinueJob | None:
        """Take the pending continuation out (for a re-roll); the job to repeat, or None."""
        if self.running or self.last_job is None:
            return None
        if self.is_pending():
            self._undo_ours()
        self.command = None
        self.comp = self.command_comp = None
        self.result = None
        self.state = SessionState.IDLE
        self.changed.emit()
        return self.last_job

    def accept(self) -> None:
        """Every generated note becomes an ordinary note; the variations are done with."""
        if self.running:
            return
        self._accept_generated()
        self._done(SessionState.ACCEPTED)

    def _accept_generated(self) -> None:
        """The document's Accept step, keeping what is pending for its undo to bring back."""
        pending = None
        if (self.state is SessionState.PENDING and self.command is not None
                and self.result is not None):   # our step is in the document
            pending = PendingSession(self.result, self.selected, self.comp, self.command_comp,
                                     self.command, self.last_job)
        self.document.accept_generated(self if pending else None, pending)

    def acceptance_undone(self, command: Any) -> None:
        """The musician undid our Accept: its continuation is pending again, with its
        variations and comp (unless a job runs now: then it stays ordinary generated notes)."""
        pending = command.pending
        if self.running or not isinstance(pending, PendingSession):
            return
        for field in fields(pending):   # the session's own fields, as they were
            setattr(self, field.name, getattr(pending, field.name))
        self.state = SessionState.PENDING
        self.changed.emit()

    def acceptance_redone(self, command: Any) -> None:
        """The musician redid our Accept: the variations are done with again."""
        pending = command.pending
        if isinstance(pending, PendingSession) and self.command is pending.command:
            self._done(SessionState.ACCEPTED)

    def forget(self) -> None:
        """The document was replaced (a file opened): nothing of ours is in it any more, and
        a running job read the old one, so its late notes and result are dropped."""
        if self.running:
            self.job = None
            self.document.set_preview([], 0, None)
        self._done(SessionState.IDLE)

    def _done(self, state: SessionState) -> None:
        """Nothing of the variations is kept: no step, result or job to re-roll; `state`."""
        self.command = None
        self.comp = self.command_comp = None
        self.result = None
        self.last_job = None
        self.state = state
        self.changed.emit()

    def audition_score(self) -> Score | None:
        """The piece as it would be with the selected variation (None without variations)."""
        if self.result is None:
            return None
        score = self.document.score(include_generated=True)
        if self.command_comp != self.comp or not self.is_pending():
            score = score.copy()
            job, span = self.result.job, _replaced_span(self.result.job)
            for track, notes in self.result.by_track(self.comp_notes()).items():
                if track >= len(score.tracks) and job.part is None:
                    track = max(0, len(score.tracks) - 1)
                while track >= len(score.tracks):   # the new track of an Add part
                    part = job.part
                    score.tracks.append(Track(part.name if part else "Continuation",
                                              part.program if part else 0, False, []))
                kept = score.tracks[track].notes
                if span is not None:   # a fill replaces the span's notes
                    kept = [n for n in kept if not span[0] <= n.start < span[1]]
                score.tracks[track].notes = sorted(kept + notes)
        return score

    def selected_notes(self) -> list[Note]:
        """The notes shown: the selected variation's, or the comp's."""
        return self.comp_notes()

    # ------------------------------------------------------------------ our undo step
    def continuation_undone(self, command: Any) -> None:
        """Called by our command when the musician undoes it: the variations end. (A redo
        later brings the notes back as generated notes; the variations stay dropped.)"""
        if command is not self.command:
            return
        self.command = None
        self.comp = self.command_comp = None
        self.result = None
        self.state = SessionState.UNDONE
        self.document.set_preview(None)
        self.changed.emit()

    def _add(self) -> None:
        """Add the comp's notes (a variation's, or bars of several) as our one step."""
        assert self.result is not None
        job = self.result.job
        if self.add_parts is not None and (self.result.note_tracks or job.part is not None):
            self.command = self.add_parts(self.result, self.comp_notes(),
                                          COMMAND_TEXT[job.kind], self)
        else:
            self.command = self.document.add_continuation(
                self.comp_notes(), job.track, text=COMMAND_TEXT[job.kind], owner=self,
                make_room=job.make_room)
        ids = self.command.note_ids if self.command is not None else []
        self.document.set_preview(None)
        if ids:
            self.command_comp = self.comp
            self.state = SessionState.PENDING
            self.continuation_added.emit(ids)
        else:
            self.command = None
            self.state = SessionState.IDLE

    def _undo_ours(self) -> None:
        """Undo our own step without being told about it (we are letting go of it)."""
        self.command.owner = None
        self.document.undo()

"""Step entry: notes entered one step at a time at a cursor, as in a DAW's step input.

A key pressed (on the computer keyboard's piano row or on a MIDI keyboard) enters its note
at the cursor, one grid step long; keys pressed while others are still held join the same
chord, and the cursor advances by the step once every key is up. A rest advances without
a note; `back` steps back and removes what the last step entered. Each chord (or single
note) is one undo step: a note joining a chord replaces the chord's step by one holding
them all. Ctrl+Z of a step's notes moves the cursor back with them.

Imports no Qt; `step_keys` turns the roll's key events and MIDI input into these calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ml_core.music import PITCH_MAX, PITCH_MIN, Note

if TYPE_CHECKING:
    from composer_app.document.document import Document

DEFAULT_VELOCITY = 100
STEP_TEXT = "Step entry"


@dataclass
class Step:
    """One entered step: where it starts, how long it is, the notes it added."""

    start: int
    length: int
    notes: list[Note] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    command: object | None = None   # the undo step holding `ids`


class StepEntry:
    """The cursor and the steps entered from it into `document`'s active track.

    `step()` gives the current grid length in ticks; `changed()` is called after the
    cursor moved (the view redraws it)."""

    def __init__(self, document: Document, step: Callable[[], int],
                 changed: Callable[[], None] = lambda: None) -> None:
        self.document = document
        self._step = step
        self._changed = changed
        self.cursor = 0
        self.held: set[int] = set()
        self.steps: list[Step] = []      # newest last: what `back` takes away
        self._chord: Step | None = None  # the step whose keys are still down
        self._replacing = False
        document.notes_removed.connect(self._on_notes_removed)
        document.reset.connect(self.reset)

    # ------------------------------------------------------------------ the cursor
    def move_to(self, tick: int) -> None:
        """Put the cursor at `tick` (a new place: `back` no longer reaches older steps)."""
        self.release_all()
        self.steps.clear()
        self.cursor = max(0, int(tick))
        self._changed()

    def reset(self) -> None:
        self.held.clear()
        self._chord = None
        self.steps.clear()
        self.cursor = 0
        self._changed()

    # ------------------------------------------------------------------ keys
    def press(self, pitch: int, velocity: int = DEFAULT_VELOCITY) -> bool:
        """A key went down: its note enters at the cursor (in the chord still held). False
        when nothing was entered (out of range, already held, or no track)."""
        document = self.document
        if not PITCH_MIN <= pitch <= PITCH_MAX or pitch in self.held:
            return False
        track = document.active_track
        if not 0 <= track < document.track_count():
            return False
        self.held.add(pitch)
        chord = self._chord
        if chord is None:
            chord = self._chord = Step(self.cursor, max(1, int(self._step())))
            self.steps.append(chord)
        note = Note(pitch, chord.start, chord.length, max(1, min(127, int(velocity))))
        chord.notes.append(note)
        if chord.command is not None and document.is_newest_step(chord.command):
            self._replacing = True       # the chord so far comes back in the same step
            try:
                document.undo()
            finally:
                self._replacing = False
            chord.ids = document.add_notes(chord.notes, track=track, text=STEP_TEXT)
        else:
            chord.ids = chord.ids + document.add_notes([note], track=track, text=STEP_TEXT)
        chord.command = _newest_step(document)
        return True

    def release(self, pitch: int) -> None:
        """A key went up: once every key of the chord is up, the cursor moves past it."""
        self.held.discard(pitch)
        if not self.held and self._chord is not None:
            chord, self._chord = self._chord, None
            self.cursor = chord.start + chord.length
            self._changed()

    def release_all(self) -> None:
        """Every key up at once (focus lost, step entry switched off)."""
        for pitch in list(self.held):
            self.release(pitch)

    def rest(self) -> None:
        """Advance one step without a note (ignored while keys are held)."""
        if self.held:
            return
        length = max(1, int(self._step()))
        self.steps.append(Step(self.cursor, length))
        self.cursor += length
        self._changed()

    def back(self) -> None:
        """Step back: remove what the last step entered (one undo step) and put the cursor
        where it began; with no step left, move back by one grid step."""
        if self.held:
            return
        if self.steps:
            step = self.steps.pop()
            present = [i for i in step.ids if i in self.document]
            if present:
                self.document.remove_notes(present, text="Step back")
            self.cursor = step.start
        else:
            self.cursor = max(0, self.cursor - max(1, int(self._step())))
        self._changed()

    # ------------------------------------------------------------------ internals
    def _on_notes_removed(self, ids: list[int]) -> None:
        """Ctrl+Z of the newest step's notes takes the cursor back to where it began."""
        if self._replacing or not self.steps or self.held:
            return
        newest = self.steps[-1]
        if newest.ids and not any(i in self.document for i in newest.ids) \
                and set(newest.ids) & set(ids):
            self.steps.pop()
            self.cursor = newest.start
            self._changed()


def _newest_step(document: Document) -> object | None:
    """The step just pushed (the top of the undo stack)."""
    stack = document.undo_stack
    return stack.command(stack.count() - 1) if stack.count() else None

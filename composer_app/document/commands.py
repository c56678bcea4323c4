"""Undo commands: every user intent on the document is one of these.

Note edits are stored as a diff: for each touched note id, the entry before and after
((track, Note), or None when the note does not exist on that side), plus the ids whose
"generated" flag flips. undo() applies the before side, redo() the after side, so one
class covers add, delete, move, resize, velocity, duplicate, accept and a whole
generated continuation. Consecutive keyboard nudges or wheel steps on the same notes
merge into one command through `merge_key`.

A continuation enters as a `ContinuationCommand`: the same diff, plus an owner (the
`ContinueSession`) told when this very command is undone or redone, so the session
never has to guess from the undo stack's index or a command's text. Accepting it is an
`AcceptCommand`, which tells its owner of an undo (the variations come back) and a redo.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtGui import QUndoCommand

from ml_core.music import Note

if TYPE_CHECKING:
    from composer_app.document.document import Document

Entry = tuple[int, Note]  # (track index, note)

# QUndoCommand.id() values: commands with the same id may merge.
MERGE_IDS = {"nudge": 1001, "wheel-velocity": 1002}


class NoteEditCommand(QUndoCommand):
    """Replace some notes' entries (and generated flags) by others, symmetrically."""

    def __init__(self, document: Document, text: str,
                 before: dict[int, Entry | None], after: dict[int, Entry | None],
                 generated_before: dict[int, bool] | None = None,
                 generated_after: dict[int, bool] | None = None,
                 merge_key: str | None = None) -> None:
        super().__init__(text)
        self._document = document
        self.before = before
        self.after = after
        self.generated_before = generated_before or {}
        self.generated_after = generated_after or {}
        self._merge_key = merge_key

    def redo(self) -> None:
        self._document._apply(self.after, self.generated_after)

    def undo(self) -> None:
        self._document._apply(self.before, self.generated_before)

    def id(self) -> int:
        return MERGE_IDS.get(self._merge_key, -1) if self._merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, NoteEditCommand) or other._merge_key != self._merge_key:
            return False
        if set(other.before) != set(self.after) or other.generated_after:
            return False
        # Keep our "before", take the newer "after": one undo step for the whole run.
        self.after = other.after
        return True


class ContinuationOwner(Protocol):
    """Who is told when the musician undoes a continuation command."""

    def continuation_undone(self, command: ContinuationCommand) -> None: ...


class ContinuationCommand(NoteEditCommand):
    """A generated continuation added as one undo step, reporting its undo to its owner.

    The owner is set after the push (`Document.add_continuation`) and cleared by an owner
    that undoes the step itself, so neither pushing nor the owner's own swaps call back."""

    def __init__(self, document: Document, text: str,
                 before: dict[int, Entry | None], after: dict[int, Entry | None],
                 generated_before: dict[int, bool], generated_after: dict[int, bool],
                 owner: ContinuationOwner | None = None) -> None:
        super().__init__(document, text, before, after, generated_before, generated_after)
        self.owner = owner
        self.note_ids = sorted(i for i, flag in generated_after.items() if flag)

    def undo(self) -> None:
        super().undo()
        if self.owner is not None:
            self.owner.continuation_undone(self)


class AcceptOwner(Protocol):
    """Who is told when the musician undoes (or redoes) an accept of a continuation."""

    def acceptance_undone(self, command: AcceptCommand) -> None: ...

    def acceptance_redone(self, command: AcceptCommand) -> None: ...


class AcceptCommand(NoteEditCommand):
    """Generated notes made ordinary (Accept), reporting its undo and redo to its owner,
    with what the owner had pending (`pending`, opaque here) for an undo to bring back.
    Pushing it (its first redo) tells no one."""

    def __init__(self, document: Document, ids: Iterable[int], pending: object = None,
                 owner: AcceptOwner | None = None) -> None:
        ids = sorted(ids)
        super().__init__(document, "Accept continuation", {}, {},
                         generated_before=dict.fromkeys(ids, True),
                         generated_after=dict.fromkeys(ids, False))
        self.pending = pending
        self.owner = owner
        self._pushed = False

    def undo(self) -> None:
        super().undo()
        if self.owner is not None:
            self.owner.acceptance_undone(self)

    def redo(self) -> None:
        super().redo()
        if self.owner is not None and self._pushed:
            self.owner.acceptance_redone(self)
        self._pushed = True


class MetaCommand(QUndoCommand):
    """Change the initial tempo or time signature."""

    def __init__(self, document: Document, text: str, field: str, before: object,
                 after: object) -> None:
        super().__init__(text)
        self._document = document
        self._field = field
        self._before = before
        self._after = after

    def redo(self) -> None:
        self._document._set_meta(self._field, self._after)

    def undo(self) -> None:
        self._document._set_meta(self._field, self._before)

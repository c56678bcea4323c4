"""The selection: which notes are selected, as a model.

Qt's scene stays the one place a click selects (STYLE: selection comes from Qt's own
selection); the roll binds itself as the selection's reader and marks it changed when the
scene's selection changes. Everything else reads the selection here, never from the
canvas: the Continue panel's "Selection" prompt and Fill's bars. The ids are read from
the scene only when asked for after a change, so selecting ten thousand notes one by one
costs no sorting per note. Ids are the document's stable note ids; a reader maps them
through the document. Qt-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from composer_app.model.events import Event, next_stamp


class Selection:
    """The selected note ids; `changed()` fires when the selection may have changed."""

    def __init__(self) -> None:
        self._ids: tuple[int, ...] = ()
        self._reader: Callable[[], Iterable[int]] | None = None
        self._stale = False
        self.stamp = 0                # `events.next_stamp()` of the last change
        self.changed = Event()

    def bind(self, reader: Callable[[], Iterable[int]]) -> None:
        """Read the ids from `reader` (the roll view's scene) after each `mark_changed`."""
        self._reader = reader
        self.mark_changed()

    def mark_changed(self) -> None:
        self._stale = True
        self.stamp = next_stamp()
        self.changed.emit()

    @property
    def ids(self) -> tuple[int, ...]:
        """The selected ids, ascending."""
        if self._stale:
            self._stale = False
            self._ids = tuple(sorted(set(self._reader()))) if self._reader is not None else ()
        return self._ids

    def set(self, ids: Iterable[int]) -> None:
        """Select `ids` (without a bound view: tests and headless use)."""
        self._reader = None
        self._stale = False
        self._ids = tuple(sorted(set(ids)))
        self.stamp = next_stamp()
        self.changed.emit()

    def __bool__(self) -> bool:
        return bool(self.ids)

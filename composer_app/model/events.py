"""Change notification for the app's Qt-free models (Timeline, ContinueSession).

A model holds one `Event` per kind of change; views `connect` a callable and the model
`emit`s after it has changed. It mirrors a Qt signal's spelling so views read the same
either way, but needs no QObject, so the models can be built and tested without Qt.
Callbacks run synchronously, in connection order, on the thread that emits (the GUI
thread in this app).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

_stamps = itertools.count(1)


def next_stamp() -> int:
    """A number larger than any handed out before: which of two changes came last (the
    newer of a loop drag and a selection is what Fill uses)."""
    return next(_stamps)


class Event:
    """A list of callbacks called with the same arguments when something happened."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any], owner: Any = None) -> None:
        """Call `callback` on every emit; with `owner` (a QObject, typically the widget the
        callback repaints), only until the owner is destroyed."""
        self._callbacks.append(callback)
        if owner is not None:
            owner.destroyed.connect(lambda *_: self._forget(callback))

    def _forget(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Forget `callback` (ValueError when it was never connected, as in Qt)."""
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):  # a callback may disconnect itself
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)

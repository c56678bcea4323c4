"""Python's cyclic garbage collector, run only on the GUI thread.

CPython collects cycles in whichever thread happens to allocate past the threshold. In
this app that is often a worker thread (generation allocates steadily), and a cycle that
holds a Qt widget (a closed dialog, a panel with a lambda connection) is then destroyed
from that worker: Qt forbids it, and it can deadlock the GUI thread or crash (a test of
ours showed QGraphicsView cycles destroyed in the worker). So the app switches automatic
collection off and a timer on the GUI thread collects instead, honouring the same
thresholds, so memory behaves as before:

    collector = GuiThreadCollector(app)    # after the QApplication exists
    ...
    collector.stop()                       # gives automatic collection back

Reference counting, which frees almost everything, is untouched; only cycles wait for the
timer (at most `interval_ms`).

A large piece read and prepared by a worker is 100,000 and more new objects, which a
collection here would scan in one 20-40 ms go, and every full collection after it again.
So collections wait while a worker reads (`collections_wait()`), and once it is prepared
`freeze_large_load(note_count)` puts what is alive out of the collector's sight:

    with collections_wait():                       # on the worker
        prepared = prepare_score(read(path))
        freeze_large_load(prepared.note_count)
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

from PySide6.QtCore import QObject, QTimer

DEFAULT_INTERVAL_MS = 500
FREEZE_AT_NOTES = 10_000   # a piece this large is frozen once it is prepared

_waiting_for = 0           # workers reading a piece now: collections wait for them
_waiting_lock = threading.Lock()


@contextlib.contextmanager
def collections_wait() -> Iterator[None]:
    """While a worker reads and prepares a piece (any thread): no collection runs here, so
    none scans the objects it is making. Reference counting frees memory as always."""
    global _waiting_for
    with _waiting_lock:
        _waiting_for += 1
    try:
        yield
    finally:
        with _waiting_lock:
            _waiting_for -= 1


def freeze_large_load(note_count: int) -> bool:
    """After a piece of `note_count` notes was read and prepared: when it is large, move
    every object alive now out of the collector's sight (`gc.freeze`: O(1), destroys
    nothing, so any thread may call it). The price is the start-up freeze's: a reference
    cycle alive now that dies later is never collected; the notes and entries hold none and
    reference counting frees them as before. True when it froze."""
    if note_count < FREEZE_AT_NOTES:
        return False
    gc.freeze()
    return True


class GuiThreadCollector(QObject):
    """Disables automatic collection and collects from a GUI-thread timer."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = DEFAULT_INTERVAL_MS):
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        self.collections = [0, 0, 0]  # runs per generation, for tests and curiosity
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> int | None:
        """Collect the oldest generation whose count passed its threshold (as CPython would);
        the generation collected, or None (also while `collections_wait`)."""
        if _waiting_for:
            return None
        counts = gc.get_count()
        thresholds = gc.get_threshold()
        for generation in (2, 1, 0):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                gc.collect(generation)
                self.collections[generation] += 1
                return generation
        return None

    def stop(self) -> None:
        """Stop the timer, collect once here, and restore automatic collection."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()

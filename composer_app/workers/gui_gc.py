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
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

DEFAULT_INTERVAL_MS = 500


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
        the generation collected, or None."""
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

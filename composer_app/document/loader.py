"""Opening a file in the background: a worker reads it, a progress box offers Cancel.

`FileOpener` reads one file at a time on a registered worker thread (notation formats
through a child process, see `reading`), prepares it for the document there too, and
reports on the GUI thread with `finished(path, prepared, error)`: a PreparedScore (MIDI is
read leniently; its `repairs` say what was mended), or the
exception that explains why not (MidiFileError, OSError, DocumentError), or neither after
Cancel. Nothing touches the open document until a Score is complete;
`FileActions` then loads it. Starting a new open cancels the one in flight, and its late
result is dropped.

The progress box appears only if reading takes longer than SHOW_PROGRESS_AFTER_MS, so a
small MIDI file opens without a flash. It is window-modal (the musician cannot edit the
piece that is about to be replaced) but never runs its own event loop.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from composer_app.document.document import prepare_score
from composer_app.document.reading import ReadCancelled, read_score_cancellable
from composer_app.workers import threads
from composer_app.workers.gui_gc import collections_wait, freeze_large_load
from composer_app.workers.threads import WorkerSignals

SHOW_PROGRESS_AFTER_MS = 300


class FileOpener(WorkerSignals):
    """Reads files off the GUI thread, one at a time, with Cancel and a delayed progress box."""

    finished = Signal(object, object, object)   # path, PreparedScore | None, Exception | None
    _done = Signal(int, object, object, object)  # job number, then as `finished`

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._job = 0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._path: Path | None = None
        self._progress: QProgressDialog | None = None
        self._show_timer = QTimer(self)
        self._show_timer.setSingleShot(True)
        self._show_timer.setInterval(SHOW_PROGRESS_AFTER_MS)
        self._show_timer.timeout.connect(self._show_progress)
        self._done.connect(self._on_done)

    # ------------------------------------------------------------------ control
    def is_busy(self) -> bool:
        return self._path is not None

    def start(self, path: str | Path) -> None:
        """Read `path` in the background (cancelling any read in flight)."""
        self.cancel()
        path = Path(path)
        self._job += 1
        job, cancel = self._job, threading.Event()
        self._cancel, self._path = cancel, path

        def run() -> None:
            score = error = None
            repairs: list[str] = []
            try:
                with collections_wait():   # a large piece is many new objects: see gui_gc
                    score = prepare_score(read_score_cancellable(path, cancel, repairs), repairs)
                    freeze_large_load(score.note_count)
            except ReadCancelled:
                pass
            except Exception as caught:   # every failure becomes a message, never a crash
                error = caught
            self.post("_done", job, path, score, error)

        self._thread = threads.start(run, name="open-file", cancel=cancel)
        self._show_timer.start()

    def cancel(self) -> None:
        """Stop the read in flight (its result is dropped); `finished` reports it with neither."""
        if self._path is None:
            return
        path = self._path
        self._end_job()
        self.finished.emit(path, None, None)

    def shutdown(self) -> None:
        """Cancel and join the worker (the window is closing)."""
        self._end_job()
        if self._thread is not None:
            threads.stop(self._thread, timeout=5.0)
            self._thread = None

    # ------------------------------------------------------------------ internals
    def _end_job(self) -> None:
        self._cancel.set()
        self._job += 1           # whatever the old worker posts now is ignored
        self._path = None
        self._show_timer.stop()
        if self._progress is not None:
            self._progress.hide()
            self._progress.deleteLater()
            self._progress = None

    def _on_done(self, job: int, path: Path, score: object, error: object) -> None:
        if job != self._job:
            return
        self._end_job()
        self._thread = None
        self.finished.emit(path, score, error)

    def _show_progress(self) -> None:
        if self._path is None:
            return
        progress = QProgressDialog(f"Opening {self._path.name}...", "Cancel", 0, 0, self._window)
        progress.setWindowTitle("Opening")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(self.cancel)
        progress.show()
        self._progress = progress

    def progress_box(self) -> QProgressDialog | None:
        """The progress box while it is shown (for tests)."""
        return self._progress

"""Application set-up: the QApplication, the main window, and the crash-recovery offer.

`build_main_window(path)` is the one place that assembles the editor; the playback and
Continue panels are wired in `install_panels`, so adding one is a one-line change here.
A recovery file left by a crash is read and prepared on a worker thread (a large piece's
JSON takes a while) and offered once the event loop runs, after the window is shown.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication

from composer_app import dialogs
from composer_app.document.autosave import (
    RecoveryError,
    read_recovery,
    recovery_path,
    remove_recovery,
)
from composer_app.document.document import PreparedScore, prepare_score
from composer_app.main_window import APP_TITLE, MainWindow
from composer_app.workers import threads
from composer_app.workers.gui_gc import collections_wait, freeze_large_load
from composer_app.workers.threads import WorkerSignals
from ml_core.paths import APP_NAME

# While a worker thread runs Python (reading a file, analysing the prompt), every Python
# callback of the GUI thread (a slot, a timer, each note item's paint) waits for the
# interpreter lock until the worker is made to drop it, which CPython does after this
# interval (default 5 ms). 50 callbacks in one repaint then took 70 ms; at 0.5 ms, 21 ms
# (2 loaded cores). A thread running alone is never interrupted; two busy threads trade the
# lock more often, at a cost of a few microseconds a switch.
GIL_SWITCH_INTERVAL_S = 0.0005


def create_application(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication (created once), with a short GIL switch interval."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv if argv is None else argv)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_TITLE)
    app.setOrganizationName(APP_NAME)
    return app


Recovered = tuple[PreparedScore, Path | None]   # the work and the file it came from


def offer_recovery(window: MainWindow, recovered: Recovered | None,
                   error: Exception | None) -> bool:
    """Offer to restore what `RecoveryReader` read (a prepared score and the file it came
    from); say so when the recovery file was unreadable. True if restored."""
    if error is not None:
        remove_recovery()
        window.status(f"Unsaved work from the last session was lost: {error}")
        return False
    if recovered is None:
        return False
    prepared, source = recovered
    where = f"your unsaved changes to {source.name}" if source else "your unsaved composition"
    if not dialogs.ask_restore_recovery(window, f"{where} ({prepared.note_count} notes)"):
        remove_recovery()
        return False
    window.document.load_score(prepared, source)
    window.document.mark_modified()   # restored work is not on disk yet
    window.status("Restored unsaved work from the last session")
    return True


class RecoveryReader(WorkerSignals):
    """Reads and prepares the recovery file on a worker thread, then (on the GUI thread,
    once the event loop runs) offers it and, unless it was restored, opens `path`."""

    finished = Signal(bool)               # True when the work was restored
    _read = Signal(object, object)        # (prepared score, source) | None, error | None

    def __init__(self, window: MainWindow, path: str | Path | None) -> None:
        super().__init__(window)
        self._window, self._path = window, path
        self._read.connect(self._offer)

        def run() -> None:
            recovered = error = None
            try:
                with collections_wait():      # a large piece is many new objects: see gui_gc
                    found = read_recovery()
                    if found is not None:
                        recovered = (prepare_score(found[0]), found[1])
                        freeze_large_load(recovered[0].note_count)
            except (RecoveryError, ValueError) as caught:   # ValueError: a note no editor holds
                error = caught if isinstance(caught, RecoveryError) else RecoveryError(
                    f"the recovery file could not be read ({caught})")
            self.post("_read", recovered, error)

        self._thread = threads.start(run, name="read-recovery", cancel=threading.Event())

    def _offer(self, recovered: Recovered | None, error: Exception | None) -> None:
        self._thread = None
        restored = offer_recovery(self._window, recovered, error)
        if self._path is not None and not restored:
            self._window.files.load(self._path)
        self.finished.emit(restored)


def install_panels(window: MainWindow) -> None:
    """Dock the other parts of the app (playback, Continue) into the editor window. Each is
    a child of the window: it lives, and shuts down, with it."""
    from composer_app.canvas.step_keys import install_step_entry
    from composer_app.continuation.panel import install_continue
    from composer_app.editing.actions import install_editing
    from composer_app.editing.drag_out import install_drag_out
    from composer_app.playback.transport import install_playback
    from composer_app.recording.panel import install_recording
    from composer_app.tracks.panel import install_tracks

    install_tracks(window)
    install_editing(window)
    transport = install_playback(window)
    panel = install_continue(window)
    panel.audition_requested.connect(transport.play)
    install_step_entry(window, install_recording(window, transport))
    install_drag_out(window)


def build_main_window(path: str | Path | None = None, *, recover: bool = True) -> MainWindow:
    """The editor window, with last session's work restored (if wanted) or `path` opened;
    both happen in the background (see `RecoveryReader` and `FileActions.load`)."""
    window = MainWindow()
    install_panels(window)
    window.restore_dock_layout()
    if recover and recovery_path().exists():
        RecoveryReader(window, path)        # a child of the window: it lives as long
    elif path is not None:
        window.files.load(path)
    return window

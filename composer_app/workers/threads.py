"""A tiny registry of the app's worker threads, so every one is stopped and joined.

Workers are plain Python threads (non-daemon: a forgotten one is visible, and the test
fixture in tests/composer_app/conftest.py fails a test that leaves one alive). Each is
started with the `threading.Event` that asks it to stop; `stop_all()` sets every event and
joins every thread. Results travel back to the GUI thread through Qt signals of a QObject
living there (a signal emitted from a foreign thread is queued to the receiver's thread).

    thread = threads.start(run, name="continue", cancel=cancel_event)
    ...
    threads.stop_all(timeout=2.0)   # on window close
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

_lock = threading.Lock()
_workers: dict[threading.Thread, threading.Event] = {}


def start(target: Callable[[], None], *, name: str, cancel: threading.Event) -> threading.Thread:
    """Start `target` on a new registered thread; `cancel` is set by `stop_all()`."""

    def run() -> None:
        try:
            target()
        finally:
            with _lock:
                _workers.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name=f"composer-{name}", daemon=False)
    with _lock:
        _workers[thread] = cancel
    thread.start()
    return thread


def running() -> list[threading.Thread]:
    """Registered threads still alive."""
    with _lock:
        return [thread for thread in _workers if thread.is_alive()]


def stop(thread: threading.Thread, timeout: float = 2.0) -> bool:
    """Ask one registered thread to stop and join it; True when it has ended."""
    with _lock:
        cancel = _workers.get(thread)
    if cancel is not None:
        cancel.set()
    if thread is not threading.current_thread():
        thread.join(timeout)
    return not thread.is_alive()


def stop_all(timeout: float = 2.0) -> bool:
    """Ask every registered thread to stop and join them all; True when none is left."""
    with _lock:
        pending = list(_workers.items())
    for _, cancel in pending:
        cancel.set()
    for thread, _ in pending:
        if thread is not threading.current_thread():
            thread.join(timeout)
    return not running()


class WorkerSignals(QObject):
    """Base for QObjects whose signals are raised by worker threads.

    `post("name", *args)` may be called from any thread: the signal `name` is then emitted
    on the thread this object lives in (the GUI thread), so every connection, lambdas and
    test helpers included, runs there as a plain direct call. Emitting from the worker
    itself would queue calls to plain Python callables, which PySide may still deliver
    after the callable was disconnected (seen as segfaults in pytest-qt's waitSignal when
    a fast worker emitted progress on every token)."""

    _posted = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(str, object)
    def _deliver(self, name: str, args: tuple) -> None:
        getattr(self, name).emit(*args)

    def post(self, name: str, *args: object) -> None:
        """Emit signal `name` with `args` on this object's thread (callable from any thread)."""
        self._posted.emit(name, args)

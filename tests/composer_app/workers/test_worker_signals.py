"""Signals posted from worker threads are emitted on the GUI thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import Signal

from composer_app.workers.threads import WorkerSignals


class Emitter(WorkerSignals):
    ticked = Signal(int)
    done = Signal(str, object)


def test_posted_signals_reach_plain_callables_on_the_gui_thread_in_order(qtbot):
    emitter = Emitter()
    received: list[tuple[int, str]] = []
    finished: list[tuple[str, object]] = []
    emitter.ticked.connect(lambda value: received.append((value, threading.current_thread().name)))
    emitter.done.connect(lambda text, payload: finished.append((text, payload)))

    def work() -> None:
        for value in range(500):
            emitter.post("ticked", value)
        emitter.post("done", "all sent", {"count": 500})

    worker = threading.Thread(target=work, name="worker")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert [value for value, _ in received] == list(range(500))
    assert {name for _, name in received} == {"MainThread"}
    assert finished == [("all sent", {"count": 500})]


def test_disconnecting_while_posts_are_queued_is_safe(qtbot):
    """What crashed pytest-qt's waitSignal when a worker emitted directly: a callable
    disconnected while calls to it were still queued."""
    emitter = Emitter()
    first: list[int] = []

    def take_first(value: int) -> None:
        first.append(value)
        emitter.ticked.disconnect(take_first)

    emitter.ticked.connect(take_first)
    later: list[int] = []
    emitter.done.connect(lambda *_: later.append(1))
    worker = threading.Thread(target=lambda: [emitter.post("ticked", v) for v in range(2000)]
                              + [emitter.post("done", "", None)])
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(later), timeout=5000)
    assert first == [0]

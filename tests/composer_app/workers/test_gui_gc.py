"""Cycles holding Qt objects are collected on the GUI thread, never on a worker."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from composer_app.workers.gui_gc import GuiThreadCollector


class _Node:
    itself: _Node


def _widget_cycles(count: int, finalized_in: list[str]) -> None:
    for _ in range(count):
        view = QGraphicsView(QGraphicsScene())
        view.cycle = view  # only the cyclic collector can free it
        weakref.finalize(view, lambda: finalized_in.append(threading.current_thread().name))


def _allocate_on_a_worker() -> None:
    def churn() -> None:
        junk: list[list[int]] = []
        for k in range(100_000):  # net allocations cross generation 0's threshold often
            junk.append([k])
            if len(junk) > 3 * gc.get_threshold()[0]:
                junk = []

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()


def test_without_the_collector_a_worker_destroys_widgets(qtbot):
    """Why the module exists: CPython collects in whichever thread allocates."""
    finalized_in: list[str] = []
    gc.enable()  # the conftest fixture disables it for app tests; show the default here
    try:
        gc.collect()
        _widget_cycles(10, finalized_in)
        _allocate_on_a_worker()
    finally:
        gc.disable()
        gc.collect()
    assert "worker" in finalized_in


def test_the_collector_frees_widget_cycles_on_the_gui_thread(qtbot):
    # Widgets earlier tests left for deferred deletion are freed now, not while we wait:
    # each freed object lowers generation 0's count, and thousands of them would take it
    # back under the threshold before the timer looks.
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.wait(20)
    gc.enable()
    collector = GuiThreadCollector(interval_ms=10)
    try:
        assert not gc.isenabled()
        finalized_in: list[str] = []
        _widget_cycles(10, finalized_in)
        _allocate_on_a_worker()
        assert finalized_in == []  # the worker collected nothing
        leaked = []
        for _ in range(4 * gc.get_threshold()[0]):  # garbage cycles well past the threshold
            cycle = _Node()
            cycle.itself = cycle
            leaked.append(weakref.ref(cycle))
        del cycle
        qtbot.waitUntil(lambda: len(finalized_in) == 10, timeout=5000)
        assert set(finalized_in) == {"MainThread"}
        assert all(ref() is None for ref in leaked)
        assert sum(collector.collections) >= 1
    finally:
        collector.stop()
    assert gc.isenabled()  # automatic collection is given back
    gc.disable()


def test_check_collects_the_oldest_generation_past_its_threshold(qtbot):
    collector = GuiThreadCollector(interval_ms=60_000)
    try:
        gc.collect()
        assert collector.check() is None
        junk = [[i] for i in range(gc.get_threshold()[0] + 50)]
        assert collector.check() == 0
        del junk
    finally:
        collector.stop()
        gc.disable()


def test_collections_wait_while_a_worker_reads_a_piece(qtbot):
    """Issue 39: the objects a worker is making for a large piece are not scanned meanwhile."""
    from composer_app.workers.gui_gc import collections_wait

    collector = GuiThreadCollector(interval_ms=60_000)   # checked by hand here
    try:
        garbage = [[index] for index in range(3 * gc.get_threshold()[0])]
        with collections_wait():
            assert gc.get_count()[0] > gc.get_threshold()[0]
            assert collector.check() is None
        assert collector.check() is not None
        del garbage
    finally:
        collector.stop()


def test_a_large_prepared_piece_is_frozen_and_a_small_one_is_not(qtbot, monkeypatch):
    from composer_app.workers import gui_gc

    monkeypatch.setattr(gui_gc, "FREEZE_AT_NOTES", 100)
    gc.unfreeze()
    assert not gui_gc.freeze_large_load(99) and gc.get_freeze_count() == 0
    assert gui_gc.freeze_large_load(100) and gc.get_freeze_count() > 0
    assert gc.get_count()[0] == 0     # nothing young left for the next collection to scan
    gc.unfreeze()

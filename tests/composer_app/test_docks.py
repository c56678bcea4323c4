"""The assembled window's docks at 1280x760: Record shares the tabs under Continue, the
Tracks dock asks for a few rows only, and an instrument's name shows whole."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from composer_app.tracks.panel import INSTRUMENT, SHOWN_ROWS, TrackPanel
from ml_core.music import Note, Score, Track


@pytest.fixture
def window(window_1280x760):
    return window_1280x760


def test_record_is_a_tab_beside_sampling_so_continue_and_sampling_get_the_height(window):
    sampling, record = window.dock_named("Sampling"), window.dock_named("Record")
    assert record in window.tabifiedDockWidgets(sampling)
    assert not sampling.visibleRegion().isEmpty()            # Sampling is the tab shown
    tracks = window.dock_named("Tracks")
    assert tracks.height() < 760 // 3                        # a few rows, not a third


def test_the_instrument_column_shows_a_long_name_whole(window):
    window.document.load_score(Score([Track("Bass", 33, False, [Note(36, 0, 480)])]))
    QApplication.processEvents()
    panel = window.findChild(TrackPanel)
    box = panel.table.cellWidget(0, INSTRUMENT)
    width = box.fontMetrics().horizontalAdvance(box.currentText())
    assert panel.table.columnWidth(INSTRUMENT) >= width + 24, box.currentText()
    assert SHOWN_ROWS >= 3


def test_the_continue_status_line_shows_two_lines_without_scrolling(window, qtbot):
    from composer_app.continuation.panel import ContinuePanel

    panel = window.findChild(ContinuePanel)
    panel.status.say("24 generated notes pending: Accept keeps them, Ctrl+Z removes them.")
    QApplication.processEvents()
    label = panel.status_label
    assert label.height() >= 2 * label.fontMetrics().lineSpacing()
    assert label.visibleRegion().boundingRect().height() == label.height()

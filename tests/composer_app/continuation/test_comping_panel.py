"""Comping in the assembled window (headless): the comp strip under the variation row, the
Generate menu's comp actions on the ruler's range, the roll showing the comp, and Accept as
one undo step."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from composer_app.continuation.comping import CompStrip
from composer_app.continuation.panel import ContinuePanel
from composer_app.model.jobs import ContinueJob, ContinueResult
from composer_app.model.session import SessionState
from ml_core.music import Note, Score, Track
from ml_core.options import GenerationOptions

BAR = 1920


def variation(base: int, bars: range = range(1, 5)) -> list[Note]:
    """Bars 1-4 (from 0), two notes a bar, pitches base+bar."""
    return [Note(base + bar % 20, bar * BAR + i * 960, 480, 80) for bar in bars for i in (0, 1)]


@pytest.fixture
def window(window_1280x760):
    return window_1280x760


def pending(window, count: int = 3, bars: range = range(1, 5)):
    """(panel, document): `count` variations of a continuation pending, fed by hand."""
    panel, document = window.findChild(ContinuePanel), window.document
    document.load_score(Score([Track("Piano", 0, False, [Note(60, 0, 480, 90)])]))
    job = ContinueJob(Path("no-bundle"), "cpu", document.score(), GenerationOptions(seed=1))
    panel.session.begin(job)
    takes = [variation(40 + 20 * k, bars) for k in range(count)]
    panel.session.finish(ContinueResult(job, takes, [[0.5] * 8] * count, 9, False, "cpu", 0.1))
    return panel, document


def shown(document) -> list[tuple[int, int]]:
    """(bar, variation) of each generated note in the document (what the roll shows)."""
    return sorted((document.note(i).start // BAR, document.note(i).pitch // 20 - 2)
                  for i in document.generated_ids())


def generate_action(window, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Generate")
    return next(a for a in menu.actions() if a.text() == text)


def test_the_strip_takes_a_bar_from_another_variation_and_accept_keeps_the_comp(window, qtbot):
    panel, document = pending(window)
    strip = window.findChild(CompStrip)
    assert strip.isVisible() and sorted(strip.buttons) == [1, 2, 3, 4]
    assert [strip.buttons[bar].text() for bar in range(1, 5)] == ["1"] * 4
    QTest.mouseClick(strip.buttons[2], Qt.MouseButton.LeftButton)
    QTest.mouseClick(strip.buttons[4], Qt.MouseButton.LeftButton)
    QTest.mouseClick(strip.buttons[4], Qt.MouseButton.LeftButton)
    QTest.mouseClick(strip.buttons[3], Qt.MouseButton.RightButton)   # back, wrapping: 3
    assert [strip.buttons[bar].text() for bar in range(1, 5)] == ["1", "2", "3", "3"]
    assert shown(document) == [(1, 0), (1, 0), (2, 1), (2, 1), (3, 2), (3, 2), (4, 2), (4, 2)]
    assert len(window.canvas.view.item_mirror.items) == 9 if hasattr(
        window.canvas.view, "item_mirror") else True
    assert panel.variation_label.text() == "Comp of 1+2+3 / 3"
    marks = window.canvas.ruler.marks                 # the ruler's bands: one a run of bars
    assert [(start // BAR, end // BAR) for start, end, _ in marks] == [(1, 2), (2, 3), (3, 5)]
    assert len({colour.name() for _, _, colour in marks}) == 3
    assert document.undo_stack.count() == 1
    comp = sorted(document.note(i) for i in document.generated_ids())
    panel.accept_button.click()
    assert panel.session.state is SessionState.ACCEPTED and not document.generated_ids()
    assert not strip.isVisible() and window.canvas.ruler.marks == []
    assert sorted(n for _, n in document.notes().values()) == sorted(
        [Note(60, 0, 480, 90)] + comp)
    window.undo_action.trigger()                     # one Ctrl+Z: the comp, pending
    assert sorted(document.note(i) for i in document.generated_ids()) == comp


def test_menu_actions_work_on_the_ruler_range_and_accept_selected_bars_only(window):
    panel, document = pending(window, count=2)
    next_bars = generate_action(window, "Ne&xt Variation in Selected Bars")
    accept_bars = generate_action(window, "Accept Selected &Bars Only")
    assert next_bars.shortcut().toString() == "Alt+Shift+Right"
    assert next_bars.isEnabled() and accept_bars.isEnabled()
    next_bars.trigger()                               # no bars chosen: it says how
    assert "drag a range in the ruler" in panel.status_label.text()
    window.timeline.set_loop((3 * BAR, 5 * BAR))      # bars 4-5 dragged in the ruler
    next_bars.trigger()
    assert shown(document) == [(1, 0), (1, 0), (2, 0), (2, 0), (3, 1), (3, 1), (4, 1), (4, 1)]
    assert panel.status_label.text() == "Comp: bars 2-3: 1, bars 4-5: 2."
    window.timeline.set_loop((2 * BAR, 4 * BAR))      # bars 3-4
    before = sorted(document.note(i) for i in document.generated_ids())
    accept_bars.trigger()
    assert panel.session.state is SessionState.ACCEPTED and not document.generated_ids()
    kept = sorted((n.start // BAR, n.pitch // 20 - 2) for _, n in document.notes().values()
                  if n.start >= BAR)
    assert kept == [(2, 0), (2, 0), (3, 1), (3, 1)]
    assert not accept_bars.isEnabled() and not next_bars.isEnabled()
    window.undo_action.trigger()                      # one step: the whole comp pending again
    assert sorted(document.note(i) for i in document.generated_ids()) == before


def test_the_strip_takes_the_progress_bars_place_and_the_dock_does_not_scroll(window):
    panel, _document = pending(window)
    QApplication.processEvents()
    strip = window.findChild(CompStrip)
    assert strip.isVisible() and not panel.progress_bar.isVisible()
    assert strip.title.text() == "Comp:" and "bars 2-5" in strip.title.toolTip()
    assert window.dock_named("Continue").widget().verticalScrollBar().maximum() == 0
    for button in strip.buttons.values():
        assert button.visibleRegion().boundingRect().size() == button.size()
    panel.accept_button.click()
    assert not strip.isVisible() and panel.progress_bar.isVisible()


def test_a_long_comp_keeps_the_panel_inside_the_dock_at_1280(window):
    """Ten bars late in a piece ("Comp, bars 12-21:"): the strip once made the panel wider
    than the dock, clipping Stop, Audition, > and the last bars' buttons (issue 45)."""
    panel, _document = pending(window, bars=range(11, 21))
    QApplication.processEvents()
    strip = window.findChild(CompStrip)
    assert strip.isVisible() and len(strip.buttons) == 10
    dock = window.dock_named("Continue").widget()
    assert dock.horizontalScrollBar().maximum() == 0
    assert panel.minimumSizeHint().width() <= dock.viewport().width()
    for button in [*strip.buttons.values(), panel.stop_button, panel.audition_button,
                   panel.next_button]:
        assert button.visibleRegion().boundingRect().size() == button.size(), button.text()


def test_no_strip_for_a_single_variation(window):
    pending(window, count=1)
    assert not window.findChild(CompStrip).isVisible()
    assert not generate_action(window, "Pre&vious Variation in Selected Bars").isEnabled()

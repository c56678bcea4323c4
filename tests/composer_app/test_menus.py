"""The assembled window's menus: every main action in a menu with its shortcut, unique
mnemonics per menu, and menu items that do what their buttons do."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from composer_app import dialogs
from composer_app.app import build_main_window
from composer_app.continuation.panel import ContinuePanel
from composer_app.model.jobs import ContinueJob, ContinueResult
from composer_app.model.session import SessionState
from ml_core.music import Note, Score, Track
from ml_core.options import GenerationOptions


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    monkeypatch.setattr(dialogs, "ask_discard_pending", lambda parent, count: True)
    window = build_main_window(recover=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def pending_variations(window):
    """(panel, session, document) with two variations of a continuation pending, fed to
    the session by hand as the worker would."""
    panel = window.findChild(ContinuePanel)
    session, document = panel.session, window.document
    document.load_score(Score([Track("Piano", 0, False, [Note(60, 0, 480, 90)])]))
    job = ContinueJob(Path("no-bundle"), "cpu", document.score(), GenerationOptions(seed=1),
                      offset=0, track=0)
    takes = [[Note(64, 1920, 480, 80)], [Note(67, 1920, 480, 80)]]
    session.begin(job)
    session.finish(ContinueResult(job, takes, [[0.5], [0.5]], 4, False, "cpu", 0.1))
    return panel, session, document


def menus_of(window) -> dict[str, QMenu]:
    found: dict[str, QMenu] = {}

    def walk(menu: QMenu, path: str) -> None:
        found[path] = menu
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} > {action.text()}")

    for action in window.menuBar().actions():
        walk(action.menu(), action.text())
    return found


def mnemonic(text: str) -> str | None:
    index = text.replace("&&", "").find("&")
    stripped = text.replace("&&", "")
    return stripped[index + 1].lower() if 0 <= index < len(stripped) - 1 else None


def test_no_two_items_of_a_menu_share_a_mnemonic(window):
    menus = menus_of(window)
    assert "&Generate" in menus and len(menus) >= 5
    bar = [mnemonic(a.text()) for a in window.menuBar().actions()]
    assert None not in bar and len(set(bar)) == len(bar), bar
    for path, menu in menus.items():
        letters = [(mnemonic(a.text()), a.text()) for a in menu.actions()
                   if not a.isSeparator() and mnemonic(a.text()) is not None]
        seen: dict[str, str] = {}
        for letter, text in letters:
            assert letter not in seen, f"{path}: {seen.get(letter)} and {text} share &{letter}"
            seen[letter] = text


def test_main_actions_are_in_a_menu_with_their_shortcuts_and_no_shortcut_is_ambiguous(window):
    generate = {a.text(): a.shortcut().toString() for a in menus_of(window)["&Generate"].actions()}
    assert generate["&Continue"] == "Ctrl+Return"
    assert generate["&Fill Bars"] == "Ctrl+Shift+Return"
    for text in ("&Accept Continuation", "&Re-roll", "&Previous Variation", "&Next Variation"):
        assert generate[text], text
    owners: dict[str, str] = {}
    for action in window.findChildren(type(window.play_action)):
        for key in action.shortcuts():
            name = key.toString()
            assert owners.get(name, action.text()) == action.text(), (name, owners[name])
            owners[name] = action.text()
    tips = (window.draw_tool_action.toolTip(), window.select_tool_action.toolTip())
    assert "(B)" in tips[0] and "(V)" in tips[1]


def test_menu_accept_ends_the_variation_session_like_the_button(window):
    panel, session, document = pending_variations(window)
    assert panel.variation_label.text() == "Variation 1 / 2"
    accept = next(a for a in menus_of(window)["&Generate"].actions()
                  if a.text() == "&Accept Continuation")
    assert accept.isEnabled()
    accept.trigger()
    assert session.state is SessionState.ACCEPTED and not document.generated_ids()
    assert panel.variation_label.text() == "No variations yet"
    assert not accept.isEnabled() and document.preview() in ([], None)


def test_after_a_choice_in_a_combo_box_the_keys_go_back_to_the_roll(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    texture = window.findChild(ContinuePanel).sampling_panel.texture
    texture.setEnabled(True)
    texture.setFocus()
    qtbot.waitUntil(texture.hasFocus, timeout=2000)
    texture.setCurrentIndex(2)
    texture.activated.emit(2)                     # what a click on an entry emits
    assert window.canvas.view.hasFocus()
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Home)
    assert texture.currentIndex() == 2            # Home did not reset Texture to "Follow"


def test_variation_shortcuts_reach_the_session_from_the_roll(window, qtbot):
    panel, session, document = pending_variations(window)
    window.activateWindow()
    window.canvas.view.setFocus()
    qtbot.waitUntil(window.canvas.view.hasFocus, timeout=2000)
    window.canvas.select_all()                       # Alt+arrows must not nudge these
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert session.selected == 1
    assert sorted(n.pitch for _, n in document.notes().values()) == [60, 67]
    assert sorted(n.start for _, n in document.notes().values()) == [0, 1920]
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert session.selected == 0
    QTest.keyClick(window.canvas.view, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert session.state is SessionState.ACCEPTED


def test_the_roll_shades_the_key_continue_stays_in_and_view_show_scale_hides_it(window):
    sampling = window.findChild(ContinuePanel).sampling_panel
    view = window.canvas.view
    sampling.set_estimated_key((7, "major"))                 # as the estimator shows it
    assert view.scale is not None and view.scale[0] == 7
    sampling.key.setCurrentIndex(sampling.key.findText("D minor"))   # picked by the musician
    assert view.scale[0] == 2 and 10 in view.scale[1]       # D minor's Bb
    show = next(a for a in menus_of(window)["&View"].actions() if a.text() == "Show &Scale")
    show.trigger()
    assert view.scale is None and not show.isChecked()
    show.trigger()
    assert view.scale[0] == 2


def test_a_disabled_generate_item_says_why_when_hovered(window, qtbot):
    """Add Part with a single-stream model: greyed out, and hovering it showed nothing (a
    menu shows no status tip for a disabled item); its tooltip says why."""
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    from composer_app.continuation.add_part import MENU_TEXT

    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Generate")
    action = next(a for a in menu.actions() if a.text() == MENU_TEXT)
    models = window.findChild(ContinuePanel).model_panel
    # the app's default knows tracks: Add Part is there from the first start
    assert models.selected_bundle().name == "default-next" and action.isEnabled()
    assert models.select("default")                    # the older, single-stream model
    # the reason names the bundled model that knows tracks
    assert not action.isEnabled() and "choose 'default-next'" in action.toolTip()
    menu.popup(window.mapToGlobal(QPoint(200, 30)))
    qtbot.waitExposed(menu)
    at = menu.actionGeometry(action).center()
    QApplication.sendEvent(menu, QHelpEvent(QEvent.Type.ToolTip, at, menu.mapToGlobal(at)))
    assert QToolTip.isVisible() and QToolTip.text() == action.toolTip()
    menu.close()

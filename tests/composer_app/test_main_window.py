"""The main window: unsaved-changes prompt on close, toolbar, shortcuts, docks, settings."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDockWidget, QLabel

from composer_app import dialogs, settings
from composer_app.canvas.view import Tool
from composer_app.main_window import MainWindow
from ml_core.midi_io import read_midi
from ml_core.music import Note
from ml_core.paths import user_data_dir


@pytest.fixture
def prompts(monkeypatch):
    """Answers for the unsaved-changes prompt (default 'discard'), and what was asked."""
    state = {"answer": "discard", "asked": []}

    def ask(parent, name="", doing="closing it"):
        state["asked"].append(name)
        state["doing"] = doing
        return state["answer"]

    monkeypatch.setattr(dialogs, "ask_save_changes", ask)
    monkeypatch.setattr(dialogs, "show_error", lambda parent, text: state["asked"].append(text))
    return state


@pytest.fixture
def window(qtbot, prompts):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_close_with_modifications_prompts_and_cancel_keeps_the_window(window, prompts):
    window.document.add_notes([Note(60, 0, 480)])
    prompts["answer"] = "cancel"
    assert not window.close()
    assert prompts["asked"] == ["Untitled"] and window.isVisible()
    assert len(window.document.notes()) == 1


def test_the_save_question_says_what_the_answer_lets_happen(window, prompts, tmp_path):
    window.document.add_notes([Note(60, 0, 480)])
    prompts["answer"] = "cancel"
    assert not window.files.open(tmp_path / "other.mid")
    assert prompts["doing"] == "opening another file"
    assert not window.files.new()
    assert prompts["doing"] == "starting a new one"
    assert not window.close()
    assert prompts["doing"] == "closing it"


def test_close_with_save_writes_the_file_then_closes(window, prompts, tmp_path, qtbot):
    window.files.save_as(tmp_path / "piece.mid")
    window.document.add_notes([Note(64, 480, 480)])
    prompts["answer"] = "save"
    with qtbot.waitSignal(window.closing):
        assert window.close()
    assert prompts["asked"] == ["piece.mid"]
    assert Note(64, 480, 480) in read_midi(tmp_path / "piece.mid").tracks[0].notes


def test_close_without_modifications_does_not_prompt(window, prompts, qtbot):
    with qtbot.waitSignal(window.closing):
        assert window.close()
    assert prompts["asked"] == []


def test_title_shows_the_file_and_the_modified_mark(window):
    assert window.windowTitle().startswith("Untitled") and not window.isWindowModified()
    window.document.add_notes([Note(60, 0, 480)])
    assert window.isWindowModified()
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


def test_toolbar_tempo_and_meter_edit_the_document_undoably(window):
    window.tempo_box.setValue(96)
    window.numerator_box.setValue(3)
    window.denominator_box.setCurrentText("8")
    assert window.document.tempo_bpm == 96 and window.document.time_signature == (3, 8)
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert window.document.time_signature == (4, 4)
    assert window.numerator_box.value() == 4 and window.denominator_box.currentText() == "4"
    window.document.undo_stack.undo()
    assert window.tempo_box.value() == 120


def test_grid_and_tool_controls_drive_the_canvas(window):
    window.grid_box.setCurrentText("1/8T")
    assert window.canvas.grid_step() == 160
    assert settings.get_str(settings.GRID) == "1/8T"
    window.select_tool_action.trigger()
    assert window.canvas.tool is Tool.SELECT
    window.draw_tool_action.trigger()
    assert window.canvas.tool is Tool.DRAW


def test_conventional_shortcuts_are_bound():
    def keys(action):
        return {s.toString() for s in action.shortcuts()}

    window = MainWindow()
    try:
        assert keys(window.play_action) == {"Space"}
        assert QKeySequence(QKeySequence.StandardKey.Undo).toString() in keys(window.undo_action)
        assert "Ctrl+Shift+Z" in keys(window.redo_action)
        assert keys(window.save_action) == {"Ctrl+S"} and keys(window.open_action) == {"Ctrl+O"}
        assert keys(window.export_midi_action) == {"Ctrl+E"}
        assert keys(window.delete_action) == {"Del", "Backspace"}
        assert (keys(window.select_all_action) == {"Ctrl+A"}
                and keys(window.duplicate_action) == {"Ctrl+D"})
    finally:
        window.deleteLater()


def test_keys_typed_into_the_window_reach_the_actions(window, qtbot):
    window.activateWindow()
    window.canvas.view.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=2000)
    window.document.add_notes([Note(60, 0, 480), Note(62, 480, 480)])
    with qtbot.waitSignal(window.play_action.triggered, timeout=1000):
        QTest.keyClick(window.canvas.view, Qt.Key.Key_Space)
    QTest.keyClick(window.canvas.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Delete)
    assert window.document.notes() == {}
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.notes()) == 2
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.document.notes() == {}


def test_add_dock_and_status(window):
    label = QLabel("panel")
    dock = window.add_dock(label, "Continue")
    assert isinstance(dock, QDockWidget) and dock.widget() is label
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    bottom = window.add_dock(QLabel("x"), "Confidence", Qt.DockWidgetArea.BottomDockWidgetArea)
    assert window.dockWidgetArea(bottom) == Qt.DockWidgetArea.BottomDockWidgetArea
    window.status("Generating...")
    assert window.statusBar().currentMessage() == "Generating..."


def test_settings_are_typed_isolated_and_remember_the_window(window, tmp_path):
    settings.set_value(settings.SOUNDFONT, tmp_path / "piano.sf2")
    settings.set_value(settings.DEVICE, "cpu")
    settings.set_value("volume", 0.5)
    settings.set_value("count", 7)
    settings.set_value("flag", True)
    assert settings.get_str(settings.SOUNDFONT) == str(tmp_path / "piano.sf2")
    assert settings.get_str(settings.DEVICE, "auto") == "cpu"
    assert settings.get_float("volume") == 0.5 and settings.get_int("count") == 7
    assert settings.get_bool("flag") is True and settings.get_int("missing", 3) == 3
    assert settings.settings_path().parent == user_data_dir()     # the test's temp folder
    for i in range(12):
        settings.add_recent_file(tmp_path / f"{i}.mid")
    assert len(settings.recent_files()) == 10 and settings.recent_files()[0].endswith("11.mid")
    window.resize(700, 500)   # inside the offscreen screen (800x600)
    window.close()
    assert settings.get_bytes(settings.WINDOW_GEOMETRY) is not None
    reopened = MainWindow()
    try:
        assert (reopened.width(), reopened.height()) == (700, 500)
    finally:
        reopened.deleteLater()


def test_an_unexpected_modal_dialog_fails_instead_of_hanging(qtbot):
    """The conftest guard: headless, a real modal dialog would wait forever."""
    from PySide6.QtWidgets import QMessageBox

    from composer_app import dialogs

    with pytest.raises(AssertionError,
                       match="unexpected modal QMessageBox.critical: .*disk is full"):
        dialogs.show_error(None, "The disk is full")
    with pytest.raises(AssertionError, match="QMessageBox.exec"):
        QMessageBox(QMessageBox.Icon.Warning, "t", "x").exec()

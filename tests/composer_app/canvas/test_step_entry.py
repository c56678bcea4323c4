"""Step entry: the piano row typed on the roll, chords, rests, Backspace, MIDI input notes,
and the window's own shortcuts (Backspace, B, V) untouched while it is off."""

from __future__ import annotations

import threading

import mido
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from composer_app import dialogs
from composer_app.canvas.step_keys import SHORTCUT, install_step_entry
from composer_app.canvas.view import Tool
from composer_app.main_window import MainWindow
from composer_app.recording.panel import RecordPanel
from ml_core.music import Note

SIXTEENTH = 120
K = Qt.Key


class FakeInput:
    """What `open_port` returns: the callback, fed from a thread like rtmidi's."""

    def __init__(self, callback):
        self.callback, self.closed = callback, False

    def send_from_thread(self, messages):
        thread = threading.Thread(target=lambda: [self.callback(m) for m in messages],
                                  name="fake-midi-in")
        thread.start()
        thread.join()

    def close(self):
        self.closed = True


@pytest.fixture
def rig(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    inputs = []

    def open_port(name, callback):
        inputs.append(FakeInput(callback))
        return inputs[-1]

    panel = RecordPanel(window.document, window.timeline,
                        list_ports=lambda: (["Fake Keys", "Other Keys"], None), open_port=open_port,
                        parent=window)
    keys = install_step_entry(window, panel)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.canvas.view.setFocus()
    qtbot.waitUntil(window.canvas.view.hasFocus, timeout=2000)
    window.canvas.set_grid("1/16")
    keys.inputs_ = inputs
    return window, keys


def notes_of(window):
    """The document's notes in time order (then pitch)."""
    return sorted((note for _, note in window.document.notes().values()),
                  key=lambda n: (n.start, n.pitch))


def click(window, key, modifier=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(window.canvas.view, key, modifier)


def test_typed_notes_enter_at_the_cursor_with_the_grid_length_and_advance(rig):
    window, keys = rig
    window.timeline.set_playhead(1930)                   # the cursor starts on the grid
    click(window, K.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert keys.enabled and keys.cursor_item.isVisible() and keys.entry.cursor == 1920
    assert SHORTCUT == "Ctrl+Shift+E" and keys.label.isVisible()
    assert "A = C4" in keys.label.text()
    click(window, K.Key_A)
    click(window, K.Key_E)                               # D#
    window.canvas.set_grid("1/8")
    click(window, K.Key_X)                               # an octave up
    assert "A = C5" in keys.label.text()
    click(window, K.Key_K)                               # the C above: C6
    click(window, K.Key_Z)
    click(window, K.Key_Z)
    click(window, K.Key_Semicolon)                       # E4 from C3
    assert notes_of(window) == [Note(60, 1920, SIXTEENTH, 100), Note(63, 2040, SIXTEENTH, 100),
                                Note(84, 2160, 240, 100), Note(64, 2400, 240, 100)]
    assert keys.entry.cursor == 2640
    assert keys.cursor_item.rect().left() == 2640 and keys.cursor_item.rect().width() == 240
    window.document.undo()                               # each note its own step
    assert len(notes_of(window)) == 3 and keys.entry.cursor == 2400


def test_keys_held_together_make_one_chord_one_undo_step(rig):
    window, keys = rig
    keys.set_enabled(True)
    view = window.canvas.view
    for key in (K.Key_A, K.Key_D, K.Key_G):              # C E G held down together
        QTest.keyPress(view, key)
    repeat = QKeyEvent(QEvent.Type.KeyPress, K.Key_J, Qt.KeyboardModifier.NoModifier, "j", True)
    QApplication.sendEvent(view, repeat)                 # auto-repeat enters nothing
    assert keys.entry.cursor == 0 and len(notes_of(window)) == 3
    QTest.keyRelease(view, K.Key_A)
    QTest.keyRelease(view, K.Key_D)
    assert keys.entry.cursor == 0                        # G is still down
    QTest.keyRelease(view, K.Key_G)
    assert keys.entry.cursor == SIXTEENTH
    click(window, K.Key_F)
    assert notes_of(window) == [Note(60, 0, SIXTEENTH, 100), Note(64, 0, SIXTEENTH, 100),
                                Note(67, 0, SIXTEENTH, 100), Note(65, SIXTEENTH, SIXTEENTH, 100)]
    window.document.undo()
    window.document.undo()                               # the chord goes in one step
    assert notes_of(window) == [] and keys.entry.cursor == 0


def test_a_rest_advances_and_backspace_steps_back_removing_the_last_notes(rig):
    window, keys = rig
    window.document.add_notes([Note(48, 0, 480, 100)])
    window.canvas.select_all()                           # Delete must not take this one
    keys.set_enabled(True)
    click(window, K.Key_Tab)
    assert keys.entry.cursor == SIXTEENTH and window.canvas.view.hasFocus()
    QTest.keyPress(window.canvas.view, K.Key_S)
    QTest.keyPress(window.canvas.view, K.Key_H)
    QTest.keyRelease(window.canvas.view, K.Key_S)
    QTest.keyRelease(window.canvas.view, K.Key_H)
    click(window, K.Key_W)
    assert notes_of(window) == [Note(48, 0, 480, 100), Note(62, SIXTEENTH, SIXTEENTH, 100),
                                Note(69, SIXTEENTH, SIXTEENTH, 100), Note(61, 240, SIXTEENTH, 100)]
    click(window, K.Key_Backspace)
    assert keys.entry.cursor == 240 and len(notes_of(window)) == 3
    click(window, K.Key_Backspace)                       # the chord, both notes
    assert notes_of(window) == [Note(48, 0, 480, 100)] and keys.entry.cursor == SIXTEENTH
    click(window, K.Key_Backspace)                       # the rest
    click(window, K.Key_Backspace)                       # nothing left: stays at 0
    assert keys.entry.cursor == 0 and notes_of(window) == [Note(48, 0, 480, 100)]


def test_off_the_window_shortcuts_work_and_the_piano_row_enters_nothing(rig):
    window, keys = rig
    window.document.add_notes([Note(48, 0, 480, 100)])
    click(window, K.Key_V)
    assert window.canvas.tool is Tool.SELECT
    click(window, K.Key_A)
    click(window, K.Key_B)
    assert window.canvas.tool is Tool.DRAW and len(notes_of(window)) == 1
    window.canvas.select_all()
    click(window, K.Key_Backspace)
    assert notes_of(window) == []
    keys.set_enabled(True)
    click(window, K.Key_V)                               # not a step key: still the tool
    assert window.canvas.tool is Tool.SELECT and not keys.inputs_[0].closed
    click(window, K.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not keys.enabled and not keys.cursor_item.isVisible() and keys.inputs_[0].closed


def test_notes_from_the_midi_input_enter_the_same_way(rig, qtbot):
    window, keys = rig
    window.timeline.set_playhead(480)
    keys.set_enabled(True)
    port = keys.inputs_[0]

    def message(kind, pitch, velocity=0):
        return mido.Message(kind, note=pitch, velocity=velocity)

    port.send_from_thread([message("note_on", 60, 90), message("note_on", 64, 70),
                           message("note_off", 60), message("note_on", 64, 0),
                           mido.Message("control_change", control=64, value=127),
                           message("note_on", 67, 110), message("note_off", 67)])
    qtbot.waitUntil(lambda: keys.entry.cursor == 480 + 2 * SIXTEENTH, timeout=2000)
    assert notes_of(window) == [Note(60, 480, SIXTEENTH, 90), Note(64, 480, SIXTEENTH, 70),
                                Note(67, 600, SIXTEENTH, 110)]
    keys.record_panel.port_box.setCurrentText("Other Keys")   # listens to the other one
    assert port.closed and len(keys.inputs_) == 2 and not keys.inputs_[1].closed
    keys.set_enabled(False)
    assert keys.inputs_[1].closed
    port.send_from_thread([message("note_on", 72, 90), message("note_off", 72)])
    qtbot.wait(50)
    assert len(notes_of(window)) == 3

"""Edit menu tools: cut/copy/paste at the playhead, quantize, transpose, legato, velocity."""

import pytest

from composer_app import dialogs
from composer_app.editing.actions import install_editing
from composer_app.main_window import MainWindow
from ml_core.music import Note, Score, Track


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    qtbot.addWidget(window)
    window.edit = install_editing(window)
    window.document.load_score(Score([Track("A", 0, False,
                                            [Note(60, 10, 200, 80), Note(64, 250, 100, 40)]),
                                      Track("B", 0, False, [Note(48, 0, 960, 90)])]))
    return window


def ids_in(window, track):
    return sorted(window.document.track_note_ids(track),
                  key=lambda i: window.document.note(i).start)


def test_cut_copy_and_paste_at_the_playhead_into_the_active_track(window):
    window.canvas.select_all_in_track()                         # track A (active)
    assert len(window.canvas.selected_ids()) == 2
    assert window.edit.cut() == 2 and window.document.track_note_ids(0) == []
    window.document.set_active_track(1)
    window.canvas.set_playhead(1920)
    pasted = window.edit.paste()
    assert sorted(window.document.note(i) for i in pasted) == [Note(60, 1920, 200, 80),
                                                               Note(64, 2160, 100, 40)]
    assert all(window.document.entry(i)[0] == 1 for i in pasted)
    window.document.undo()
    window.document.undo()
    assert len(window.document.track_note_ids(0)) == 2        # cut undone too


def test_quantize_with_strength_transpose_and_legato_are_one_step_each(window):
    window.canvas.select_ids(ids_in(window, 0))
    window.edit.quantize(strength=0.5, grid=240)
    assert [window.document.note(i).start for i in ids_in(window, 0)] == [5, 245]
    window.edit.quantize(strength=1.0, grid=240)
    assert [window.document.note(i).start for i in ids_in(window, 0)] == [0, 240]
    window.edit.transpose(-12)
    assert [window.document.note(i).pitch for i in ids_in(window, 0)] == [48, 52]
    window.edit.transpose(200)                                  # refused, nothing changes
    assert [window.document.note(i).pitch for i in ids_in(window, 0)] == [48, 52]
    window.edit.legato()
    assert window.document.note(ids_in(window, 0)[0]).duration == 240
    window.document.undo()
    assert window.document.note(ids_in(window, 0)[0]).duration == 200


def test_velocity_scale_and_humanize(window):
    window.canvas.select_ids(ids_in(window, 0))
    window.edit.scale_velocity(1.5)
    assert [window.document.note(i).velocity for i in ids_in(window, 0)] == [120, 60]
    window.edit.humanize(10, seed=3)
    velocities = [window.document.note(i).velocity for i in ids_in(window, 0)]
    assert all(abs(v - w) <= 10 for v, w in zip(velocities, [120, 60], strict=True))
    assert velocities != [120, 60]


def test_quantize_dialog_asks_the_strength(window, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_number", lambda *args, **kwargs: 100)
    window.canvas.set_grid("1/8")
    window.canvas.select_ids(ids_in(window, 0))
    window.edit.actions["quantize"].trigger()
    assert [window.document.note(i).start for i in ids_in(window, 0)] == [0, 240]

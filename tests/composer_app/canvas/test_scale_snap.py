"""Snap to scale: with it on, a note drawn on a row outside the key, or dragged to one,
lands on the nearest pitch of the key's scale (the key the roll shades); Shift and the
option off keep the row's pitch."""

import pytest

from composer_app.canvas import geometry
from composer_app.canvas.view import DEFAULT_VELOCITY
from ml_core.music import Note
from tests.composer_app.canvas.test_canvas import SHIFT, at, click, drag, load, notes_of


@pytest.fixture
def canvas(shown_canvas):
    canvas = shown_canvas(1000, 600)
    canvas.view.scroll_to(0, 64)
    canvas.set_grid("1/4")
    canvas.set_key((0, "major"))
    return canvas


def test_nearest_scale_pitch_breaks_ties_the_way_asked_and_stays_in_range():
    c_major = frozenset({0, 2, 4, 5, 7, 9, 11})
    assert geometry.nearest_scale_pitch(61, c_major) == 62          # C#: up to D
    assert geometry.nearest_scale_pitch(61, c_major, -1) == 60      # or down to C
    assert geometry.nearest_scale_pitch(64, c_major, -1) == 64      # E is in C major
    assert geometry.nearest_scale_pitch(127, frozenset({0})) == 120  # G9: down to C9
    assert geometry.nearest_scale_pitch(61, frozenset()) == 61


def test_drawing_on_a_row_outside_the_key_gives_a_scale_pitch_only_with_snap_on(canvas):
    viewport = canvas.view.viewport()
    click(viewport, at(canvas, 0, 61))                      # C# row, snap off
    assert notes_of(canvas) == [Note(61, 0, 480, DEFAULT_VELOCITY)]
    canvas.set_scale_snap(True)
    click(viewport, at(canvas, 480, 61))                    # C# row, snap on: D
    click(viewport, at(canvas, 960, 66))                    # F# row: G
    click(viewport, at(canvas, 1440, 64))                   # E is in the scale
    click(viewport, at(canvas, 1920, 63), modifiers=SHIFT)  # Shift: any pitch
    assert [n.pitch for n in notes_of(canvas)] == [61, 62, 67, 64, 63]
    canvas.set_key((9, "minor"))                            # A minor, with its G#
    click(viewport, at(canvas, 2400, 68))
    assert notes_of(canvas)[-1].pitch == 68


def test_a_dragged_note_lands_on_the_scale_the_way_it_moves(canvas):
    (note_id,) = load(canvas, Note(64, 0, 480))
    canvas.set_scale_snap(True)
    viewport = canvas.view.viewport()
    drag(viewport, at(canvas, 100, 64), at(canvas, 100, 66))   # E up two rows: F# -> G
    assert canvas.document.note(note_id).pitch == 67
    drag(viewport, at(canvas, 100, 67), at(canvas, 100, 66))   # G down a row: F# -> F
    assert canvas.document.note(note_id).pitch == 65
    canvas.set_scale_snap(False)
    drag(viewport, at(canvas, 100, 65), at(canvas, 100, 66))
    assert canvas.document.note(note_id).pitch == 66


def test_the_drum_lane_never_snaps(canvas):
    canvas.set_scale_snap(True)
    canvas.keyboard.set_drum_mode(True)
    canvas.set_key((0, "major"))
    assert canvas.view.scale_pitch(61) == 61


def test_view_snap_to_scale_is_remembered_by_the_next_window(qtbot, monkeypatch):
    from composer_app import dialogs, settings
    from composer_app.app import build_main_window

    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    first = build_main_window(recover=False)
    qtbot.addWidget(first)
    view_menu = next(a.menu() for a in first.menuBar().actions() if a.text() == "&View")
    snap = next(a for a in view_menu.actions() if a.text() == "Sn&ap to Scale")
    assert not snap.isChecked() and not first.canvas.scale_snap
    snap.trigger()
    assert first.canvas.scale_snap and settings.get_bool(settings.SNAP_TO_SCALE)
    second = build_main_window(recover=False)
    qtbot.addWidget(second)
    assert second.snap_scale_action.isChecked() and second.canvas.scale_snap

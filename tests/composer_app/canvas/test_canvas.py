"""The piano roll driven with real mouse, wheel and key events on the view's viewport."""

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from composer_app.canvas import geometry
from composer_app.canvas.grid import BAR_PEN
from composer_app.canvas.note_item import NoteKind
from composer_app.canvas.view import DEFAULT_VELOCITY, Tool
from ml_core.music import Note, Score, Track

LEFT = Qt.MouseButton.LeftButton
NO_BUTTON = Qt.MouseButton.NoButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def canvas(shown_canvas):
    canvas = shown_canvas(1000, 600)
    canvas.view.scroll_to(0, 64)
    return canvas


def load(canvas, *notes):
    canvas.document.load_score(Score([Track("Piano", 0, False, list(notes))]))
    canvas.view.scroll_to(0, 64)
    return sorted(canvas.document.notes())


def at(canvas, tick, pitch, row=0.5):
    """Viewport pixel of a tick within a pitch's row."""
    return canvas.view.mapFromScene(QPointF(tick, geometry.pitch_to_row(pitch) + row))


def send_mouse(widget, kind, pos, button=LEFT, buttons=LEFT, modifiers=NO_MODIFIER):
    position = QPointF(pos)
    event = QMouseEvent(kind, position, QPointF(widget.mapToGlobal(pos)), button,
                        buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(widget, start, end, modifiers=NO_MODIFIER, steps=4):
    send_mouse(widget, QEvent.Type.MouseButtonPress, start, modifiers=modifiers)
    for i in range(1, steps + 1):
        step = start + (end - start) * i / steps
        send_mouse(widget, QEvent.Type.MouseMove, step, button=NO_BUTTON, modifiers=modifiers)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, end, buttons=NO_BUTTON, modifiers=modifiers)


def click(widget, pos, modifiers=NO_MODIFIER, button=LEFT):
    send_mouse(widget, QEvent.Type.MouseButtonPress, pos, button=button, buttons=button,
               modifiers=modifiers)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, pos, button=button, buttons=NO_BUTTON,
               modifiers=modifiers)


def wheel(widget, pos, notches, modifiers=NO_MODIFIER):
    event = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 120 * notches), NO_BUTTON, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def notes_of(canvas):
    return sorted(note for _, note in canvas.document.notes().values())


# ---------------------------------------------------------------------- drawing
def test_drag_on_empty_space_draws_one_snapped_note_as_long_as_the_drag(canvas):
    viewport = canvas.view.viewport()
    canvas.set_grid("1/16")                                  # 120 ticks
    drag(viewport, at(canvas, 480 + 30, 60), at(canvas, 960 + 10, 60))
    assert notes_of(canvas) == [Note(60, 480, 600, DEFAULT_VELOCITY)]   # 480..1080 (ceil of 970)
    assert canvas.selected_notes() == notes_of(canvas)
    assert canvas.document.undo_stack.count() == 1
    canvas.document.undo_stack.undo()
    assert notes_of(canvas) == [] and canvas.scene.selectedItems() == []
    canvas.document.undo_stack.redo()
    assert notes_of(canvas) == [Note(60, 480, 600, DEFAULT_VELOCITY)]


def test_click_draws_one_grid_step_and_follows_the_grid_choice(canvas):
    canvas.set_grid("1/8T")                                  # 160 ticks
    click(canvas.view.viewport(), at(canvas, 350, 67))
    assert notes_of(canvas) == [Note(67, 320, 160, DEFAULT_VELOCITY)]


def test_select_tool_does_not_draw_and_rubber_band_selects(canvas):
    a, b, c = load(canvas, Note(60, 0, 480), Note(62, 480, 480), Note(72, 3840, 480))
    canvas.set_tool(Tool.SELECT)
    drag(canvas.view.viewport(), at(canvas, 0, 64, 0.2), at(canvas, 1200, 58))
    assert canvas.selected_ids() == [a, b]
    assert canvas.selected_notes() == [Note(60, 0, 480), Note(62, 480, 480)]
    assert len(canvas.document.notes()) == 3                 # nothing drawn
    click(canvas.view.viewport(), at(canvas, 4000, 72), modifiers=CTRL)
    assert canvas.selected_ids() == [a, b, c]
    click(canvas.view.viewport(), at(canvas, 2000, 50))       # empty space clears
    assert canvas.selected_ids() == []


# ---------------------------------------------------------------------- move and resize
def test_dragging_a_note_moves_it_snapped_in_one_undo_step(canvas):
    [note_id] = load(canvas, Note(60, 480, 480, 90))
    drag(canvas.view.viewport(), at(canvas, 700, 60), at(canvas, 700 + 490, 62))
    assert canvas.document.note(note_id) == Note(62, 960, 480, 90)
    assert canvas.view.item_for(note_id).rect() == geometry.note_rect(Note(62, 960, 480, 90))
    assert canvas.document.undo_stack.count() == 1
    canvas.document.undo_stack.undo()
    assert canvas.document.note(note_id) == Note(60, 480, 480, 90)
    assert canvas.view.item_for(note_id).rect() == geometry.note_rect(Note(60, 480, 480, 90))


def test_shift_drag_moves_freely_off_the_grid(canvas):
    [note_id] = load(canvas, Note(60, 480, 480))
    drag(canvas.view.viewport(), at(canvas, 700, 60), at(canvas, 700 + 200, 60), modifiers=SHIFT)
    start = canvas.document.note(note_id).start
    assert start % 120 != 0 and abs(start - 680) <= 10


def test_moving_a_selection_moves_every_selected_note(canvas):
    a, b = load(canvas, Note(60, 0, 240), Note(64, 240, 240))
    canvas.select_all()
    drag(canvas.view.viewport(), at(canvas, 100, 60), at(canvas, 100 + 960, 59))
    assert notes_of(canvas) == [Note(59, 960, 240), Note(63, 1200, 240)]
    assert canvas.document.undo_stack.count() == 1


def test_dragging_the_right_edge_resizes(canvas):
    [note_id] = load(canvas, Note(60, 480, 480))
    edge = at(canvas, 960, 60) - QPoint(2, 0)
    drag(canvas.view.viewport(), edge, at(canvas, 1440 + 20, 60))
    assert canvas.document.note(note_id) == Note(60, 480, 960)
    canvas.document.undo_stack.undo()
    assert canvas.document.note(note_id) == Note(60, 480, 480)


def test_a_click_without_drag_changes_nothing(canvas):
    load(canvas, Note(60, 480, 480))
    click(canvas.view.viewport(), at(canvas, 700, 60))
    assert canvas.document.undo_stack.count() == 0 and len(canvas.selected_ids()) == 1


# ---------------------------------------------------------------------- keys
def test_delete_key_removes_the_selection_and_undo_restores_it(canvas):
    a, b = load(canvas, Note(60, 0, 240), Note(64, 240, 240))
    click(canvas.view.viewport(), at(canvas, 100, 60))
    QTest.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert list(canvas.document.notes()) == [b]
    canvas.document.undo_stack.undo()
    assert canvas.document.note(a) == Note(60, 0, 240) and canvas.view.item_for(a) is not None
    canvas.select_ids([a, b])
    QTest.keyClick(canvas.view, Qt.Key.Key_Backspace)
    assert canvas.document.notes() == {}


def test_ctrl_d_duplicates_after_the_selection(canvas):
    load(canvas, Note(60, 0, 480), Note(64, 480, 400))
    QTest.keyClick(canvas.view, Qt.Key.Key_A, CTRL)
    QTest.keyClick(canvas.view, Qt.Key.Key_D, CTRL)
    assert notes_of(canvas) == [Note(60, 0, 480), Note(64, 480, 400),
                                Note(60, 960, 480), Note(64, 1440, 400)]
    assert canvas.selected_notes() == [Note(60, 960, 480), Note(64, 1440, 400)]
    canvas.document.undo_stack.undo()
    assert len(canvas.document.notes()) == 2


def test_arrow_keys_nudge_and_merge_into_one_undo_step(canvas):
    [note_id] = load(canvas, Note(60, 480, 240))
    canvas.select_all()
    canvas.set_grid("1/8")
    QTest.keyClick(canvas.view, Qt.Key.Key_Up)
    QTest.keyClick(canvas.view, Qt.Key.Key_Up, SHIFT)
    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    QTest.keyClick(canvas.view, Qt.Key.Key_Down)
    assert canvas.document.note(note_id) == Note(72, 720, 240)
    assert canvas.document.undo_stack.count() == 1
    canvas.document.undo_stack.undo()
    assert canvas.document.note(note_id) == Note(60, 480, 240)


def test_nudge_that_would_leave_the_roll_is_refused(canvas):
    [note_id] = load(canvas, Note(120, 0, 240))
    canvas.select_all()
    QTest.keyClick(canvas.view, Qt.Key.Key_Up, SHIFT)
    QTest.keyClick(canvas.view, Qt.Key.Key_Left)
    assert canvas.document.note(note_id) == Note(120, 0, 240)


# ---------------------------------------------------------------------- velocity
def test_wheel_over_a_selected_note_changes_velocity(canvas):
    [note_id] = load(canvas, Note(60, 480, 480, 80))
    click(canvas.view.viewport(), at(canvas, 700, 60))
    wheel(canvas.view.viewport(), at(canvas, 700, 60), 2)
    wheel(canvas.view.viewport(), at(canvas, 700, 60), 1)
    assert canvas.document.note(note_id).velocity == 92
    assert canvas.document.undo_stack.count() == 1          # wheel steps merge
    canvas.document.undo_stack.undo()
    assert canvas.document.note(note_id).velocity == 80


def test_velocity_lane_drag_sets_a_notes_velocity(canvas):
    a, b = load(canvas, Note(60, 480, 480, 100), Note(62, 1920, 480, 100))
    lane = canvas.velocity_lane
    stem = lane.stem_rect(b)
    drag(lane, QPoint(int(stem.center().x()), int(stem.top())), QPoint(int(stem.center().x()),
                                                                       int(lane.y_of(30))))
    assert abs(canvas.document.note(b).velocity - 30) <= 2
    assert canvas.document.note(a).velocity == 100
    canvas.document.undo_stack.undo()
    assert canvas.document.note(b).velocity == 100


# ---------------------------------------------------------------------- zoom, keyboard, ruler
def test_ctrl_wheel_and_plus_minus_zoom(canvas):
    before = canvas.view.zoom.pixels_per_tick
    wheel(canvas.view.viewport(), QPoint(300, 200), 1, modifiers=CTRL)
    assert canvas.view.zoom.pixels_per_tick == pytest.approx(before * 1.25)
    QTest.keyClick(canvas.view, Qt.Key.Key_Minus)
    QTest.keyClick(canvas.view, Qt.Key.Key_Minus)
    # the keys step by half as much again (the 8 bars of a continuation fit in two steps)
    assert canvas.view.zoom.pixels_per_tick == pytest.approx(before * 1.25 / 1.5 / 1.5)
    assert canvas.view.transform().m11() == pytest.approx(canvas.view.zoom.pixels_per_tick)


def test_keyboard_click_emits_the_pitch(canvas, qtbot):
    keyboard = canvas.keyboard
    y = int(canvas.view.mapFromScene(QPointF(0, geometry.pitch_to_row(64) + 0.5)).y())
    with qtbot.waitSignal(canvas.key_pressed) as signal:
        QTest.mouseClick(keyboard, LEFT, NO_MODIFIER, QPoint(20, y))
    assert signal.args == [64]


def test_ruler_click_moves_playhead_and_drag_sets_loop(canvas, qtbot):
    ruler = canvas.ruler
    x = lambda tick: int(ruler.x_of(tick))   # noqa: E731
    with qtbot.waitSignal(canvas.playhead_moved) as moved:
        click(ruler, QPoint(x(1920 + 10), 10))
    assert moved.args == [1920] and canvas.playhead_tick == 1920
    with qtbot.waitSignal(canvas.loop_changed) as looped:
        drag(ruler, QPoint(x(480), 10), QPoint(x(2400), 10))
    assert looped.args == [(480, 2400)] and canvas.loop_range == (480, 2400)
    click(ruler, QPoint(x(100), 10), button=Qt.MouseButton.RightButton)
    assert canvas.loop_range is None
    canvas.set_playhead(960)
    assert canvas.playhead_tick == 960


# ---------------------------------------------------------------------- generated notes and grid
def test_generated_and_preview_notes_look_distinct_and_undo_as_one(canvas):
    load(canvas, Note(60, 0, 480))
    ids = canvas.document.add_generated([Note(62, 480, 240), Note(64, 720, 240)])
    assert {canvas.view.item_for(i).kind for i in ids} == {NoteKind.GENERATED}
    canvas.document.accept_generated()
    assert {canvas.view.item_for(i).kind for i in ids} == {NoteKind.NORMAL}
    canvas.document.undo_stack.undo()
    canvas.document.undo_stack.undo()
    assert all(canvas.view.item_for(i) is None for i in ids)
    canvas.document.set_preview([Note(70, 0, 120)])
    canvas.document.set_preview([Note(70, 0, 120), Note(71, 120, 120)])
    assert canvas.view.preview_item_count() == 2
    canvas.document.set_preview(None)
    assert canvas.view.preview_item_count() == 0


def _has_bar_line(canvas, tick):
    image = canvas.view.viewport().grab().toImage()
    x = canvas.view.mapFromScene(QPointF(tick, 0)).x()
    y = image.height() // 2
    bar = BAR_PEN.color()
    return any(QColor(image.pixel(x + dx, y)) == bar for dx in (-1, 0, 1))


def test_grid_draws_bar_lines_following_the_time_signature(canvas):
    canvas.document.set_time_signature(3, 4)
    assert _has_bar_line(canvas, 1440) and _has_bar_line(canvas, 2880)
    assert not _has_bar_line(canvas, 1920)
    canvas.document.undo_stack.undo()
    assert _has_bar_line(canvas, 1920) and not _has_bar_line(canvas, 1440)


def test_snapping_helpers():
    assert geometry.grid_step_ticks("1/16") == 120 and geometry.grid_step_ticks("1/8T") == 160
    assert geometry.grid_step_ticks("1/32T") == 40
    assert geometry.snap_floor(239, 120) == 120 and geometry.snap_ceil(241, 120) == 360
    assert geometry.snap_nearest(179, 120) == 120 and geometry.snap_nearest(181, 120) == 240
    assert geometry.snap_nearest(1500, 480, origin=1440) == 1440
    with pytest.raises(ValueError, match="unknown grid"):
        geometry.grid_step_ticks("1/5")


def test_the_roll_follows_a_continuation_as_it_streams(canvas):
    view = canvas.view
    view.scroll_to(0)
    stream = [Note(60 + bar % 12, bar * 1920, 480) for bar in range(40)]
    canvas.document.set_preview(stream[:1])
    for count in range(2, len(stream) + 1):         # the worker's updates, a bar at a time
        canvas.document.set_preview(stream[:count])
        visible = view.visible_scene_rect()
        assert visible.left() <= stream[count - 1].start < visible.right(), count
    canvas.document.set_preview(None)

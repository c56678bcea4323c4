"""Mouse, wheel and key gestures on the piano roll, turned into document edits.

`RollGestures` is what the roll's event handlers delegate to. Each gesture is exactly
one undo command, pushed when it completes: while a drag is in progress only the note
items move (and a drawn note is a temporary item); the document changes once, on
release. Escape cancels a drag and puts the items back where their notes are.

With either tool, dragging a note moves the selection (snapped; Shift moves freely) and
dragging its right edge resizes it; with DRAW, dragging on empty space draws a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent

from composer_app.canvas import geometry
from composer_app.canvas.note_item import NoteItem, NoteKind
from ml_core.music import PITCH_MAX, PITCH_MIN, Note

if TYPE_CHECKING:
    from composer_app.canvas.view import PianoRollView

DEFAULT_VELOCITY = 100
RESIZE_EDGE_PIXELS = 6.0
WHEEL_VELOCITY_STEP = 4


class Tool(Enum):
    DRAW = "draw"
    SELECT = "select"


@dataclass
class Gesture:
    """What the current left-button drag is doing."""

    mode: str                                  # "move", "resize" or "draw"
    press: QPointF                             # scene position of the press
    anchor: Note                               # the note under the mouse (or being drawn)
    originals: dict[int, Note] = field(default_factory=dict)
    pending: dict[int, Note] = field(default_factory=dict)
    draw_item: NoteItem | None = None


class RollGestures:
    """The gesture in progress on one roll view, and the handlers that drive it. Each
    handler returns True when it used the event (the view passes the others to Qt)."""

    def __init__(self, view: PianoRollView) -> None:
        self.view = view
        self.current: Gesture | None = None

    # ------------------------------------------------------------------ mouse
    def press(self, event: QMouseEvent) -> bool:
        view, document = self.view, self.view.document
        view.setFocus()
        pos = event.position()
        scene_pos = view.mapToScene(pos.toPoint())
        item = view.note_item_at(pos.toPoint())
        if event.button() == Qt.MouseButton.RightButton and item is not None:
            document.remove_notes([item.note_id], text="Delete note")
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if item is not None:
            self._press_on_note(item, event, scene_pos)
            return True
        if view.tool is Tool.DRAW and document.track_count() > view.current_track:
            start = view.snap(scene_pos.x(), "floor")
            pitch = geometry.row_to_pitch(scene_pos.y())
            if not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                pitch = view.scale_pitch(pitch)   # snap to scale (off: the row's pitch)
            note = Note(pitch, max(0, start), view.grid_step(), DEFAULT_VELOCITY)
            draw_item = NoteItem(-1, geometry.note_rect(note), note.velocity, NoteKind.NORMAL,
                                 *view.track_look(view.current_track))
            view.note_sounded.emit(note.pitch, note.velocity, view.current_track)
            view.scene().addItem(draw_item)
            view.scene().clearSelection()
            self.current = Gesture("draw", scene_pos, note, draw_item=draw_item)
            return True
        return False   # rubber band / clear selection

    def _press_on_note(self, item: NoteItem, event: QMouseEvent, scene_pos: QPointF) -> None:
        view = self.view
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            item.setSelected(not item.isSelected())
            return
        if not item.isSelected():
            view.scene().clearSelection()
            item.setSelected(True)
        mode = "resize" if self._on_right_edge(item, event.position()) else "move"
        track, clicked = view.document.entry(item.note_id)
        view.note_sounded.emit(clicked.pitch, clicked.velocity, track)
        originals = {i: view.document.note(i) for i in view.selected_ids()}
        self.current = Gesture(mode, scene_pos, view.document.note(item.note_id), originals)

    def move(self, event: QMouseEvent) -> bool:
        gesture, view = self.current, self.view
        if gesture is None:
            self._update_cursor(event.position())
            return False
        scene_pos = view.mapToScene(event.position().toPoint())
        free = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if gesture.mode == "draw":
            anchor = gesture.anchor
            end = round(scene_pos.x()) if free else view.snap(scene_pos.x(), "ceil")
            minimum = 1 if free else view.grid_step()
            gesture.pending = {-1: anchor.moved(duration=max(minimum, end - anchor.start))}
            gesture.draw_item.setRect(geometry.note_rect(gesture.pending[-1]))
            return True
        dx = scene_pos.x() - gesture.press.x()
        if gesture.mode == "move":
            gesture.pending = self._moved(gesture, dx, scene_pos, free)
        else:
            gesture.pending = self._resized(gesture, dx, free)
        for note_id, note in gesture.pending.items():
            view.item_for(note_id).setRect(geometry.note_rect(note))
        return True

    def _moved(self, gesture: Gesture, dx: float, scene_pos: QPointF,
               free: bool) -> dict[int, Note]:
        anchor = gesture.anchor
        target = anchor.start + dx
        new_start = round(target) if free else self.view.snap(target)
        shift = new_start - anchor.start
        semitones = geometry.row_to_pitch(scene_pos.y()) - geometry.row_to_pitch(gesture.press.y())
        notes = gesture.originals.values()
        shift = max(shift, -min(n.start for n in notes))
        semitones = max(PITCH_MIN - min(n.pitch for n in notes),
                        min(PITCH_MAX - max(n.pitch for n in notes), semitones))
        moved = {i: n.moved(pitch=n.pitch + semitones, start=n.start + shift)
                 for i, n in gesture.originals.items()}
        if semitones and not free:   # snap to scale, the way the drag goes (off: as it is)
            way = 1 if semitones > 0 else -1
            moved = {i: n.moved(pitch=self.view.scale_pitch(n.pitch, way))
                     for i, n in moved.items()}
        return moved

    def _resized(self, gesture: Gesture, dx: float, free: bool) -> dict[int, Note]:
        anchor = gesture.anchor
        target = anchor.end + dx
        new_end = round(target) if free else self.view.snap(target)
        change = new_end - anchor.end
        minimum = 1 if free else self.view.grid_step()
        return {i: n.moved(duration=max(min(minimum, n.duration), n.duration + change))
                for i, n in gesture.originals.items()}

    def release(self, event: QMouseEvent) -> bool:
        gesture, self.current = self.current, None
        view = self.view
        if gesture is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        if gesture.mode == "draw":
            view.scene().removeItem(gesture.draw_item)
            note = gesture.pending.get(-1, gesture.anchor)
            ids = view.document.add_notes([note], track=view.current_track, text="Draw note")
            view.select_ids(ids)
            return True
        changes = {i: n for i, n in gesture.pending.items() if n != gesture.originals[i]}
        if changes:
            text = "Move notes" if gesture.mode == "move" else "Resize notes"
            anchor_id = next((i for i, n in gesture.originals.items() if n == gesture.anchor), None)
            view.document.change_notes(changes, text=text)
            moved = changes.get(anchor_id)
            if gesture.mode == "move" and moved is not None and moved.pitch != gesture.anchor.pitch:
                view.note_sounded.emit(moved.pitch, moved.velocity,
                                       view.document.entry(anchor_id)[0])
        else:
            view.put_items_back(list(gesture.originals))
        return True

    def cancel(self) -> None:
        gesture, self.current = self.current, None
        if gesture is None:
            return
        if gesture.draw_item is not None:
            self.view.scene().removeItem(gesture.draw_item)
        else:
            self.view.put_items_back(list(gesture.originals))

    def _on_right_edge(self, item: NoteItem, view_pos: QPointF) -> bool:
        rect = self.view.mapFromScene(item.rect()).boundingRect()
        zone = min(RESIZE_EDGE_PIXELS, rect.width() / 3)
        return rect.right() - zone <= view_pos.x() <= rect.right() + 1

    def _update_cursor(self, pos: QPointF) -> None:
        view = self.view
        item = view.note_item_at(pos.toPoint())
        if item is not None and self._on_right_edge(item, pos):
            view.viewport().setCursor(Qt.CursorShape.SizeHorCursor)
        elif item is not None:
            view.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
        elif view.tool is Tool.DRAW:
            view.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            view.viewport().setCursor(Qt.CursorShape.ArrowCursor)

    # ------------------------------------------------------------------ wheel and keys
    def wheel(self, event: QWheelEvent) -> bool:
        view = self.view
        notches = event.angleDelta().y() / 120
        modifiers = event.modifiers()
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            view.zoom_by(geometry.WHEEL_ZOOM_STEP ** notches, event.position().x())
            return True
        item = view.note_item_at(event.position().toPoint())
        if item is not None and item.isSelected() and notches:
            view.change_velocity(view.selected_ids(), round(notches * WHEEL_VELOCITY_STEP),
                                 merge_key="wheel-velocity")
            return True
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            bar = view.horizontalScrollBar()
            bar.setValue(bar.value() - int(notches * bar.singleStep() * 3))
            return True
        return False

    def key(self, event: QKeyEvent) -> bool:
        view = self.view
        key = event.key()
        modifiers = event.modifiers()
        shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            view.nudge(semitones=(12 if shift else 1) * (1 if key == Qt.Key.Key_Up else -1))
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            view.nudge(ticks=view.grid_step() * (1 if key == Qt.Key.Key_Right else -1))
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            view.delete_selected()
        elif ctrl and key == Qt.Key.Key_A:
            view.select_all()
        elif ctrl and key == Qt.Key.Key_D:
            view.duplicate_selected()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            view.zoom_by(geometry.ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            view.zoom_by(1 / geometry.ZOOM_STEP)
        elif key == Qt.Key.Key_Escape:
            if self.current is not None:
                self.cancel()
            else:
                view.scene().clearSelection()
        else:
            return False
        return True

"""The velocity lane under the roll: one stem per visible note, its height the velocity.

Drag a stem up or down to change that note's velocity (one undo step on release).
Stems of selected notes are highlighted; the lane scrolls and zooms with the roll. A thin
bar along its foot shows where the active track's sustain pedal is down (as a file brought it).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from composer_app.canvas.note_item import NoteKind, brushes
from composer_app.canvas.view import PianoRollView

LANE_HEIGHT = 72
MARGIN = 4
PICK_DISTANCE_PIXELS = 5
PEDAL_BAR_HEIGHT = 3
PEDAL_COLOR = QColor(150, 156, 178)


class VelocityLane(QWidget):
    def __init__(self, view: PianoRollView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._dragged: int | None = None       # note id being edited
        self._drag_velocity = 0
        self.setFixedHeight(LANE_HEIGHT)
        view.horizontalScrollBar().valueChanged.connect(self.update)
        view.zoom_changed.connect(self.update)
        view.visible_notes_changed.connect(self.update)
        view.document.tracks_changed.connect(self.update)
        view.document.active_track_changed.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(600, LANE_HEIGHT)

    def x_of(self, tick: float) -> float:
        return self._view.mapFromScene(QPointF(tick, 0)).x()

    def y_of(self, velocity: int) -> float:
        usable = self.height() - 2 * MARGIN
        return MARGIN + usable * (1 - velocity / 127)

    def velocity_at(self, y: float) -> int:
        usable = self.height() - 2 * MARGIN
        return max(1, min(127, round(127 * (1 - (y - MARGIN) / usable))))

    def _stems(self) -> list[tuple[int, float, int, bool]]:
        """(note id, x, velocity, selected) for each visible note."""
        document = self._view.document
        origin = self.x_of(0)                       # x of tick 0, scrolling included
        pixels_per_tick = self._view.zoom.pixels_per_tick
        selected = set(self._view.selected_ids())
        stems = []
        for note_id in self._view.visible_note_ids():
            if note_id not in document:   # e.g. the note being drawn (id -1) is not one yet
                continue
            note = document.note(note_id)
            velocity = self._drag_velocity if note_id == self._dragged else note.velocity
            stems.append((note_id, origin + note.start * pixels_per_tick, velocity,
                          note_id in selected))
        return stems

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:   # an error while painting must not leave the painter active on the backing store
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), QColor(244, 245, 248))
        painter.setPen(QColor(214, 216, 224))
        for velocity in (32, 64, 96, 127):
            y = self.y_of(velocity)
            painter.drawLine(QPointF(0, y), QPointF(self.width(), y))
        bottom = self.height() - MARGIN
        usable = self.height() - 2 * MARGIN
        generated = self._view.document.generated_ids()
        tables = {(kind, selected): brushes(kind, selected)
                  for kind in (NoteKind.NORMAL, NoteKind.GENERATED) for selected in (False, True)}
        # Selected stems last so they stay on top; one fill per stem keeps this cheap.
        for note_id, x, velocity, selected in sorted(self._stems(), key=lambda s: s[3]):
            kind = NoteKind.GENERATED if note_id in generated else NoteKind.NORMAL
            y = MARGIN + usable * (1 - velocity / 127)
            painter.fillRect(QRectF(x, y, 3, bottom - y), tables[kind, selected][max(velocity, 48)])
        for rect in self.pedal_rects():
            painter.fillRect(rect, PEDAL_COLOR)
        painter.setPen(QColor(160, 164, 176))
        painter.drawLine(0, 0, self.width(), 0)

    def pedal_rects(self) -> list[QRectF]:
        """Where the active track's sustain pedal is down, in lane pixels, those in sight."""
        document = self._view.document
        origin, pixels_per_tick = self.x_of(0), self._view.zoom.pixels_per_tick
        top = self.height() - PEDAL_BAR_HEIGHT
        rects = (QRectF(origin + span.start * pixels_per_tick, top,
                        max(1.0, (span.end - span.start) * pixels_per_tick), PEDAL_BAR_HEIGHT)
                 for span in document.track_info(document.active_track).pedal)
        return [rect for rect in rects if rect.right() >= 0 and rect.left() <= self.width()]

    def stem_at(self, x: float) -> int | None:
        """The note whose stem is nearest to `x` (selected notes first), if close enough."""
        best, best_key = None, None
        for note_id, stem_x, _velocity, selected in self._stems():
            distance = abs(stem_x - x)
            if distance <= PICK_DISTANCE_PIXELS:
                key = (not selected, distance)
                if best_key is None or key < best_key:
                    best, best_key = note_id, key
        return best

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._dragged = self.stem_at(event.position().x())
        if self._dragged is not None:
            self._drag_velocity = self.velocity_at(event.position().y())
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragged is not None:
            self._drag_velocity = self.velocity_at(event.position().y())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        note_id, self._dragged = self._dragged, None
        if note_id is None or note_id not in self._view.document:
            return
        note = self._view.document.note(note_id)
        self._view.document.change_notes({note_id: note.moved(velocity=self._drag_velocity)},
                                         text="Change velocity")
        self.update()

    def stem_rect(self, note_id: int) -> QRectF:
        """Where a note's stem is drawn, in lane pixels (tests aim the mouse with it)."""
        item = self._view.item_for(note_id)
        velocity = self._view.document.note(note_id).velocity
        x = self.x_of(item.rect().left())
        return QRectF(x - 1, self.y_of(velocity), 2, self.height() - MARGIN - self.y_of(velocity))

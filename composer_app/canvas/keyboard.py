"""The piano keyboard at the roll's left edge: one key per row, scrolled with the roll.

Clicking a key (or sliding over keys with the button held) emits `key_pressed(pitch)`,
which the playback side connects to a short note preview. When the active track is a
drum track the keyboard becomes a drum lane: each row named by its General MIDI drum.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QGraphicsView, QWidget

from composer_app.canvas import geometry
from composer_app.canvas.grid import is_black_key
from composer_app.document.tracks import drum_name
from ml_core.pitch import pitch_name

KEYBOARD_WIDTH = 58
DRUM_LANE_WIDTH = 118


class Keyboard(QWidget):
    key_pressed = Signal(int)

    def __init__(self, view: QGraphicsView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self._held: int | None = None
        self.drum_mode = False
        self.setFixedWidth(KEYBOARD_WIDTH)
        view.verticalScrollBar().valueChanged.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(self.width(), 400)

    def set_drum_mode(self, drums: bool) -> None:
        """Drum names instead of piano keys (the active track is a drum track)."""
        if drums != self.drum_mode:
            self.drum_mode = drums
            self.setFixedWidth(DRUM_LANE_WIDTH if drums else KEYBOARD_WIDTH)
            self.update()

    def row_label(self, pitch: int) -> str | None:
        """What the row of `pitch` is called (drum names in drum mode; octaves' C otherwise)."""
        if self.drum_mode:
            return drum_name(pitch)
        return pitch_name(pitch) if pitch % 12 == 0 else None

    def _row_top(self, pitch: int) -> float:
        return self._view.mapFromScene(QPointF(0, geometry.pitch_to_row(pitch))).y()

    def pitch_at(self, y: float) -> int:
        return geometry.row_to_pitch(self._view.mapToScene(0, int(y)).y())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(250, 250, 250))
        row_pixels = self._view.transform().m22()
        top_pitch = self.pitch_at(0)
        bottom_pitch = self.pitch_at(self.height())
        font = QFont(self.font())
        font.setPixelSize(max(7, min(11, int(row_pixels) - 2)))
        painter.setFont(font)
        width = self.width()
        for pitch in range(bottom_pitch, top_pitch + 1):
            y = self._row_top(pitch)
            rect = QRectF(0, y, width, row_pixels)
            if pitch == self._held:
                painter.fillRect(rect, QColor(255, 170, 90))
            elif self.drum_mode:
                if drum_name(pitch) is None:
                    painter.fillRect(rect, QColor(228, 229, 234))
            elif is_black_key(pitch):
                painter.fillRect(QRectF(0, y, width * 0.62, row_pixels), QColor(40, 42, 48))
            painter.setPen(QColor(190, 192, 200) if pitch % 12 else QColor(120, 124, 136))
            painter.drawLine(QPointF(0, y + row_pixels), QPointF(width, y + row_pixels))
            label = self.row_label(pitch)
            if label is not None and row_pixels >= 7:
                painter.setPen(QColor(60, 60, 70))
                painter.drawText(rect.adjusted(0, 0, -4, 0),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 label)
        painter.setPen(QColor(150, 150, 160))
        painter.drawLine(width - 1, 0, width - 1, self.height())
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press(self.pitch_at(event.position().y()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._held is not None:
            pitch = self.pitch_at(event.position().y())
            if pitch != self._held:
                self._press(pitch)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._held = None
        self.update()

    def _press(self, pitch: int) -> None:
        self._held = pitch
        self.update()
        self.key_pressed.emit(pitch)

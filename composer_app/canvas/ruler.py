"""The timeline above the roll: bar numbers, the playhead marker and the loop region (and,
while comping, a band under each run of bars in the colour of the variation it keeps).

Click to move the playhead; drag to set a loop region (snapped to the grid);
right-click to clear the loop. Both live in the shared `Timeline`: the ruler writes
them there and repaints when the timeline changes (whoever changed it). While a drag is
in progress only the ruler shows the region; the timeline changes once, on release.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPolygonF
from PySide6.QtWidgets import QWidget

from composer_app.canvas.view import PianoRollView
from composer_app.model.timeline import Timeline

RULER_HEIGHT = 24
DRAG_THRESHOLD_PIXELS = 3


class Ruler(QWidget):
    playhead_clicked = Signal(int)    # the musician clicked: the playhead is now there

    def __init__(self, view: PianoRollView, timeline: Timeline,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self.timeline = timeline
        self._drag_loop: tuple[int, int] | None = None   # the region being dragged
        self._press_x: float | None = None
        self._press_tick = 0
        self._dragging = False
        self.marks: list[tuple[int, int, QColor]] = []   # (start, end tick, colour) bands
        self.setFixedHeight(RULER_HEIGHT)
        view.horizontalScrollBar().valueChanged.connect(self.update)
        view.zoom_changed.connect(self.update)
        timeline.playhead_changed.connect(lambda _tick: self.update(), owner=self)
        timeline.loop_changed.connect(lambda _loop: self.update(), owner=self)

    def sizeHint(self) -> QSize:
        return QSize(600, RULER_HEIGHT)

    def set_marks(self, marks: list[tuple[int, int, QColor]]) -> None:
        """Bands under the bar numbers, (start tick, end tick, colour) each; [] for none."""
        if marks != self.marks:
            self.marks = list(marks)
            self.update()

    def x_of(self, tick: float) -> float:
        return self._view.mapFromScene(QPointF(tick, 0)).x()

    def tick_at(self, x: float) -> float:
        return self._view.mapToScene(int(x), 0).x()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(236, 238, 244))
        height = self.height()
        loop = self._drag_loop if self._dragging else self.timeline.loop
        if loop is not None:
            left, right = self.x_of(loop[0]), self.x_of(loop[1])
            painter.fillRect(QRectF(left, 0, right - left, height), QColor(60, 180, 90, 110))
        for start, end, colour in self.marks:
            left, right = self.x_of(start), self.x_of(end)
            painter.fillRect(QRectF(left + 1, height - 6, right - left - 2, 5), colour)
        meter = self._view.document.meter()
        zoom = self._view.zoom
        first = max(0.0, self.tick_at(0))
        last = self.tick_at(self.width())
        bar, _ = meter.bar_at(int(first))
        label_every = 1
        while zoom.pixels_for_ticks(meter.bar_length_at(int(first))) * label_every < 28:
            label_every *= 2
        painter.setPen(QColor(70, 74, 88))
        while True:
            start = meter.bar_start(bar)
            if start > last:
                break
            if bar % label_every == 0:
                x = self.x_of(start)
                painter.drawLine(QPointF(x, height * 0.35), QPointF(x, height))
                painter.drawText(QPointF(x + 3, height * 0.62), str(meter.bar_number(bar)))
            bar += 1
        x = self.x_of(self.timeline.playhead)
        painter.setBrush(QColor(220, 30, 30))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 8)]))
        painter.setPen(QColor(160, 164, 176))
        painter.drawLine(0, height - 1, self.width(), height - 1)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self.timeline.set_loop(None)
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_x = event.position().x()
            self._press_tick = self._view.snap(self.tick_at(self._press_x))
            self._dragging = False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press_x is None:
            return
        x = event.position().x()
        if abs(x - self._press_x) >= DRAG_THRESHOLD_PIXELS:
            self._dragging = True
        if self._dragging:
            tick = self._view.snap(self.tick_at(x))
            low, high = sorted((max(0, self._press_tick), max(0, tick)))
            self._drag_loop = (low, high) if high > low else None
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press_x is None:
            return
        self._press_x = None
        if self._dragging:
            self._dragging = False
            self.timeline.set_loop(self._drag_loop)
            self._drag_loop = None
            self.update()
        else:
            tick = max(0, self._press_tick)
            self.timeline.set_playhead(tick)
            self.playhead_clicked.emit(tick)

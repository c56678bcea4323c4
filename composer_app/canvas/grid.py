"""The piano roll's background: key-row stripes and the bar / beat / grid-step lines.

Painted by the view's drawBackground (and cached there per zoom), never built out of
items. Lines follow the meter map, including time-signature changes, and thin out
when zoomed so far out that they would crowd closer than a few pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen

from composer_app.canvas.geometry import ROW_COUNT, Zoom, row_to_pitch
from ml_core.music import Score, beat_ticks

BLACK_KEY_CLASSES = frozenset({1, 3, 6, 8, 10})
MIN_LINE_GAP_PIXELS = 6.0

WHITE_ROW = QColor(250, 250, 252)
BLACK_ROW = QColor(232, 234, 240)
SCALE_ROW = QColor(226, 242, 228)     # a row of the key's scale (when a key is shown)
TONIC_ROW = QColor(200, 230, 204)     # its tonic


def _pen(color: QColor) -> QPen:
    pen = QPen(color, 0)
    pen.setCosmetic(True)
    return pen


ROW_PEN = _pen(QColor(222, 224, 230))
OCTAVE_PEN = _pen(QColor(170, 174, 186))
STEP_PEN = _pen(QColor(226, 228, 236))
BEAT_PEN = _pen(QColor(196, 200, 212))
BAR_PEN = _pen(QColor(110, 116, 134))


def is_black_key(pitch: int) -> bool:
    return pitch % 12 in BLACK_KEY_CLASSES


def paint_rows(painter: QPainter, rect: QRectF,
               scale: tuple[int, frozenset[int]] | None = None) -> None:
    """Alternating white/black key stripes and the lines between rows; with `scale`
    (tonic pitch class, the scale's pitch classes) its rows shaded, the tonic's deeper."""
    top = max(0, int(rect.top()))
    bottom = min(ROW_COUNT, int(rect.bottom()) + 1)
    left, width = rect.left(), rect.width()
    painter.fillRect(rect, WHITE_ROW)
    row_lines, octave_lines = [], []
    for row in range(top, bottom):
        pitch = row_to_pitch(row)
        if scale is not None and pitch % 12 in scale[1]:
            painter.fillRect(QRectF(left, row, width, 1.0),
                             TONIC_ROW if pitch % 12 == scale[0] else SCALE_ROW)
        elif is_black_key(pitch):
            painter.fillRect(QRectF(left, row, width, 1.0), BLACK_ROW)
        line = QLineF(left, row + 1.0, left + width, row + 1.0)
        (octave_lines if pitch % 12 == 0 else row_lines).append(line)
    painter.setPen(ROW_PEN)
    painter.drawLines(row_lines)
    painter.setPen(OCTAVE_PEN)
    painter.drawLines(octave_lines)


def paint_time_lines(painter: QPainter, rect: QRectF, meter: Score, step: int, zoom: Zoom) -> None:
    """Bar, beat and grid-step lines crossing `rect` (scene units: ticks by rows)."""
    left, right = max(0.0, rect.left()), rect.right()
    if right <= left:
        return
    top, bottom = rect.top(), rect.bottom()
    bar, _ = meter.bar_at(int(left))
    bar_lines, beat_lines, step_lines = [], [], []
    while True:
        start = meter.bar_start(bar)
        if start > right:
            break
        length = meter.bar_length_at(start)
        bar_pixels = zoom.pixels_for_ticks(length)
        # Far out, keep one bar line in every `stride` so lines stay apart.
        stride = 1
        while bar_pixels * stride < MIN_LINE_GAP_PIXELS:
            stride *= 2
        if bar % stride == 0:
            bar_lines.append(QLineF(start, top, start, bottom))
        beat = beat_ticks(meter.time_signature_at(start), meter.ticks_per_quarter)
        end = start + length
        if zoom.pixels_for_ticks(beat) >= MIN_LINE_GAP_PIXELS:
            for tick in range(start + beat, end, beat):
                if left <= tick <= right:
                    beat_lines.append(QLineF(tick, top, tick, bottom))
        if zoom.pixels_for_ticks(step) >= MIN_LINE_GAP_PIXELS:
            first = max(start + step, start + int((left - start) // step) * step)
            for tick in range(first, min(end, int(right) + 1), step):
                if (tick - start) % beat:
                    step_lines.append(QLineF(tick, top, tick, bottom))
        bar += 1
    painter.setPen(STEP_PEN)
    painter.drawLines(step_lines)
    painter.setPen(BEAT_PEN)
    painter.drawLines(beat_lines)
    painter.setPen(BAR_PEN)
    painter.drawLines(bar_lines)


def paint_background(painter: QPainter, rect: QRectF, meter: Score, step: int, zoom: Zoom,
                     scale: tuple[int, frozenset[int]] | None = None) -> None:
    paint_rows(painter, rect, scale)
    paint_time_lines(painter, rect, meter, step, zoom)


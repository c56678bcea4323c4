"""How a note looks on the piano roll: a rectangle coloured by velocity.

An item knows only its note id and its look; the note itself lives in the Document.
Colours come from small precomputed tables (one brush per velocity and kind), so paint()
is a table lookup and one drawRect: the cheap path that keeps 10,000 notes scrolling.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QStyleOptionGraphicsItem, QWidget


class NoteKind(Enum):
    NORMAL = "normal"         # the musician's notes
    GENERATED = "generated"   # a continuation not yet accepted
    PREVIEW = "preview"       # streaming from the model, not in the document's undo stack


# (hue, saturation range, value range) per kind; velocity moves along the ranges.
_PALETTE = {
    NoteKind.NORMAL: (212, (0.30, 0.85), (0.98, 0.62)),
    NoteKind.GENERATED: (28, (0.35, 0.95), (1.00, 0.80)),
    NoteKind.PREVIEW: (28, (0.25, 0.60), (1.00, 0.90)),
}
_SELECTED_HUE = 350


def velocity_color(velocity: int, kind: NoteKind = NoteKind.NORMAL, selected: bool = False,
                   hue: int | None = None) -> QColor:
    """Light and pale for soft notes, deep and saturated for loud ones; ordinary notes take
    their track's `hue` when given."""
    palette_hue, (s0, s1), (v0, v1) = _PALETTE[kind]
    hue = hue if hue is not None and kind is NoteKind.NORMAL else palette_hue
    if selected:
        hue = _SELECTED_HUE
    t = max(0, min(127, velocity)) / 127
    color = QColor.fromHsvF(hue / 360, s0 + (s1 - s0) * t, v0 + (v1 - v0) * t)
    if kind is NoteKind.PREVIEW:
        color.setAlphaF(0.7)
    return color


def _brush_table(kind: NoteKind, selected: bool, hue: int | None) -> list[QBrush]:
    return [QBrush(velocity_color(v, kind, selected, hue)) for v in range(128)]


def _cosmetic_pen(color: QColor, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, 0, style)
    pen.setCosmetic(True)
    return pen


_BRUSHES: dict[tuple[NoteKind, bool, int | None], list[QBrush]] = {}
_OUTLINES = {
    NoteKind.NORMAL: _cosmetic_pen(QColor(20, 40, 80)),
    NoteKind.GENERATED: _cosmetic_pen(QColor(150, 60, 0), Qt.PenStyle.DashLine),
    NoteKind.PREVIEW: _cosmetic_pen(QColor(170, 90, 20), Qt.PenStyle.DotLine),
}
_SELECTED_OUTLINE = _cosmetic_pen(QColor(120, 0, 20))
_OUTSIDE_OUTLINE = _cosmetic_pen(QColor(215, 20, 20))   # a note outside the key's scale
_NO_PEN = QPen(Qt.PenStyle.NoPen)


def brushes(kind: NoteKind, selected: bool, hue: int | None = None) -> list[QBrush]:
    key = (kind, selected, hue if kind is NoteKind.NORMAL else None)
    if key not in _BRUSHES:   # built lazily: QBrush/QColor need a QGuiApplication
        _BRUSHES[key] = _brush_table(kind, selected, key[2])
    return _BRUSHES[key]


def track_hue(color: str) -> int:
    """The hue (0..359) of a track colour such as "#3d7fd9"."""
    return max(0, QColor(color).hue())


DIMMED_OPACITY = 0.15   # other tracks' notes while the drum lane is shown
SILENT_OPACITY = 0.35   # a muted track's notes (or those a solo silences): faint, editable


class NoteItem(QGraphicsRectItem):
    """One note rectangle; geometry in scene units (ticks across, key rows down)."""

    def __init__(self, note_id: int, rect: QRectF, velocity: int, kind: NoteKind,
                 hue: int | None = None, drum: bool = False) -> None:
        super().__init__(rect)
        self.note_id = note_id
        # The item's own pen stays NoPen so boundingRect() equals the note's rectangle;
        # paint() draws a 1-pixel cosmetic outline that Qt's 2-pixel update margin covers.
        self.setPen(_NO_PEN)
        if kind is not NoteKind.PREVIEW:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.dimmed = False
        self.silent = False
        self.outside = False   # outside the scale of the key shown on the roll
        self.set_look(velocity, kind, hue, drum)

    def set_look(self, velocity: int, kind: NoteKind, hue: int | None = None,
                 drum: bool = False) -> None:
        self.kind = kind
        self.hue = hue
        self.drum = drum   # a drum hit: drawn as a diamond at its start
        self._fill = brushes(kind, False, hue)[velocity]
        self._selected_fill = brushes(kind, True, hue)[velocity]
        self._outline = _OUTLINES[kind]
        self.update()

    def set_dimmed(self, dimmed: bool) -> None:
        """Faint and out of reach of clicks and selection (another track's note under the
        drum lane), or back to normal."""
        self.dimmed = dimmed
        self._show_opacity()
        if self.kind is not NoteKind.PREVIEW:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, not dimmed)
        if dimmed and self.isSelected():
            self.setSelected(False)

    def set_silent(self, silent: bool) -> None:
        """Faint (a muted track's note, or one a solo silences) or back to normal; it can
        still be clicked and edited."""
        self.silent = silent
        self._show_opacity()

    def set_outside(self, outside: bool) -> None:
        """Marked (a red outline) as outside the key's scale shown on the roll, or not."""
        if outside != self.outside:
            self.outside = outside
            self.update()

    def _show_opacity(self) -> None:
        self.setOpacity(DIMMED_OPACITY if self.dimmed else SILENT_OPACITY if self.silent
                        else 1.0)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        if self.isSelected():
            painter.setPen(_SELECTED_OUTLINE)
            painter.setBrush(self._selected_fill)
        else:
            painter.setPen(_OUTSIDE_OUTLINE if self.outside else self._outline)
            painter.setBrush(self._fill)
        rect = self.rect()
        if self.drum:
            width = min(rect.width(), rect.height() * 60)   # ~an eighth of a beat at row scale
            middle = rect.center().y()
            painter.drawPolygon(QPolygonF([QPointF(rect.left(), middle),
                                           QPointF(rect.left() + width / 2, rect.top()),
                                           QPointF(rect.left() + width, middle),
                                           QPointF(rect.left() + width / 2, rect.bottom())]))
        else:
            painter.drawRect(rect)

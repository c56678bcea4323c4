"""The one place that converts music (ticks, pitches) to the piano roll's space and snaps.

Scene coordinates are musical: x is the tick itself and y is the key row, row 0 being
pitch 127 at the top. Zoom is the view's transform (pixels per tick, pixels per row), so
zooming never moves 10,000 items, only rescales the view. Every widget that draws next
to the roll (keyboard, ruler, velocity lane) converts through this module and the
view's transform built here.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF
from PySide6.QtGui import QTransform

from ml_core.music import PITCH_MAX, PITCH_MIN, TICKS_PER_QUARTER, Note

ROW_COUNT = PITCH_MAX - PITCH_MIN + 1

# Grid choices shown in the toolbar: label -> step in quarter notes.
GRID_CHOICES: dict[str, float] = {
    "1/4": 1.0,
    "1/8": 0.5,
    "1/16": 0.25,
    "1/32": 0.125,
    "1/4T": 2 / 3,
    "1/8T": 1 / 3,
    "1/16T": 1 / 6,
    "1/32T": 1 / 12,
}
DEFAULT_GRID = "1/16"

MIN_PIXELS_PER_TICK = 0.004   # a 4/4 bar fits in ~8 px: the whole of a long piece
MAX_PIXELS_PER_TICK = 2.0     # a 1/32 note is 120 px wide: fine editing
ZOOM_STEP = 1.5               # one Zoom In (Ctrl++, +); Zoom Out divides by it
WHEEL_ZOOM_STEP = 1.25        # one Ctrl+wheel notch: finer, as a wheel turns several
MIN_ROW_PIXELS = 5.0
MAX_ROW_PIXELS = 40.0


def grid_step_ticks(label: str, ticks_per_quarter: int = TICKS_PER_QUARTER) -> int:
    """Length of one grid step in ticks for a toolbar label such as '1/16' or '1/8T'."""
    if label not in GRID_CHOICES:
        raise ValueError(f"unknown grid {label!r}; choose one of {', '.join(GRID_CHOICES)}")
    return max(1, round(GRID_CHOICES[label] * ticks_per_quarter))


def pitch_to_row(pitch: int) -> float:
    return float(PITCH_MAX - pitch)


def row_to_pitch(row: float) -> int:
    """The pitch of the key row containing scene y `row` (clamped to 0..127)."""
    pitch = PITCH_MAX - int(row // 1)
    return min(PITCH_MAX, max(PITCH_MIN, pitch))


def note_rect(note: Note) -> QRectF:
    """Scene rectangle of a note: its ticks across, its key row down."""
    return QRectF(note.start, pitch_to_row(note.pitch), note.duration, 1.0)


def scene_height() -> float:
    return float(ROW_COUNT)


def snap_nearest(tick: float, step: int, origin: int = 0) -> int:
    """The grid line nearest to `tick`; grid lines are `origin + k * step`."""
    return origin + round((tick - origin) / step) * step


def nearest_scale_pitch(pitch: int, classes: frozenset[int], direction: int = 1) -> int:
    """The pitch with a pitch class in `classes` nearest to `pitch` (within 0..127); a tie
    goes up (`direction` 1) or down (-1). `pitch` itself when `classes` is empty."""
    way = 1 if direction >= 0 else -1
    for distance in range(12):
        for candidate in (pitch + way * distance, pitch - way * distance):
            if PITCH_MIN <= candidate <= PITCH_MAX and candidate % 12 in classes:
                return candidate
    return pitch


def snap_floor(tick: float, step: int, origin: int = 0) -> int:
    """The grid line at or before `tick` (the cell a click falls in starts there)."""
    return origin + int((tick - origin) // step) * step


def snap_ceil(tick: float, step: int, origin: int = 0) -> int:
    """The grid line at or after `tick`."""
    return origin - int((origin - tick) // step) * step


@dataclass
class Zoom:
    """How many screen pixels one tick and one key row take."""

    pixels_per_tick: float = 64 / TICKS_PER_QUARTER   # a quarter note is 64 px wide
    row_pixels: float = 14.0

    def clamped(self) -> Zoom:
        return Zoom(min(MAX_PIXELS_PER_TICK, max(MIN_PIXELS_PER_TICK, self.pixels_per_tick)),
                    min(MAX_ROW_PIXELS, max(MIN_ROW_PIXELS, self.row_pixels)))

    def transform(self) -> QTransform:
        """The view transform: scene (ticks, rows) to viewport pixels, before scrolling."""
        return QTransform.fromScale(self.pixels_per_tick, self.row_pixels)

    def ticks_for_pixels(self, pixels: float) -> float:
        return pixels / self.pixels_per_tick

    def pixels_for_ticks(self, ticks: float) -> float:
        return ticks * self.pixels_per_tick

"""What helps a musician choose between variations, drawn with pyqtgraph.

Top: the model's confidence (the probability of each sampled token, smoothed over a
moving window) along the continuation, one curve per variation, the selected one bold.
A long dip is where the model was guessing. Bottom: notes per bar of the selected
variation, against the mean of all variations (a dashed line per bar), so a busy or a
sparse take shows at a glance. The title sums each variation up (mean confidence,
notes per bar).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ml_core.music import Note, Score

SMOOTHING_WINDOW = 16  # tokens: about one bar of a melody in REMI
PALETTE = ((70, 130, 220), (230, 120, 40), (60, 170, 90), (200, 60, 80),
           (150, 100, 200), (140, 110, 80), (220, 110, 190), (120, 120, 120))


def smoothed(values: Sequence[float], window: int = SMOOTHING_WINDOW) -> np.ndarray:
    """Moving average with a window that grows from 1 at the start (same length as input)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return data
    window = max(1, int(window))
    sums = np.cumsum(np.concatenate([[0.0], data]))
    ends = np.arange(1, data.size + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def density_per_bar(notes: Sequence[Note], score: Score) -> tuple[list[int], list[int]]:
    """(bar numbers as the ruler shows them, from 1, or 0 for a pickup bar; note onsets in
    each bar) over the bars `notes` span, empty bars included."""
    if not notes:
        return [], []
    bars = [score.bar_number(score.bar_at(n.start)[0]) for n in notes]
    first, last = min(bars), max(bars)
    counts = [0] * (last - first + 1)
    for bar in bars:
        counts[bar - first] += 1
    return list(range(first, last + 1)), counts


class ConfidenceView(QWidget):
    """Confidence curves and density bars for the variations of one Continue."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        layout.addWidget(self.graphics)
        self.confidence_plot = self.graphics.addPlot(row=0, col=0)
        self.confidence_plot.setLabel("left", "confidence")
        self.confidence_plot.setLabel("bottom", "generated token")
        self.confidence_plot.setYRange(0, 1, padding=0.02)
        self.confidence_plot.showGrid(y=True, alpha=0.2)
        self.density_plot = self.graphics.addPlot(row=1, col=0)
        self.density_plot.setLabel("left", "notes")
        self.density_plot.setLabel("bottom", "bar")
        # (mean confidence, notes per bar) per variation
        self.summary: list[tuple[float, float]] = []
        self.density_plot.getAxis("bottom").setTickSpacing(major=1, minor=1)
        self.setMinimumHeight(240)
        self._follow_palette()

    def _follow_palette(self) -> None:
        """The charts in the application's colours (pyqtgraph draws black by default: a
        dark box in a light theme)."""
        palette = self.palette()
        self.graphics.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for plot in (self.confidence_plot, self.density_plot):
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.PaletteChange:
            self._follow_palette()
        super().changeEvent(event)

    def clear(self) -> None:
        self.confidence_plot.clear()
        self.density_plot.clear()
        self.confidence_plot.setTitle("")
        self.summary = []

    def show_variations(self, confidences: Sequence[Sequence[float]],
                        new_notes: Sequence[Sequence[Note]], score: Score,
                        selected: int = 0) -> None:
        """Draw every variation's confidence and the selected one's density per bar."""
        self.clear()
        for index, values in enumerate(confidences):
            if not len(values):
                continue
            colour = PALETTE[index % len(PALETTE)]
            width = 3 if index == selected else 1
            alpha = 255 if index == selected else 110
            curve = smoothed(values)
            self.confidence_plot.plot(np.arange(curve.size), curve,
                                      pen=pg.mkPen((*colour, alpha), width=width))
        all_densities = [density_per_bar(list(notes), score) for notes in new_notes]
        for index, values in enumerate(confidences):
            bars, counts = all_densities[index] if index < len(all_densities) else ([], [])
            mean_confidence = float(np.mean(values)) if len(values) else 0.0
            per_bar = float(np.mean(counts)) if counts else 0.0
            self.summary.append((mean_confidence, per_bar))
        if self.summary:
            parts = [f"{'▶' if i == selected else ''}{i + 1}: {c:.2f} conf, {d:.1f} notes/bar"
                     for i, (c, d) in enumerate(self.summary)]
            self.confidence_plot.setTitle("   ".join(parts), size="8pt")
        if 0 <= selected < len(all_densities):
            bars, counts = all_densities[selected]
            if bars:
                colour = PALETTE[selected % len(PALETTE)]
                self.density_plot.addItem(pg.BarGraphItem(x=bars, height=counts, width=0.7,
                                                          brush=pg.mkBrush(*colour, 180)))
                self._draw_mean_density(all_densities)

    def _draw_mean_density(self, densities: list[tuple[list[int], list[int]]]) -> None:
        totals: dict[int, list[int]] = {}
        for bars, counts in densities:
            for bar, count in zip(bars, counts, strict=True):
                totals.setdefault(bar, []).append(count)
        if len(densities) < 2 or not totals:
            return
        pen = pg.mkPen((90, 90, 90), width=1, style=Qt.PenStyle.DashLine)
        for bar, counts in totals.items():
            mean = sum(counts) / len(densities)
            self.density_plot.plot([bar - 0.4, bar + 0.4], [mean, mean], pen=pen)

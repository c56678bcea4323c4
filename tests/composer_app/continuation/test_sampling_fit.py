"""The Sampling panel fits its dock in a 1280x760 window: no scrolling, every control shown
whole (two short controls a row)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication

from composer_app.continuation.panel import ContinuePanel

CONTROLS = ("bars", "variations", "texture", "density", "register", "motif", "temperature",
            "top_p", "top_k", "seed", "seed_lock", "stay_in_key", "key", "prompt_source",
            "after_playhead")


def test_every_sampling_control_shows_without_a_scrollbar_at_1280x760(window_1280x760):
    window = window_1280x760
    QApplication.processEvents()
    dock = window.dock_named("Sampling")
    scroll = dock.widget()
    assert not dock.visibleRegion().isEmpty()                  # the tab shown
    assert scroll.verticalScrollBar().maximum() == 0
    panel = window.findChild(ContinuePanel).sampling_panel
    assert panel.width() <= scroll.viewport().width()         # nothing cut off at the right
    viewport = QRect(QPoint(0, 0), scroll.viewport().size())
    for name in CONTROLS:
        control = getattr(panel, name)
        place = QRect(control.mapTo(scroll.viewport(), QPoint(0, 0)), control.size())
        assert control.isVisible() and viewport.contains(place), name
        assert control.width() >= control.minimumSizeHint().width(), name

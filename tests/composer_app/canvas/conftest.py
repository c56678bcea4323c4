"""Shared set-up of the canvas tests: a piano-roll canvas on screen (offscreen)."""

import pytest

from composer_app.canvas.canvas import PianoRollCanvas
from composer_app.document.document import Document


@pytest.fixture
def shown_canvas(qtbot):
    """`show(width, height)`: a canvas over a new Document, shown and exposed."""
    def show(width: int, height: int) -> PianoRollCanvas:
        canvas = PianoRollCanvas(Document())
        qtbot.addWidget(canvas)
        canvas.resize(width, height)
        canvas.show()
        qtbot.waitExposed(canvas)
        return canvas
    return show

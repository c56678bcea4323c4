"""Which bars Fill regenerates: the newer of the selection and the loop dragged in the ruler."""

from __future__ import annotations

import pytest

from composer_app.continuation.panel_prompt import JobInputs
from composer_app.continuation.prompt import PromptError
from composer_app.document.document import Document
from composer_app.model.selection import Selection
from composer_app.model.timeline import Timeline
from ml_core.music import Note, Score, Track

BAR = 1920


@pytest.fixture
def inputs(qapp):
    document = Document()
    document.load_score(Score([Track("Piano", 0, False,
                                     [Note(60, bar * BAR, 480, 90) for bar in range(8)])]))
    return JobInputs(document, None, Timeline(), Selection())


def test_a_loop_dragged_after_selecting_a_note_wins(inputs):
    drawn = max(inputs.document.notes())            # a note just drawn stays selected...
    inputs.selection.set([drawn])
    inputs.timeline.set_loop((4 * BAR, 6 * BAR))    # ...then bars 5-6 are dragged in the ruler
    assert inputs.fill_span() == (4, 6)


def test_a_selection_made_after_the_loop_wins(inputs):
    inputs.timeline.set_loop((4 * BAR, 6 * BAR))
    first = min(inputs.document.notes())
    inputs.selection.set([first])
    assert inputs.fill_span() == (0, 1)
    inputs.selection.set([])                         # nothing selected: the loop again
    assert inputs.fill_span() == (4, 6)
    inputs.timeline.set_loop(None)
    with pytest.raises(PromptError):
        inputs.fill_span()

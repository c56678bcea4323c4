"""A loaded piece keeps its pickup, written keys and program changes through the Document:
its score, the ruler's bar numbers (the pickup bar is 0), a meter change and its undo,
and the key the Continue panel says it uses."""

import pytest

from composer_app.continuation.sampling_panel import SamplingPanel
from composer_app.document.document import Document
from ml_core.keys import key_source, prompt_key
from ml_core.music import KeySignature, Note, ProgramChange, Score, Track


@pytest.fixture
def document(qapp):
    return Document()


def chorale_opening() -> Score:
    soprano = Track("Soprano", 52, False,
                    [Note(73, 1440, 480), Note(71, 1920, 480), Note(69, 2400, 960)],
                    [ProgramChange(2400, 53)])
    return Score([soprano], 80.0, (4, 4), key_signatures=[KeySignature(0, 3, "minor")],
                 pickup_ticks=480)


def test_the_document_keeps_pickup_keys_and_program_changes(document):
    document.load_score(chorale_opening())
    score = document.score()
    assert score.pickup_ticks == 480 and score.key_signatures == [KeySignature(0, 3, "minor")]
    assert score.tracks[0].program_changes == [ProgramChange(2400, 53)]
    assert document.tracks()[0].program_changes == [ProgramChange(2400, 53)]
    meter = document.meter()
    assert [meter.bar_number(bar) for bar in range(3)] == [0, 1, 2]     # what the ruler prints


def test_a_meter_change_keeps_the_pickup_where_its_notes_are_and_undo_restores_it(document):
    document.load_score(chorale_opening())
    document.set_time_signature(3, 4)
    assert document.meter().pickup_ticks == 0          # the notes start on 3/4's first barline
    document.set_time_signature(2, 4)
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.meter().time_signature == (4, 4) and document.meter().pickup_ticks == 480
    assert document.score().music_start == 1440


def test_the_continue_panel_says_it_uses_the_written_key(qtbot, document):
    panel = SamplingPanel()
    qtbot.addWidget(panel)
    prompt = chorale_opening()
    key = prompt_key(prompt)
    assert key == (6, "minor") and key_source(prompt) == "written"
    panel.set_estimated_key(key, key_source(prompt))
    assert panel.key.itemText(0) == "Key signature: F# minor"
    prompt.key_signatures = []
    panel.set_estimated_key(prompt_key(prompt), key_source(prompt))
    assert panel.key.itemText(0).startswith("Estimated: ")

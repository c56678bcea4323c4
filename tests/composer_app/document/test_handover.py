"""Handing a large score to the GUI thread (issue 39): what a view needs on `reset` is
prepared on the worker with the notes, so the GUI thread makes no pass over them."""

from composer_app.document.document import Document, prepare_score
from ml_core.music import Note, Score, Track


def test_the_pitch_span_is_prepared_with_the_notes_and_kept_by_the_document(qtbot):
    score = Score([Track("a", 0, False, [Note(50, 0, 480), Note(72, 480, 480)]),
                   Track("b", 0, True, [Note(36, 0, 120)])])
    prepared = prepare_score(score)
    assert prepared.pitch_span == (36, 72)
    document = Document()
    spans = []
    document.reset.connect(lambda: spans.append(document.loaded_pitch_span))
    document.load_score(prepared)
    document.load_score(Score([]))
    assert spans == [(36, 72), None]


def test_note_ids_come_in_the_order_the_notes_were_added(qtbot):
    document = Document()
    document.load_score(Score([Track("a", 0, False, [Note(60, 0, 480), Note(62, 480, 480)])]))
    added = document.add_notes([Note(40, 0, 240)])
    assert document.note_ids() == list(document.notes()) == [1, 2, *added]

"""A large score's note items are made in slices after it is loaded: the document is whole at
once (edits, undo, saving), and once the event loop has run every note has its item."""

import pytest

from composer_app.canvas import geometry
from composer_app.canvas.view import REBUILD_AT_ONCE
from ml_core.music import Note, Score, Track

NOTES = 3 * REBUILD_AT_ONCE


def big_score() -> Score:
    melody = [Note(48 + i % 36, i * 120, 240, 40 + i % 80) for i in range(NOTES // 2)]
    bass = [Note(30 + i % 12, i * 120, 120, 90) for i in range(NOTES - len(melody))]
    return Score([Track("Melody", 0, False, melody), Track("Bass", 32, False, bass)])


@pytest.fixture
def canvas(shown_canvas):
    canvas = shown_canvas(800, 500)
    canvas.document.add_notes([Note(60, 0, 480)])   # the old document's item, to be replaced
    return canvas


def assert_items_match_the_document(view) -> None:
    notes = view.document.notes()
    assert set(view._items) == set(notes)   # noqa: SLF001
    for note_id, (_, note) in notes.items():
        item = view.item_for(note_id)
        assert item.rect() == geometry.note_rect(note) and item.scene() is view.scene()
    stale = [i for i in view.scene().items() if getattr(i, "note_id", None) == -1]
    assert stale == [] and not view.rebuild_pending()


def test_every_note_gets_its_item_once_the_event_loop_has_run(canvas, qtbot):
    view = canvas.view
    canvas.document.load_score(big_score())
    assert len(canvas.document.notes()) == NOTES            # the document is whole at once
    assert view.rebuild_pending()                           # the items come in slices
    qtbot.waitUntil(lambda: not view.rebuild_pending(), timeout=30_000)
    assert_items_match_the_document(view)


def test_edits_and_undo_while_items_are_still_being_made(canvas, qtbot):
    document, view = canvas.document, canvas.view
    document.load_score(big_score())
    assert view.rebuild_pending()
    ids = sorted(document.notes())
    first, last = ids[0], ids[-1]                           # drawn early, drawn late
    document.change_notes({last: Note(100, 0, 960, 64)}, text="Move notes")
    document.remove_notes([first, ids[1]])
    added = document.add_notes([Note(90, 10 * 1920, 480)], track=1)
    assert document.end_tick() == max(n.end for _, n in document.notes().values())
    document.undo()                                         # the added note goes again
    assert view.rebuild_pending()
    qtbot.waitUntil(lambda: not view.rebuild_pending(), timeout=30_000)
    assert added[0] not in document and first not in document
    assert document.note(last) == Note(100, 0, 960, 64)
    assert_items_match_the_document(view)
    document.undo()
    document.undo()                                         # the first notes and the moved one back
    assert_items_match_the_document(view)
    assert sorted(document.score().notes()) == sorted(big_score().notes())


def test_a_second_file_opened_before_the_first_is_drawn_replaces_it_whole(canvas, qtbot):
    document, view = canvas.document, canvas.view
    document.load_score(big_score())
    assert view.rebuild_pending()
    small = Score([Track("Piano", 0, False, [Note(64, 0, 480), Note(67, 480, 480)])])
    document.load_score(small)
    qtbot.waitUntil(lambda: not view.rebuild_pending(), timeout=30_000)
    assert len(view._items) == 2   # noqa: SLF001
    assert_items_match_the_document(view)

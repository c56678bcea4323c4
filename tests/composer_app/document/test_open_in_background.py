"""Opening reads the file on a worker (notation in a child process): the document changes only
when the new piece is complete; Cancel, errors and archive bombs leave it exactly as it was."""

import threading
import zipfile

import pytest
from PySide6.QtWidgets import QPushButton

from ml_core.midi_io import write_musicxml
from ml_core.music import Note, Score, Track


@pytest.fixture
def window(window):
    window.document.add_notes([Note(70, 0, 480), Note(72, 480, 480)])   # unsaved work
    return window


def piece() -> Score:
    notes = [Note(60 + i % 12, i * 240, 240, 90) for i in range(48)]
    return Score([Track("Flute", 73, False, notes)], 96.0, (3, 4))


def assert_untouched(window, before) -> None:
    assert window.document.notes() == before
    assert window.document.path is None and window.document.is_modified
    assert window.document.undo_stack.count() == 1


def test_a_notation_file_is_read_off_the_gui_thread_and_loaded_whole(window, qtbot, tmp_path):
    path = tmp_path / "piece.musicxml"
    write_musicxml(piece(), path)
    before = window.document.notes()
    assert window.files.load(path)
    assert any(t.name == "composer-open-file" for t in threading.enumerate())
    assert window.document.notes() == before            # nothing changes while reading
    with qtbot.waitSignal(window.files.open_finished, timeout=60_000) as finished:
        pass
    assert finished.args == [True]
    assert window.document.path == path and not window.document.is_modified
    loaded = window.document.score()
    assert [(n.pitch, n.start, n.duration) for n in loaded.tracks[0].notes] == [
        (n.pitch, n.start, n.duration) for n in piece().tracks[0].notes]
    assert loaded.time_signature == (3, 4) and window.errors == []


def test_cancel_in_the_progress_box_leaves_the_document_untouched(window, qtbot, tmp_path):
    path = tmp_path / "piece.musicxml"
    write_musicxml(piece(), path)
    before = window.document.notes()
    window.files.load(path)
    opener = window.files.opener
    qtbot.waitUntil(lambda: opener.progress_box() is not None, timeout=5000)   # after 300 ms
    assert opener.progress_box().isVisible() and opener.is_busy()
    with qtbot.waitSignal(window.files.open_finished, timeout=5000) as finished:
        opener.progress_box().findChild(QPushButton).click()   # its Cancel button
    assert finished.args == [False] and not opener.is_busy()
    assert opener.progress_box() is None
    qtbot.wait(200)                                      # a late result would arrive by now
    assert_untouched(window, before)
    assert window.errors == []


def test_an_unreadable_file_shows_one_sentence_and_changes_nothing(window, tmp_path):
    path = tmp_path / "broken.musicxml"
    path.write_text("<?xml version='1.0'?><score-partwise><part id='P1'><measure>")
    before = window.document.notes()
    assert window.files.load(path) and not window.files.wait_until_opened()
    assert len(window.errors) == 1
    message = window.errors[0]
    assert message.startswith("Could not open broken.musicxml: ") and message.endswith(".")
    assert "\n" not in message and "Traceback" not in message
    assert_untouched(window, before)


def test_an_archive_bomb_is_refused_and_the_app_keeps_its_work(window, tmp_path):
    bomb = tmp_path / "bomb.mxl"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("score.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(64):                          # 64 MB of zeros, about 64 KB on disk
                member.write(block)
    assert bomb.stat().st_size < 1 << 20
    before = window.document.notes()
    assert window.files.load(bomb) and not window.files.wait_until_opened()
    assert len(window.errors) == 1
    assert window.errors[0].startswith("Could not open bomb.mxl: ")
    assert "expands to more than" in window.errors[0]
    assert_untouched(window, before)


def test_a_large_piece_is_frozen_out_of_the_collectors_sight_once_prepared(window, tmp_path,
                                                                           monkeypatch):
    """Issue 39: the GUI thread's collector never scans a large piece's 100,000+ objects."""
    import gc

    from composer_app.workers import gui_gc
    from ml_core.midi_io import write_midi

    monkeypatch.setattr(gui_gc, "FREEZE_AT_NOTES", 50)
    for name, count in (("small.mid", 40), ("big.mid", 60)):
        write_midi(Score([Track("a", 0, False, [Note(60, i * 120, 120) for i in range(count)])]),
                   tmp_path / name)
    gc.unfreeze()
    assert window.files.load(tmp_path / "small.mid") and window.files.wait_until_opened()
    assert gc.get_freeze_count() == 0
    assert window.files.load(tmp_path / "big.mid") and window.files.wait_until_opened()
    assert gc.get_freeze_count() > 0 and len(window.document.notes()) == 60

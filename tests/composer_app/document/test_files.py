"""Open / Save / Export through the main window: round trips, bad files, failed writes."""

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from composer_app import dialogs, settings
from ml_core.midi_io import read_midi, read_score, write_midi
from ml_core.music import Note, Score, Track


def opened(window, path) -> bool:
    """Open through the window (with its unsaved-changes prompt) and wait for the reader."""
    return window.open_file(path) and window.files.wait_until_opened()


def loaded(window, path) -> bool:
    return window.files.load(path) and window.files.wait_until_opened()


def two_track_score() -> Score:
    melody = [Note(60, 0, 480, 90), Note(62, 480, 240, 70), Note(64, 720, 240, 110),
              Note(67, 960, 960, 64)]
    bass = [Note(36, 0, 960, 100), Note(43, 960, 960, 100)]
    return Score([Track("Melody", 0, False, melody), Track("Bass", 33, False, bass)], 100.0, (3, 4))


def assert_same_music(a: Score, b: Score) -> None:
    assert [sorted(t.notes) for t in a.tracks] == [sorted(t.notes) for t in b.tracks]
    assert [(t.program, t.is_drum) for t in a.tracks] == [(t.program, t.is_drum) for t in b.tracks]
    assert a.tempo_bpm == pytest.approx(b.tempo_bpm, abs=0.01)
    assert a.time_signature == b.time_signature


def test_open_then_save_as_round_trips(window, tmp_path):
    source = tmp_path / "motif.mid"
    write_midi(two_track_score(), source)
    assert opened(window, source)
    assert window.document.path == source and not window.document.is_modified
    assert "motif.mid" in window.windowTitle()
    assert_same_music(window.document.score(), two_track_score())

    target = tmp_path / "copy.mid"
    assert window.files.save_as(target)
    assert_same_music(read_midi(target), two_track_score())
    assert window.document.path == target and window.errors == []
    assert settings.recent_files()[0] == str(target.resolve())


def test_edit_save_reread_and_save_overwrites_atomically(window, tmp_path):
    source = tmp_path / "motif.mid"
    write_midi(two_track_score(), source)
    opened(window, source)
    window.document.add_notes([Note(72, 1920, 480, 100)])
    window.document.set_tempo(132)
    assert window.document.is_modified and window.isWindowModified()
    assert window.files.save()
    assert not window.document.is_modified and not window.isWindowModified()
    reread = read_midi(source)
    assert Note(72, 1920, 480,
                100) in reread.tracks[0].notes and reread.tempo_bpm == pytest.approx(132, abs=0.01)
    assert [p.name for p in tmp_path.iterdir()] == ["motif.mid"]     # no temp file left behind


def test_corrupt_file_shows_one_error_and_leaves_the_document_untouched(window, tmp_path):
    good = tmp_path / "good.mid"
    write_midi(two_track_score(), good)
    opened(window, good)
    window.document.add_notes([Note(80, 0, 120)])
    before = window.document.notes()
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00\x90<")
    assert not loaded(window, bad)
    assert len(window.errors) == 1
    message = window.errors[0]
    assert message.startswith("Could not open broken.mid: ") and "\n" not in message
    assert window.document.notes() == before and window.document.path == good
    assert window.document.is_modified and window.document.undo_stack.count() == 1


def test_missing_and_unsupported_files_are_refused_clearly(window, tmp_path):
    assert not loaded(window, tmp_path / "nowhere.mid")
    (tmp_path / "notes.txt").write_text("C D E")
    assert not loaded(window, tmp_path / "notes.txt")
    assert len(window.errors) == 2
    assert all(e.startswith("Could not open ") for e in window.errors)
    assert window.document.path is None


def test_failed_write_reports_and_keeps_the_document_modified(window, tmp_path):
    window.document.add_notes([Note(60, 0, 480)])
    assert not window.files.save_as(tmp_path / "missing-folder" / "song.mid")
    assert len(window.errors) == 1 and window.errors[0].startswith("Could not save song.mid")
    assert window.document.is_modified and window.document.path is None
    assert not (tmp_path / "missing-folder").exists()


def test_save_without_path_asks_for_one_and_adds_mid(window, tmp_path, monkeypatch):
    window.document.add_notes([Note(60, 0, 480)])
    monkeypatch.setattr(dialogs, "get_save_path", lambda *args: str(tmp_path / "tune"))
    assert window.files.save()
    assert window.document.path == tmp_path / "tune.mid"
    assert read_midi(tmp_path / "tune.mid").tracks[0].notes == [Note(60, 0, 480)]
    monkeypatch.setattr(dialogs, "get_save_path", lambda *args: None)   # dialog cancelled
    window.document.add_notes([Note(61, 0, 480)])
    window.document.path = None
    assert not window.files.save() and window.document.is_modified


def test_export_midi_and_musicxml_do_not_change_the_document(window, tmp_path):
    window.document.load_score(two_track_score())
    window.document.add_notes([Note(72, 1920, 480)])
    assert window.files.export_midi(tmp_path / "out.mid")
    assert window.files.export_musicxml(tmp_path / "out.musicxml")
    assert window.document.is_modified and window.document.path is None
    assert Note(72, 1920, 480) in read_midi(tmp_path / "out.mid").tracks[0].notes
    pitches = sorted(n.pitch for n in read_score(tmp_path / "out.musicxml").notes())
    assert pitches == sorted([n.pitch for n in two_track_score().notes()] + [72])


def test_open_musicxml_then_save_goes_to_a_new_midi_file(window, tmp_path, monkeypatch):
    window.document.load_score(two_track_score())
    window.files.export_musicxml(tmp_path / "piece.musicxml")
    assert opened(window, tmp_path / "piece.musicxml")
    window.document.add_notes([Note(90, 0, 240)])
    asked = []
    monkeypatch.setattr(dialogs, "get_save_path",
                        lambda parent, title, suggested,
                        file_filter: asked.append(suggested) or suggested)
    assert window.files.save()
    assert asked == [str(tmp_path / "piece.mid")]
    assert (tmp_path / "piece.musicxml").read_text().startswith("<?xml")   # source untouched


def test_unsaved_changes_prompt_on_open_and_new(window, tmp_path, monkeypatch):
    write_midi(two_track_score(), tmp_path / "a.mid")
    window.document.add_notes([Note(60, 0, 480)])
    answers = ["cancel", "discard"]
    monkeypatch.setattr(dialogs, "ask_save_changes",
                        lambda parent, name="", doing="": answers.pop(0))
    assert not opened(window, tmp_path / "a.mid")          # cancelled: nothing changes
    assert window.document.is_modified and len(window.document.notes()) == 1
    assert window.files.new()                               # discarded
    assert window.document.notes() == {} and not window.document.is_modified
    assert opened(window, tmp_path / "a.mid")             # unmodified: no prompt needed


def test_dropping_a_file_on_the_window_opens_it(window, tmp_path):
    path = tmp_path / "dropped.mid"
    write_midi(two_track_score(), path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPointF(10, 10).toPoint(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert window.files.wait_until_opened()
    assert window.document.path == path
    assert_same_music(window.document.score(), two_track_score())
    text = QMimeData()
    text.setUrls([QUrl.fromLocalFile(str(Path(tmp_path / "x.txt")))])
    refused = QDragEnterEvent(QPointF(1, 1).toPoint(), Qt.DropAction.CopyAction, text,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(refused)
    assert not refused.isAccepted()

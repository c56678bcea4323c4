"""Saving while a continuation is pending (generated, not accepted): the musician is asked
to accept the notes, leave them out (as exports do) or cancel."""

import pytest

from composer_app import dialogs
from composer_app.main_window import MainWindow
from ml_core.midi_io import read_midi
from ml_core.music import Note

MOTIF = [Note(60, 0, 480, 90), Note(64, 480, 480, 90)]
CONTINUATION = [Note(67, 960, 480, 80), Note(72, 1440, 480, 80)]


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "show_error", lambda parent, text: pytest.fail(text))
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    # closing at the end
    monkeypatch.setattr(dialogs, "ask_discard_pending", lambda parent, count: True)
    window = MainWindow()
    qtbot.addWidget(window)
    window.document.add_notes(MOTIF)
    window.document.add_generated(CONTINUATION)
    return window


def answer(monkeypatch, reply: str) -> list[int]:
    asked: list[int] = []

    def ask(parent, count):
        asked.append(count)
        return reply
    monkeypatch.setattr(dialogs, "ask_pending_notes", ask)
    return asked


def saved_pitches(path) -> list[int]:
    return sorted(n.pitch for n in read_midi(path).notes())


def test_accept_them_saves_the_continuation_as_accepted_notes(window, monkeypatch, tmp_path):
    asked = answer(monkeypatch, "accept")
    assert window.files.save_as(tmp_path / "song.mid")
    assert asked == [2]
    assert saved_pitches(tmp_path / "song.mid") == [60, 64, 67, 72]
    assert not window.document.generated_ids() and not window.document.is_modified


def test_leave_them_out_saves_what_was_accepted_like_an_export(window, monkeypatch, tmp_path):
    answer(monkeypatch, "leave")
    statuses: list[str] = []
    window.files.status.connect(statuses.append)
    assert window.files.save_as(tmp_path / "song.mid")
    assert saved_pitches(tmp_path / "song.mid") == [60, 64]
    assert window.files.export_midi(tmp_path / "export.mid")
    assert saved_pitches(tmp_path / "export.mid") == [60, 64]
    assert len(window.document.generated_ids()) == 2       # still pending in the editor
    assert "without the 2 pending continuation notes" in statuses[0]


def test_cancel_writes_nothing(window, monkeypatch, tmp_path):
    answer(monkeypatch, "cancel")
    assert not window.files.save_as(tmp_path / "song.mid")
    assert not (tmp_path / "song.mid").exists()
    assert len(window.document.generated_ids()) == 2 and window.document.is_modified


def test_without_pending_notes_nothing_is_asked(qtbot, monkeypatch, tmp_path):
    asked = answer(monkeypatch, "cancel")
    window = MainWindow()
    qtbot.addWidget(window)
    window.document.add_notes(MOTIF)
    assert window.files.save_as(tmp_path / "plain.mid")
    assert asked == [] and saved_pitches(tmp_path / "plain.mid") == [60, 64]


def test_closing_after_leaving_them_out_asks_before_they_go(window, monkeypatch, tmp_path):
    """Saved without the pending notes: the file is safe but those notes exist only in the
    editor, so New/Open/close ask before letting them go; Cancel keeps them."""
    answer(monkeypatch, "leave")
    assert window.files.save_as(tmp_path / "song.mid")
    assert not window.document.is_modified and len(window.document.generated_ids()) == 2
    replies = [False, True]
    asked: list[int] = []

    def ask(parent, count):
        asked.append(count)
        return replies.pop(0)
    monkeypatch.setattr(dialogs, "ask_discard_pending", ask)
    assert not window.files.new()                          # Cancel: nothing changes
    assert len(window.document.generated_ids()) == 2 and len(window.document.notes()) == 4
    assert window.files.new()                              # Discard: a fresh piece
    assert asked == [2, 2] and not window.document.generated_ids()


def test_discarding_unsaved_changes_does_not_ask_twice(window, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_discard_pending", lambda parent,
                        count: pytest.fail("asked twice"))
    assert window.document.is_modified
    assert window.files.new() and not window.document.generated_ids()

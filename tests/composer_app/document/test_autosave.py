"""Autosave to the recovery file, and the restore offer after a crash."""

import pytest

from composer_app import app as app_module
from composer_app import dialogs
from composer_app.app import RecoveryReader, build_main_window
from composer_app.document.autosave import (
    Autosaver,
    RecoveryError,
    read_recovery,
    recovery_path,
    write_recovery,
)
from composer_app.document.document import Document
from composer_app.main_window import MainWindow
from ml_core.music import Note, Score, TempoChange, TimeSignatureChange, Track
from ml_core.paths import user_data_dir


@pytest.fixture(autouse=True)
def quiet_dialogs(monkeypatch):
    errors = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, text: errors.append(text))
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    return errors


def rich_score() -> Score:
    return Score([Track("Lead", 81, False, [Note(60, 0, 480, 90), Note(67, 480, 240, 33)]),
                  Track("Drums", 0, True, [Note(36, 0, 120, 127)])], 87.5, (6, 8),
                 tempo_changes=[TempoChange(1440, 100.0)],
                 time_signature_changes=[TimeSignatureChange(2880, 2, 4)])


def test_recovery_file_round_trips_everything_the_editor_holds(tmp_path):
    path = write_recovery(rich_score(), tmp_path / "song.mid")
    assert path.parent == user_data_dir()
    score, source = read_recovery()
    assert score == rich_score() and source == tmp_path / "song.mid"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".recovery")] == []


def test_unreadable_recovery_file_raises_recovery_error():
    recovery_path().parent.mkdir(parents=True, exist_ok=True)
    recovery_path().write_text("{not json")
    with pytest.raises(RecoveryError, match="could not be read"):
        read_recovery()


def test_idle_timer_writes_the_recovery_file_after_an_edit(qtbot):
    document = Document()
    autosaver = Autosaver(document, period_ms=60_000, idle_ms=30)
    document.add_notes([Note(60, 0, 480)])
    ids = document.add_generated([Note(62, 480, 480)])
    with qtbot.waitSignal(autosaver.saved, timeout=2000):
        pass
    score, source = read_recovery()
    assert score.tracks[0].notes == [Note(60, 0, 480), Note(62, 480, 480)] and source is None
    assert ids and autosaver.save_now() is None          # nothing new since: no rewrite
    autosaver.stop()


def test_periodic_timer_saves_and_an_unmodified_document_leaves_no_file(qtbot):
    document = Document()
    autosaver = Autosaver(document, period_ms=40, idle_ms=60_000)
    qtbot.wait(120)
    assert not recovery_path().exists()                  # nothing to protect yet
    document.add_notes([Note(60, 0, 480)])
    qtbot.waitUntil(recovery_path().exists, timeout=2000)
    document.undo_stack.undo()                           # back to the saved state
    qtbot.waitUntil(lambda: not recovery_path().exists(), timeout=2000)
    autosaver.stop()


def test_saving_and_a_clean_close_delete_the_recovery_file(qtbot, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    window.document.add_notes([Note(60, 0, 480)])
    assert window.autosaver.save_now() == recovery_path()
    assert window.files.save_as(tmp_path / "saved.mid")
    assert not recovery_path().exists()
    window.document.add_notes([Note(62, 0, 480)])
    window.autosaver.save_now()
    assert recovery_path().exists()
    assert window.close()                                 # "discard" answered: a clean exit
    assert not recovery_path().exists()


def wait_for_the_recovery_offer(qtbot, window) -> bool:
    """The recovery file is read on a worker and offered once the event loop runs."""
    reader = window.findChild(RecoveryReader)
    with qtbot.waitSignal(reader.finished, timeout=10_000) as restored:
        pass
    return restored.args[0]


def test_after_a_crash_the_next_start_offers_and_restores_the_work(qtbot, monkeypatch, tmp_path):
    crashed = MainWindow()
    qtbot.addWidget(crashed)
    crashed.document.load_score(rich_score(), tmp_path / "song.mid")
    crashed.document.add_notes([Note(72, 960, 480, 99)])
    crashed.autosaver.save_now()
    expected = crashed.document.score()
    # The process "dies" here: no close, the recovery file stays.

    offers = []
    monkeypatch.setattr(dialogs, "ask_restore_recovery",
                        lambda parent, description: offers.append(description) or True)
    window = build_main_window()
    qtbot.addWidget(window)
    assert offers == []                                   # not before the event loop runs
    assert wait_for_the_recovery_offer(qtbot, window)
    assert len(offers) == 1 and "song.mid" in offers[0]
    assert window.document.score() == expected
    assert window.document.path == tmp_path / "song.mid" and window.document.is_modified
    assert window.isWindowModified()


def test_declining_the_offer_deletes_the_recovery_file_and_opens_the_file(qtbot, monkeypatch,
                                                                          tmp_path):
    from ml_core.midi_io import write_midi

    write_recovery(rich_score(), None)
    write_midi(Score([Track("x", 0, False, [Note(50, 0, 480)])]), tmp_path / "arg.mid")
    monkeypatch.setattr(dialogs, "ask_restore_recovery", lambda parent, description: False)
    window = build_main_window(tmp_path / "arg.mid")
    qtbot.addWidget(window)
    assert not wait_for_the_recovery_offer(qtbot, window)
    assert window.files.wait_until_opened()   # the file is read in the background
    assert not recovery_path().exists()
    assert [n for _, n in window.document.notes().values()] == [Note(50, 0, 480)]


def test_a_corrupt_recovery_file_is_dropped_without_a_crash(qtbot, monkeypatch):
    recovery_path().parent.mkdir(parents=True, exist_ok=True)
    recovery_path().write_bytes(b"\x00\xff garbage")
    monkeypatch.setattr(dialogs, "ask_restore_recovery",
                        lambda parent, description: pytest.fail("nothing to offer"))
    window = build_main_window()
    qtbot.addWidget(window)
    assert not wait_for_the_recovery_offer(qtbot, window)
    assert not recovery_path().exists() and window.document.notes() == {}
    assert "could not be read" in window.statusBar().currentMessage()


def test_the_recovery_file_is_read_and_prepared_off_the_gui_thread(qtbot, monkeypatch):
    import threading

    write_recovery(rich_score(), None)
    readers = []
    read = app_module.read_recovery
    monkeypatch.setattr(app_module, "read_recovery",
                        lambda: readers.append(threading.current_thread()) or read())
    monkeypatch.setattr(dialogs, "ask_restore_recovery", lambda parent, description: True)
    window = build_main_window()
    qtbot.addWidget(window)
    assert wait_for_the_recovery_offer(qtbot, window)
    assert readers and readers[0] is not threading.main_thread()
    assert window.document.score() == rich_score()


def test_a_recovery_file_with_an_impossible_note_is_dropped_with_a_message(qtbot, monkeypatch):
    write_recovery(Score([Track("x", 0, False, [Note(200, 0, 480)])]), None)
    monkeypatch.setattr(dialogs, "ask_restore_recovery",
                        lambda parent, description: pytest.fail("nothing to offer"))
    window = build_main_window()
    qtbot.addWidget(window)
    assert not wait_for_the_recovery_offer(qtbot, window)
    assert not recovery_path().exists() and window.document.notes() == {}
    assert "could not be read" in window.statusBar().currentMessage()


def test_a_recovery_file_over_its_size_budget_is_refused_in_one_line(monkeypatch):
    from composer_app.document import autosave

    write_recovery(rich_score(), None)
    monkeypatch.setattr(autosave, "MAX_RECOVERY_BYTES", 100)
    with pytest.raises(RecoveryError,
                       match=r"^the recovery file could not be read \(larger than \d+ MB\)$"):
        read_recovery()

"""Opening a slightly damaged MIDI file: the app reads it leniently, opens what it holds and
says in the status bar what was mended; a file that is no MIDI file at all is still refused."""

import struct

from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track

NOTES = [Note(60 + i, i * 480, 480, 90) for i in range(8)]


def written(tmp_path) -> bytes:
    path = tmp_path / "valid.mid"
    write_midi(Score([Track("Piano", 0, False, list(NOTES))]), path)
    return path.read_bytes()


def with_control_change(data: bytes, value: int) -> bytes:
    """`data` with a control change (volume = `value`) first in its second track chunk (the
    first with notes; the first holds tempo and meter), the chunk's length mended."""
    chunk = data.index(b"MTrk", data.index(b"MTrk") + 4)
    (length,) = struct.unpack(">I", data[chunk + 4:chunk + 8])
    event = bytes([0x00, 0xB0, 0x07, value])
    return (data[:chunk + 4] + struct.pack(">I", length + len(event)) + event
            + data[chunk + 8:])


def open_and_wait(window, path) -> bool:
    assert window.files.load(path)
    return window.files.wait_until_opened(timeout_s=20)


def opened_notes(window) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start, n.duration) for t in window.document.score().tracks for n in t.notes]


def test_a_data_byte_over_127_is_clamped_and_the_file_opens(window, qtbot, tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(with_control_change(written(tmp_path), 168))
    assert open_and_wait(window, path)
    assert opened_notes(window) == [(n.pitch, n.start, n.duration) for n in NOTES]
    assert window.document.path == path and window.errors == []
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() != "", timeout=2000)
    assert window.statusBar().currentMessage() == (
        "Opened song.mid (repaired: a data byte over 127 was clamped (track 2))")


def test_a_truncated_last_track_keeps_what_was_read(window, qtbot, tmp_path):
    path = tmp_path / "cut.mid"
    path.write_bytes(written(tmp_path)[:-10])    # the end-of-track and the last note-off lost
    assert open_and_wait(window, path)
    assert opened_notes(window) == [(n.pitch, n.start, n.duration) for n in NOTES[:7]]
    assert window.errors == []
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() != "", timeout=2000)
    assert window.statusBar().currentMessage() == (
        "Opened cut.mid (repaired: the file is truncated: track 2 keeps what was read)")


def test_a_file_that_is_no_midi_file_is_still_refused_in_one_sentence(window, tmp_path):
    window.document.add_notes([Note(70, 0, 480)])
    before = window.document.notes()
    path = tmp_path / "letter.mid"
    path.write_text("Dear friend, this is not music.\n" * 4)
    assert not open_and_wait(window, path)
    assert len(window.errors) == 1
    message = window.errors[0]
    assert message.startswith("Could not open letter.mid: ") and message.endswith(".")
    assert message.count(". ") == 0
    assert window.document.notes() == before and window.document.path is None

"""Lenient MIDI reading: what DAWs open (a data byte over 127, a truncated last track)
opens with a warning; what is not a MIDI file is still refused."""

import pytest

from ml_core.midi_io import MidiFileError, read_midi, score_from_midi_bytes, write_midi
from ml_core.music import Note, Score, Track


def midi_bytes(tmp_path) -> bytes:
    notes = [Note(60 + i, i * 480, 480, 90) for i in range(8)]
    write_midi(Score([Track("Piano", 0, False, notes)]), tmp_path / "ok.mid")
    return (tmp_path / "ok.mid").read_bytes()


def test_a_data_byte_over_127_is_clamped_with_a_warning(tmp_path):
    data = bytearray(midi_bytes(tmp_path))
    at = data.index(bytes([0x90, 60, 90]))          # first note-on: velocity 90 -> 168
    data[at + 2] = 168
    with pytest.raises(MidiFileError, match="bad data byte"):
        score_from_midi_bytes(bytes(data))
    warnings: list[str] = []
    score = score_from_midi_bytes(bytes(data), warnings=warnings)
    assert score.tracks[0].notes[0] == Note(60, 0, 480, 127)
    assert len(score.tracks[0].notes) == 8
    assert len(warnings) == 1 and "clamped" in warnings[0]


def test_a_truncated_last_track_keeps_what_was_read(tmp_path):
    data = midi_bytes(tmp_path)
    cut = data[:data.index(bytes([0x90, 66, 90])) + 2]   # inside the 7th note-on
    (tmp_path / "cut.mid").write_bytes(cut)
    with pytest.raises(MidiFileError, match="truncated"):
        read_midi(tmp_path / "cut.mid")
    warnings: list[str] = []
    score = read_midi(tmp_path / "cut.mid", warnings=warnings)
    pitches = [n.pitch for n in score.tracks[0].notes]
    assert pitches[:5] == [60, 61, 62, 63, 64] and 66 not in pitches
    assert len(warnings) == 1 and "truncated" in warnings[0]


def test_not_a_midi_file_is_still_refused(tmp_path):
    with pytest.raises(MidiFileError, match="not a MIDI file"):
        score_from_midi_bytes(b"hello, this is text" * 10, warnings=[])

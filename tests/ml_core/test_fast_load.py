"""The fast MIDI loader gives the same tokens as read_midi and the same errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_core.midi_io import MidiFileError, read_midi, write_midi
from ml_core.music import Note, Score, TempoChange, TimeSignatureChange, Track
from ml_core.tokenizers import get_tokenizer
from ml_core.tokenizers.fast_load import read_midi_fast, structure_ok


@pytest.fixture
def piece(tmp_path: Path) -> Path:
    score = Score([Track("right", 0, False,
                         [Note(60 + i % 12, i * 240, 240, 40 + i) for i in range(40)]),
                   Track("left", 32, False,
                         [Note(36 + i % 5, i * 960, 960, 90) for i in range(10)]),
                   Track("drums", 0, True, [Note(36, i * 480, 120, 100) for i in range(20)])],
                  tempo_bpm=96, time_signature=(3, 4),
                  tempo_changes=[TempoChange(2880, 140)],
                  time_signature_changes=[TimeSignatureChange(5760, 7, 8)])
    path = tmp_path / "piece.mid"
    write_midi(score, path)
    return path


def test_fast_loader_matches_read_midi(piece: Path) -> None:
    fast, safe = read_midi_fast(piece), read_midi(piece)
    assert sorted(fast.notes()) == sorted(safe.notes())
    assert sorted(n for t in fast.tracks if t.is_drum for n in t.notes) == \
        sorted(n for t in safe.tracks if t.is_drum for n in t.notes)
    assert (fast.tempo_bpm, fast.time_signature) == (pytest.approx(safe.tempo_bpm),
                                                     safe.time_signature)
    assert [(c.tick, c.numerator, c.denominator) for c in fast.time_signature_changes] == \
        [(c.tick, c.numerator, c.denominator) for c in safe.time_signature_changes]
    for name in ("remi", "midi_like", "bar_offset"):
        tokenizer = get_tokenizer(name)
        assert tokenizer.encode(fast) == tokenizer.encode(safe)


@pytest.mark.parametrize("damage",
                         ["truncated", "garbage", "empty", "no_end_of_track", "bad_length"])
def test_damaged_files_get_read_midis_error(piece: Path, tmp_path: Path, damage: str) -> None:
    data = piece.read_bytes()
    damaged = {
        "truncated": data[:len(data) // 2],
        "garbage": b"this is not a MIDI file at all" * 3,
        "empty": b"",
        "no_end_of_track": data[:-3] + b"\x00\x00\x00",
        "bad_length": data[:18] + b"\x7f\xff\xff\xff" + data[22:],
    }[damage]
    path = tmp_path / f"{damage}.mid"
    path.write_bytes(damaged)
    assert not structure_ok(damaged)
    with pytest.raises(MidiFileError) as fast_error:
        read_midi_fast(path)
    with pytest.raises(MidiFileError) as safe_error:
        read_midi(path)
    assert str(fast_error.value) == str(safe_error.value)


def test_missing_file_gets_read_midis_error(tmp_path: Path) -> None:
    with pytest.raises(MidiFileError):
        read_midi_fast(tmp_path / "nowhere.mid")

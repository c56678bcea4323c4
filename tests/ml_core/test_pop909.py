"""POP909 songs re-timed onto their annotated beats and bars; sources split one by one."""

from pathlib import Path

import pytest

from ml_core import pop909
from ml_core.data import resolve_collections, split_by_source, split_files
from ml_core.midi_io import read_midi, write_midi
from ml_core.music import Note, Score, Track


def _song(folder: Path, beat_seconds: list[float], downbeats: set[int],
          notes: list[tuple[int, float, float]],
          meter=(1, 4), tempo=100.0) -> Path:
    """A song folder: notes given as (pitch, start s, end s) in a file whose own grid is
    `tempo` BPM in `meter` (like POP909's 1/4 files), plus its beat_midi.txt."""
    folder.mkdir(parents=True)
    per_second = tempo / 60 * 480
    track = Track("MELODY", 0, False,
                  [Note(p, round(s * per_second), round((e - s) * per_second), 90)
                                       for p, s, e in notes])
    piano = Track("PIANO", 0, False, [Note(36, round(notes[-1][1] * per_second), 240, 70)])
    write_midi(Score([track, piano], tempo_bpm=tempo, time_signature=meter),
               folder / f"{folder.name}.mid")
    rows = [f"{t} {1.0 if i % 2 == 0 else 0.0} {1.0 if i in downbeats else 0.0}"
            for i, t in enumerate(beat_seconds)]
    (folder / pop909.BEATS_FILE).write_text("\n".join(rows) + "\n")
    return folder


def test_notes_land_on_the_annotated_beats_and_bars(tmp_path):
    # beats every 0.6 s from 0.3 s (100 BPM, off the file's grid), 4/4 bars from beat 1
    beats = [0.3 + 0.6 * i for i in range(17)]
    notes = [(60, 0.3, 0.9), (62, 0.9, 1.5), (64, 3.3, 3.6), (65, 5.7, 6.3)]  # beats 0, 1, 5, 9
    folder = _song(tmp_path / "001", beats, {1, 5, 9, 13}, notes)
    score = pop909.read_song(folder)
    melody = score.tracks[0].notes
    # the first note (beat 0) is a pickup: the score starts at the bar before beat 1 (beat -3)
    assert [n.start for n in melody] == [3 * 480, 4 * 480, 8 * 480, 12 * 480]
    assert [n.duration for n in melody] == [480, 480, 240, 480]
    assert score.time_signature == (4, 4) and score.time_signature_changes == []
    assert score.tempo_bpm == pytest.approx(100.0, rel=1e-3)
    assert [t.name for t in score.tracks] == ["MELODY", "PIANO"]
    assert score.tracks[1].notes[0].start == 12 * 480   # every track on the same beats


def test_bars_of_other_lengths_become_meter_changes_and_tempo_follows_the_beats(tmp_path):
    # beats 0.5 s apart for 8 beats, then 0.4 s apart; bars of 4, 2, then 4 beats
    beats = [0.5 * i for i in range(9)] + [4.0 + 0.4 * i for i in range(1, 12)]
    notes = [(60, 0.0, 0.5), (67, 2.0, 2.5), (72, 3.0, 3.5), (74, 4.4, 4.8)]
    folder = _song(tmp_path / "002", beats, {0, 4, 6, 10, 14}, notes)
    score = pop909.read_song(folder)
    assert score.time_signature == (4, 4)
    meters = [(c.tick, c.numerator, c.denominator) for c in score.time_signature_changes]
    assert meters == [(4 * 480, 2, 4), (6 * 480, 4, 4)]
    assert score.tempo_bpm == pytest.approx(120.0, rel=1e-3)
    # bars: 2.0 s for 4 beats (120), 1.0 s for 2 (120), 1.8 s for 4 (133), 1.6 s for 4 (150)
    assert ([(c.tick, round(c.bpm)) for c in score.tempo_changes] == [(6 * 480, 133),
                                                                      (10 * 480, 150)])
    assert [n.start for n in score.tracks[0].notes] == [0, 4 * 480, 6 * 480, 9 * 480]


def test_convert_writes_every_song_and_reports_unreadable_ones(tmp_path):
    _song(tmp_path / "songs" / "003", [0.5 * i for i in range(9)], {0, 4, 8}, [(60, 0.0, 1.0)])
    (tmp_path / "songs" / "004").mkdir()           # no MIDI file
    written, problems = pop909.convert(tmp_path / "songs", tmp_path / "out",
                                       log=lambda message: None)
    assert written == 1 and len(problems) == 1 and "004" in problems[0]
    assert read_midi(tmp_path / "out" / "003.mid").tracks[0].notes[0].duration == 2 * 480


def test_a_beat_file_without_downbeats_is_a_clear_error(tmp_path):
    folder = _song(tmp_path / "005", [0.5 * i for i in range(4)], set(), [(60, 0.0, 1.0)])
    with pytest.raises(pop909.Pop909Error, match="no downbeat"):
        pop909.read_song(folder)


def test_each_source_keeps_its_own_split_whatever_joins_it(tmp_path):
    sources = []
    for name, count in (("corpus", 30), ("extra", 12)):
        folder = tmp_path / name
        folder.mkdir()
        for index in range(count):
            write_midi(Score([Track("", 0, False, [Note(60, 0, 480)])]),
                       folder / f"{index:02d}.mid")
        sources.append(str(folder))
    alone = split_files(list(resolve_collections(sources[:1])), 0.1, 0)
    joined = resolve_collections(sources)
    train, val = split_by_source(sources, joined, 0.1, 0)
    corpus_val = [p for p in val if p.parent.name == "corpus"]
    assert corpus_val == alone[1] and len(corpus_val) == 3
    assert len([p for p in val if p.parent.name == "extra"]) == 1
    assert sorted(train + val) == sorted(joined) and not set(train) & set(val)
    assert split_by_source(sources[:1], resolve_collections(sources[:1]), 0.1, 0) == alone

"""Score model: bar/beat arithmetic for any meter, tempo map, transforms, numpy views."""

import numpy as np
import pytest

from ml_core.music import (
    Note,
    Score,
    TempoChange,
    TimeSignatureChange,
    Track,
    TransposeRangeError,
    bar_ticks,
    beat_ticks,
)


def make_score(notes, **kwargs):
    return Score([Track("piano", 0, False, list(notes))], **kwargs)


@pytest.mark.parametrize("signature, bar, beat", [
    ((4, 4), 1920, 480), ((3, 4), 1440, 480), ((6, 8), 1440, 720),
    ((7, 8), 1680, 240), ((5, 4), 2400, 480), ((12, 8), 2880, 720), ((2, 2), 1920, 960),
])
def test_bar_and_beat_lengths(signature, bar, beat):
    assert bar_ticks(signature) == bar
    assert beat_ticks(signature) == beat


@pytest.mark.parametrize("signature", [(3, 4), (6, 8), (7, 8), (5, 4)])
def test_bar_at_and_bar_start_agree(signature):
    score = make_score([], time_signature=signature)
    length = bar_ticks(signature)
    for bar in range(6):
        assert score.bar_start(bar) == bar * length
        assert score.bar_at(bar * length + 5) == (bar, 5)
    assert score.next_bar_start(length + 1) == 2 * length
    assert score.next_bar_start(2 * length) == 2 * length


def test_meter_change_moves_bar_lines():
    # two bars of 4/4 then 3/4
    score = make_score([], time_signature=(4, 4),
                       time_signature_changes=[TimeSignatureChange(3840, 3, 4)])
    assert score.bar_start(2) == 3840
    assert score.bar_start(3) == 3840 + 1440
    assert score.bar_at(3840 + 1440 + 10) == (3, 10)
    assert score.time_signature_at(5000) == (3, 4)
    assert score.bar_starts(3840 + 1440) == [0, 1920, 3840]
    assert score.bar_starts(3840 + 1441) == [0, 1920, 3840, 5280]


def test_tempo_map_seconds_round_trip():
    score = make_score([], tempo_bpm=120, tempo_changes=[TempoChange(960, 60)])
    assert score.seconds_at(960) == pytest.approx(1.0)          # 2 quarters at 120
    assert score.seconds_at(1440) == pytest.approx(2.0)         # + 1 quarter at 60
    assert score.tick_at_seconds(2.0) == 1440
    assert score.tempo_at(100) == 120 and score.tempo_at(960) == 60


def test_transpose_reports_out_of_range_and_keeps_drums():
    score = Score([Track("p", 0, False, [Note(120, 0, 480), Note(60, 480, 480)]),
                   Track("d", 0, True, [Note(36, 0, 120)])])
    with pytest.raises(TransposeRangeError) as info:
        score.transposed(10)
    assert info.value.notes == [Note(120, 0, 480)]
    dropped = score.transposed(10, drop_out_of_range=True)
    assert [n.pitch for n in dropped.tracks[0].notes] == [70]
    assert dropped.tracks[1].notes == [Note(36, 0, 120)]
    assert [n.pitch for n in score.transposed(-12).tracks[0].notes] == [108, 48]


def test_slice_shifts_clips_and_carries_meter():
    score = make_score([Note(60, 0, 480), Note(62, 1920, 960), Note(64, 2400, 2000)],
                       time_signature_changes=[TimeSignatureChange(1920, 3, 4)],
                       tempo_changes=[TempoChange(1920, 90)])
    part = score.sliced(1920, 3360)
    assert part.tracks[0].notes == [Note(62, 0, 960), Note(64, 480, 960)]
    assert part.time_signature == (3, 4) and part.tempo_bpm == 90


def test_quantize_snaps_to_grid_with_minimum_length():
    score = make_score([Note(60, 130, 20), Note(62, 470, 500)])
    assert score.quantized(120).tracks[0].notes == [Note(60, 120, 120), Note(62, 480, 480)]


def test_merge_orders_pitched_notes_and_keeps_drums_apart():
    score = Score([Track("a", 0, False, [Note(60, 480, 10)]),
                   Track("b", 40, False, [Note(64, 0, 10)]),
                   Track("d", 0, True, [Note(36, 0, 10)])])
    merged = score.merged()
    assert [n.pitch for n in merged.tracks[0].notes] == [64, 60]
    assert len(merged.tracks) == 2 and merged.tracks[1].is_drum


def test_note_array_round_trip():
    score = Score([Track("a", 0, False, [Note(60, 480, 10, 90)]),
                   Track("b", 40, False, [Note(64, 0, 20, 70)])])
    array = score.note_array()
    assert array["start"].tolist() == [0, 480]
    tracks = Score.tracks_from_note_array(array, score.tracks)
    assert tracks == score.tracks
    assert np.allclose(score.pitch_class_histogram()[[0, 4]], [10, 20])


def test_invalid_meter_and_tempo_rejected():
    with pytest.raises(ValueError):
        Score([], time_signature=(4, 3))
    with pytest.raises(ValueError):
        Score([], tempo_bpm=0)

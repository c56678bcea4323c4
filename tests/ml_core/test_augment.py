"""Transposition, key finding and key normalisation."""

from __future__ import annotations

import pytest

from ml_core.music import Note, Score, Track
from ml_core.tokenizers.augment import (
    estimate_key,
    key_correlations,
    merge_tracks,
    normalize_key,
    scale_pitch_classes,
    transpositions,
)

MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11, 12)


def line(pitches, length: int = 480) -> Score:
    return Score([Track("p", 0, False,
                        [Note(p, i * length, length) for i, p in enumerate(pitches)])])


def scale(tonic: int, steps) -> Score:
    """A scale up and down, tonic and dominant held longer (as a melody would)."""
    pitches = [tonic + s for s in steps] + [tonic + s for s in reversed(steps[:-1])]
    notes = [Note(p, i * 480, 960 if (p - tonic) % 12 in (0, 7) else 480)
             for i, p in enumerate(pitches)]
    return Score([Track("p", 0, False, notes)])


@pytest.mark.parametrize("tonic", range(60, 72))
def test_estimate_key_finds_every_major_scale(tonic: int) -> None:
    assert estimate_key(scale(tonic, MAJOR)) == (tonic % 12, "major")


@pytest.mark.parametrize("tonic", [57, 64, 62, 60, 67])
def test_estimate_key_finds_minor_scales(tonic: int) -> None:
    assert estimate_key(scale(tonic, HARMONIC_MINOR)) == (tonic % 12, "minor")


def test_estimate_key_of_nothing_is_c_major() -> None:
    assert estimate_key(Score()) == (0, "major")
    assert not key_correlations([0.0] * 12).any()


def test_normalize_key_moves_g_major_to_c_major() -> None:
    g_major = scale(67, MAJOR)
    normalized, shift = normalize_key(g_major)
    assert shift == 5
    assert [n.pitch for n in normalized.tracks[0].notes] == [n.pitch + 5
                                                             for n in g_major.tracks[0].notes]
    assert estimate_key(normalized) == (0, "major")


def test_normalize_key_moves_an_e_minor_melody_to_a_minor() -> None:
    # E minor: E G B | A G F# E | D# E B E (leading tone, tonic and dominant weight).
    e_minor = line([64, 67, 71, 69, 67, 66, 64, 63, 64, 59, 64, 64])
    assert estimate_key(e_minor) == (4, "minor")
    normalized, shift = normalize_key(e_minor)
    assert shift == 5
    assert estimate_key(normalized) == (9, "minor")


def test_normalize_key_keeps_notes_in_range_by_moving_an_octave() -> None:
    high = scale(115, MAJOR)  # G major up to 127: +5 would leave MIDI's range
    normalized, shift = normalize_key(high)
    assert shift == -7
    assert max(n.pitch for n in normalized.tracks[0].notes) <= 127


def test_transpositions_skip_shifts_that_leave_the_range() -> None:
    score = line([24, 60, 104])
    shifts = [shift for shift, _ in transpositions(score)]
    assert shifts == [-3, -2, -1, 0, 1, 2, 3, 4]
    for shift, transposed in transpositions(score, shifts=[-3, 4]):
        assert [n.pitch for n in transposed.tracks[0].notes] == [24 + shift, 60 + shift,
                                                                 104 + shift]
    drums = Score([Track("d", 0, True, [Note(36, 0, 120)]),
                   Track("p", 0, False, [Note(60, 0, 120)])])
    _, up = next(transpositions(drums, shifts=[5]))
    assert up.tracks[0].notes[0].pitch == 36 and up.tracks[1].notes[0].pitch == 65


def test_scale_pitch_classes() -> None:
    assert scale_pitch_classes(0, "major") == frozenset({0, 2, 4, 5, 7, 9, 11})
    assert scale_pitch_classes(9, "minor") == frozenset({9, 11, 0, 2, 4, 5, 7})
    assert 8 in scale_pitch_classes(9, "minor", leading_tone=True)
    assert scale_pitch_classes(7, "major") == frozenset({7, 9, 11, 0, 2, 4, 6})
    with pytest.raises(ValueError, match="mode"):
        scale_pitch_classes(0, "dorian")


def test_merge_tracks_puts_pitched_notes_in_one_track() -> None:
    score = Score([Track("a", 0, False, [Note(72, 480, 480)]),
                   Track("b", 33, False, [Note(48, 0, 960)]),
                   Track("d", 0, True, [Note(36, 0, 120)])])
    merged = merge_tracks(score)
    assert len(merged.tracks) == 1 and [n.pitch for n in merged.tracks[0].notes] == [48, 72]
    assert [t.is_drum for t in merge_tracks(score, keep_drums=True).tracks] == [False, True]

"""Frame representations: pianoroll (with and without onsets) and the note-state matrix."""

import json

import numpy as np
import pytest

import ml_core.tokenizers as tokenizers
from ml_core.music import Note, Score, Track
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.frames import (
    get_representation,
    representation_from_dict,
    representation_names,
)

SIXTEENTH = 120
ALL = [("pianoroll", {}), ("pianoroll", {"onsets": True}), ("note_state", {})]


def make_score(notes, **kwargs):
    return Score([Track("piano", 0, False, list(notes))], **kwargs)


def plain(notes):
    return sorted((n.pitch, n.start, n.duration) for n in notes)


# Chords, a rest, overlapping voices, and no repeated note back to back.
MUSIC = [Note(60, 0, 480), Note(64, 0, 480), Note(67, 240, 720), Note(48, 960, 960),
         Note(72, 1200, 120), Note(101, 1440, 240), Note(24, 1440, 240)]
REPEATS = [Note(62, 0, 240), Note(62, 240, 240), Note(62, 480, 120)]


def test_names_and_shapes():
    assert representation_names() == ["note_state", "pianoroll"]
    score = make_score(MUSIC)
    assert get_representation("pianoroll").encode(score).shape == (16, 88)
    assert get_representation("pianoroll", onsets=True).encode(score).shape == (16, 88, 2)
    array = get_representation("note_state").encode(score)
    assert array.shape == (16, 78, 2) and array.dtype == np.float32
    assert get_representation("note_state").feature_shape == (78, 2)
    assert get_representation("pianoroll", steps_per_quarter=12).step_ticks == 40


def test_pianoroll_values():
    roll = get_representation("pianoroll").encode(make_score([Note(21, 120, 240),
                                                              Note(108, 0, 120)]))
    assert roll.shape == (3, 88)
    assert roll[:, 0].tolist() == [0, 1, 1] and roll[:, 87].tolist() == [1, 0, 0]
    assert roll.sum() == 3


def test_note_state_values():
    matrix = get_representation("note_state").encode(make_score(REPEATS))
    key = 62 - 24
    assert matrix[:, key, 0].tolist() == [1, 1, 1, 1, 1]   # play
    assert matrix[:, key, 1].tolist() == [1, 0, 1, 0, 1]   # articulate


@pytest.mark.parametrize("name, config", ALL)
def test_round_trip(name, config):
    representation = get_representation(name, **config)
    decoded = representation.decode(representation.encode(make_score(MUSIC)))
    assert plain(decoded.notes()) == plain(MUSIC)
    assert decoded.ticks_per_quarter == 480 and decoded.time_signature == (4, 4)


@pytest.mark.parametrize("name, config", ALL)
def test_repeated_notes(name, config):
    representation = get_representation(name, **config)
    decoded = plain(representation.decode(representation.encode(make_score(REPEATS))).notes())
    if representation.feature_shape == (88,):
        assert decoded == [(62, 0, 600)]  # documented limit: repeats merge without onsets
    else:
        assert decoded == plain(REPEATS)


@pytest.mark.parametrize("name, config", ALL)
def test_empty_and_out_of_range(name, config):
    representation = get_representation(name, **config)
    empty = representation.encode(Score())
    assert empty.shape == (0, *representation.feature_shape)
    assert representation.decode(empty).is_empty
    low, high = representation.pitch_range
    score = Score([Track("a", 0, False,
                         [Note(low - 1, 0, 120), Note(high + 1, 0, 120), Note(low, 0, 240)]),
                   Track("drums", 0, True, [Note(40, 0, 120)])])
    assert plain(representation.decode(representation.encode(score)).notes()) == [(low, 0, 240)]


def test_triplet_grid_and_other_resolution():
    representation = get_representation("note_state", steps_per_quarter=12)
    notes = [Note(60, 0, 160), Note(62, 160, 160), Note(64, 320, 160)]
    decoded = representation.decode(representation.encode(make_score(notes)))
    assert plain(decoded.notes()) == plain(notes)
    score = Score([Track("p", 0, False, [Note(60, 24, 24)])], ticks_per_quarter=96)
    pianoroll = get_representation("pianoroll")
    assert plain(pianoroll.decode(pianoroll.encode(score)).notes()) == [(60, 120, 120)]


@pytest.mark.parametrize("name, config", ALL)
def test_random_arrays_decode_to_valid_scores(name, config):
    representation = get_representation(name, **config)
    rng = np.random.default_rng(11)
    array = rng.random((64, *representation.feature_shape)).astype(np.float32)
    decoded = representation.decode(array)
    low, high = representation.pitch_range
    notes = list(decoded.notes())
    assert notes and all(low <= n.pitch <= high and n.duration > 0 and n.start >= 0 for n in notes)
    assert decoded.end_tick <= 64 * representation.step_ticks
    by_pitch = {}
    for note in notes:  # no two notes of one key overlap
        assert note.start >= by_pitch.get(note.pitch, 0)
        by_pitch[note.pitch] = note.end
    # Re-encoding gives back the thresholded sound channel exactly (trailing silence aside).
    again = representation.encode(decoded)
    sounding = (array if array.ndim == 2 else array[..., 0]) >= 0.5
    again_sounding = again if again.ndim == 2 else again[..., 0]
    assert np.array_equal(again_sounding.astype(bool), sounding[:len(again)])
    assert not sounding[len(again):].any()


@pytest.mark.parametrize("bad", [np.zeros((4, 87)), np.zeros(88), np.full((2, 88), np.nan),
                                 np.array([["a"] * 88])])
def test_bad_arrays_are_clear_errors(bad):
    with pytest.raises(TokenizerError, match="pianoroll"):
        get_representation("pianoroll").decode(bad)


def test_bool_and_integer_arrays_decode():
    roll = np.zeros((3, 88), dtype=bool)
    roll[1:, 39] = True
    assert plain(get_representation("pianoroll").decode(roll).notes()) == [(60, 120, 240)]
    assert get_representation("pianoroll").decode(roll.astype(np.int64)).note_count == 1


@pytest.mark.parametrize("name, config", ALL)
def test_to_dict_round_trip_through_the_tokenizer_registry(name, config):
    representation = get_representation(name, steps_per_quarter=8, **config)
    data = json.loads(json.dumps(representation.to_dict()))
    assert data["kind"] == "frame" and data["name"] == name
    for rebuilt in (representation_from_dict(data), tokenizers.from_dict(data)):
        assert type(rebuilt) is type(representation) and rebuilt.config == representation.config
        assert rebuilt.kind == "frame"


def test_bad_names_and_configs():
    with pytest.raises(TokenizerError, match="unknown frame representation"):
        get_representation("waveform")
    with pytest.raises(TokenizerError, match="steps_per_quarter"):
        get_representation("pianoroll", steps_per_quarter=7)
    with pytest.raises(TokenizerError, match="onsets"):
        get_representation("pianoroll", onsets="yes")
    with pytest.raises(TokenizerError, match="bad note_state"):
        get_representation("note_state", onsets=True)
    with pytest.raises(TokenizerError):
        representation_from_dict({"name": "remi"})


def test_too_long_a_score_is_refused():
    with pytest.raises(TokenizerError, match="too long"):
        get_representation("pianoroll").encode(make_score([Note(60, 480 * 100_000, 480)]))

"""The one Score serializer: every field round-trips, JSON-ready or packed, and older data
missing a field reads with that field's default."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field

import pytest

from ml_core.music import Note, Score, TempoChange, TimeSignatureChange, Track
from ml_core.score_codec import score_from_dict, score_to_dict


def _score() -> Score:
    melody = Track("Melody", 73, False, [Note(72, 0, 240, 90), Note(74, 240, 480, 64)])
    drums = Track("Drums", 0, True, [Note(36, 0, 120, 100)])
    return Score([melody, drums, Track("Empty", 32, False, [])], 96.5, (3, 4), 480,
                 [TempoChange(1920, 120.0)], [TimeSignatureChange(2880, 6, 8)])


def test_json_round_trip_keeps_every_field():
    score = _score()
    data = json.loads(json.dumps(score_to_dict(score)))
    assert score_from_dict(data) == score


def test_packed_round_trip_through_pickle_keeps_every_field():
    score = _score()
    packed = score_to_dict(score, packed=True)
    assert isinstance(packed["tracks"][0]["notes"], bytes)
    assert score_from_dict(pickle.loads(pickle.dumps(packed))) == score


def test_the_layout_names_the_dataclass_fields():
    data = score_to_dict(_score())
    assert set(data) == {"tracks", "tempo_bpm", "time_signature", "ticks_per_quarter",
                         "tempo_changes", "time_signature_changes", "key_signatures",
                         "pickup_ticks"}
    assert data["tracks"][0] == {"name": "Melody", "program": 73, "is_drum": False,
                                 "notes": [[72, 0, 240, 90], [74, 240, 480, 64]],
                                 "program_changes": [], "pedal": []}
    assert data["time_signature_changes"] == [[2880, 6, 8]]


def test_a_missing_field_keeps_its_default_and_a_broken_one_raises():
    data = score_to_dict(_score())
    del data["tempo_changes"]
    assert score_from_dict(data).tempo_changes == []
    data["tracks"][0]["notes"] = [[72, 0]]
    with pytest.raises(TypeError):
        score_from_dict(data)


@dataclass(frozen=True)
class Key:           # shaped like an event a new Score field might hold
    tick: int
    fifths: int
    mode: str = "major"


@dataclass
class Future:        # shaped like a Score with new fields
    pickup: int = 0
    key: Key | None = None
    keys: list[Key] = field(default_factory=list)
    meter: tuple[int, int] = (4, 4)


def test_a_new_field_of_any_usual_shape_travels_without_codec_changes():
    """The rule a new Score or Track field relies on (a pickup, key signatures, program
    changes...): scalars, tuples, an optional event and lists of events round-trip."""
    from ml_core.score_codec import _fields_from_dict, _fields_to_dict

    value = Future(240, Key(0, 2, "minor"), [Key(0, 1), Key(960, -3, "minor")], (3, 4))
    data = json.loads(json.dumps(_fields_to_dict(value, ())))
    assert data["keys"] == [[0, 1, "major"], [960, -3, "minor"]]
    assert Future(**_fields_from_dict(Future, data, ())) == value

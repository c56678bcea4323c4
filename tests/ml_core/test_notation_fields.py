"""The notation fields of a Score (written key signatures, the pickup, a track's later
program changes): kept by the one serializer, `ml_core.score_codec` (the prepare score
cache, the recovery file, the background reader's hand-over), and by MIDI files, whose key-signature
events we read and write; the key estimator defers to a written key."""

from __future__ import annotations

import pytest

from ml_core.keys import estimate_key, estimated_key, fifths_of_key, key_of_signature, written_key
from ml_core.midi_io import midi_bytes, score_from_midi_bytes
from ml_core.music import KeySignature, Note, ProgramChange, Score, TimeSignatureChange, Track
from ml_core.score_codec import score_from_dict, score_to_dict


def notated_score() -> Score:
    strings = Track("Strings", 48, False,
                    [Note(66, 1440, 480), Note(69, 1920, 960), Note(61, 2880, 960)],
                    [ProgramChange(2880, 45)])
    bass = Track("Bass", 32, False, [Note(42, 1920, 1920)])
    return Score([strings, bass], 96.0, (4, 4),
                 time_signature_changes=[TimeSignatureChange(3840, 3, 4)],
                 key_signatures=[KeySignature(0, 3, "minor"), KeySignature(3840, -2, "major")],
                 pickup_ticks=480)


def fields(score: Score) -> tuple:
    return (score.key_signatures, score.pickup_ticks,
            [(t.name, t.program, t.program_changes, t.notes) for t in score.tracks])


def test_the_serializer_keeps_keys_pickup_and_program_changes_as_json_and_packed():
    import json
    import pickle

    assert fields(score_from_dict(json.loads(json.dumps(score_to_dict(notated_score()))))) \
        == fields(notated_score())
    stored = json.loads(json.dumps(score_to_dict(notated_score())))
    assert score_from_dict(stored) == notated_score()
    assert score_from_dict(pickle.loads(pickle.dumps(score_to_dict(notated_score(),
                                                                   packed=True)))) \
        == notated_score()


def test_data_written_before_the_fields_existed_still_reads():
    stored = score_to_dict(notated_score())
    for key in ("key_signatures", "pickup_ticks"):
        del stored[key]
    for track in stored["tracks"]:
        del track["program_changes"]
    old = score_from_dict(stored)
    assert (old.key_signatures == [] and old.pickup_ticks == 0
            and old.tracks[0].program_changes == [])


def test_midi_carries_written_keys_and_the_pickup_in_place():
    score = notated_score()
    read = score_from_midi_bytes(midi_bytes(score))
    assert read.key_signatures == score.key_signatures
    # pickup at the end of bar 0
    assert [t.notes for t in read.tracks] == [t.notes for t in score.tracks]
    assert [t.name for t in read.tracks] == ["Strings", "Bass"]


def test_midi_of_a_score_without_a_written_key_carries_the_estimated_one():
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60]
    score = Score([Track("t", 0, False, [Note(p, i * 480, 480) for i, p in enumerate(scale)])])
    data = midi_bytes(score)
    assert b"\xff\x59\x02\x00\x00" in data           # C major: no sharps or flats, major
    assert score_from_midi_bytes(data).key_signatures == [KeySignature(0, 0, "major")]


def test_a_midi_key_signature_event_is_read():
    from test_midi_io import chunk, end_of_track, event, meta, smf

    body = (meta(0, 0x59, bytes([0xFE, 1])) + event(0, 0x90, 67, 80) + event(480, 0x80, 67, 0)
            + meta(0, 0x59, bytes([3, 0])) + event(0, 0x90, 69, 80) + event(480, 0x80, 69, 0)
            + end_of_track())
    read = score_from_midi_bytes(smf(chunk(body)))
    assert read.key_signatures == [KeySignature(0, -2, "minor"), KeySignature(480, 3, "major")]
    assert written_key(read) == (7, "minor")           # two flats, minor: G minor


def test_the_estimator_defers_to_a_written_key():
    # notes of C major, written with a signature of one sharp and no mode: G major or E minor
    notes = [Note(p, i * 480, 480) for i, p in enumerate([64, 67, 71, 64, 66, 67, 64, 71, 64])]
    score = Score([Track("t", 0, False, notes)])
    assert written_key(score) is None and estimate_key(score) == estimated_key(score)
    score.key_signatures = [KeySignature(0, 1, "")]
    # E minor fits these notes better than G major
    assert estimate_key(score) == (4, "minor")
    score.key_signatures = [KeySignature(0, 1, "major")]
    assert estimate_key(score) == (7, "major")


@pytest.mark.parametrize(("key", "fifths"),
                         [((0, "major"), 0), ((6, "minor"), 3), ((5, "major"), -1),
                                              ((6, "major"), -6), ((3, "minor"), -6),
                                              ((11, "major"), 5)])
def test_fifths_of_key_and_back(key, fifths):
    assert fifths_of_key(key) == fifths
    assert key_of_signature(fifths, key[1]) == key


def test_transposing_moves_the_written_key():
    score = Score([Track("t", 0, False, [Note(62, 0, 480)])],
                  key_signatures=[KeySignature(0, 2, "major")])
    assert score.transposed(-2).key_signatures == [KeySignature(0, 0, "major")]
    # E-flat, not D-sharp
    assert score.transposed(1).key_signatures == [KeySignature(0, -3, "major")]


def test_midi_writes_a_pickup_as_a_short_first_bar_and_reads_it_back_as_a_pickup():
    score = notated_score()
    data = midi_bytes(score)
    assert b"\xff\x58\x04\x01\x02" in data          # the file opens with a bar of 1/4
    read = score_from_midi_bytes(data)
    assert read.pickup_ticks == 480 and read.time_signature == (4, 4)
    assert read.time_signature_changes == score.time_signature_changes
    assert fields(read) == fields(score)


def test_a_short_first_bar_without_our_marker_stays_a_meter_change():
    score = Score([Track("t", 0, False, [Note(60, 0, 480), Note(62, 1440, 480)])], 100.0, (6, 8),
                  time_signature_changes=[TimeSignatureChange(1440, 7, 8)])
    read = score_from_midi_bytes(midi_bytes(score))
    assert read.pickup_ticks == 0 and read.time_signature == (6, 8)
    assert read.tracks[0].notes == score.tracks[0].notes

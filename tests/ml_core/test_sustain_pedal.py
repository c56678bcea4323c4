"""The sustain pedal (CC64): read into Track.pedal, written back, carried by the Score's
transforms and its serializer, and Continue never starts under a chord it holds."""

from __future__ import annotations

import struct

from ml_core.generation import GenerationOptions, continue_score
from ml_core.midi_io import midi_bytes, score_from_midi_bytes
from ml_core.music import Note, PedalSpan, Score, Track, sustained
from ml_core.score_codec import score_from_dict, score_to_dict
from ml_core.tokenizers.remi import RemiTokenizer
from tests.ml_core.test_generation import token_bundle


def pedalled_score() -> Score:
    notes = [Note(60, 0, 240), Note(64, 480, 240), Note(67, 960, 480)]
    return Score([Track("piano", 0, False, notes, [], [PedalSpan(0, 400), PedalSpan(480, 1800)])])


def midi_file(events: list[tuple[int, bytes]], division: int = 480) -> bytes:
    """A type 0 file of one track from (delta, message) events."""
    body = b""
    for delta, message in events:
        body += _variable(delta) + message
    body += b"\x00\xff\x2f\x00"
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, division)
            + b"MTrk" + struct.pack(">I", len(body)) + body)


def _variable(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def test_pedal_spans_survive_a_midi_round_trip() -> None:
    score = pedalled_score()
    back = score_from_midi_bytes(midi_bytes(score))
    assert back.tracks[0].pedal == score.tracks[0].pedal
    assert back.tracks[0].notes == score.tracks[0].notes


def test_cc64_values_from_a_file_become_spans() -> None:
    # Half-pedal values count as down from 64; repeated downs extend one span; a pedal
    # still down at the end comes up when the last note ends.
    events = [(0, bytes([0xB0, 64, 100])), (0, bytes([0x90, 60, 90])), (120, bytes([0xB0, 64, 70])),
              (120, bytes([0x80, 60, 0])), (120, bytes([0xB0, 64, 20])),
              (120, bytes([0xB0, 64, 127])), (0, bytes([0x90, 62, 90])),
              (240, bytes([0x80, 62, 0]))]
    score = score_from_midi_bytes(midi_file(events))
    assert score.tracks[0].pedal == [PedalSpan(0, 360), PedalSpan(480, 720)]


def test_a_note_released_under_the_pedal_sounds_until_it_comes_up() -> None:
    score = pedalled_score()
    assert [n.end for n in score.tracks[0].sounding_notes()] == [400, 1800, 1800]
    assert sustained([Note(60, 0, 100)], []) == [Note(60, 0, 100)]
    # released at the tick the pedal goes down: the note-off comes first, nothing is held
    assert sustained([Note(60, 0, 480)], [PedalSpan(480, 960)]) == [Note(60, 0, 480)]
    assert sustained([Note(60, 0, 481)], [PedalSpan(480, 960)]) == [Note(60, 0, 960)]


def test_transforms_and_the_serializer_carry_the_pedal() -> None:
    score = pedalled_score()
    assert score.sliced(480, 1200).tracks[0].pedal == [PedalSpan(0, 720)]
    assert score.sliced(0, 1000, shift=False).tracks[0].pedal == [PedalSpan(0, 400),
                                                                   PedalSpan(480, 1000)]
    assert score.resampled(96).tracks[0].pedal == [PedalSpan(0, 80), PedalSpan(96, 360)]
    assert score.shifted(100).tracks[0].pedal == [PedalSpan(100, 500), PedalSpan(580, 1900)]
    assert score.copy().tracks[0].pedal == score.tracks[0].pedal
    assert score.merged().tracks[0].pedal == score.tracks[0].pedal
    for packed in (False, True):
        assert score_from_dict(score_to_dict(score, packed=packed)).tracks[0].pedal == \
            score.tracks[0].pedal


def chord_prompt(chord: list[Note], pedal: list[PedalSpan]) -> Score:
    figure = [Note(64 + 2 * i, i * 240, 240) for i in range(6)]
    return Score([Track("p", 0, False, figure + chord, [], pedal)], time_signature=(4, 4))


def first_starts(prompt: Score) -> list[int]:
    """The first new onset of each continuation (4 seeds x 2 variations) that made notes."""
    bundle = token_bundle(RemiTokenizer())
    starts = []
    for seed in range(4):
        result = continue_score(bundle, prompt, GenerationOptions(bars=3, seed=seed,
                                                                  variations=2))
        starts += [min(n.start for n in notes) for notes in result.new_notes if notes]
    assert len(starts) >= 4
    return starts


def test_continue_waits_for_a_held_chord_played_in() -> None:
    # The chord's notes are struck 10 ticks apart (a chord played in); the last-struck
    # one is short, the first two ring to 2400.
    chord = [Note(48, 1440, 960), Note(55, 1450, 960), Note(64, 1460, 240)]
    assert min(first_starts(chord_prompt(chord, []))) >= 2400


def test_continue_waits_for_a_pedalled_chord() -> None:
    # A short chord on beat 4 held by the pedal to the next bar's beat 3.
    chord = [Note(48, 1440, 240), Note(55, 1440, 240), Note(64, 1440, 240)]
    assert min(first_starts(chord_prompt(chord, [PedalSpan(1400, 2880)]))) >= 2880

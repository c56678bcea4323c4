"""Property tests for MIDI I/O: random Scores round-trip; mutated files read or fail cleanly."""

from __future__ import annotations

import signal
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_midi_io import assert_same_music, end_of_track, event, meta, smf, tempo
from test_midi_io import chunk as midi_chunk

from ml_core.midi_io import MidiFileError, midi_bytes, score_from_midi_bytes
from ml_core.music import Note, Score, TempoChange, TimeSignatureChange, Track

METERS = [(4, 4), (3, 4), (2, 4), (6, 8), (7, 8), (5, 4), (12, 8), (2, 2), (9, 16)]
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tracks(draw) -> Track:
    """A track with no key struck again while it still sounds (MIDI cannot tell those apart)."""
    raw = draw(st.lists(st.tuples(st.integers(0, 127), st.integers(0, 20_000), st.integers(1, 3000),
                                  st.integers(1, 127)), min_size=1, max_size=40))
    busy_until: dict[int, int] = {}
    notes = []
    for pitch, start, duration, velocity in sorted(raw, key=lambda r: r[1]):
        if start >= busy_until.get(pitch, 0):
            notes.append(Note(pitch, start, duration, velocity))
            busy_until[pitch] = start + duration
    name = draw(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF,
                                      exclude_categories=("Cs",)),
                        max_size=12))
    return Track(name, draw(st.integers(0, 127)), draw(st.booleans()), notes)


@st.composite
def scores(draw) -> Score:
    tempo_ticks = draw(st.lists(st.integers(1, 30_000), unique=True, max_size=4))
    meter_ticks = draw(st.lists(st.integers(1, 30_000), unique=True, max_size=4))
    bpm = st.floats(10, 400, allow_nan=False)
    return Score(draw(st.lists(tracks(), min_size=1, max_size=5)), draw(bpm),
                 draw(st.sampled_from(METERS)),
                 tempo_changes=[TempoChange(tick, draw(bpm)) for tick in tempo_ticks],
                 time_signature_changes=[TimeSignatureChange(tick, *draw(st.sampled_from(METERS)))
                                         for tick in meter_ticks])


@SETTINGS
@given(scores())
def test_random_scores_round_trip(score):
    assert_same_music(score_from_midi_bytes(midi_bytes(score)), score)


def _valid_file() -> bytes:
    conductor = (tempo(0, 90) + meta(0, 0x58, bytes([6, 3, 24, 8])) + tempo(960, 150)
                 + end_of_track())
    body = meta(0, 0x03, b"Lead") + event(0, 0xC0, 5)
    for index in range(12):
        body += (event(0, 0x90, 60 + index, 90) + event(120, 0x90, 40 + index, 80)
                 + event(0, 40 + index, 0))
        body += event(120, 0x80, 60 + index, 0)
    drums = (event(0, 0x99, 36, 100) + event(60, 0x89, 36, 0) + event(0, 0xF0, 2, 0x41, 0xF7)
             + end_of_track())
    return smf(midi_chunk(conductor), midi_chunk(body + end_of_track()), midi_chunk(drums))


VALID = _valid_file()


@contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging (SIGALRM; the tests run in the main thread)."""
    def expired(signum, frame):
        raise TimeoutError(f"reading took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(VALID) - 1), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, len(VALID)), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, len(VALID) - 1), st.integers(1, 16)),
    st.tuples(st.just("truncate"), st.integers(0, len(VALID) - 1), st.just(0)),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_read_or_raise_midi_file_error(mutations):
    data = bytearray(VALID)
    for kind, where, what in mutations:
        where = min(where, len(data))
        if kind == "flip":
            if where < len(data):
                data[where] = what
        elif kind == "insert":
            data[where:where] = what
        elif kind == "delete":
            del data[where:where + what]
        else:
            del data[where:]
    with time_limit(10):
        try:
            score = score_from_midi_bytes(bytes(data), "fuzz.mid")
        except MidiFileError as error:
            message = str(error)
            assert message.startswith("fuzz.mid: ") and "\n" not in message
            return
    assert isinstance(score, Score) and score.note_count > 0
    assert all(0 <= n.pitch <= 127 and n.duration >= 1 and n.start >= 0 for n in score.notes())
    assert all(t.notes == sorted(t.notes) for t in score.tracks)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_after_a_header_never_escape_as_other_errors(tail):
    with time_limit(10):
        try:
            score_from_midi_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0" + tail)
        except MidiFileError:
            pass


def test_valid_fuzz_seed_reads():
    score = score_from_midi_bytes(VALID)
    assert [len(t.notes) for t in score.tracks] == [24, 1]
    assert score.time_signature == (6, 8) and score.tracks[1].is_drum


def test_seeded_mutations_of_our_own_midi_files_read_as_often_as_mido_or_fail_cleanly(tmp_path):
    """bench/midi_fuzz.py's mutations of resources/examples (the bench runs 3,000 and times
    them): the app's lenient read raises nothing but MidiFileError and reads at least as many
    mutated files as mido (clip=True) does."""

    from bench import midi_fuzz as fuzz

    with time_limit(120):
        result = fuzz.run(fuzz.sources([]), count=400, seed=1, folder=tmp_path)
    assert result["sources"] == 5
    assert result["escaped"] == []
    assert result["ours_read"] >= result["mido_read"] > 0

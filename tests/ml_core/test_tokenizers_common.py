"""Contract tests run over every registered tokenizer x a few configs.

Each scheme says what survives a round trip (`keeps_velocity`, `keeps_time_signature`,
`keeps_tempo`, `keeps_drums`, `keeps_overlaps`, `velocity_levels()`, `tempo_levels()`);
these tests build sixteenth-grid scores within those limits and check that the notes,
meters and tempi come back, that encode's output is grammar-valid, and that anything
sampled under the grammar decodes. A scheme with a learned vocabulary is fitted first
(`tokenizer.fit(scores)`).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ml_core.music import Note, Score, TempoChange, TimeSignatureChange, Track
from ml_core.tokenizers import TokenizerError, from_dict, get_tokenizer, tokenizer_names
from ml_core.tokenizers.base import Tokenizer

SIXTEENTH = 120
# Extra configs per scheme (the default config is always tested).
EXTRA_CONFIGS: dict[str, list[dict]] = {
    "remi": [{"beat_resolution": 12, "use_chords": True, "velocity_bins": 32},
             {"use_tempo": False, "max_bar_quarters": 6},
             {"use_velocity": False}],
    "midi_like": [{"beat_resolution": 12, "use_tempo": False, "use_time_signature": False,
                   "max_shift_quarters": 1}],
    "bar_offset": [{"pad_token": True, "velocity": 64}],
}
CASES = [(name, config) for name in tokenizer_names() for config in [{}]
         + EXTRA_CONFIGS.get(name, [])]
CASE_IDS = [f"{name}-{i}" for name in tokenizer_names()
            for i in range(1 + len(EXTRA_CONFIGS.get(name, [])))]


# ---------------------------------------------------------------------- test scores
class Palette:
    """Velocities and tempi the scheme can give back exactly."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        levels = tokenizer.velocity_levels() if tokenizer.keeps_velocity else ()
        self.velocities = [v for v in levels if 30 <= v <= 120] or [80]
        tempi = tokenizer.tempo_levels() if tokenizer.keeps_tempo else ()
        self.tempi = [t for t in tempi if 60 <= t <= 180] or [120.0]

    def velocity(self, index: int) -> int:
        return self.velocities[index % len(self.velocities)]


def piano(notes: list[Note], name: str = "piano") -> Track:
    return Track(name, 0, False, sorted(notes))


def melody(palette: Palette, bar_length: int = 4 * 480, bars: int = 3) -> list[Note]:
    """A line of non-overlapping notes of 1..8 sixteenths with rests between some."""
    rng = np.random.default_rng(7)
    notes, tick = [], 0
    while tick < bar_length * bars:
        length = int(rng.integers(1, 9)) * SIXTEENTH
        notes.append(Note(int(rng.integers(55, 80)), tick, length, palette.velocity(len(notes))))
        tick += length + int(rng.integers(0, 3)) * SIXTEENTH
    return notes


def scores_for(tokenizer: Tokenizer) -> dict[str, Score]:
    palette = Palette(tokenizer)
    v = palette.velocity
    scores = {
        "melody_4_4": Score([piano(melody(palette))], palette.tempi[0]),
        "block_chords": Score([piano(
            [Note(p, bar * 1920, 960, v(bar)) for bar in range(3)
             for p in (48 + bar, 52 + bar, 55 + bar)]
            + [Note(72 + bar, bar * 1920 + 960, 240, v(bar + 1)) for bar in range(3)])],
            palette.tempi[0]),
        "single_note": Score([piano([Note(60, 0, 480, v(0))])], palette.tempi[0]),
        "late_single_note": Score([piano([Note(67, 1920 * 2 + 360, 120, v(1))])], palette.tempi[0]),
    }
    for meter in [(3, 4), (6, 8), (7, 8)]:
        length = meter[0] * 1920 // meter[1]
        scores[f"melody_{meter[0]}_{meter[1]}"] = Score(
            [piano(melody(palette, length, 4))], palette.tempi[0], meter)
    scores["meter_change"] = Score(
        [piano([Note(60 + i, i * 480, 480, v(i)) for i in range(14)])], palette.tempi[0], (4, 4),
        time_signature_changes=[TimeSignatureChange(1920, 3, 4),
                                TimeSignatureChange(1920 + 1440 * 2, 4, 4)])
    scores["tempo_change"] = Score(
        [piano([Note(64, i * 480, 240, v(i)) for i in range(12)])], palette.tempi[0],
        tempo_changes=[TempoChange(1920, palette.tempi[-1]),
                       TempoChange(3840, palette.tempi[len(palette.tempi) // 2])])
    if tokenizer.keeps_overlaps:
        scores["held_bass"] = Score([piano(
            [Note(36, 0, 1920, v(0)), Note(43, 960, 1920, v(1))]
            + [Note(70 + (i % 5), i * 240, 240, v(i)) for i in range(12)])], palette.tempi[0])
        scores["two_tracks"] = Score(
            [
                piano([Note(72, i * 480, 480, v(i)) for i in range(8)], "right"),
                piano([Note(48, i * 960, 960, v(i)) for i in range(4)], "left"),
            ],
            palette.tempi[0],
        )
    scores["with_drums"] = Score(
        [
            piano([Note(60 + i, i * 480, 480, v(i)) for i in range(4)]),
            Track("drums", 0, True, [Note(36, i * 480, 120, 100) for i in range(4)]),
        ],
        palette.tempi[0],
    )
    return scores


def make(name: str, config: dict, scores: list[Score] | None = None) -> Tokenizer:
    tokenizer = get_tokenizer(name, **config)
    fit = getattr(tokenizer, "fit", None)
    if callable(fit):
        fitted = fit(scores if scores is not None else list(scores_for(tokenizer).values()))
        tokenizer = fitted if isinstance(fitted, Tokenizer) else tokenizer
    return tokenizer


def note_rows(score: Score, velocity: bool, drums: bool = False) -> list[tuple[int, ...]]:
    return sorted((n.pitch, n.start, n.duration) + ((n.velocity,) if velocity else ())
                  for t in score.tracks if t.is_drum == drums for n in t.notes)


def meter_map(score: Score) -> list[tuple[int, int, int]]:
    return [(0, *score.time_signature)] + [(c.tick, c.numerator, c.denominator)
                                           for c in score.time_signature_changes]


def tempo_map(score: Score) -> list[tuple[int, float]]:
    return [(0, round(score.tempo_bpm, 3))] + [(c.tick, round(c.bpm, 3))
                                               for c in score.tempo_changes]


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_round_trip_within_documented_limits(name: str, config: dict) -> None:
    tokenizer = make(name, config)
    for label, score in scores_for(tokenizer).items():
        ids = tokenizer.encode(score)
        assert tokenizer.validate(ids) == 0, label
        decoded = tokenizer.decode(ids)
        assert decoded.ticks_per_quarter == 480
        velocity = tokenizer.keeps_velocity
        assert note_rows(decoded, velocity) == note_rows(score, velocity), label
        if tokenizer.keeps_drums:
            assert (note_rows(decoded, False, drums=True) == note_rows(score, False,
                                                                       drums=True)), label
        else:
            assert not any(t.is_drum and t.notes for t in decoded.tracks), label
        if tokenizer.keeps_time_signature:
            assert meter_map(decoded) == meter_map(score), label
        if tokenizer.keeps_tempo:
            assert tempo_map(decoded) == tempo_map(score), label
        # A decoded score is a fixed point: encoding it again gives the same notes.
        again = tokenizer.decode(tokenizer.encode(decoded))
        assert note_rows(again, True) == note_rows(decoded, True), label


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_empty_score_encodes_to_a_valid_sequence_that_decodes_empty(name: str,
                                                                    config: dict) -> None:
    tokenizer = make(name, config)
    ids = tokenizer.encode(Score())
    assert tokenizer.validate(ids) == 0
    assert tokenizer.decode(ids).is_empty
    assert tokenizer.decode([]).is_empty


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_to_dict_round_trip_rebuilds_the_same_tokenizer(name: str, config: dict) -> None:
    tokenizer = make(name, config)
    rebuilt = from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert type(rebuilt) is type(tokenizer)
    assert rebuilt.vocab.tokens == tokenizer.vocab.tokens
    score = scores_for(tokenizer)["block_chords"]
    assert rebuilt.encode(score) == tokenizer.encode(score)


def test_bad_configs_and_names_raise_tokenizer_error() -> None:
    with pytest.raises(TokenizerError, match="unknown tokenizer"):
        get_tokenizer("no_such_scheme")
    with pytest.raises(TokenizerError, match="bad remi tokenizer config"):
        get_tokenizer("remi", no_such_option=3)
    with pytest.raises(TokenizerError, match="beat_resolution"):
        get_tokenizer("remi", beat_resolution=7)
    with pytest.raises(TokenizerError, match="has no 'name'"):
        from_dict({"config": {}})


@pytest.mark.parametrize("name", tokenizer_names())
def test_decode_refuses_ids_outside_the_vocabulary(name: str) -> None:
    tokenizer = make(name, {})
    with pytest.raises(TokenizerError):
        tokenizer.decode([tokenizer.vocab_size + 5])


# ---------------------------------------------------------------------- grammar properties
def sample_under_grammar(tokenizer: Tokenizer, count: int,
                         seed: int) -> tuple[list[int], list[int]]:
    """`count` tokens drawn uniformly among the allowed ones (EOS only when nothing else
    is allowed, so the walk does not stop early); also the state ticks along the way."""
    grammar = tokenizer.grammar()
    rng = np.random.default_rng(seed)
    eos = tokenizer.vocab["EOS"] if "EOS" in tokenizer.vocab else -1
    state = grammar.start()
    ids, ticks = [], [state.tick]
    for _ in range(count):
        mask = grammar.allowed(state)
        assert mask.shape == (tokenizer.vocab_size,) and mask.dtype == bool
        if tokenizer.has_pad and len(ids) >= 2:
            # note_duration opens with `xxbos xxpad` as in its paper; never PAD later.
            assert not mask[tokenizer.pad_id]
        choices = np.flatnonzero(mask)
        assert choices.size, f"dead end after {tokenizer.tokens_to_strings(ids[-8:])}"
        if choices.size > 1 and eos >= 0:
            choices = choices[choices != eos]
        token = int(choices[rng.integers(choices.size)])
        ids.append(token)
        state = grammar.advance(state, token)
        hash(state)  # small immutable values, one per batch row
        ticks.append(state.tick)
    return ids, ticks


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_sequences_sampled_under_the_grammar_always_decode(name: str, config: dict) -> None:
    tokenizer = make(name, config)
    ids, ticks = sample_under_grammar(tokenizer, 10_000, seed=len(name))
    assert all(b >= a for a, b in zip(ticks, ticks[1:], strict=False)), "state.tick went back"
    assert ticks[-1] > 0, "time never moved"
    assert tokenizer.validate(ids) == 0
    for cut in (len(ids), 4321, 17):  # the whole walk and prefixes cut anywhere
        decoded = tokenizer.decode(ids[:cut])
        for note in decoded.notes():
            assert note.duration > 0 and note.start >= 0 and 0 <= note.pitch <= 127
            assert 1 <= note.velocity <= 127
    assert not tokenizer.decode(ids).is_empty


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_random_unmasked_sequences_break_the_grammar(name: str, config: dict) -> None:
    tokenizer = make(name, config)
    rng = np.random.default_rng(3)
    for _ in range(5):
        ids = rng.integers(0, tokenizer.vocab_size, 200).tolist()
        assert tokenizer.validate(ids) > 0
        try:
            tokenizer.decode(ids)  # lenient decoders skip what the grammar forbids ...
        except TokenizerError:
            pass  # ... strict ones refuse with a clear error; nothing else may escape


@pytest.mark.parametrize("name", tokenizer_names())
def test_grammar_calls_are_fast(name: str) -> None:
    tokenizer = make(name, {})
    grammar = tokenizer.grammar()
    ids, _ = sample_under_grammar(tokenizer, 2000, seed=11)
    state = grammar.start()
    began = time.perf_counter()
    for token in ids:
        grammar.allowed(state)
        state = grammar.advance(state, token)
    per_call = (time.perf_counter() - began) / (2 * len(ids))
    # Target is < 20 µs; the bound leaves room for a loaded shared CI machine.
    assert per_call < 200e-6, f"{per_call * 1e6:.1f} µs per grammar call"


@pytest.mark.parametrize("name", tokenizer_names())
def test_key_mask_blocks_out_of_key_pitches(name: str) -> None:
    tokenizer = make(name, {})
    c_major = {0, 2, 4, 5, 7, 9, 11}
    mask = tokenizer.key_mask(c_major)
    pitched = [t for t in range(tokenizer.vocab_size) if tokenizer.pitches_of(t)]
    assert pitched, "no token names a pitch"
    for token in pitched:
        assert mask[token] == all(p % 12 in c_major for p in tokenizer.pitches_of(token))
    unpitched = [t for t in range(tokenizer.vocab_size) if not tokenizer.pitches_of(t)]
    assert mask[unpitched].all()

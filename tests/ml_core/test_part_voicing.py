"""ml_core.part_voicing: the voice-leading bias of parts written given the others."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.generation import GenerationOptions, _start_state
from ml_core.multitrack import add_part, continue_active, continue_all
from ml_core.music import Note, Score, Track
from ml_core.part_schedule import FREE, ScheduleGrammar, Write, forced_score, written_plan
from ml_core.part_voicing import (
    DENSITY_CAP,
    DISSONANT,
    OFFBEAT_WEIGHT,
    REGISTER_MIN_NOTES,
    VOICING,
    PartVoicing,
    VoicingStrength,
)
from ml_core.tokenizers.remi import K_PITCH
from ml_core.tokenizers.remi_tracks import RemiTracksConfig, RemiTracksTokenizer
from tests.ml_core.test_multitrack_generation import BAR, Q, tiny_bundle, trio

SOPRANO, ALTO, BASS = 24, 25, 27      # Track_ensemble_0, _1, _3
STRENGTH = VoicingStrength(order=6.0, unison=3.0, dissonance=2.0, register=0.0)


@pytest.fixture(scope="module")
def tokenizer():
    return RemiTracksTokenizer(RemiTracksConfig(use_velocity=False))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bundle(tmp_path_factory.mktemp("tiny_voicing"))


def _pitches(tokenizer) -> np.ndarray:
    return np.asarray(tokenizer.values)[tokenizer.kind_array == K_PITCH]


def test_an_inner_part_is_kept_under_the_part_above_and_off_its_dissonances(tokenizer) -> None:
    known = {SOPRANO: [Note(72, 0, 2 * Q)], ALTO: [Note(60, -BAR, BAR)]}
    voicing = PartVoicing(tokenizer, None, known, {ALTO: 0}, {}, STRENGTH, rows=1)
    pitches = _pitches(tokenizer)
    bias = voicing.pitch_bias(0, ALTO, 0, 0)
    expected = np.zeros(pitches.shape)
    expected[pitches == 72] -= 3.0                    # on the soprano's note: a unison
    expected[np.isin(np.abs(pitches - 72) % 12, DISSONANT)] -= 2.0
    above = pitches > 72                              # above it: a crossing, under them all
    expected[above] = np.minimum(expected[above], -3.0) - 6.0
    assert np.allclose(bias, expected)
    assert bias[pitches == 67] == 0 and bias[pitches == 71] == -2.0 and bias[pitches == 60] == 0
    assert bias[pitches == 79] == -9.0 and bias[pitches == 73] == -9.0
    # between beats the consonance bias is weaker, the order of the parts is not
    between = voicing.pitch_bias(0, ALTO, Q // 2, 0)
    assert between[pitches == 71] == pytest.approx(-2.0 * OFFBEAT_WEIGHT)
    assert between[pitches == 80] == pytest.approx(-9.0)
    # once the soprano has ended (and a half note later), the alto is free
    assert not voicing.pitch_bias(0, ALTO, 4 * Q, 0).any()


def test_a_new_part_takes_its_place_by_role(tokenizer) -> None:
    """A bass with no notes yet goes under a melody and the notes it has just written."""
    known = {SOPRANO: [Note(67, 0, BAR)]}
    voicing = PartVoicing(tokenizer, None, known, {BASS: 0, ALTO: 0}, {}, STRENGTH, rows=1)
    assert voicing.above(BASS, SOPRANO) is True and voicing.above(SOPRANO, BASS) is False
    voicing.rows[0].sounding[ALTO] = [Note(62, 0, Q)]      # written earlier in the bar
    pitches = _pitches(tokenizer)
    bias = voicing.pitch_bias(0, BASS, 0, 0)
    assert (bias[pitches > 62] <= bias[pitches <= 62].min() - 6.0).all()   # under the alto
    assert bias[pitches == 50] == 0                      # an octave and a fourth below: free


def test_the_register_tilts_back_once_the_new_notes_drift(tokenizer) -> None:
    strength = VoicingStrength(order=0.0, unison=0.0, dissonance=0.0, register=3.0)
    voicing = PartVoicing(tokenizer, None, {}, {ALTO: 0}, {ALTO: 60.0}, strength, rows=1)
    pitches = _pitches(tokenizer)
    assert not voicing.pitch_bias(0, ALTO, 0, 0).any()        # nothing written yet
    voicing.rows[0].pitches[ALTO] = [61, 62, 60, 61][:REGISTER_MIN_NOTES]
    assert not voicing.pitch_bias(0, ALTO, 0, 0).any()        # within the slack
    voicing.rows[0].pitches[ALTO] = [75, 74, 76, 73]
    bias = voicing.pitch_bias(0, ALTO, 0, 0)
    assert bias[pitches == 60] == 0 and bias[pitches == 66] == pytest.approx(-1.5)
    assert bias[pitches == 72] == pytest.approx(-3.0) and bias[pitches == 96] == -3.0
    assert not bias[pitches < 60].any()                       # lower pitches keep theirs


def test_the_bias_moves_probability_among_the_pitches_only(tokenizer) -> None:
    """In a written part's section, after a Position: the pitches together keep the
    probability the model gave them (whether the onset gets a note stays the model's)."""
    score = trio()     # at bar 2 the soprano sounds C5 (72), the tenor A3 (57)
    writes = [Write(1, ALTO, 2 * BAR, 2 * BAR)]
    context, steps, own_ends, _ = written_plan(tokenizer, score, writes, 3 * BAR,
                                            GenerationOptions(bars=1))
    grammar = ScheduleGrammar(tokenizer, steps, own_ends)
    slots, kept = forced_score(tokenizer, score, writes, 3 * BAR)
    voicing = PartVoicing.build(tokenizer, grammar, kept, slots, {ALTO: 2 * BAR}, rows=1)
    state = grammar.start_from(_start_state(tokenizer.grammar(), context))
    for token in steps[:steps.index(FREE)]:
        state = grammar.advance(state, token)
    for name in ("Position_0", "Pitch_52", "Duration_4"):   # a note; another may follow
        state = grammar.advance(state, tokenizer.vocab[name])
    mask = grammar.allowed(state)[None]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, tokenizer.vocab_size)).astype(np.float32)
    adjusted = voicing.adjust(logits, [state], [False], mask)
    pitch = (tokenizer.kind_array == K_PITCH) & mask[0]
    assert pitch.any() and mask[0][~pitch].any()

    def share(values: np.ndarray) -> float:
        weights = np.exp(values[mask[0]] - values[mask[0]].max())
        return float(weights[pitch[mask[0]]].sum() / weights.sum())

    assert share(adjusted[0]) == pytest.approx(share(logits[0]), rel=1e-5)
    moved = adjusted[0] - logits[0]
    values = np.asarray(tokenizer.values)
    crossing = pitch & ((values > 72) | (values < 57))    # above the soprano, under the tenor
    assert crossing.any() and (pitch & ~crossing).any()
    assert moved[crossing].max() <= moved[pitch & ~crossing].min() - VOICING.order + 1e-4
    ids = {p: tokenizer.vocab[f"Pitch_{p}"] for p in (64, 65, 66)}   # consonant, C-F, C-F#
    assert moved[ids[64]] == pytest.approx(moved[ids[65]])
    assert moved[ids[66]] - moved[ids[64]] == pytest.approx(-VOICING.dissonance)
    others = ~pitch
    assert np.array_equal(adjusted[0, others], logits[0, others])


def _crossings(new: list[Note], above: list[Note]) -> int:
    """New notes struck above (or on) a note of `above` sounding at their onset."""
    return sum(any(a.start <= n.start < a.end and n.pitch >= a.pitch for a in above)
               for n in new)


def _clashes(new: list[Note], others: list[Note]) -> int:
    """On-beat onsets of `new` forming a dissonant interval with a note sounding there."""
    return sum(any(o.start <= n.start < o.end and abs(o.pitch - n.pitch) % 12 in DISSONANT
                   for o in others) for n in new if n.start % Q == 0)


def test_a_bass_added_under_a_melody_never_crosses_it(tiny) -> None:
    melody = [Note(64 + (i * 5) % 12, i * Q, Q) for i in range(16)]
    score = Score([Track("Melody", 0, False, melody)], 100.0, (4, 4), Q)
    options = GenerationOptions(seed=3, device="cpu", temperature=1.0, top_p=1.0)
    free = add_part(tiny, score, "bass", options=options, voicing=0).scores[0].tracks[-1].notes
    assert _crossings(free, melody) > 0      # the random model alone crosses the melody
    led = add_part(tiny, score, "bass", options=options, voicing=10).scores[0].tracks[-1].notes
    assert led and _crossings(led, melody) == 0
    assert _clashes(led, melody) == 0


def test_a_continued_inner_part_stays_under_the_given_soprano(tmp_path) -> None:
    tiny = moving_on(tiny_bundle(tmp_path))
    score = trio()
    soprano = [Note(67 + i % 3, 3 * BAR + i * Q, Q) for i in range(12)]
    score.tracks[0].notes = sorted(score.tracks[0].notes + soprano)
    options = GenerationOptions(bars=2, seed=5, device="cpu", temperature=1.0, top_p=1.0)

    def alto(voicing: float) -> list[Note]:
        return continue_active(tiny, score, 1, options, voicing=voicing).extra["per_track"][1][0]

    assert _crossings(alto(0), score.tracks[0].notes) > 0
    led = alto(10)
    assert led and _crossings(led, score.tracks[0].notes) == 0
    assert _clashes(led, score.tracks[0].notes + score.tracks[2].notes) == 0


def test_parts_continued_together_lean_on_the_notes_written_before_them(tiny) -> None:
    """The alto is written after the soprano in each bar: it stays under the soprano's
    new notes, which the schedule only knows as they are sampled."""
    score = trio()
    options = GenerationOptions(bars=2, seed=2, device="cpu", temperature=1.0, top_p=1.0)
    result = continue_all(tiny, score, [0, 1], options, voicing=10)
    soprano, alto = (result.extra["per_track"][i][0] for i in (0, 1))
    assert soprano and alto
    new_bars = [n for n in alto if n.start >= 4 * BAR]
    assert new_bars and _crossings(new_bars, soprano) == 0


def test_a_part_that_rests_whole_bars_may_rest_in_the_bars_it_writes(tokenizer) -> None:
    score = trio()
    writes = [Write(0, SOPRANO, 3 * BAR, 3 * BAR), Write(1, ALTO, 4 * BAR, 4 * BAR)]
    *_, optional = written_plan(tokenizer, score, writes, 6 * BAR, GenerationOptions())
    assert optional == {}                      # every part plays in every bar: all written
    score.tracks[1].notes = [n for n in score.tracks[1].notes if not BAR <= n.start < 2 * BAR]
    context, steps, own_ends, optional = written_plan(tokenizer, score, writes, 6 * BAR,
                                                      GenerationOptions())
    alto, soprano = tokenizer.slot_token(ALTO), tokenizer.slot_token(SOPRANO)
    assert optional and all(steps[at] == alto for at in optional)   # the alto rested a bar
    assert {share for _, share in optional.values()} == {0.75}         # and played 3 of 4
    grammar = ScheduleGrammar(tokenizer, steps, own_ends, optional)
    state = grammar.start_from(_start_state(tokenizer.grammar(), context))
    at = min(optional)
    while state.index < at - 1:             # up to the FREE step of the soprano before it
        token = steps[state.index]
        if token == FREE:                   # earlier bars: a note, then on
            for name in ("Position_0", "Pitch_72", "Duration_4"):
                state = grammar.advance(state, tokenizer.vocab[name])
            token = steps[state.index + 1]
        state = grammar.advance(state, token)
    for name in ("Position_0", "Pitch_72", "Duration_4"):
        state = grammar.advance(state, tokenizer.vocab[name])
    assert grammar.exit_of(state) == alto and grammar.rests_of(state) == [steps[optional[at][0]]]
    allowed = grammar.allowed(state)
    assert allowed[alto] and allowed[tokenizer.bar_id]     # the alto plays, or rests
    rested = grammar.advance(state, tokenizer.bar_id)
    assert rested.index == optional[at][0] + 1 and rested.inner.bar_start > state.inner.bar_start
    assert grammar.advance(state, alto).index == at + 1
    assert not allowed[soprano]


def test_whether_a_resting_part_plays_leans_to_how_often_it_played() -> None:
    from ml_core.part_schedule import _lean_to_share

    row = np.array([0.0, 0.0, 0.0, 5.0], dtype=np.float32)    # play, rest, rest, a note
    allowed = np.array([True, True, False, True])
    assert _lean_to_share(row, allowed, 0, [1, 2], share=0.9)
    played = np.exp(row[0]) / (np.exp(row[0]) + np.exp(row[1]))
    assert played == pytest.approx(1 / (1 + np.exp(-np.log(9) / 2)), rel=1e-5)   # 0.75
    assert np.exp(row[0]) + np.exp(row[1]) == pytest.approx(2.0, rel=1e-5)   # mass kept
    assert row[2] == 0.0 and row[3] == 5.0
    assert not _lean_to_share(row, np.array([True, False, False, True]), 0, [1, 2], 0.5)


def moving_on(tiny):
    """The untrained model leaning to move on (a new onset, bar or part) as a trained one
    does: left alone it may strike 26 keys at one onset, more than lie between two parts,
    and with each key struck once per onset some must cross whatever the bias (which moves
    probability among the pitches, never away from them)."""
    names = tiny.tokenizer.vocab.tokens
    with torch.no_grad():
        tiny.model.head.bias[[i for i, n in enumerate(names)
                              if n.startswith(("Position_", "Track_")) or n == "Bar"]] += 2.0
    return tiny


def test_a_filled_inner_part_stays_between_its_neighbours(tmp_path) -> None:
    from ml_core.multitrack import fill_track

    tiny = moving_on(tiny_bundle(tmp_path))
    score = trio()
    options = GenerationOptions(seed=4, device="cpu", temperature=1.0, top_p=1.0)

    def alto(voicing: float) -> list[Note]:
        return fill_track(tiny, score, 1, 1, 3, options, voicing=voicing).new_notes[0]

    soprano, tenor = score.tracks[0].notes, score.tracks[2].notes
    free = alto(0)
    assert _crossings(free, soprano) + _crossings([n.moved(pitch=-n.pitch) for n in free],
                                                  [n.moved(pitch=-n.pitch) for n in tenor]) > 0
    led = alto(10)
    assert led and _crossings(led, soprano) == 0
    assert _crossings([n.moved(pitch=-n.pitch) for n in led],      # nothing under the tenor
                      [n.moved(pitch=-n.pitch) for n in tenor]) == 0


def test_drums_are_left_alone(tokenizer) -> None:
    from ml_core.tokenizers.remi_tracks import DRUMS, SLOTS, slot_id

    score = trio()
    slots = tokenizer.slots_of(score)
    assert PartVoicing.build(tokenizer, None, score, slots, {slot_id(DRUMS, 0): 0}, 1) is None
    assert PartVoicing.build(tokenizer, None, score, slots, {ALTO: 0}, 1, scale=0) is None
    both = PartVoicing.build(tokenizer, None, score, slots, {ALTO: 0, DRUMS * SLOTS: 0}, 1)
    assert both is not None and set(both._starts) == {ALTO}


def test_a_part_behind_its_rate_is_kept_from_ending_its_bars_early(tokenizer) -> None:
    voicing = PartVoicing(tokenizer, None, {}, {ALTO: 0}, {}, VOICING, rows=1,
                          rates={ALTO: 4.0})
    assert voicing.density_bias(0, ALTO, BAR) == 0.0          # no bar of its own yet
    voicing.rows[0].onsets[ALTO] = {0: {0, Q}, BAR: {BAR}}    # 2 onsets in bar 0 (4 asked)
    assert voicing.density_bias(0, ALTO, BAR) == pytest.approx(VOICING.density * np.log(0.5))
    voicing.rows[0].onsets[ALTO] = {0: set(range(0, BAR, Q // 4))}   # 16: far ahead
    assert voicing.density_bias(0, ALTO, BAR) == DENSITY_CAP
    assert PartVoicing(tokenizer, None, {}, {ALTO: 0}, {}, VOICING, rows=1).density_bias(
        0, ALTO, BAR) == 0.0                                   # a new part: no rate to keep

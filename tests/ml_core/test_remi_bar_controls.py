"""REMI's opt-in per-bar controls (repetition, bass, extended levels): computed on known
bars, round-tripped, followed from the prompt by Continue, absent from older configs."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.generation import GenerationOptions, continue_score
from ml_core.music import Note, Score, Track
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.remi import K_TIMESIG, RemiConfig, RemiTokenizer
from ml_core.tokenizers.remi_controls import (
    ANY,
    BarShape,
    bass_bin,
    density_bin,
    repetition_controls,
    texture_bin,
)
from tests.ml_core.test_generation import token_bundle
from tests.ml_core.test_generation_controls import RecordingRemi

ALL_ON = RemiConfig(use_repeat_controls=True, use_bass_control=True, extended_levels=True)


def test_repetition_controls_of_known_bars() -> None:
    bars = [BarShape(16, (0, 4, 8), (60, 62, 64)),
            BarShape(16, (0, 4, 8), (62, 64, 66)),     # bar 0's rhythm, its figure moved up
            BarShape(16, (0, 4, 8), (60, 62, 64)),     # bar 0 again (bar 1 has its rhythm)
            BarShape(16, (0, 2, 4, 8), (67, 65, 64, 60)),
            BarShape(16, (), ()),
            BarShape(12, (0, 4, 8), (60, 62, 64)),     # bar 0's onsets, in a shorter bar
            BarShape(16, (0, 2, 4, 8), (72, 70, 69, 65))]
    assert repetition_controls(bars, 0) == (0, 0)
    assert repetition_controls(bars, 1) == (1, 4 + 1)
    assert repetition_controls(bars, 2) == (1, 2)
    assert repetition_controls(bars, 3) == (0, 0)
    assert repetition_controls(bars, 4) == (ANY, ANY)
    assert repetition_controls(bars, 5) == (0, 3)      # 4 bars back at most: bar 1 is too far
    assert repetition_controls(bars, 6) == (3, 4 + 3)


def test_bins() -> None:
    assert [bass_bin(p) for p in (30, 36, 43, 50, 51, 60, 67, 68, 90)] == [0, 1, 2, 3, 4, 5, 6,
                                                                           7, 7]
    assert texture_bin(6.2) == 4 and texture_bin(6.2, extended=True) == 6
    assert texture_bin(11, extended=True) == 8
    assert density_bin(8) == 5 and density_bin(8, extended=True) == 7
    assert density_bin(4.0, extended=True) == 5 and density_bin(6, extended=True) == 6


def four_bars() -> Score:
    """A B A' B: bar 2 is bar 0 a tone up (bass too), bar 3 is bar 1 again."""
    first = [Note(43, 0, 1920), Note(60, 0, 480), Note(62, 480, 480), Note(64, 960, 960)]
    second = [Note(41, 0, 1920), Note(65, 0, 240), Note(64, 240, 240), Note(62, 480, 960)]

    def at(notes: list[Note], bar: int, up: int = 0) -> list[Note]:
        return [n.moved(start=n.start + bar * 1920, pitch=n.pitch + up) for n in notes]
    notes = at(first, 0) + at(second, 1) + at(first, 2, up=2) + at(second, 3)
    return Score([Track("p", 0, False, notes)])


def per_bar_strings(tokenizer: RemiTokenizer, ids: list[int]) -> list[tuple[str, ...]]:
    strings = tokenizer.tokens_to_strings(ids)
    return [tuple(s for s in strings[i:i + 12] if s.split("_")[0] in ("Rhythm", "Figure", "Bass"))
            for i, s in enumerate(strings) if s == "Bar"]


def test_encoding_writes_them_and_decoding_gives_the_same_notes() -> None:
    tokenizer = RemiTokenizer(ALL_ON)
    score = four_bars()
    ids = tokenizer.encode(score)
    assert per_bar_strings(tokenizer, ids) == [
        ("Rhythm_0", "Figure_none", "Bass_2"), ("Rhythm_0", "Figure_none", "Bass_2"),
        ("Rhythm_2", "Figure_moved_2", "Bass_2"), ("Rhythm_2", "Figure_same_2", "Bass_2")]
    grammar, state = tokenizer.grammar(), tokenizer.grammar().start()
    for token in ids:
        assert grammar.allowed(state)[token], tokenizer.vocab.string(token)
        state = grammar.advance(state, token)
    plain = RemiTokenizer()

    def notes(decoded: Score) -> list[tuple[int, int, int]]:
        return sorted((n.pitch, n.start, n.duration) for n in decoded.tracks[0].notes)
    assert notes(tokenizer.decode(ids)) == notes(plain.decode(plain.encode(score))) == \
        sorted((n.pitch, n.start, n.duration) for n in score.tracks[0].notes)


def test_the_flags_are_opt_in_and_need_the_controls() -> None:
    plain = RemiTokenizer()
    assert not [t for t in plain.vocab.tokens if t.split("_")[0] in ("Rhythm", "Figure", "Bass")]
    assert "Texture_5" not in plain.vocab and "Density_6" not in plain.vocab
    assert RemiTokenizer.from_dict(plain.to_dict()).vocab.tokens == plain.vocab.tokens
    stored = RemiTokenizer.from_dict({"name": "remi", "config": {}})   # a config before them
    assert not stored.config.use_repeat_controls and not stored.config.use_bass_control
    assert RemiTokenizer.from_dict(RemiTokenizer(ALL_ON).to_dict()).config == ALL_ON
    with pytest.raises(TokenizerError, match="use_controls"):
        RemiConfig(use_controls=False, use_bass_control=True)


def test_extended_levels_name_eight_voices() -> None:
    tokenizer = RemiTokenizer(RemiConfig(extended_levels=True))
    chords = [Note(36 + 5 * v, beat * 480, 480) for beat in range(4) for v in range(8)]
    strings = tokenizer.tokens_to_strings(tokenizer.encode(Score([Track("p", 0, False, chords)])))
    assert "Texture_8" in strings
    assert tokenizer.controls_of(Score([Track("p", 0, False, chords)])).texture == 8


def test_the_prompt_is_followed_a_period_later() -> None:
    tokenizer = RemiTokenizer(ALL_ON)
    followed = tokenizer.followed_bar_controls(four_bars(), 8 * 1920)
    assert sorted(followed) == [4 * 1920, 5 * 1920, 6 * 1920, 7 * 1920]
    values = [(c.rhythm, c.figure, c.bass) for _, c in sorted(followed.items())]
    # bars 0 and 1 could not show a repetition: left to the model
    assert values == [(None, None, 2), (None, None, 2), (2, 6, 2), (2, 2, 2)]
    assert RemiTokenizer().followed_bar_controls(four_bars(), 8 * 1920) == {}


class SteadyGrammar:
    """REMI's grammar without meter changes after the first bar (an untrained model
    changes meter at random; a bar's followed controls are those of the prompt's meter)."""

    def __init__(self, inner, no_meter: np.ndarray) -> None:
        self.inner, self.no_meter = inner, no_meter

    def start(self):
        return self.inner.start()

    def advance(self, state, token):
        return self.inner.advance(state, token)

    def allowed(self, state):
        mask = self.inner.allowed(state)
        return mask & self.no_meter if state.bar_positions else mask


class SteadyRemi(RecordingRemi):
    """The recording REMI, keeping its meter."""

    def grammar(self):
        return SteadyGrammar(super().grammar(), self.kind_array != K_TIMESIG)


@pytest.mark.parametrize("seed", range(2))
def test_continue_forces_the_followed_values_on_each_new_bar(seed: int) -> None:
    tokenizer = SteadyRemi(ALL_ON)
    prompt = four_bars()
    prompt_length = len(tokenizer.encode(prompt))
    continue_score(token_bundle(tokenizer), prompt,
                   GenerationOptions(bars=4, seed=seed, max_tokens=5000))
    new = per_bar_strings(tokenizer, tokenizer.last[prompt_length:])
    assert len(new) == 4
    assert [bar[-1] for bar in new] == ["Bass_2"] * 4
    assert new[2:] == [("Rhythm_2", "Figure_moved_2", "Bass_2"),
                       ("Rhythm_2", "Figure_same_2", "Bass_2")]

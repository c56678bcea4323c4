"""Dynamics without velocity tokens: REMI's `use_velocity` option, and generation giving
new notes the prompt's dynamics (docs/DYNAMICS.md)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from ml_core.generation import (
    DOWNBEAT_ACCENT,
    HUMANISE,
    GenerationOptions,
    continue_score,
    fill_score,
)
from ml_core.models import build_model
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import from_dict
from ml_core.tokenizers.remi import UNENCODED_VELOCITY, RemiConfig, RemiTokenizer


def line(velocities: list[int], bars: int = 2) -> Score:
    notes = [Note(60 + (i * 5) % 12, i * 240, 240, velocities[i % len(velocities)])
             for i in range(bars * 8)]
    return Score([Track("melody", 0, False, notes)], 100.0, (4, 4))


def tiny_bundle(tokenizer: RemiTokenizer, infill_rate: float = 0.0) -> SimpleNamespace:
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32, num_layers=1,
                        num_heads=2, ff_size=64, context=256).eval()
    config = {"training": {"objectives": {"infill_rate": infill_rate}}}
    return SimpleNamespace(model=model, tokenizer=tokenizer, name="tiny", config=config)


def test_without_velocity_tokens_dynamics_are_invisible_and_decode_at_one_level() -> None:
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    assert not any(tokenizer.vocab.string(i).startswith("Velocity_")
                   for i in range(tokenizer.vocab_size))
    assert not tokenizer.keeps_velocity and tokenizer.velocity_levels() == ()
    soft, loud = tokenizer.encode(line([30, 45])), tokenizer.encode(line([110, 127]))
    assert soft == loud and tokenizer.validate(soft) == 0
    # Pitch is followed by Duration directly.
    strings = [tokenizer.vocab.string(i) for i in soft]
    pitch_at = strings.index("Pitch_60")
    assert strings[pitch_at + 1].startswith("Duration_")
    decoded = tokenizer.decode(soft)
    assert [(n.pitch, n.start, n.duration) for n in decoded.notes()] == \
        [(n.pitch, n.start, n.duration) for n in line([30]).notes()]
    assert {n.velocity for n in decoded.notes()} == {UNENCODED_VELOCITY}


def test_stored_configs_without_the_key_keep_velocity_tokens() -> None:
    stored = RemiTokenizer(RemiConfig()).to_dict()
    stored["config"].pop("use_velocity")
    old = from_dict(stored)
    assert old.keeps_velocity and "Velocity_127" in old.vocab
    without = RemiTokenizer(RemiConfig(use_velocity=False))
    assert from_dict(without.to_dict()).keeps_velocity is False


def test_new_notes_take_the_prompts_dynamics_deterministically() -> None:
    bundle = tiny_bundle(RemiTokenizer(RemiConfig(use_velocity=False)))
    for level in (36, 100):
        # Loud first bar, then the level: the last bars' level is what new notes follow.
        prompt = line([120], bars=1)
        prompt.tracks[0].notes += [n.moved(start=n.start + 1920, velocity=level)
                                   for n in line([level], 2).notes()]
        options = GenerationOptions(bars=2, seed=5)
        first = continue_score(bundle, prompt, options).new_notes[0]
        again = continue_score(bundle, prompt, options).new_notes[0]
        assert first and [n.velocity for n in first] == [n.velocity for n in again]
        velocities = np.array([n.velocity for n in first])
        assert velocities.min() >= level - HUMANISE
        assert velocities.max() <= level + HUMANISE + DOWNBEAT_ACCENT
        if len(first) > 3:
            assert len(set(velocities.tolist())) > 1  # humanised, not one flat level


def test_models_with_velocity_tokens_keep_their_own() -> None:
    tokenizer = RemiTokenizer(RemiConfig())
    bundle = tiny_bundle(tokenizer)
    new = continue_score(bundle, line([100]), GenerationOptions(bars=2, seed=1)).new_notes[0]
    assert new and {n.velocity for n in new} <= set(tokenizer.velocity_levels())


def test_filled_bars_follow_the_bars_before_them() -> None:
    bundle = tiny_bundle(RemiTokenizer(RemiConfig(use_velocity=False)), infill_rate=0.5)
    piece = line([50], bars=4)
    result = fill_score(bundle, piece, 2, 3, GenerationOptions(seed=3))
    span = [n for n in result.scores[0].notes() if 2 * 1920 <= n.start < 3 * 1920]
    assert span and all(50 - HUMANISE <= n.velocity <= 50 + HUMANISE + DOWNBEAT_ACCENT
                        for n in span)

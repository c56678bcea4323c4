"""Bars up to 16 quarters (issue 41): a new REMI model and the shipped default continue 9/4
and 5/2 prompts; a stored 8-quarter model refuses them in one line that says why."""

from __future__ import annotations

import pytest
import torch

from ml_core import bundle
from ml_core.generation import GenerationOptions, continue_score, target_tick
from ml_core.models import build_model
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import TokenizerError
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer


def prompt_in(meter: tuple[int, int]) -> Score:
    length = 480 * 4 * meter[0] // meter[1]
    notes = [Note(60 + (i * 2) % 7, i * 480, 480) for i in range(2 * length // 480)]
    return Score([Track("p", 0, False, notes)], 120.0, meter, 480)


@pytest.mark.parametrize("meter", [(9, 4), (5, 2)])
def test_a_16_quarter_model_continues_long_bars(tmp_path, meter) -> None:
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32, num_layers=1,
                        num_heads=2, ff_size=64, context=256)
    loaded = bundle.load(bundle.save(tmp_path / "m", model.eval(), tokenizer.to_dict(), name="m"))
    prompt = prompt_in(meter)
    result = continue_score(loaded, prompt, GenerationOptions(bars=1, seed=0, max_tokens=200))
    assert result.scores[0].time_signature == meter
    assert all(prompt.end_tick <= n.start < target_tick(prompt, 1) for n in result.new_notes[0])


@pytest.mark.parametrize("meter", [(9, 4), (5, 2)])
def test_the_shipped_default_continues_long_bars(meter) -> None:
    from resources import MODELS_DIR

    loaded = bundle.load(MODELS_DIR / "default")
    prompt = prompt_in(meter)
    result = continue_score(loaded, prompt, GenerationOptions(bars=2, seed=0))
    new = result.new_notes[0]
    assert result.scores[0].time_signature == meter
    assert new and all(prompt.end_tick <= n.start < target_tick(prompt, 2) for n in new)


def test_a_stored_8_quarter_model_refuses_9_4_in_one_line() -> None:
    from resources import MODELS_DIR

    loaded = bundle.load(MODELS_DIR / "bach-chorales")
    with pytest.raises(TokenizerError) as caught:
        continue_score(loaded, prompt_in((9, 4)), GenerationOptions(bars=1, seed=0))
    message = str(caught.value)
    assert "\n" not in message and "9/4" in message and "8 quarters" in message

"""A Transformer trained on windows shorter than its context generates from at most the
window it was trained on (`TransformerModel.max_context`, set by `bundle.load` from the
card's `training.recipe.window`): positions past it were never trained, and reading them
made the shipped models worse (4.56 against 4.22 bits per note for `default-next`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core import bundle
from ml_core.models import build_model, onnx_stepper
from ml_core.models.stepping import make_stepper
from ml_core.tokenizers import get_tokenizer

CONTEXT, WINDOW = 64, 16
ENGINES = ["torch", "numpy"] + (["onnx"] if onnx_stepper.available() else [])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The same weights saved three ways: trained on 16-token windows, on the whole 64,
    and with no recipe on the card (an older bundle)."""
    tokenizer = get_tokenizer("remi")
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                        num_layers=2, num_heads=2, ff_size=64, context=CONTEXT,
                        dropout=0.0).eval()
    folder = tmp_path_factory.mktemp("windows")
    cards = {"short": {"recipe": {"window": WINDOW}}, "whole": {"recipe": {"window": CONTEXT}},
             "old": {"steps": 1}}
    return {name: bundle.save(folder / name, model, tokenizer.to_dict(), name=name,
                              training=training)
            for name, training in cards.items()}, tokenizer.vocab_size


def test_the_card_s_window_limits_the_context(saved) -> None:
    folders, _ = saved
    assert bundle.load(folders["short"]).model.max_context == WINDOW
    assert bundle.load(folders["whole"]).model.max_context == CONTEXT
    assert bundle.load(folders["old"]).model.max_context == CONTEXT
    assert bundle.load(folders["short"]).model.config.context == CONTEXT   # weights unchanged


def _forward_last(model, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids]))
    return logits[0, -1].float().numpy()


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_reads_at_most_the_trained_window(saved, engine: str) -> None:
    folders, vocab = saved
    model = bundle.load(folders["short"]).model
    rng = np.random.default_rng(1)
    history = [int(t) for t in rng.integers(0, vocab, 40)]
    stepper = make_stepper(model, torch.device("cpu"), engine)
    assert stepper.engine == engine
    tolerance = 2e-3 if engine == "onnx" else 1e-4
    # the prompt: only its last 16 tokens are read
    np.testing.assert_allclose(stepper.start([history])[0], _forward_last(model, history[-WINDOW:]),
                               atol=tolerance)
    assert not np.allclose(_forward_last(model, history[-WINDOW:]),
                           _forward_last(model, history[-2 * WINDOW:]), atol=tolerance)
    # 30 steps: the window slides and the stepper never holds more than 16 tokens (a
    # NumPy / ONNX slide keeps the cached keys of the last 8, so after one its
    # predictions are the model's over those 8 read with what they had already read)
    held_counts = []
    for token in rng.integers(0, vocab, 30):
        history.append(int(token))
        logits = stepper.step([int(token)], [history])[0]
        held_counts.append(stepper.used if engine == "torch" else stepper.length)
        assert np.isfinite(logits).all()
    assert max(held_counts) == WINDOW and min(held_counts) >= WINDOW // 2


def test_a_model_trained_on_its_whole_context_reads_all_of_it(saved) -> None:
    folders, vocab = saved
    model = bundle.load(folders["whole"]).model
    history = [int(t) for t in np.random.default_rng(2).integers(0, vocab, 40)]
    stepper = make_stepper(model, torch.device("cpu"), "numpy")
    np.testing.assert_allclose(stepper.start([history])[0], _forward_last(model, history),
                               atol=1e-4)
    assert stepper.length == 40

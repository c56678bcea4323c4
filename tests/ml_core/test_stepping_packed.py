"""Issue 43: large feed-forward matrices step packed (fp16 or int8); the result stays the
model's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.models import build_model, stepping
from ml_core.models.stepping import NumpyTransformer, TorchStepper

CPU = torch.device("cpu")
VOCAB = 40

pytestmark = pytest.mark.skipif(not stepping.int8_available(),
                                reason="no int8 engine in this PyTorch")


def _model(activation: str = "gelu") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("transformer", vocab_size=VOCAB, d_model=32, num_layers=2,
                       num_heads=4, ff_size=256,
                       context=24, dropout=0.0, activation=activation).eval()


def _logits(stepper, prompt, tokens, rows=2):
    out = [stepper.start([list(prompt)] * rows)]
    history = [list(prompt) for _ in range(rows)]
    for token in tokens:
        for row in history:
            row.append(token)
        out.append(stepper.step([token] * rows, history))
    return np.stack(out)


@pytest.mark.parametrize(("packing", "activation", "tolerance"),
                         [("fp16", "gelu", 0.002), ("fp16", "relu", 0.002), ("int8", "gelu", 0.03)])
def test_large_feed_forward_steps_packed_close_to_the_float_model(monkeypatch, packing, activation,
                                                                  tolerance):
    # this model's 32 x 256 counts as large
    monkeypatch.setattr(stepping, "PACKED_MIN_WEIGHTS", 32 * 256)
    monkeypatch.setattr(stepping, "PACKED_WEIGHTS", packing)
    model = _model(activation)
    fast = NumpyTransformer(model, CPU)
    assert all(layer["ff_packed"] is not None for layer in fast.layers)
    rng = np.random.default_rng(1)
    # slides past 24
    prompt, tokens = rng.integers(0, VOCAB, 6).tolist(), rng.integers(0, VOCAB, 30).tolist()
    with torch.inference_mode():   # as generation steps them
        reference = _logits(TorchStepper(model, CPU), prompt, tokens)
        quantized = _logits(fast, prompt, tokens)
    spread = reference.max() - reference.min()
    assert np.abs(quantized - reference).max() < tolerance * spread
    assert np.abs(quantized - reference).max() > 0        # the packed product really ran
    assert (quantized.argmax(-1) == reference.argmax(-1)).mean() > 0.9


def test_small_feed_forward_stays_float32_and_exact():
    model = _model()   # 32 x 256 is far below PACKED_MIN_WEIGHTS
    fast = NumpyTransformer(model, CPU)
    assert all(layer["ff_packed"] is None for layer in fast.layers)
    rng = np.random.default_rng(2)
    prompt, tokens = rng.integers(0, VOCAB, 6).tolist(), rng.integers(0, VOCAB, 8).tolist()
    with torch.inference_mode():
        reference = _logits(TorchStepper(model, CPU), prompt, tokens)
        np.testing.assert_allclose(_logits(fast, prompt, tokens), reference, atol=1e-4)

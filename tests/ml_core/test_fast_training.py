"""The fast training path computes what the plain fp32 path computes.

- The fused attention (SDPA, one GEMM with the relative/RealFormer/mask bias, real-valued
  rotary) against the written-out reference forward: same logits and gradients in fp32.
- Every architecture under bf16 autocast against fp32: the same loss and gradients
  within bf16 tolerance.
- Precision and compile choices, fused optimizers, and the eager fallback when compiling
  fails inside a real training run.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ml_core import acceleration
from ml_core.acceleration import (
    autocast,
    has_recurrent_layers,
    make_optimizer,
    resolve_precision,
    should_compile,
)
from ml_core.losses import LossConfig, frame_loss, token_loss
from ml_core.models import build_model
from ml_core.models.reference import reference_forward
from tests.ml_core.test_models import FRAME_MODELS, TOKEN_MODELS, VOCAB

ATTENTION_LAYOUTS = {
    "paper (relative, RealFormer, post-LN)": dict(
        positions="relative", max_relative_distance=5, realformer=True, norm="post",
        final_norm=False, activation="relu"),
    "relative without RealFormer": dict(positions="relative", max_relative_distance=40),
    "RealFormer with rotary": dict(positions="rope", realformer=True),
    "default (rotary, pre-LN)": dict(positions="rope"),
    "absolute": dict(positions="absolute"),
}


def _transformer(**layout) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("transformer", vocab_size=VOCAB, d_model=32, num_layers=3, num_heads=4,
                       ff_size=48, context=32, dropout=0.0, **layout)


def _gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("layout", sorted(ATTENTION_LAYOUTS))
def test_fast_attention_matches_the_written_out_reference(layout: str) -> None:
    model = _transformer(**ATTENTION_LAYOUTS[layout]).train()
    tokens = torch.randint(0, VOCAB, (3, 17))  # longer than max distance 5: clamped distances
    targets = torch.randint(0, VOCAB, (3, 17))

    fast_logits, _ = model(tokens)
    token_loss(fast_logits, targets).backward()
    fast_grads = _gradients(model)
    model.zero_grad()
    reference_logits = reference_forward(model, tokens)
    token_loss(reference_logits, targets).backward()
    reference_grads = _gradients(model)

    torch.testing.assert_close(fast_logits, reference_logits, atol=2e-5, rtol=1e-4)
    assert fast_grads.keys() == reference_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], reference_grads[name], atol=2e-5, rtol=1e-3,
                                   msg=lambda message, name=name: f"{name}: {message}")


def test_relative_table_covers_keys_beyond_the_max_distance() -> None:
    """Distances past D share E[D]: its gradient collects every far pair."""
    model = _transformer(**ATTENTION_LAYOUTS["paper (relative, RealFormer, post-LN)"]).train()
    tokens = torch.randint(0, VOCAB, (2, 20))
    logits, _ = model(tokens)
    logits.sum().backward()
    table_grad = model.blocks[0].attention.relative.grad
    assert table_grad.shape == (6, 8)
    assert torch.all(table_grad.abs().sum(dim=1) > 0)  # every distance 0..5 was used


def _loss_and_grads(model: torch.nn.Module, precision: str, inputs: torch.Tensor,
                    targets: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    with autocast(torch.device("cpu"), precision):
        logits, _ = model(inputs)
    if model.kind == "token":
        loss = token_loss(logits, targets)
    else:
        loss = frame_loss(logits, targets, torch.ones(targets.shape[:2], dtype=torch.bool),
                          LossConfig("bce"))
    loss.backward()
    return float(loss.detach()), _gradients(model)


@pytest.mark.parametrize("arch", sorted(TOKEN_MODELS) + sorted(FRAME_MODELS))
def test_bf16_autocast_matches_fp32_for_every_architecture(arch: str) -> None:
    torch.manual_seed(0)
    hparams = {**TOKEN_MODELS, **FRAME_MODELS}[arch]
    model = (build_model(arch, **({"vocab_size": VOCAB} if arch in TOKEN_MODELS else {}),
                         **hparams).eval())
    if model.kind == "token":
        inputs = torch.randint(0, VOCAB, (4, 12))
        targets = torch.randint(0, VOCAB, (4, 12))
    else:
        inputs = (torch.rand(4, 12, *model.feature_shape) < 0.3).float()
        targets = (torch.rand(4, 12, *model.feature_shape) < 0.3).float()

    cpu = torch.device("cpu")
    if has_recurrent_layers(model) and not acceleration.has_bf16_matrix_units(cpu):
        # oneDNN has no bf16 LSTM/GRU here: the trainer keeps them fp32 and says so when asked
        assert resolve_precision("auto", cpu, recurrent=True) == "fp32"
        with pytest.raises(ValueError, match="no bf16 units"):
            resolve_precision("bf16", cpu, recurrent=True)
        return
    loss32, grads32 = _loss_and_grads(model, "fp32", inputs, targets)
    loss16, grads16 = _loss_and_grads(model, "bf16", inputs, targets)

    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32
    assert loss16 == pytest.approx(loss32, rel=2e-2)
    for name, grad in grads32.items():
        assert grads16[name].dtype == torch.float32
        if grad.norm() < 1e-6:
            continue
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(),
                                                       grads16[name].flatten(), dim=0)
        assert cosine > 0.98, (f"{arch} {name}: gradient direction differs in bf16 "
                               f"(cos {cosine:.3f})")


def test_precision_auto_picks_bf16_only_on_bf16_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(acceleration, "has_bf16_matrix_units", lambda device: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(acceleration, "has_bf16_matrix_units", lambda device: False)
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"  # asked for: honoured
    assert resolve_precision("auto", cpu, recurrent=True) == "fp32"  # LSTMs on a CPU stay fp32
    assert resolve_precision("auto", torch.device("mps")) == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", cpu)


def test_compile_auto_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(acceleration, "has_c_compiler", lambda: True)
    assert not should_compile("auto", cpu, 100)
    assert should_compile("auto", cpu, acceleration.CPU_COMPILE_MIN_STEPS)
    assert should_compile("on", cpu, 1) and not should_compile("off", cpu, 10**6)
    monkeypatch.setattr(acceleration, "has_c_compiler", lambda: False)
    assert not should_compile("auto", cpu, 10**6)


@pytest.mark.parametrize("name", ["adam", "adamw", "adamax", "rmsprop"])
def test_fast_optimizers_make_the_plain_update(name: str) -> None:
    torch.manual_seed(0)
    fast_model = torch.nn.Linear(8, 4)
    plain_model = torch.nn.Linear(8, 4)
    plain_model.load_state_dict(fast_model.state_dict())
    fast = make_optimizer(name, fast_model.parameters(), 1e-2, torch.device("cpu"))
    optimizers = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam,
                  "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}
    plain = optimizers[name](plain_model.parameters(), lr=1e-2, foreach=False)
    for step in range(3):
        inputs = torch.randn(5, 8, generator=torch.Generator().manual_seed(step))
        for model, optimizer in ((fast_model, fast), (plain_model, plain)):
            optimizer.zero_grad()
            model(inputs).pow(2).sum().backward()
            optimizer.step()
    for fast_p, plain_p in zip(fast_model.parameters(), plain_model.parameters(), strict=True):
        torch.testing.assert_close(fast_p, plain_p, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("sgd-ish", fast_model.parameters(), 1e-3)


def test_config_without_attention_dropout_loads_as_before() -> None:
    """Bundles saved before the field existed rebuild with no attention-weight dropout."""
    model = _transformer(positions="rope")
    stored = dataclasses.asdict(model.config)
    stored.pop("attention_dropout")
    rebuilt = build_model("transformer", **stored)
    assert rebuilt.config.attention_dropout == 0.0


# a CPU compile takes a minute or more; the fallback test covers the trainer's path
@pytest.mark.slow
def test_compiled_step_matches_the_eager_step() -> None:
    model = _transformer(**ATTENTION_LAYOUTS["paper (relative, RealFormer, post-LN)"]).train()
    tokens = torch.randint(0, VOCAB, (2, 16))
    targets = torch.randint(0, VOCAB, (2, 16))

    def loss_of(inputs: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
        logits, _ = model(inputs)
        return token_loss(logits, expected)

    model.eval()  # no dropout: both paths draw no random numbers
    eager = loss_of(tokens, targets)
    eager.backward()
    eager_grads = _gradients(model)
    model.zero_grad()
    compiled = torch.compile(loss_of, dynamic=False)(tokens, targets)
    compiled.backward()
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)
    for name, grad in _gradients(model).items():
        torch.testing.assert_close(grad, eager_grads[name], atol=1e-5, rtol=1e-4)

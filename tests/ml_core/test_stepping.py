"""The NumPy steppers compute what the torch models compute, for every variant, through
the sliding window and with several rows; the engine choice and its errors; the weight
cache; generation gives the same continuation with either engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.generation import GenerationError, GenerationOptions, continue_score
from ml_core.models import build_model
from ml_core.models.stepping import (
    NumpyLSTM,
    NumpyTransformer,
    SteppingError,
    TorchStepper,
    make_stepper,
)
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import get_tokenizer

CPU = torch.device("cpu")
VOCAB = 50

TRANSFORMER_VARIANTS = {
    "rope": {"positions": "rope"},
    "absolute": {"positions": "absolute"},
    "relative": {"positions": "relative", "max_relative_distance": 7},
    "relative-realformer": {"positions": "relative", "realformer": True,
                            "max_relative_distance": 40},
    "post-ln-relu": {"positions": "rope", "norm": "post", "activation": "relu"},
    "tied-no-final-norm": {"positions": "rope", "final_norm": False, "tie_embeddings": True},
}


def transformer(**variant) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=VOCAB, d_model=32, num_layers=2, num_heads=4,
                        ff_size=64, context=24, dropout=0.0, **variant).eval()
    with torch.no_grad():  # weights larger than the init's, so that every part matters
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    return model


def lstm() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model("lstm", vocab_size=VOCAB, embedding_dim=16, hidden_size=24, num_layers=2,
                       fc_sizes=[32, 16]).eval()


def largest_difference(model: torch.nn.Module, steps: int = 40, rows: int = 3,
                       engine: str = "numpy") -> float:
    """Feed the same random tokens to a fast stepper (`engine`) and the torch stepper; the
    largest logit gap."""
    rng = np.random.default_rng(2)
    prompt = rng.integers(0, VOCAB, 10).tolist()
    fast, reference = make_stepper(model, CPU, engine), TorchStepper(model, CPU)
    assert fast.engine == engine
    history = [list(prompt) for _ in range(rows)]
    with torch.inference_mode():
        worst = float(np.abs(fast.start([prompt] * rows) - reference.start([prompt] * rows)).max())
        for _ in range(steps):
            tokens = rng.integers(0, VOCAB, rows).tolist()
            for row, token in zip(history, tokens, strict=True):
                row.append(token)
            fast_logits = fast.step(tokens, history)
            reference_logits = reference.step(tokens, history)
            assert fast_logits.shape == (rows, VOCAB)
            worst = max(worst, float(np.abs(fast_logits - reference_logits).max()))
    return worst


@pytest.mark.parametrize("variant", TRANSFORMER_VARIANTS)
def test_numpy_transformer_matches_torch_through_the_sliding_window(variant):
    # context 24, prompt 10, 40 steps: the window slides (crop or re-encode) twice
    assert largest_difference(transformer(**TRANSFORMER_VARIANTS[variant])) < 1e-4


def test_numpy_lstm_matches_torch():
    assert largest_difference(lstm(), steps=30) < 1e-4


def test_making_a_stepper_leaves_the_model_untouched():
    model = transformer(positions="rope")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    make_stepper(model, CPU).start([[1, 2, 3]])
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name


def test_converted_weights_are_reused_until_the_parameters_change():
    model = transformer(positions="rope")
    first, second = NumpyTransformer(model, CPU), NumpyTransformer(model, CPU)
    assert first.layers is second.layers                       # converted once
    with torch.no_grad():
        model.head.bias.add_(1.0)                               # an in-place update
    third = NumpyTransformer(model, CPU)
    assert third.layers is not first.layers
    assert largest_difference(model, steps=5) < 1e-4            # ...and it is used


def test_engine_choice_and_its_errors():
    model = transformer(positions="rope")
    assert isinstance(make_stepper(model, CPU), NumpyTransformer)
    assert isinstance(make_stepper(lstm(), CPU, "numpy"), NumpyLSTM)
    assert isinstance(make_stepper(model, CPU, "torch"), TorchStepper)
    rnn = build_model("rnn", vocab_size=VOCAB)
    assert isinstance(make_stepper(rnn, CPU), TorchStepper)      # no NumPy twin: torch
    with pytest.raises(SteppingError, match="cannot step a RNNModel on a CPU"):
        make_stepper(rnn, CPU, "numpy")
    with pytest.raises(SteppingError, match="unknown engine 'fast'"):
        make_stepper(model, CPU, "fast")
    with pytest.raises(SteppingError, match="cannot step a TransformerModel on cuda"):
        make_stepper(model, torch.device("cuda"), "numpy")
    with pytest.raises(ValueError, match="token ids must be in 0..49"):
        stepper = make_stepper(model, CPU)
        stepper.start([[1, 2]])
        stepper.step([VOCAB], [[1, 2]])


def test_generation_options_refuse_an_unknown_engine():
    with pytest.raises(GenerationError, match="unknown engine 'gpu'"):
        GenerationOptions(engine="gpu").validated()


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_both_engines_continue_a_prompt_identically(arch):
    tokenizer = get_tokenizer("remi")
    torch.manual_seed(3)
    hparams = ({"d_model": 32, "num_layers": 2, "num_heads": 2, "ff_size": 64, "context": 64}
               if arch == "transformer" else
               {"embedding_dim": 16, "hidden_size": 32, "num_layers": 1, "fc_sizes": [32]})
    model = build_model(arch, vocab_size=tokenizer.vocab_size, **hparams).eval()
    bundle = type("Bundle", (), {"model": model, "tokenizer": tokenizer, "name": "t"})()
    prompt = Score([Track("p", 0, False, [Note(60 + 2 * i, i * 480, 480, 80) for i in range(6)])])
    results = [continue_score(bundle, prompt, GenerationOptions(bars=2, seed=5, variations=2,
                                                                max_tokens=80, engine=engine))
               for engine in ("torch", "numpy")]
    assert results[0].new_notes == results[1].new_notes
    assert any(results[1].new_notes)
    assert results[0].confidences[0] == pytest.approx(results[1].confidences[0], abs=1e-4)


@pytest.mark.parametrize("make", [lambda: transformer(), lstm], ids=["transformer", "lstm"])
def test_rows_with_their_own_contexts_start_as_each_context_alone(make):
    model = make()
    rng = np.random.default_rng(5)
    contexts = [rng.integers(0, VOCAB, 8).tolist() for _ in range(3)]
    with torch.inference_mode():
        for stepper in (make_stepper(model, CPU), TorchStepper(model, CPU)):
            together = stepper.start(contexts)
            alone = np.concatenate([stepper.start([context]) for context in contexts])
            assert together.shape == (3, VOCAB)
            assert np.abs(together - alone).max() < 1e-4
            assert np.abs(together[0] - together[1]).max() > 1e-3   # the rows differ
    with pytest.raises(ValueError, match="equal length"):
        make_stepper(model, CPU).start([[1, 2], [1, 2, 3]])


def blocks_against_steps(model: torch.nn.Module, engine: str, rows: int = 2) -> float:
    """Feed random tokens in blocks of 1 to 5 to a stepper's `extend` (`engine`) and one at a
    time to the torch stepper, through the sliding window; the largest logit gap after each
    block."""
    rng = np.random.default_rng(4)
    prompt = rng.integers(0, VOCAB, 10).tolist()
    fast, reference = make_stepper(model, CPU, engine), TorchStepper(model, CPU)
    history = [list(prompt) for _ in range(rows)]
    worst = 0.0
    with torch.inference_mode():
        fast.start([prompt] * rows)
        reference.start([prompt] * rows)
        for size in [1, 3, 5, 2, 4, 5, 5, 1, 4, 3, 5, 2, 4]:      # 43 tokens: slides twice
            block = rng.integers(0, VOCAB, (rows, size))
            for column in block.T:
                for row, token in zip(history, column.tolist(), strict=True):
                    row.append(token)
                expected = reference.step(column, history)
            got = fast.extend(block.tolist(), history)
            assert got.shape == (rows, VOCAB)
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst


@pytest.mark.parametrize("variant", TRANSFORMER_VARIANTS)
@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_block_reads_as_its_tokens_one_at_a_time(variant, engine):
    """`extend` (the grammar's forced tokens fed with the sampled one before them) gives the
    logits that stepping through the block gives, in every variant and across the slide."""
    assert blocks_against_steps(transformer(**TRANSFORMER_VARIANTS[variant]), engine) < 1e-4


def test_an_lstm_reads_a_block_as_its_tokens_one_at_a_time():
    assert blocks_against_steps(lstm(), "numpy") < 1e-4


def test_a_block_needs_a_token_per_row():
    stepper = make_stepper(transformer(), CPU, "numpy")
    with torch.inference_mode():
        stepper.start([[1, 2, 3]])
        with pytest.raises(ValueError, match="at least one token"):
            stepper.extend([[]], [[1, 2, 3]])

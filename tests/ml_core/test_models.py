"""Every architecture: registry, config errors, incremental stepping = full pass, batch
rows independent, frame sampling, and the presets' parameter counts."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ml_core.models import ModelConfigError, build_model, model_kind, model_names
from ml_core.models.presets import PRESETS, get_preset

VOCAB = 19
TOKEN_MODELS = {
    "lstm": dict(embedding_dim=8, hidden_size=16, num_layers=2, fc_sizes=[12, 10]),
    "transformer": dict(d_model=16, num_layers=2, num_heads=2, ff_size=24, context=32),
    "rnn": dict(embedding_dim=8, hidden_size=16, num_layers=2),
    "lstm_attention": dict(embedding_dim=8, hidden_size=16, attention_size=8),
    "bilstm_attention": dict(window=5, embedding_dim=8, bilstm_size=8, attention_size=4,
                             lstm_size=8, dense_size=8),
}
FRAME_MODELS = {
    "pianoroll_lstm": dict(embedding_dim=8, hidden_size=16, num_layers=2, fc_sizes=[8]),
    "gru_seq2seq": dict(hidden_size=16, classifier_size=8),
    "biaxial_lstm": dict(time_hidden_size=8, note_hidden_size=8),
}


def token_model(arch: str):
    torch.manual_seed(0)
    return build_model(arch, vocab_size=VOCAB, **TOKEN_MODELS[arch]).eval()


def frame_model(arch: str, **overrides):
    torch.manual_seed(0)
    return build_model(arch, **{**FRAME_MODELS[arch], **overrides}).eval()


def run_in_chunks(model, inputs: torch.Tensor, bounds: list[int],
                  extra=lambda start, end: {}) -> torch.Tensor:
    """Logits of feeding inputs[:, start:end] for consecutive chunks, carrying the state."""
    state, outputs, start = None, [], 0
    for end in bounds:
        logits, state = model(inputs[:, start:end], state, **extra(start, end))
        outputs.append(logits)
        start = end
    return torch.cat(outputs, dim=1)


def test_registry_lists_every_architecture() -> None:
    assert set(model_names()) == set(TOKEN_MODELS) | set(FRAME_MODELS)
    for arch in TOKEN_MODELS:
        assert model_kind(arch) == "token"
    for arch in FRAME_MODELS:
        assert model_kind(arch) == "frame"


@pytest.mark.parametrize("arch", sorted(TOKEN_MODELS))
def test_token_model_steps_like_the_full_pass(arch: str) -> None:
    model = token_model(arch)
    tokens = torch.randint(0, VOCAB, (3, 13))
    with torch.no_grad():
        full, _ = model(tokens)
        stepped = run_in_chunks(model, tokens, list(range(1, 14)))
        chunked = run_in_chunks(model, tokens, [4, 5, 11, 13])
    assert full.shape == (3, 13, VOCAB)
    torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunked, full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", sorted(TOKEN_MODELS))
def test_token_model_batch_rows_are_independent(arch: str) -> None:
    model = token_model(arch)
    tokens = torch.randint(0, VOCAB, (4, 9))
    with torch.no_grad():
        _, state = model(tokens[:, :5])
        batched, _ = model(tokens[:, 5:], state)
        _, alone_state = model(tokens[1:2, :5])
        alone, _ = model(tokens[1:2, 5:], alone_state)
        # select_state turns one encoded prompt into several rows
        repeated = model.select_state(alone_state, torch.tensor([0, 0]))
        twice, _ = model(tokens[[1, 1], 5:], repeated)
    torch.testing.assert_close(batched[1:2], alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(twice[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(twice[1], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", sorted(TOKEN_MODELS))
def test_config_round_trips_through_build_model(arch: str) -> None:
    model = token_model(arch)
    config = dataclasses.asdict(model.config)
    rebuilt = build_model(model.arch, **config)
    assert rebuilt.config == model.config
    assert rebuilt.parameter_count() == model.parameter_count()
    assert model.max_context is None or model.max_context > 0


def test_bad_architecture_and_hparams_give_clear_errors() -> None:
    cases = [
        (("nope",), {}, "unknown model architecture 'nope'"),
        (("lstm",), {}, "needs hyper-parameter"),
        (("lstm",), {"vocab_size": 10, "hiden_size": 3}, "unknown hyper-parameter.*hiden_size"),
        (("lstm",), {"vocab_size": 0}, "vocab_size must be at least 1"),
        (("lstm",), {"vocab_size": "10"}, "vocab_size must be an integer"),
        (("lstm",), {"vocab_size": 10, "lstm_dropout": 1.5}, r"lstm_dropout must be in \[0, 1\)"),
        (("lstm",), {"vocab_size": 10, "fc_sizes": [4, 0]}, "fc_sizes must all be at least 1"),
        (("transformer",), {"vocab_size": 10, "d_model": 30, "num_heads": 4}, "divisible"),
        (("transformer",), {"vocab_size": 10, "positions": "sinusoid"}, "positions must be one of"),
        (("transformer",), {"vocab_size": 10, "realformer": "yes"},
         "realformer must be true or false"),
    ]
    for args, hparams, message in cases:
        with pytest.raises(ModelConfigError, match=message) as caught:
            build_model(*args, **hparams)
        assert "\n" not in str(caught.value)
    assert issubclass(ModelConfigError, ValueError)


def test_token_input_of_the_wrong_shape_is_refused() -> None:
    model = token_model("lstm")
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        model(torch.zeros(1, 5))


def _frames(model, batch: int, length: int) -> torch.Tensor:
    torch.manual_seed(1)
    return (torch.rand(batch, length, *model.feature_shape) < 0.3).float()


@pytest.mark.parametrize("arch", sorted(FRAME_MODELS))
def test_frame_model_steps_like_the_full_pass(arch: str) -> None:
    model = frame_model(arch)
    frames = _frames(model, 2, 8)

    def extra(start: int, end: int) -> dict:
        if arch != "biaxial_lstm":
            return {}
        # the note axis conditions on the next frame's lower notes (silence after the end)
        following = torch.cat([frames[:, start + 1:end + 1],
                               torch.zeros_like(frames[:, :1])], dim=1)
        return {"next_frames": following[:, :end - start]}

    with torch.no_grad():
        full, _ = model(frames)
        stepped = run_in_chunks(model, frames, list(range(1, 9)), extra)
        chunked = run_in_chunks(model, frames, [3, 4, 8], extra)
    assert full.shape == (2, 8, *model.feature_shape)
    torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunked, full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", sorted(FRAME_MODELS))
def test_frame_model_sampling_is_seeded_and_batch_independent(arch: str) -> None:
    model = frame_model(arch)
    frames = _frames(model, 3, 6)
    with torch.no_grad():
        _, state = model(frames)
        first, next_state = model.sample_next(state, frames[:, -1], 1.0,
                                              torch.Generator().manual_seed(7))
        again, _ = model.sample_next(model.select_state(state, torch.arange(3)), frames[:, -1],
                                     1.0, torch.Generator().manual_seed(7))
        greedy, _ = model.sample_next(state, frames[:, -1], 0.0, None)
        # the state after sampling has read the sampled frame: same as feeding it
        _, fed = model(torch.cat([frames, first.unsqueeze(1)], dim=1))
        probe = torch.zeros_like(frames[:, :1])
        after_sample, _ = model(probe, next_state)
        after_feed, _ = model(probe, fed)
        # batch rows are independent: row 1 alone gives the same greedy frame
        _, state_one = model(frames[1:2])
        greedy_one, _ = model.sample_next(state_one, frames[1:2, -1], 0.0, None)
    assert first.shape == (3, *model.feature_shape)
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(first, again)
    torch.testing.assert_close(after_sample, after_feed, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(greedy[1:2], greedy_one)


def test_greedy_pianoroll_frame_is_thresholded_logits() -> None:
    model = frame_model("pianoroll_lstm")
    frames = _frames(model, 2, 5)
    with torch.no_grad():
        logits, state = model(frames)
        greedy, _ = model.sample_next(state, frames[:, -1], 0.0, None)
    torch.testing.assert_close(greedy, (logits[:, -1] > 0).float())


def test_pianoroll_models_take_an_onset_channel() -> None:
    for arch in ("pianoroll_lstm", "gru_seq2seq"):
        model = frame_model(arch, channels=2)
        assert model.feature_shape == (88, 2)
        frames = _frames(model, 2, 4)
        with torch.no_grad():
            full, _ = model(frames)
            stepped = run_in_chunks(model, frames, [1, 2, 3, 4])
        torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


def test_biaxial_articulate_only_on_played_notes() -> None:
    model = frame_model("biaxial_lstm")
    with torch.no_grad():
        model.output.bias.copy_(torch.tensor([0.0, 5.0]))  # articulate very likely
        _, state = model(_frames(model, 2, 3))
        frame, _ = model.sample_next(state, torch.zeros(2, 78, 2), 1.0,
                                     torch.Generator().manual_seed(0))
    play, articulate = frame[..., 0], frame[..., 1]
    assert torch.all(articulate <= play)
    assert articulate.sum() > 0


def test_frame_input_of_the_wrong_shape_is_refused() -> None:
    model = frame_model("gru_seq2seq")
    with pytest.raises(ValueError, match="frames must have shape"):
        model(torch.zeros(1, 4, 87))


# ------------------------------------------------------------------------ presets
def test_paper_presets_have_the_papers_parameter_counts() -> None:
    lstm = get_preset("lstm-symbolic-4.4m").build(vocab_size=153)
    transformer = get_preset("transformer-symbolic-4.3m").build(vocab_size=153)
    assert lstm.parameter_count() == 4_426_457
    assert transformer.parameter_count() == 4_326_041


def test_every_preset_builds_with_its_recipe() -> None:
    with torch.device("meta"):  # no memory for the 150M-parameter Deep Dive transformer
        for name, preset in PRESETS.items():
            model = preset.build(vocab_size=300 if preset.kind == "token" else None)
            assert model.arch == preset.arch
            assert preset.optimizer in ("adamax", "adam", "adamw", "rmsprop")
            assert preset.schedule in ("constant", "exp-decay")
            assert 0 < preset.epoch_fraction <= 1 and preset.window > 1 and preset.lr > 0
            if preset.expected_parameters is not None:
                counted = preset.build(vocab_size=preset.expected_vocab_size).parameter_count()
                assert counted == preset.expected_parameters, name
    default = PRESETS["default"].build(vocab_size=300)
    assert 2_000_000 <= default.parameter_count() <= 4_000_000
    assert default.max_context == 512


def test_unknown_preset_and_missing_vocab_are_clear_errors() -> None:
    with pytest.raises(ModelConfigError, match="unknown preset 'gpt'.*default"):
        get_preset("gpt")
    with pytest.raises(ModelConfigError, match="vocab_size"):
        get_preset("default").build()

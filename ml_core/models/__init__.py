"""Model registry: every architecture of the research behind one `build_model` call.

    model = build_model("transformer", vocab_size=153, positions="relative")
    logits, state = model(tokens)              # full pass (training)
    logits, state = model(next_token, state)   # one incremental step (generation)
    build_model(model.arch, **dataclasses.asdict(model.config))  # -> the same model

Token models: lstm, transformer, rnn, lstm_attention, bilstm_attention.
Frame models (piano rolls): pianoroll_lstm, gru_seq2seq, biaxial_lstm.
"""

from __future__ import annotations

import importlib
from typing import Any

from ml_core.models.base import (
    FrameModel,
    ModelConfig,
    ModelConfigError,
    SequenceModel,
    count_parameters,
    make_config,
)

# registry name -> (module, class name); modules are imported on first use
_ARCHITECTURES: dict[str, tuple[str, str]] = {
    "lstm": ("ml_core.models.lstm", "LSTMModel"),
    "transformer": ("ml_core.models.transformer", "TransformerModel"),
    "rnn": ("ml_core.models.rnn", "RNNModel"),
    "lstm_attention": ("ml_core.models.lstm_attention", "LSTMAttentionModel"),
    "bilstm_attention": ("ml_core.models.bilstm_attention", "BiLSTMAttentionModel"),
    "pianoroll_lstm": ("ml_core.models.pianoroll_lstm", "PianorollLSTMModel"),
    "gru_seq2seq": ("ml_core.models.gru_seq2seq", "GRUSeq2SeqModel"),
    "biaxial_lstm": ("ml_core.models.biaxial_lstm", "BiaxialLSTMModel"),
}


def model_names() -> list[str]:
    return sorted(_ARCHITECTURES)


def model_class(arch: str) -> type[SequenceModel]:
    if not isinstance(arch, str) or arch not in _ARCHITECTURES:
        raise ModelConfigError(
            f"unknown model architecture '{arch}' (choose from {', '.join(model_names())})")
    module_name, class_name = _ARCHITECTURES[arch]
    return getattr(importlib.import_module(module_name), class_name)


def model_kind(arch: str) -> str:
    """'token' or 'frame'."""
    return model_class(arch).kind


def build_config(arch: str, **hparams: Any) -> ModelConfig:
    """The validated config of `arch` (no weights are allocated)."""
    return make_config(model_class(arch).config_class, arch, hparams)


def build_model(arch: str, **hparams: Any) -> SequenceModel:
    """A freshly initialised model; ModelConfigError for an unknown arch or bad hparams."""
    cls = model_class(arch)
    return cls(build_config(arch, **hparams))


__all__ = ["FrameModel", "ModelConfig", "ModelConfigError", "SequenceModel", "build_config",
           "build_model", "count_parameters", "model_class", "model_kind", "model_names"]

"""What every model shares: its config dataclass, the stepping contract, small layers.

Token models (`kind == "token"`) map token ids (B, T) to next-token logits (B, T, V);
frame models (`kind == "frame"`) map frames (B, T, *feature_shape) to per-key logits of
the next frame. Both step incrementally: `forward(x, state)` continues from `state`
(None = from scratch) and returns the state after the last input, so generating N steps
costs N single-step calls, and stepping gives the same logits as one full pass.

Each model takes a small frozen config dataclass and nothing else; `asdict(model.config)`
plus `model.arch` is everything a bundle needs to rebuild it with `build_model`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


class ModelConfigError(ValueError):
    """An unknown architecture or hyper-parameters a model cannot be built with."""


_PLAIN_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class ModelConfig:
    """Base of every model's config: checks field types (JSON gives lists for tuples,
    ints for floats) and calls `validate()` for the ranges each model cares about."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            object.__setattr__(self, field.name, _coerce(field.name, str(field.type), value))
        self.validate()

    def validate(self) -> None:
        """Raise ModelConfigError for values out of range (subclasses extend)."""

    # helpers for validate()
    def _positive(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 1:
                raise ModelConfigError(f"{name} must be at least 1, got {getattr(self, name)}")

    def _positive_items(self, *names: str) -> None:
        for name in names:
            if any(size < 1 for size in getattr(self, name)):
                raise ModelConfigError(
                    f"{name} must all be at least 1, got {list(getattr(self, name))}")

    def _probability(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ModelConfigError(f"{name} must be in [0, 1), got {value}")

    def _choice(self, name: str, choices: Sequence[str]) -> None:
        if getattr(self, name) not in choices:
            raise ModelConfigError(
                f"{name} must be one of {', '.join(choices)}, got '{getattr(self, name)}'")


def _coerce(name: str, annotation: str, value: Any) -> Any:
    """The value converted to the field's declared type, or ModelConfigError."""
    annotation = annotation.replace(" ", "")
    if annotation.endswith("|None"):
        return None if value is None else _coerce(name, annotation[:-5], value)
    if annotation.startswith("tuple[int"):
        if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
            raise ModelConfigError(f"{name} must be a list of integers, got {value!r}")
        return tuple(int(v) for v in value)
    expected = _PLAIN_TYPES.get(annotation)
    if expected is int and not _is_int(value):
        raise ModelConfigError(f"{name} must be an integer, got {value!r}")
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ModelConfigError(f"{name} must be true or false, got {value!r}")
    if expected is str and not isinstance(value, str):
        raise ModelConfigError(f"{name} must be a string, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def make_config(config_class: type[ModelConfig], arch: str, hparams: dict[str, Any]) -> ModelConfig:
    """`config_class(**hparams)` with unknown or missing names reported as ModelConfigError."""
    known = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ModelConfigError(
            f"unknown hyper-parameter(s) for {arch}: {', '.join(unknown)} (known: "
            f"{', '.join(known)})")
    missing = [f.name for f in dataclasses.fields(config_class)
               if f.name not in hparams and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ModelConfigError(f"{arch} needs hyper-parameter(s): {', '.join(missing)}")
    return config_class(**hparams)


class SequenceModel(nn.Module):
    """Base of every model. Subclasses set `arch`, `kind`, `config_class` and implement
    `forward(x, state=None) -> (logits, state)` and `select_state`."""

    arch: ClassVar[str]
    kind: ClassVar[str]
    config_class: ClassVar[type[ModelConfig]]

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ModelConfigError(f"{self.arch} needs a {self.config_class.__name__}")
        self.config = config

    @property
    def max_context(self) -> int | None:
        """How many positions the model can attend to (None = unbounded, e.g. RNNs)."""
        return None

    @property
    def context_window(self) -> int | None:
        """W for a model that predicts each item from only the W ids before it, its state
        being those ids (the BiLSTM-attention word model); None for every other model.
        Scorers then give each window the ids that precede it in its piece (`window_state`),
        so no window pretends its piece starts where the window does, and the trainer trains
        it as its paper did: one target per window, the window's last."""
        return None

    def window_state(self, preceding: torch.Tensor) -> Any:
        """The state holding the W - 1 ids `preceding` (B, W - 1), -1 where the piece had not
        begun (only for models with a `context_window`)."""
        raise NotImplementedError(f"{self.arch} has no fixed context window")

    def crop_state(self, state: Any, keep: int) -> Any:
        """The state limited to the last `keep` positions, or None when the model must
        re-encode its window from scratch. Recurrent states are returned unchanged."""
        return state

    def select_state(self, state: Any, rows: torch.Tensor) -> Any:
        """A new state made of the batch rows `rows` (LongTensor; repeats allowed), e.g. to
        turn a prompt encoded once into B variations. The result shares nothing mutable
        with `state`."""
        raise NotImplementedError

    def parameter_count(self) -> int:
        return count_parameters(self)


def preceding_ids(model: nn.Module) -> int:
    """How many ids before each window a scorer must give `model`: W - 1, or 0."""
    return (getattr(model, "context_window", None) or 1) - 1


def window_logits(model: nn.Module, inputs: torch.Tensor, preceding: Any = None) -> torch.Tensor:
    """The logits of windows `inputs` (B, T, ...): a model with a `context_window` reads the
    ids before each window too (`preceding`, from a `WindowSampler` built with them)."""
    base = getattr(model, "module", model)          # under DistributedDataParallel
    if preceding is None or not getattr(base, "context_window", None):
        return model(inputs)[0]
    preceding = torch.as_tensor(preceding, device=inputs.device)
    return model(inputs, base.window_state(preceding))[0]


class FrameModel(SequenceModel):
    """Base of frame models: sigmoid per key, generated by sampling each key.
    `feature_shape` is the shape of one frame, e.g. (88,) or (78, 2)."""

    kind: ClassVar[str] = "frame"
    feature_shape: tuple[int, ...]

    def sample_next(self, state: Any, last_frame: torch.Tensor, temperature: float = 1.0,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, Any]:
        """Sample the frame that follows `last_frame` and return (frame, state after it).

        `state` is the one returned by the call that read `last_frame` (for instance
        `model(prompt_frames)`), so it already holds the prediction for the next frame;
        with state None, `last_frame` (B, *feature_shape) is read first. The sampled frame
        (B, *feature_shape, float 0/1) is read into the returned state, so the loop is
        `frame, state = model.sample_next(state, frame, t, generator)`."""
        if state is None:
            _, state = self(last_frame.unsqueeze(1), None)
        frame = self._sample_from_state(state, temperature, generator)
        _, state = self(frame.unsqueeze(1), state)
        return frame, state

    def _sample_from_state(self, state: Any, temperature: float,
                           generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_tokens(tokens: torch.Tensor, vocab_size: int) -> None:
    """Clear errors for token input of the wrong shape/type (ids are not range-checked:
    that would cost a device sync every step; nn.Embedding reports bad ids itself)."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must have shape (batch, time), got {tuple(tokens.shape)}")
    if tokens.dtype not in (torch.long, torch.int, torch.int32):
        raise ValueError(f"tokens must be integer ids, got {tokens.dtype}")


def frame_shape(keys: int, channels: int) -> tuple[int, ...]:
    """(keys,) for one channel per key, else (keys, channels)."""
    return (keys,) if channels == 1 else (keys, channels)


def check_frames(frames: torch.Tensor, feature_shape: tuple[int, ...]) -> None:
    if frames.dim() != 2 + len(feature_shape) or tuple(frames.shape[2:]) != feature_shape:
        raise ValueError(
            f"frames must have shape (batch, time, {', '.join(map(str, feature_shape))}), "
            f"got {tuple(frames.shape)}")


class FeedForwardHead(nn.Module):
    """Linear layers of `sizes`, each followed by (LayerNorm) + ReLU + dropout, then a
    final linear layer to `out_size` logits."""

    def __init__(self, in_size: int, sizes: Sequence[int], out_size: int, *,
                 dropout: float, layer_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for size in sizes:
            layers.append(nn.Linear(in_size, size))
            if layer_norm:
                layers.append(nn.LayerNorm(size))
            layers.extend([nn.ReLU(), nn.Dropout(dropout)])
            in_size = size
        layers.append(nn.Linear(in_size, out_size))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def select_rows(tensor: torch.Tensor, rows: torch.Tensor, dim: int) -> torch.Tensor:
    """`tensor` restricted to batch rows `rows` along `dim` (always a copy)."""
    return tensor.index_select(dim, rows.to(tensor.device))

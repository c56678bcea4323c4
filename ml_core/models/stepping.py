"""Stepping a token model one token at a time, the hot loop of generation.

`make_stepper(model, device)` gives an object with two calls:

    logits = stepper.start(contexts)            # (rows, V) float32 NumPy after each row's
                                                # context (one list of ids per row)
    logits = stepper.step(tokens, history)      # tokens: one id per row; history: every
                                                # row's ids so far (for a re-encode)
    logits = stepper.extend(block, history)     # block: several ids per row (as many in
                                                # each), fed in order; logits after the last

`extend` is how the sampling loop feeds tokens the grammar forced (a bar's controls, which
need no prediction) together with the sampled token before them. The Transformers read such
a block in one pass, all its positions as rows of the same products (with causal attention
among them), which costs less than a step each; the others step through it.

Rows that share one context (the variations of a Continue) read it once; rows with their
own contexts of equal length (evaluation's prompts) are read as one batch.

`TorchStepper` works for every token model on every device: it calls the model's own
incremental `forward(tokens, state)` and slides the window when the context is full
(cropping the KV cache, or re-encoding the last half-window for absolute positions).

On a CPU, a float32 Transformer steps with ONNX Runtime's 8-bit kernels where the runtime
is installed and the CPU multiplies int8 natively (`ml_core.models.onnx_stepper`, engine
"onnx"; `auto` picks it by that rule); otherwise, and for the LSTM, in NumPy
(`NumpyTransformer`, `NumpyLSTM`). A batch-1 step of the default Transformer is ~40 small
matrix-vector products and element-wise operations: torch spends several microseconds of dispatch on
each, NumPy about one, which makes the NumPy step ~2.5x faster on the same weights (see
bench/generate.py). Reading the prompt (and a re-encode) still runs the torch model, whose
full-sequence forward is efficient; its state is copied into NumPy buffers. The NumPy
step computes the same function as the torch one in float32 (logits agree to ~1e-5; the
tests check every position scheme, RealFormer, post-LN and ReLU).

Large feed-forward matrices (`PACKED_MIN_WEIGHTS`) are stored packed at half the bytes,
fp16 (PyTorch's fbgemm `linear_dynamic_fp16`: products in float32, logits within ~1e-3)
or, with `PACKED_WEIGHTS = "int8"`, int8 per output channel with activations quantized
per step. A one-row product streams the whole matrix from memory, so fewer bytes pay once
the matrix is large. Measured on a loaded 2-core AMD EPYC (AVX-512 BF16, one thread, CPU
seconds), a 256 x 2816 product with the weights out of cache: float32 NumPy 180-197 us,
fp16 106-131, int8 117-120; in a step of the 2816-wide model the feed-forward blocks cost
640 us in fp16 (536 in int8; float32 about 1,400) against 322 us for `default`'s 1024-wide
ones in float32; at 256 x 1024 packing gave nothing (int8 70 against 64 us), so the 2.5M
models stay float32.
"""

from __future__ import annotations

import functools
import math
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ml_core.options import ENGINES

LAYER_NORM_EPS = 1e-5
PACKED_MIN_WEIGHTS = 512 * 1024  # feed-forward matrices from this many weights step packed
PACKED_WEIGHTS = "fp16"          # how: fp16 weights (products in float32) or int8


class SteppingError(ValueError):
    """An engine that cannot step this model on this device."""


def make_stepper(model: nn.Module, device: torch.device, engine: str = "auto") -> Any:
    """The fastest stepper for `model` on `device` ("auto"), or the one asked for."""
    if engine not in ENGINES:
        raise SteppingError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    numpy_class = _numpy_class(model)
    on_cpu = torch.device(device).type == "cpu"
    if engine in ("auto", "onnx") and numpy_class is NumpyTransformer and on_cpu:
        from ml_core.models import onnx_stepper

        if onnx_stepper.preferred() or (engine == "onnx" and onnx_stepper.available()):
            try:
                return onnx_stepper.OnnxTransformer(model, device)
            except SteppingError:   # a runtime that cannot run the graphs: NumPy, unless asked
                if engine == "onnx":
                    raise
    if engine == "onnx":
        why = ("needs the onnxruntime package" if numpy_class is NumpyTransformer
               and on_cpu else "steps only a float32 Transformer on a CPU")
        raise SteppingError(f"the ONNX Runtime engine {why}")
    if engine == "numpy":
        if numpy_class is None or not on_cpu:
            where = "on a CPU" if on_cpu else f"on {torch.device(device).type}"
            raise SteppingError(f"the NumPy engine cannot step a {type(model).__name__} {where}")
        return numpy_class(model, device)
    if engine == "auto" and numpy_class is not None and on_cpu:
        return numpy_class(model, device)
    return TorchStepper(model, device)


def _numpy_class(model: nn.Module) -> type | None:
    from ml_core.models.lstm import LSTMModel
    from ml_core.models.transformer import TransformerModel

    if any(p.dtype != torch.float32 for p in model.parameters()):
        return None
    if type(model) is TransformerModel:
        return NumpyTransformer
    if type(model) is LSTMModel and NumpyLSTM.supports(model):
        return NumpyLSTM
    return None


# ----------------------------------------------------------------------------- torch
class TorchStepper:
    """Any token model, any device: the model's own incremental forward."""

    engine = "torch"

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = torch.device(device)
        self.limit = getattr(model, "max_context", None)
        self.state: Any = None
        self.used = 0

    def start(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        feeds, shared = _feeds(contexts, self.limit)
        logits, state = self.model(torch.tensor(feeds, dtype=torch.long, device=self.device), None)
        rows = len(contexts)
        if shared:
            state = self.model.select_state(state, torch.zeros(rows, dtype=torch.long,
                                                               device=self.device))
        self.state = state
        self.used = len(feeds[0])
        return _to_numpy(logits[:, -1, :]).repeat(rows if shared else 1, axis=0)

    def step(self, tokens: Sequence[int], history: Sequence[Sequence[int]]) -> np.ndarray:
        tokens_tensor = torch.tensor(list(tokens), dtype=torch.long, device=self.device).view(-1, 1)
        if self.limit is not None and self.used + 1 > self.limit:
            keep = max(1, self.limit // 2)
            cropped = self.model.crop_state(self.state, keep)
            if cropped is not None:
                self.state, self.used = cropped, keep
            else:  # absolute positions: re-encode the last `keep` tokens from scratch
                window = _window(history, keep, self.device)
                _, self.state = self.model(window[:, :-1], None)
                self.used = keep - 1
                tokens_tensor = window[:, -1:]
        logits, self.state = self.model(tokens_tensor, self.state)
        self.used += 1
        return _to_numpy(logits[:, -1, :])

    def extend(self, block: Sequence[Sequence[int]], history: Sequence[Sequence[int]]
               ) -> np.ndarray:
        return _extend_by_steps(self, block, history)


def _extend_by_steps(stepper: Any, block: Sequence[Sequence[int]],
                     history: Sequence[Sequence[int]]) -> np.ndarray:
    """`extend` as one `step` per column of `block` (each row's history cut to end at the
    token it feeds, as a step's history does)."""
    columns = np.asarray(block, dtype=np.int64)
    count = columns.shape[1]
    if count == 0:
        raise ValueError("extend needs at least one token per row")
    for column in range(count):
        later = count - 1 - column
        logits = stepper.step(columns[:, column],
                              [row[:len(row) - later] if later else row for row in history])
    return logits


def _feeds(contexts: Sequence[Sequence[int]], limit: int | None) -> tuple[list[list[int]], bool]:
    """The ids to read first (the last `limit` of each context) and whether every row shares
    one context (then only that one is returned, to be read once)."""
    if not contexts:
        raise ValueError("a stepper starts from at least one context")
    first = contexts[0]
    shared = all(context is first or context == first for context in contexts)
    feeds = [list(context[-limit:]) if limit is not None else list(context)
             for context in (contexts[:1] if shared else contexts)]
    if len({len(feed) for feed in feeds}) != 1 or not feeds[0]:
        raise ValueError("the rows' contexts must be non-empty and of equal length")
    return feeds, shared


def _to_numpy(logits: torch.Tensor) -> np.ndarray:
    return logits.detach().float().cpu().numpy()


def _window(history: Sequence[Sequence[int]], keep: int, device: torch.device) -> torch.Tensor:
    """The last `keep` tokens of each row (rows that are shorter are left-padded with their
    first token), as a (rows, keep) tensor."""
    rows = [list(row[-keep:]) for row in history]
    rows = [[row[0]] * (keep - len(row)) + row for row in rows]
    return torch.tensor(rows, dtype=torch.long, device=device)


# ----------------------------------------------------------------------------- numpy helpers
@functools.lru_cache(maxsize=16)
def _causal(count: int) -> np.ndarray:
    """(count, count) additions that hide a block's later positions from its earlier ones."""
    mask = np.zeros((count, count), np.float32)
    mask[np.triu_indices(count, 1)] = -np.inf
    mask.flags.writeable = False           # shared by every caller (cached)
    return mask


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A float32 NumPy copy (never a view: the stepper may scale it in place)."""
    return np.array(tensor.detach().cpu().float().numpy(), dtype=np.float32, order="C", copy=True)


def _linear(module: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    """(weight as (in, out) for `x @ W`, bias or zeros). Call `_laid_out` once the weight
    is final."""
    weight = _array(module.weight).T.copy()
    bias = _array(module.bias) if module.bias is not None else np.zeros(weight.shape[1], np.float32)
    return weight, bias


def _laid_out(linear: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The (in, out) weight stored with its longer axis contiguous (a transposed view when
    that is the input axis). A one-row product streams the whole matrix from memory, and
    BLAS reads long contiguous rows fastest: measured with cold caches, 1024 -> 256 takes
    30-33 us from (out, in) storage and 44 us from (in, out); 256 -> 1024 is the reverse."""
    weight, bias = linear
    if weight.shape[0] > weight.shape[1]:
        return np.ascontiguousarray(weight.T).T, bias
    return np.ascontiguousarray(weight), bias


def _layer_norm(x: np.ndarray, weight: np.ndarray | None = None,
                bias: np.ndarray | None = None) -> np.ndarray:
    """LayerNorm over the last axis of (B, n) `x` (ufunc reductions: `mean()` and
    `einsum` cost several times more at this size)."""
    average = _averager(x.shape[-1])
    centred = x - x @ average
    spread = np.square(centred) @ average
    spread += LAYER_NORM_EPS
    np.sqrt(spread, out=spread)
    centred /= spread
    if weight is not None:
        centred *= weight
    if bias is not None:
        centred += bias
    return centred


@functools.lru_cache(maxsize=8)
def _averager(size: int) -> np.ndarray:
    """(size, 1) of 1/size: a row mean as one BLAS call, cheaper than a ufunc reduction."""
    return np.full((size, 1), 1.0 / size, np.float32)


def _folded(norm: tuple[np.ndarray | None, np.ndarray | None],
            linear: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A LayerNorm's affine part folded into the linear layer that reads its output:
    (x_hat * g + b) @ W + c = x_hat @ (g[:, None] * W) + (b @ W + c)."""
    gain, shift = norm
    weight, bias = linear
    if gain is not None:
        weight = np.ascontiguousarray(gain[:, None] * weight)
    if shift is not None:
        bias = bias + shift @ linear[0]
    return weight, bias.astype(np.float32)


def _norm_parameters(module: nn.LayerNorm | None) -> tuple[np.ndarray, np.ndarray] | None:
    if module is None:
        return None
    if module.eps != LAYER_NORM_EPS or len(module.normalized_shape) != 1:
        raise SteppingError("the NumPy engine supports LayerNorm over the last axis with eps 1e-5")
    weight = _array(module.weight) if module.weight is not None else None
    bias = _array(module.bias) if module.bias is not None else None
    return weight, bias


_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, the function the model was trained with, in place on `x`; erf by
    Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). In the step loop this beats calling
    torch's kernel on the same memory (measured: 1072 vs 957 tokens/s)."""
    z = np.abs(x)
    z *= _SQRT_HALF
    t = 0.3275911 * z
    t += 1.0
    np.reciprocal(t, out=t)
    poly = 1.061405429 * t
    poly -= 1.453152027
    poly *= t
    poly += 1.421413741
    poly *= t
    poly -= 0.284496736
    poly *= t
    poly += 0.254829592
    poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    np.subtract(1.0, poly, out=poly)                   # erf(|x| / sqrt 2)
    np.copysign(poly, x, out=poly)
    poly += 1.0
    x *= 0.5
    x *= poly
    return x


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def int8_available() -> bool:
    """Whether this PyTorch build has the packed fbgemm linears (int8 and fp16 weights)."""
    engines = getattr(torch.backends.quantized, "supported_engines", [])
    return (any(name in engines for name in ("x86", "fbgemm"))
            and hasattr(torch.ops.quantized, "linear_dynamic")
            and hasattr(torch.ops.quantized, "linear_dynamic_fp16"))


def _fp16_linear(linear: tuple[np.ndarray, np.ndarray]) -> Any:
    """An (in, out) weight and its bias packed for `torch.ops.quantized.linear_dynamic_fp16`:
    the weight stored in fp16 (half the bytes), the product computed in float32."""
    weight, bias = linear
    rows = torch.from_numpy(np.ascontiguousarray(weight.T))              # (out, in)
    return torch.ops.quantized.linear_prepack_fp16(rows, torch.from_numpy(bias.astype(np.float32)))


def _int8_linear(linear: tuple[np.ndarray, np.ndarray]) -> Any:
    """An (in, out) weight and its bias packed for `torch.ops.quantized.linear_dynamic`:
    int8, one scale per output channel (its largest magnitude / 127)."""
    weight, bias = linear
    rows = torch.from_numpy(np.ascontiguousarray(weight.T))              # (out, in)
    scales = (rows.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()
    with warnings.catch_warnings():   # quantized tensors are deprecated in favour of torchao
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.quantize_per_channel(rows, scales,
                                               torch.zeros(rows.shape[0], dtype=torch.long),
                                               0, torch.qint8)
    return torch.ops.quantized.linear_prepack(quantized, torch.from_numpy(bias.astype(np.float32)))


def _packed_feed_forward(layer: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """The layer's feed-forward pair packed (PACKED_WEIGHTS: fp16 or int8) with the product
    that reads it, when the matrices are large enough to pay."""
    weight = layer["ff_in"][0]
    if weight.size < PACKED_MIN_WEIGHTS or not int8_available():
        return None
    try:
        if PACKED_WEIGHTS == "int8":
            def product(x: torch.Tensor, packed: Any) -> torch.Tensor:
                return torch.ops.quantized.linear_dynamic(x, packed, True)

            return product, _int8_linear(layer["ff_in"]), _int8_linear(layer["ff_out"])
        return (torch.ops.quantized.linear_dynamic_fp16, _fp16_linear(layer["ff_in"]),
                _fp16_linear(layer["ff_out"]))
    except (RuntimeError, NotImplementedError):   # an engine that cannot pack: stay float32
        return None


_CONVERTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _converted(model: nn.Module, build: Any, variant: str = "") -> dict[str, Any]:
    """`build(model)`, computed once per model and reused while its parameters are
    unchanged: a Continue, a re-roll and the next variation skip the ~13 MB conversion.
    A parameter's `_version` counts in-place updates (optimizer steps, load_state_dict).
    Each `build` (and `variant` of it) keeps its own conversion."""
    key = tuple((p.data_ptr(), p._version) for p in model.parameters())
    per_build = _CONVERTED.setdefault(model, {})
    name = f"{getattr(build, '__qualname__', repr(build))}:{variant}"
    cached = per_build.get(name)
    if cached is not None and cached[0] == key:
        return cached[1]
    weights = build(model)
    per_build[name] = (key, weights)
    return weights


# ----------------------------------------------------------------------------- transformer
def transformer_arrays(model: nn.Module) -> dict[str, Any]:
    """The model's weights as NumPy arrays, prepared for a step: transposed for
    `x @ W`, queries pre-scaled by 1/sqrt(head_dim) (rotation and dot products are
    linear), and with pre-LN, each norm's gain and shift folded into the linear layer
    that reads it."""
    scale = np.float32(1.0 / math.sqrt(model.config.d_model // model.config.num_heads))
    d_model = model.config.d_model
    pre_norm = model.config.norm == "pre"
    layers = []
    for block in model.blocks:
        attention = block.attention
        layer = {
            "qkv": _linear(attention.qkv), "out": _linear(attention.out),
            "ff_in": _linear(block.feed_forward_in), "ff_out": _linear(block.feed_forward_out),
            "norm1": _norm_parameters(block.attention_norm),
            "norm2": _norm_parameters(block.feed_forward_norm),
        }
        weight, bias = layer["qkv"]
        weight[:, :d_model] *= scale
        bias[:d_model] *= scale
        if pre_norm:
            layer["qkv"] = _folded(layer["norm1"], layer["qkv"])
            layer["ff_in"] = _folded(layer["norm2"], layer["ff_in"])
            layer["norm1"] = layer["norm2"] = (None, None)
        if attention.relative is not None:
            layer["relative"] = _array(attention.relative).T.copy()   # (head_dim, D+1)
        for name in ("qkv", "out", "ff_in", "ff_out"):
            layer[name] = _laid_out(layer[name])
        layers.append(layer)
    head = _linear(model.head)
    final_norm = _norm_parameters(model.final_norm)
    if final_norm is not None:
        head, final_norm = _folded(final_norm, head), (None, None)
    head = _laid_out(head)
    positions = model.position_embedding
    return {"embedding": _array(model.embedding.weight), "layers": layers, "head": head,
            "final_norm": final_norm,
            "positions": _array(positions.weight) if positions is not None else None}


class NumpyTransformer:
    """`TransformerModel` stepped in NumPy (every position scheme, RealFormer, pre/post-LN)."""

    engine = "numpy"

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        config = model.config
        self.model = model
        self.device = torch.device(device)
        self.config = config
        self.heads = config.num_heads
        self.head_dim = config.d_model // config.num_heads
        self.d_model = config.d_model
        self.limit = model.max_context     # the trained window where that is shorter
        self.pre_norm = config.norm == "pre"
        self.activation = _gelu if config.activation == "gelu" else _relu
        self.__dict__.update(_converted(model, self._weights, self.variant()))
        if config.positions == "rope":
            exponents = np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim
            self.frequencies = 1.0 / (config.rope_base ** exponents)
            self.rotations = np.empty((0, self.head_dim // 2), np.complex64)
        if config.positions == "relative":
            # distance of key slot j from the query at slot T-1 is T-1-j, clamped to D;
            # `reverse[capacity - T:]` lists those for j = 0..T-1.
            self.reverse_distances = np.minimum(
                np.arange(self.limit - 1, -1, -1), config.max_relative_distance)
        # per layer: keys stored transposed (B, H, head_dim, capacity), so that the scores
        # are one (1, hd) x (hd, T) product per head, and values (B, H, capacity, head_dim)
        self.caches: list[tuple[np.ndarray, np.ndarray]] = []
        self.length = 0                     # valid cache slots
        self.position = 0                   # absolute position of the next token

    def _weights(self, model: nn.Module) -> dict[str, Any]:
        """`transformer_arrays`, with large feed-forward matrices also packed."""
        weights = transformer_arrays(model)
        for layer in weights["layers"]:
            layer["ff_packed"] = _packed_feed_forward(layer)
        return weights

    def variant(self) -> str:
        """What, besides the weights, the conversion depends on (kept apart in the cache)."""
        return ""

    # -------------------------------------------------------------- state from torch
    def _load_state(self, state: Any, rows: int) -> None:
        self.length, self.position = state.length, state.position
        self.caches = []
        shape = (rows, self.heads, self.limit, self.head_dim)
        for cache in state.caches:
            held = cache[:, :, :, :state.length].detach().cpu().float().numpy()
            keys = np.zeros(shape, np.float32).transpose(0, 1, 3, 2).copy()
            values = np.zeros(shape, np.float32)
            keys[:, :, :, :state.length] = held[0].transpose(0, 1, 3, 2)  # one row repeats
            values[:, :, :state.length] = held[1]
            self.caches.append((keys, values))

    def _prefill(self, rows_ids: torch.Tensor, rows: int) -> np.ndarray:
        logits, state = self.model(rows_ids, None)
        self._load_state(state, rows)
        return _to_numpy(logits[:, -1, :])

    def start(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        feeds, shared = _feeds(contexts, self.limit)
        rows = len(contexts)
        logits = self._prefill(torch.tensor(feeds, dtype=torch.long, device=self.device), rows)
        return logits.repeat(rows if shared else 1, axis=0)

    # -------------------------------------------------------------- one step
    def step(self, tokens: Sequence[int], history: Sequence[Sequence[int]]) -> np.ndarray:
        ids = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if self.length + 1 > self.limit:
            keep = max(1, self.limit // 2)
            if self.positions is None:      # relative distances survive a crop
                start, end = self.length - keep, self.length
                for keys, values in self.caches:
                    keys[..., :keep] = keys[..., start:end].copy()
                    values[:, :, :keep] = values[:, :, start:end].copy()
                self.length = keep
            else:                           # absolute positions: re-encode
                window = _window(history, keep, self.device)
                self._prefill(window[:, :-1], window.shape[0])
                ids = window[:, -1].cpu().numpy()
        if ids.min() < 0 or ids.max() >= self.embedding.shape[0]:
            raise ValueError(f"token ids must be in 0..{self.embedding.shape[0] - 1}")
        return self._step(ids)

    def extend(self, block: Sequence[Sequence[int]], history: Sequence[Sequence[int]]
               ) -> np.ndarray:
        ids = np.asarray(block, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError("extend needs a (rows, tokens) block of at least one token")
        count = ids.shape[1]
        if (count == 1 or self.length + count > self.limit or "relative" in self.layers[0]
                or self.config.realformer):
            return _extend_by_steps(self, ids, history)
        if ids.min() < 0 or ids.max() >= self.embedding.shape[0]:
            raise ValueError(f"token ids must be in 0..{self.embedding.shape[0] - 1}")
        return self._block(ids)

    def _block_inputs(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(rows * count, d) embeddings of a block at the next positions, and its RoPE
        rotations (1, count, 1, head_dim / 2) or None."""
        rows, count = ids.shape
        x = self.embedding[ids.reshape(-1)]
        if self.positions is not None:
            x += np.tile(self.positions[self.position:self.position + count], (rows, 1))
        if self.config.positions != "rope":
            return x, None
        return x, self._rotation(self.position + count)[self.position:][None, :, None]

    def _block(self, ids: np.ndarray) -> np.ndarray:
        """`_step` for a (rows, count) block: every position a row of each product."""
        rows, count = ids.shape
        x, rotation = self._block_inputs(ids)
        for layer, cache in zip(self.layers, self.caches, strict=True):
            qkv = self._qkv(x, layer)
            x = self._after_attention(x, self._attend_block(cache, qkv, rotation, rows, count),
                                      layer)
        self.length, self.position = self.length + count, self.position + count
        return self._logits(x.reshape(rows, count, -1)[:, -1])

    def _attend_block(self, cache: tuple[np.ndarray, np.ndarray], qkv: np.ndarray,
                      rotation: np.ndarray | None, rows: int, count: int) -> np.ndarray:
        """`_attend` for a block's (rows * count, 3d) q, k, v: its keys and values fill the
        cache's next `count` slots, each position attends to the cache and to the block's
        positions up to its own. Returns the (rows * count, d) attended values."""
        heads, head_dim, d = self.heads, self.head_dim, self.d_model
        keys, values = cache
        start, total = self.length, self.length + count
        qkv = qkv.reshape(rows, count, 3 * d)
        if rotation is not None:
            pairs = qkv[..., :2 * d].view(np.complex64).reshape(rows, count, 2 * heads, -1)
            rotated = (pairs * rotation).view(np.float32).reshape(rows, count, 2 * d)
            q, k = rotated[..., :d], rotated[..., d:]
        else:
            q, k = qkv[..., :d], qkv[..., d:2 * d]
        keys[..., start:total] = k.reshape(rows, count, heads, head_dim).transpose(0, 2, 3, 1)
        values[:, :, start:total] = qkv[..., 2 * d:].reshape(
            rows, count, heads, head_dim).transpose(0, 2, 1, 3)
        q = q.reshape(rows, count, heads, head_dim).transpose(0, 2, 1, 3)   # (B, H, n, hd)
        scores = np.matmul(q, keys[..., :total])                           # (B, H, n, T)
        scores[..., start:] += _causal(count)
        scores -= np.maximum.reduce(scores, axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= np.add.reduce(scores, axis=-1, keepdims=True)
        attended = np.matmul(scores, values[:, :, :total])                 # (B, H, n, hd)
        return attended.transpose(0, 2, 1, 3).reshape(rows * count, d)

    def _rotation(self, count: int | None = None) -> np.ndarray:
        """e^(i p w) for this position p, one per frequency w (a table grown by doubling),
        or with `count`, the (count, head_dim / 2) rows of positions 0..count-1."""
        needed = self.position + 1 if count is None else count
        if needed > self.rotations.shape[0]:
            size = max(2 * self.rotations.shape[0], needed, 1024)
            angles = np.arange(size, dtype=np.float64)[:, None] * self.frequencies
            self.rotations = np.exp(1j * angles).astype(np.complex64)
        return self.rotations[self.position] if count is None else self.rotations[:count]

    def _step(self, ids: np.ndarray) -> np.ndarray:
        x = self.embedding[ids]                          # (B, d), a copy
        if self.positions is not None:
            x += self.positions[self.position]
        rotation = self._rotation() if self.config.positions == "rope" else None
        residual = None
        for layer, cache in zip(self.layers, self.caches, strict=True):
            qkv = self._qkv(x, layer)                     # (B, 3d)
            attended, residual = self._attend(layer, cache, qkv, rotation, residual)
            x = self._after_attention(x, attended, layer)
        self.length, self.position = self.length + 1, self.position + 1
        return self._logits(x)

    def _qkv(self, x: np.ndarray, layer: dict) -> np.ndarray:
        h = _layer_norm(x, *layer["norm1"]) if self.pre_norm else x
        weight, bias = layer["qkv"]
        qkv = h @ weight
        qkv += bias
        return qkv

    def _after_attention(self, x: np.ndarray, attended: np.ndarray, layer: dict) -> np.ndarray:
        """The output projection, the residuals and the feed-forward block of a layer."""
        weight, bias = layer["out"]
        attended = attended @ weight
        attended += bias
        if self.pre_norm:
            x = x + attended
            x += self._feed_forward(_layer_norm(x, *layer["norm2"]), layer)
            return x
        x = _layer_norm(x + attended, *layer["norm1"])
        return _layer_norm(x + self._feed_forward(x, layer), *layer["norm2"])

    def _logits(self, x: np.ndarray) -> np.ndarray:
        if self.final_norm is not None:
            x = _layer_norm(x, *self.final_norm)
        weight, bias = self.head
        logits = x @ weight
        logits += bias
        return logits

    def _attend(self, layer: dict, cache: tuple[np.ndarray, np.ndarray], qkv: np.ndarray,
                rotation: np.ndarray | None, residual: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """One layer's attention for the new token from its (B, 3d) q, k, v: k and v go into
        the cache's next slot; returns the (B, d) attended values (before the output
        projection) and, for RealFormer, the scores the next layer adds to its own."""
        rows, heads, head_dim, d = qkv.shape[0], self.heads, self.head_dim, self.d_model
        keys, values = cache
        slot = self.length
        total = slot + 1
        if rotation is not None:  # adjacent feature pairs of every q and k head rotate
            pairs = qkv[:, :2 * d].view(np.complex64).reshape(rows, 2 * heads, head_dim // 2)
            rotated = (pairs * rotation).view(np.float32).reshape(rows, 2 * d)
            q, k = rotated[:, :d], rotated[:, d:]
        else:
            q, k = qkv[:, :d], qkv[:, d:2 * d]
        keys[..., slot] = k.reshape(rows, heads, head_dim)
        values[:, :, slot] = qkv[:, 2 * d:].reshape(rows, heads, head_dim)
        q = q.reshape(rows, heads, 1, head_dim)       # already scaled by 1/sqrt(hd)
        scores = np.matmul(q, keys[..., :total])                      # (B, H, 1, T)
        if "relative" in layer:
            by_distance = np.matmul(q, layer["relative"])              # (B, H, 1, D+1)
            scores += by_distance[..., self.reverse_distances[self.limit - total:]]
        if self.config.realformer:
            if residual is not None:
                scores += residual
            residual = scores.copy()
        scores -= np.maximum.reduce(scores, axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= np.add.reduce(scores, axis=-1, keepdims=True)
        return np.matmul(scores, values[:, :, :total]).reshape(rows, d), residual

    def _feed_forward(self, x: np.ndarray, layer: dict) -> np.ndarray:
        if layer["ff_packed"] is not None:
            product, packed_in, packed_out = layer["ff_packed"]   # NumPy inputs: no autograd
            hidden = product(torch.from_numpy(x), packed_in)
            hidden = (torch.nn.functional.gelu(hidden) if self.activation is _gelu
                      else torch.relu(hidden))
            return product(hidden, packed_out).numpy()
        weight, bias = layer["ff_in"]
        hidden = x @ weight
        hidden += bias
        weight, bias = layer["ff_out"]
        out = self.activation(hidden) @ weight
        out += bias
        return out


# ----------------------------------------------------------------------------- LSTM
class NumpyLSTM:
    """`LSTMModel` stepped in NumPy: stacked LSTM cells, then the feed-forward head."""

    engine = "numpy"

    @staticmethod
    def supports(model: nn.Module) -> bool:
        lstm = model.trunk.lstm
        return lstm.proj_size == 0 and lstm.bias and not lstm.bidirectional

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = torch.device(device)
        self.hidden = model.trunk.lstm.hidden_size
        self.__dict__.update(_converted(model, self._weights))
        self.h: np.ndarray | None = None   # (layers, B, hidden)
        self.c: np.ndarray | None = None

    @staticmethod
    def _weights(model: nn.Module) -> dict[str, Any]:
        lstm = model.trunk.lstm
        hidden = lstm.hidden_size
        # Gates reordered from torch's (i, f, g, o) to (i, f, o, g): one sigmoid over the
        # first three blocks, one tanh over the last. Input and hidden weights are stacked
        # so that a layer is a single matrix product of [x, h].
        order = np.concatenate([np.arange(0, 2 * hidden), np.arange(3 * hidden, 4 * hidden),
                                np.arange(2 * hidden, 3 * hidden)])
        cells = []
        for index in range(lstm.num_layers):
            w_ih = _array(getattr(lstm, f"weight_ih_l{index}"))[order]
            w_hh = _array(getattr(lstm, f"weight_hh_l{index}"))[order]
            bias = (_array(getattr(lstm, f"bias_ih_l{index}"))
                    + _array(getattr(lstm, f"bias_hh_l{index}")))[order]
            cells.append(_laid_out((np.concatenate([w_ih, w_hh], axis=1).T, bias)))
        head: list[tuple[str, Any]] = []
        for module in model.head.layers:
            if isinstance(module, nn.Linear):
                head.append(("linear", _laid_out(_linear(module))))
            elif isinstance(module, nn.LayerNorm):
                head.append(("norm", _norm_parameters(module)))
            elif isinstance(module, nn.ReLU):
                head.append(("relu", None))
            elif not isinstance(module, nn.Dropout):
                raise SteppingError(f"the NumPy engine cannot run a {type(module).__name__} head")
        return {"embedding": _array(model.embedding.weight), "cells": cells, "head": head}

    def start(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        feeds, shared = _feeds(contexts, None)
        repeats = len(contexts) if shared else 1
        tokens = torch.tensor(feeds, dtype=torch.long, device=self.device)
        logits, (h, c) = self.model(tokens, None)
        self.h = np.repeat(_array(h), repeats, axis=1)
        self.c = np.repeat(_array(c), repeats, axis=1)
        return _to_numpy(logits[:, -1, :]).repeat(repeats, axis=0)

    def step(self, tokens: Sequence[int], history: Sequence[Sequence[int]]) -> np.ndarray:
        ids = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if ids.min() < 0 or ids.max() >= self.embedding.shape[0]:
            raise ValueError(f"token ids must be in 0..{self.embedding.shape[0] - 1}")
        x = self.embedding[ids]
        hidden = self.hidden
        for index, (weight, bias) in enumerate(self.cells):
            gates = np.concatenate([x, self.h[index]], axis=1) @ weight
            gates += bias
            sigmoid = gates[:, :3 * hidden]
            np.negative(sigmoid, out=sigmoid)
            np.exp(sigmoid, out=sigmoid)
            sigmoid += 1.0
            np.reciprocal(sigmoid, out=sigmoid)
            candidate = np.tanh(gates[:, 3 * hidden:])
            c = self.c[index]
            c *= sigmoid[:, hidden:2 * hidden]
            c += sigmoid[:, :hidden] * candidate
            x = sigmoid[:, 2 * hidden:] * np.tanh(c)
            self.h[index] = x
        for kind, parameters in self.head:
            if kind == "linear":
                weight, bias = parameters
                x = x @ weight
                x += bias
            elif kind == "norm":
                x = _layer_norm(x, *parameters)
            else:
                x = _relu(x)
        return x

    def extend(self, block: Sequence[Sequence[int]], history: Sequence[Sequence[int]]
               ) -> np.ndarray:
        return _extend_by_steps(self, block, history)

"""Stepping a Transformer with ONNX Runtime's CPU kernels: the dense products in a few small
graphs, the attention over the KV cache in NumPy.

A batch-1 step of `default-next` (d 256, ff 2816) spends most of its time streaming the
feed-forward matrices from memory, one row at a time. NumPy has only float32 products;
ONNX Runtime has `MatMulNBits`, whose 8-bit weights (one scale per block of 128 inputs)
are multiplied with int8 activations by VNNI kernels written for exactly this case, the
one-token decode step. Matrices of `INT8_MIN_WEIGHTS` weights or more step that way (all
of the 2.5M and 5.3M models, 256 x 254 output layer included); smaller ones stay float32
(`MatMul`), so the small models of the tests compute what their torch model does (1e-6).
Measured on 32 validation windows of next-v1 (256 stepped tokens each, against the torch
model): `default-next` NLL 0.94212 -> 0.94223 nats/token (+0.01%), largest logit
difference 0.19, the same argmax on 99.5% of tokens (on 24 other windows, int8 for the
feed-forward matrices alone: +0.00% and 0.11).

Matrices of `INT4_MIN_WEIGHTS` or more (the 256 x 2816 feed-forward pair of `default-next`;
none of the 2.5M models') store 4-bit weights, each block of 128 inputs with its own scale
and zero point (its range in 16 steps): half the bytes to stream, which pays where the
cache is shared with other work. Measured on a 2-core AMD EPYC (AVX-512 VNNI) beside a
training run, CPU time per step, 30-40 interleaved rounds of 256 steps: `default-next`
413-421 -> 387-391 us; `bach-chorales` with its 256 x 1024 pair in 4 bits 326 -> 332 us
(nothing to gain: the rule leaves it int8); blocks of 64 inputs 425 us, of 256 377 us.
On 64 validation windows of next-v4 (whole windows through the graphs, against torch):
NLL +0.017% (int8) -> +0.058% (4-bit feed-forward, symmetric codes +0.067%, blocks of
256 +0.114%), largest logit difference 0.37 -> 0.78, the same argmax on 99.2% -> 98.1%
of tokens; bench/continuation_quality.py (77 prompts, 2 seeds) held every criterion
(density in bounds 0.844 either way, in scale 0.979 -> 0.979).

Each layer is one graph run: the output projection, the residual, the norm, the feed-
forward block, the residual, and the next layer's norm and q/k/v projection (or, after the
last layer, the final norm and the output layer). An entry graph makes the first layer's
q, k, v. The attention itself (rotary positions, the cache, the softmax) is
`NumpyTransformer._attend`, reading the cache in place: the cache never crosses into the
runtime. The prompt (and a re-encode) goes through the same graphs, all its positions as
rows, with torch's causal attention between them (relative positions and RealFormer: the
torch model reads it, as in the NumPy engine).

Tokens the grammar forces (a bar's three controls after its track token, the written
parts of a multi-track schedule) go through as one block with the sampled token before
them (`NumpyTransformer.extend`): all their positions as rows of each graph, causal
attention among them. A one-row `MatMulNBits` product is a matrix-vector one; more rows
reuse each streamed block of codes. Per layer graph of `default-next`, CPU time: 1 row 64
us, 2 rows 97, 3 rows 127, 4 rows 155 (`bach-chorales`' int8 graph 52 / 56 / 78 / 88);
four tokens as a block 1,376 us against 2,686 stepped one by one. In Continue a bar of
one part is one sampled track token plus three forced controls, so `default-next`
writes 17% of its tokens without a pass of their own.

On x86 CPUs with AVX2 but no VNNI the quantized products are ONNX Runtime's
`DynamicQuantizeMatMul` instead (`kernel()`): 7-bit weights with a scale per output
column, every matrix from `INT8_MIN_WEIGHTS` on (no 4-bit ones), measured there both
faster and closer to the torch model than `MatMulNBits` (figures in `kernel`'s docstring).

`onnxruntime` is optional: without it `available()` is False and generation steps in
NumPy. The graphs are written as protobuf bytes by `ml_core.models.onnx_proto`.

A mixture-of-experts feed-forward (the 2816 units split into experts, a few run per token)
would cut the bytes a step streams, but not with these kernels at this size. Measured on
the same 2-core EPYC (CPU time per call, one token, 256 -> units -> 256 with GELU):
`MatMulNBits` pair 2816 units int4 36.6 us (blocks of 256: 31.9), 1024 units int8 18.0;
ONNX Runtime 1.32's `QMoE` (8-bit experts, top-k routing) 117 us for one expert of 1024
units and 117 for 3 of 8 experts of 352 (it dequantizes per call); `MatMulNBits` with the
selected experts' codes gathered at run time (not prepacked) 650-1,000 us.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_core.models import onnx_proto
from ml_core.models.stepping import (
    LAYER_NORM_EPS,
    NumpyTransformer,
    SteppingError,
    transformer_arrays,
)

INT8_MIN_WEIGHTS = 32 * 1024    # matrices from this many weights are multiplied in int8
INT4_MIN_WEIGHTS = 512 * 1024   # ... and from this many, stored in 4 bits
INT8_BLOCK = 128                # inputs per quantization block (one scale each)
DYNAMIC_LEVELS = 63             # "dynamic" kernel: 7-bit weight codes (see `kernel`)
KERNELS = ("nbits", "dynamic")
KERNEL: str | None = None       # None: chosen by CPU (`kernel()`); tests set one
OPSET = 17                      # LayerNormalization


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether ONNX Runtime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _cpu_features() -> dict[str, bool]:
    """NumPy's own probe of this CPU's instruction sets."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:        # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return features


def int8_dot_products() -> bool:
    """Whether this CPU multiplies int8 vectors fast enough for ONNX Runtime's 8- and 4-bit
    kernels to beat NumPy's float products: x86 VNNI, or AVX2's multiply-add of bytes
    (vpmaddubsw), or Arm's dot product."""
    features = _cpu_features()
    return any(features.get(name) for name in ("AVX512VNNI", "AVXVNNI", "AVX2", "ASIMDDP"))


def kernel() -> str:
    """The kernel family of the quantized products on this CPU (`KERNEL` where set):

    - "nbits": `MatMulNBits`, block-quantized 8- and 4-bit weights: CPUs with VNNI (where
      it was measured, see the module's docstring) and every other CPU;
    - "dynamic": `DynamicQuantizeMatMul`, 7-bit weights with one scale per output column,
      the activations quantized per call: x86 with AVX2 but no VNNI. Measured on a 2-core
      AMD EPYC with AVX2 only (beside a training run, CPU time per step, 8 interleaved
      rounds of 300 steps through the sliding window): `default-next` 648 -> 583 us
      (MatMulNBits with its 4-bit feed-forward -> this), `bach-chorales` 460 -> 431; one
      feed-forward pair of `default-next` alone 80 us (4-bit) / 79 (8-bit) -> 65. On 24
      validation windows of next-v4 (256 stepped tokens each, against the torch model):
      `default-next` NLL +0.031% -> +0.018%, the same argmax on 98.1% -> 99.4% of tokens,
      largest log-probability difference 1.33 -> 0.41. The weights keep 7 bits because
      AVX2's byte multiply-add sums two u8 x s8 products into a saturating int16 (255 x 127
      x 2 overflows it, 255 x 63 x 2 does not): with 8-bit codes the largest difference
      was 2.33."""
    if KERNEL is not None:
        return KERNEL
    features = _cpu_features()
    if features.get("AVX2") and not any(features.get(n) for n in ("AVX512VNNI", "AVXVNNI")):
        return "dynamic"
    return "nbits"


def column_codes(weight: np.ndarray, levels: int = DYNAMIC_LEVELS
                 ) -> tuple[np.ndarray, np.ndarray]:
    """An (in, out) float32 weight as `DynamicQuantizeMatMul` reads it: int8 codes in
    -levels..levels and a float32 scale per output column (its largest magnitude / levels)."""
    scales = np.maximum(np.abs(weight).max(axis=0), 1e-12) / levels
    codes = np.clip(np.rint(weight / scales), -levels, levels)
    return codes.astype(np.int8), scales.astype(np.float32)


def preferred() -> bool:
    """The rule "auto" follows: a float32 Transformer on this CPU steps with ONNX Runtime
    when the runtime is installed and the CPU has fast int8 products. Measured with
    bench/generate.py (same runs, the other core training): on a 2-core AMD EPYC with
    AVX-512 VNNI the whole Continue pipeline of `default-next` 1.9-2.1x faster than in
    NumPy (fp16 feed-forward), `bach-chorales` and `default` 1.5-1.8x; on a 2-core AMD EPYC
    with AVX2 only (no AVX-512, no VNNI) `default-next` 1.55-1.85x, `bach-chorales`
    1.1-1.3x. Older x86 CPUs and Arm without dot products keep NumPy (unmeasured)."""
    return available() and int8_dot_products()


def quantized_blocks(weight: np.ndarray, block: int = INT8_BLOCK, bits: int = 8
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An (in, out) float32 weight as `MatMulNBits` reads it: codes, a float32 scale per
    (out, block) and the zero points; inputs padded to whole blocks.

    8 bits: (out, blocks, block) uint8 codes around a zero point of 128, the scale the
    block's largest magnitude / 127. 4 bits: the block's range from its smallest to its
    largest weight (0 always inside) in 16 steps, each block with its own zero point;
    two codes a byte (the even input in the low half), (out, blocks, block / 2), and the
    zero points likewise, (out, ceil(blocks / 2))."""
    inputs, outputs = weight.shape
    blocks = -(-inputs // block)
    rows = np.zeros((outputs, blocks * block), np.float32)
    rows[:, :inputs] = weight.T
    rows = rows.reshape(outputs, blocks, block)
    if bits == 8:
        scales = np.maximum(np.abs(rows).max(axis=2), 1e-12) / 127.0
        codes = np.clip(np.rint(rows / scales[:, :, None]), -127, 127) + 128
        zero_points = np.full((outputs, blocks), 128, np.uint8)
        return codes.astype(np.uint8), scales.astype(np.float32), zero_points
    if bits != 4:
        raise ValueError(f"weights are stored in 8 or 4 bits, not {bits}")
    low = np.minimum(rows.min(axis=2), 0.0)
    scales = np.maximum(np.maximum(rows.max(axis=2), 0.0) - low, 1e-12) / 15.0
    zero_points = np.clip(np.rint(-low / scales), 0, 15)
    codes = np.clip(np.rint(rows / scales[:, :, None]) + zero_points[:, :, None], 0, 15)
    if blocks % 2:
        zero_points = np.concatenate([zero_points, np.zeros((outputs, 1))], axis=1)
    return (_nibbles(codes.astype(np.uint8)), scales.astype(np.float32),
            _nibbles(zero_points.astype(np.uint8)))


def _nibbles(codes: np.ndarray) -> np.ndarray:
    """4-bit codes (..., 2n) packed two a byte, (..., n): the even one in the low half."""
    return codes[..., 0::2] | codes[..., 1::2] << 4


class _Graph:
    """Nodes and weights of one small graph, written with `onnx.helper`."""

    def __init__(self, name: str, width: int, int8_min_weights: int,
                 int4_min_weights: int | None = None, kernel_name: str | None = None) -> None:
        self.name = name
        self.width = width                  # of the residual stream (what norms read)
        self.int8_min_weights = int8_min_weights
        self.int4_min_weights = INT4_MIN_WEIGHTS if int4_min_weights is None \
            else int4_min_weights
        self.kernel = kernel_name or kernel()
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel '{self.kernel}' (choose from {', '.join(KERNELS)})")
        self.nodes: list[bytes] = []
        self.weights: list[bytes] = []
        self.count = 0

    def _fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def constant(self, array: np.ndarray, stem: str = "w") -> str:
        name = self._fresh(stem)
        self.weights.append(onnx_proto.tensor(name, array))
        return name

    def node(self, kind: str, inputs: list[str], domain: str = "", **attributes: Any) -> str:
        output = self._fresh(kind.lower())
        self.nodes.append(onnx_proto.node(kind, inputs, [output], domain, **attributes))
        return output

    def linear(self, x: str, linear: tuple[np.ndarray, np.ndarray]) -> str:
        """x @ W + b: for a large W the kernel's quantized product (`MatMulNBits`: 8-bit
        weights, 4-bit for the largest; `DynamicQuantizeMatMul`: 7-bit), float32 `MatMul`
        otherwise."""
        weight, bias = linear
        if weight.size < self.int8_min_weights:
            return self.node("Add", [self.node("MatMul", [x, self.constant(weight)]),
                                     self.constant(bias, "b")])
        if self.kernel == "dynamic":
            codes, scales = column_codes(weight)
            return self.node("DynamicQuantizeMatMul",
                             [x, self.constant(codes, "q"), self.constant(scales, "s"), "",
                              self.constant(bias, "b")], domain="com.microsoft")
        bits = 4 if weight.size >= self.int4_min_weights else 8
        codes, scales, zero_points = quantized_blocks(weight, INT8_BLOCK, bits)
        inputs, outputs = weight.shape
        return self.node("MatMulNBits",
                         [x, self.constant(codes, "q"), self.constant(scales, "s"),
                          self.constant(zero_points, "z"), "", self.constant(bias, "b")],
                         domain="com.microsoft", K=inputs, N=outputs, bits=bits,
                         block_size=INT8_BLOCK, accuracy_level=4)   # 4: int8 products

    def layer_norm(self, x: str, norm: tuple[np.ndarray | None, np.ndarray | None]) -> str:
        gain, shift = norm
        inputs = [x, self.constant(gain if gain is not None else np.ones(self.width, np.float32))]
        if shift is not None:
            inputs.append(self.constant(shift))
        return self.node("LayerNormalization", inputs, axis=-1, epsilon=LAYER_NORM_EPS)

    def session(self, inputs: dict[str, int], outputs: dict[str, str]) -> Any:
        """An ONNX Runtime session of the graph: (rows, width) float32 `inputs` by name, and
        `outputs` named after the values they expose."""
        import onnxruntime

        nodes = self.nodes + [onnx_proto.node("Identity", [value], [name])
                              for name, value in outputs.items()]
        model = onnx_proto.model(
            self.name, nodes, self.weights,
            [onnx_proto.float_value(name, ["rows", width]) for name, width in inputs.items()],
            [onnx_proto.float_value(name, None) for name in outputs],
            {"": OPSET, "com.microsoft": 1})
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1      # one-token steps: see generation._cpu_threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return onnxruntime.InferenceSession(model, options,
                                                providers=["CPUExecutionProvider"])
        except Exception as error:  # the runtime's errors derive from Exception alone
            raise SteppingError(f"ONNX Runtime {onnxruntime.__version__} cannot run the "
                                f"{self.name} graph: {str(error).splitlines()[0]}") from None


def build_sessions(model: nn.Module, int8_min_weights: int | None = None,
                   int4_min_weights: int | None = None, kernel_name: str | None = None
                   ) -> dict[str, Any]:
    """`transformer_arrays(model)` plus the graphs a step runs: "entry" (x -> the first
    layer's qkv) and one per layer ((x, attended) -> x and the next qkv, or the logits).
    Matrices of `int8_min_weights` (default INT8_MIN_WEIGHTS) or more are quantized with
    `kernel_name` (default: `kernel()`); under "nbits", those of `int4_min_weights`
    (default INT4_MIN_WEIGHTS) or more in 4 bits."""
    if int8_min_weights is None:
        int8_min_weights = INT8_MIN_WEIGHTS
    if int4_min_weights is None:
        int4_min_weights = INT4_MIN_WEIGHTS
    kernel_name = kernel_name or kernel()
    config = model.config
    arrays = transformer_arrays(model)
    layers = arrays["layers"]
    d = config.d_model
    pre_norm = config.norm == "pre"
    activation = "Gelu" if config.activation == "gelu" else "Relu"

    def qkv(graph: _Graph, x: str, layer: dict) -> str:
        h = graph.layer_norm(x, layer["norm1"]) if pre_norm else x
        return graph.linear(h, layer["qkv"])

    entry = _Graph("entry", d, int8_min_weights, int4_min_weights, kernel_name)
    entry_session = entry.session({"x": d}, {"qkv": qkv(entry, "x", layers[0])})
    sessions = []
    for index, layer in enumerate(layers):
        graph = _Graph(f"layer{index}", d, int8_min_weights, int4_min_weights, kernel_name)
        x = graph.node("Add", ["x", graph.linear("attended", layer["out"])])
        if pre_norm:
            h = graph.layer_norm(x, layer["norm2"])
        else:
            x = h = graph.layer_norm(x, layer["norm1"])
        hidden = graph.linear(h, layer["ff_in"])
        hidden = graph.node(activation, [hidden], domain="com.microsoft" if activation == "Gelu"
                            else "")
        x = graph.node("Add", [x, graph.linear(hidden, layer["ff_out"])])
        if not pre_norm:
            x = graph.layer_norm(x, layer["norm2"])
        if index + 1 < len(layers):
            outputs = {"x_next": x, "qkv": qkv(graph, x, layers[index + 1])}
        else:
            final = arrays["final_norm"]
            h = graph.layer_norm(x, final) if final is not None else x
            outputs = {"logits": graph.linear(h, arrays["head"])}
        sessions.append(graph.session({"x": d, "attended": d}, outputs))
    # The graphs hold their own copies: keep only what the attention and embedding read.
    arrays["layers"] = [{key: layer[key] for key in ("relative",) if key in layer}
                        for layer in layers]
    arrays.update(entry=entry_session, sessions=sessions, head=None)
    return arrays


class OnnxTransformer(NumpyTransformer):
    """`TransformerModel` stepped with ONNX Runtime for the dense products and NumPy for the
    attention (every position scheme, RealFormer, pre/post-LN, as `NumpyTransformer`)."""

    engine = "onnx"

    def _weights(self, model: nn.Module) -> dict[str, Any]:
        return build_sessions(model)

    def variant(self) -> str:
        if kernel() == "dynamic":
            return f"dynamic: 7-bit from {INT8_MIN_WEIGHTS}"
        return f"nbits: int8 from {INT8_MIN_WEIGHTS}, int4 from {INT4_MIN_WEIGHTS}"

    def _prefill(self, rows_ids: torch.Tensor, rows: int) -> np.ndarray:
        """Read a context through the same graphs (all its positions as rows), with torch's
        causal attention between them: the prompt costs int8 products too, and the cache
        holds what the steps would have written. Relative positions and RealFormer read it
        with the torch model."""
        if self.config.positions == "relative" or self.config.realformer:
            return super()._prefill(rows_ids, rows)
        ids = rows_ids.cpu().numpy()
        batch, length = ids.shape
        d, heads, head_dim = self.d_model, self.heads, self.head_dim
        x = self.embedding[ids.reshape(-1)]                            # (B*T, d)
        if self.positions is not None:
            x += np.tile(self.positions[:length], (batch, 1))
        rotation = self._rotation(length)[None, :, None] if self.config.positions == "rope" \
            else None                                                  # (1, T, 1, hd/2)
        shape = (rows, heads, self.limit, head_dim)
        self.caches = [(np.zeros(shape, np.float32).transpose(0, 1, 3, 2).copy(),
                        np.zeros(shape, np.float32)) for _ in self.layers]
        (qkv,) = self.entry.run(None, {"x": x})
        for (keys, values), session in zip(self.caches, self.sessions, strict=True):
            if rotation is not None:
                pairs = qkv[:, :2 * d].view(np.complex64).reshape(batch, length, 2 * heads, -1)
                qkv[:, :2 * d] = (pairs * rotation).view(np.float32).reshape(-1, 2 * d)
            q, k, v = torch.from_numpy(qkv).view(batch, length, 3, heads, head_dim).permute(
                2, 0, 3, 1, 4)                                         # each (B, H, T, hd)
            keys[..., :length] = k.numpy().transpose(0, 1, 3, 2)       # B = 1 fills every row
            values[:, :, :length] = v.numpy()
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
            attended = attended.permute(0, 2, 1, 3).reshape(batch * length, d).numpy()
            outputs = session.run(None, {"x": x, "attended": attended})
            if len(outputs) == 2:
                x, qkv = outputs
        self.length = self.position = length
        return outputs[0].reshape(batch, length, -1)[:, -1]

    def _step(self, ids: np.ndarray) -> np.ndarray:
        x = self.embedding[ids]                          # (B, d), a copy
        if self.positions is not None:
            x += self.positions[self.position]
        rotation = self._rotation() if self.config.positions == "rope" else None
        (qkv,) = self.entry.run(None, {"x": x})
        residual = None
        for layer, cache, session in zip(self.layers, self.caches, self.sessions, strict=True):
            attended, residual = self._attend(layer, cache, qkv, rotation, residual)
            outputs = session.run(None, {"x": x, "attended": attended})
            if len(outputs) == 2:
                x, qkv = outputs
        self.length, self.position = self.length + 1, self.position + 1
        return outputs[0]

    def _block(self, ids: np.ndarray) -> np.ndarray:
        """`_step` for a (rows, count) block through the same graphs, every position a row."""
        rows, count = ids.shape
        x, rotation = self._block_inputs(ids)
        (qkv,) = self.entry.run(None, {"x": x})
        for cache, session in zip(self.caches, self.sessions, strict=True):
            attended = self._attend_block(cache, qkv, rotation, rows, count)
            outputs = session.run(None, {"x": x, "attended": attended})
            if len(outputs) == 2:
                x, qkv = outputs
        self.length, self.position = self.length + count, self.position + count
        return outputs[0].reshape(rows, count, -1)[:, -1]

"""Issue 43: the ONNX Runtime engine computes what the torch Transformer computes (float32
graphs: to 1e-4; 8-bit products: close), samples valid grammar under a fixed seed, and
generation falls back to NumPy when the runtime is missing or cannot build the graphs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from ml_core.generation import (
    GenerationError,
    GenerationOptions,
    continue_score,
    sample_continuations,
)
from ml_core.models import build_model, onnx_stepper
from ml_core.models.stepping import NumpyTransformer, SteppingError, TorchStepper, make_stepper
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import get_tokenizer
from tests.ml_core.test_stepping import (
    TRANSFORMER_VARIANTS,
    blocks_against_steps,
    largest_difference,
    transformer,
)

CPU = torch.device("cpu")
needs_runtime = pytest.mark.skipif(not onnx_stepper.available(),
                                   reason="onnxruntime not installed")


@pytest.fixture
def runtime_missing(monkeypatch):
    """As if `onnxruntime` were not installed (a None entry makes its import fail)."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    onnx_stepper.available.cache_clear()
    yield
    onnx_stepper.available.cache_clear()


def _stepped(stepper, prompt: list[int], tokens: list[int], rows: int = 2) -> np.ndarray:
    out = [stepper.start([list(prompt)] * rows)]
    history = [list(prompt) for _ in range(rows)]
    for token in tokens:
        for row in history:
            row.append(token)
        out.append(stepper.step([token] * rows, history))
    return np.stack(out)


@needs_runtime
@pytest.mark.parametrize("variant", TRANSFORMER_VARIANTS)
def test_float_graphs_match_torch_through_the_sliding_window(variant):
    # the test model's matrices (at most 32 x 96) are far below INT8_MIN_WEIGHTS: float32
    assert largest_difference(transformer(**TRANSFORMER_VARIANTS[variant]), engine="onnx") < 1e-4


@needs_runtime
@pytest.mark.parametrize("variant", TRANSFORMER_VARIANTS)
def test_float_graphs_read_a_block_as_its_tokens_one_at_a_time(variant):
    assert blocks_against_steps(transformer(**TRANSFORMER_VARIANTS[variant]), "onnx") < 1e-4


@needs_runtime
@pytest.mark.parametrize("kernel", onnx_stepper.KERNELS)
@pytest.mark.parametrize("variant", ["rope", "post-ln-relu", "relative-realformer"])
def test_int8_products_stay_close_to_torch(monkeypatch, variant, kernel):
    monkeypatch.setattr(onnx_stepper, "INT8_MIN_WEIGHTS", 1024)   # every matrix of this model
    monkeypatch.setattr(onnx_stepper, "KERNEL", kernel)
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=40, d_model=64, num_layers=2, num_heads=4,
                        ff_size=256, context=24, dropout=0.0,
                        **TRANSFORMER_VARIANTS[variant]).eval()
    rng = np.random.default_rng(1)
    prompt, tokens = rng.integers(0, 40, 6).tolist(), rng.integers(0, 40, 30).tolist()
    with torch.inference_mode():
        stepper = make_stepper(model, CPU, "onnx")
        assert stepper.engine == "onnx" and stepper.variant().startswith(kernel)
        quantized = _stepped(stepper, prompt, tokens)
        reference = _stepped(TorchStepper(model, CPU), prompt, tokens)
    spread = reference.max() - reference.min()
    assert 0 < np.abs(quantized - reference).max() < 0.03 * spread   # int8 really ran
    assert (quantized.argmax(-1) == reference.argmax(-1)).mean() > 0.9


def test_quantized_blocks_hold_the_weights_within_half_a_step():
    weight = np.random.default_rng(3).standard_normal((200, 5)).astype(np.float32)
    codes, scales, zero_points = onnx_stepper.quantized_blocks(weight, block=64)
    assert codes.shape == (5, 4, 64) and scales.shape == (5, 4) and zero_points.shape == (5, 4)
    restored = (codes.astype(np.float32) - zero_points[:, :, None]) * scales[:, :, None]
    restored = restored.reshape(5, 256)[:, :200].T                     # padding dropped
    assert np.all(np.abs(restored - weight) <= np.repeat(scales, 64, axis=1)[:, :200].T / 2 + 1e-7)
    assert np.all(codes.reshape(5, 256)[:, 200:] == 128)               # padding codes zero


def _unpacked(nibbles: np.ndarray) -> np.ndarray:
    """Two 4-bit codes a byte back to one a byte (the even one from the low half)."""
    return np.stack([nibbles & 15, nibbles >> 4], axis=-1).reshape(*nibbles.shape[:-1], -1)


def test_4bit_blocks_hold_the_weights_within_half_a_step():
    weight = np.random.default_rng(4).standard_normal((200, 5)).astype(np.float32)
    weight[:64, 0] = np.abs(weight[:64, 0])                 # a block of positive weights only
    codes, scales, zero_points = onnx_stepper.quantized_blocks(weight, block=64, bits=4)
    assert codes.shape == (5, 4, 32) and scales.shape == (5, 4) and zero_points.shape == (5, 2)
    codes, zero_points = _unpacked(codes), _unpacked(zero_points)
    assert codes.max() <= 15 and zero_points[0, 0] == 0     # 0 is the positive block's bottom
    restored = (codes.astype(np.float32) - zero_points[:, :, None]) * scales[:, :, None]
    restored = restored.reshape(5, 256)
    step = np.repeat(scales, 64, axis=1)
    assert np.all(np.abs(restored[:, :200].T - weight) <= step[:, :200].T / 2 + 1e-6)
    assert np.all(restored[:, 200:] == 0)                   # the padding restores to zero


@needs_runtime
@pytest.mark.parametrize("bits", [8, 4])
def test_the_runtime_multiplies_the_stored_codes(bits):
    # the graph's product is x @ (the weights the codes restore) + b: the layout (nibble
    # order, zero points) is what MatMulNBits reads; its int8 activations cost ~1%
    rng = np.random.default_rng(bits)
    weight = rng.standard_normal((256, 48)).astype(np.float32)
    bias = rng.standard_normal(48).astype(np.float32)
    graph = onnx_stepper._Graph("g", 256, int8_min_weights=1, int4_min_weights=1 if bits == 4
                                else 10**9, kernel_name="nbits")
    session = graph.session({"x": 256}, {"y": graph.linear("x", (weight, bias))})
    codes, scales, zero_points = onnx_stepper.quantized_blocks(weight, bits=bits)
    if bits == 4:
        codes, zero_points = _unpacked(codes), _unpacked(zero_points)
    restored = ((codes.astype(np.float32) - zero_points[:, :, None]) * scales[:, :, None])
    restored = restored.reshape(48, 256).T
    x = rng.standard_normal((3, 256)).astype(np.float32)
    (y,) = session.run(None, {"x": x})
    expected = x @ restored + bias
    assert np.abs(y - expected).max() < 0.02 * np.abs(expected).max()
    assert np.abs(expected - (x @ weight + bias)).max() > (0.05 if bits == 4 else 0.002)


@needs_runtime
def test_4bit_products_stay_close_to_torch(monkeypatch):
    monkeypatch.setattr(onnx_stepper, "KERNEL", "nbits")
    monkeypatch.setattr(onnx_stepper, "INT8_MIN_WEIGHTS", 1024)
    monkeypatch.setattr(onnx_stepper, "INT4_MIN_WEIGHTS", 16 * 1024)  # the feed-forward pair
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=40, d_model=64, num_layers=2, num_heads=4,
                        ff_size=256, context=24, dropout=0.0).eval()
    rng = np.random.default_rng(1)
    prompt, tokens = rng.integers(0, 40, 6).tolist(), rng.integers(0, 40, 30).tolist()
    with torch.inference_mode():
        stepper = make_stepper(model, CPU, "onnx")
        assert "int4 from 16384" in stepper.variant()
        quantized = _stepped(stepper, prompt, tokens)
        reference = _stepped(TorchStepper(model, CPU), prompt, tokens)
    spread = reference.max() - reference.min()          # 16 levels a block: looser than int8
    assert 0 < np.abs(quantized - reference).max() < 0.1 * spread
    assert (quantized.argmax(-1) == reference.argmax(-1)).mean() > 0.85


def test_column_codes_hold_the_weights_within_half_a_step_in_7_bits():
    weight = np.random.default_rng(5).standard_normal((200, 5)).astype(np.float32)
    weight[:, 4] = 0.0                                      # an all-zero column stays zero
    codes, scales = onnx_stepper.column_codes(weight)
    assert codes.dtype == np.int8 and codes.shape == (200, 5) and scales.shape == (5,)
    assert np.abs(codes).max() == onnx_stepper.DYNAMIC_LEVELS == 63   # each column's peak
    assert np.all(np.abs(codes * scales - weight) <= scales / 2 + 1e-7)
    assert np.all(codes[:, 4] == 0)


@needs_runtime
def test_the_dynamic_kernel_multiplies_the_stored_codes():
    # DynamicQuantizeMatMul reads int8 codes and a scale per output column: its product is
    # x @ (codes * scales) + b, up to the activations' own 8-bit rounding
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((256, 48)).astype(np.float32)
    bias = rng.standard_normal(48).astype(np.float32)
    graph = onnx_stepper._Graph("g", 256, int8_min_weights=1, kernel_name="dynamic")
    session = graph.session({"x": 256}, {"y": graph.linear("x", (weight, bias))})
    codes, scales = onnx_stepper.column_codes(weight)
    x = rng.standard_normal((3, 256)).astype(np.float32)
    (y,) = session.run(None, {"x": x})
    expected = x @ (codes * scales) + bias
    assert np.abs(y - expected).max() < 0.02 * np.abs(expected).max()
    assert np.abs(expected - (x @ weight + bias)).max() > 0.01   # the 7-bit codes, not W
    with pytest.raises(ValueError, match="unknown kernel"):
        onnx_stepper._Graph("g", 256, int8_min_weights=1, kernel_name="int3")


def test_the_kernel_follows_the_cpu(monkeypatch):
    def cpu(**flags):
        monkeypatch.setattr(onnx_stepper, "_cpu_features", lambda: flags)
        return onnx_stepper.kernel()
    assert cpu(AVX2=True) == "dynamic"                      # AVX2 alone: measured faster
    assert cpu(AVX2=True, AVX512VNNI=True) == "nbits"
    assert cpu(AVX2=True, AVXVNNI=True) == "nbits"
    assert cpu(ASIMDDP=True) == "nbits"
    monkeypatch.setattr(onnx_stepper, "KERNEL", "nbits")
    assert cpu(AVX2=True) == "nbits"                        # a set KERNEL wins


def _tiny_remi_bundle():
    tokenizer = get_tokenizer("remi")
    torch.manual_seed(3)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                        num_layers=2, num_heads=2, ff_size=64, context=64).eval()
    return type("Bundle", (), {"model": model, "tokenizer": tokenizer, "name": "t"})()


PROMPT = Score([Track("p", 0, False, [Note(60 + 2 * i, i * 480, 480, 80) for i in range(6)])])


@needs_runtime
def test_sampling_with_a_fixed_seed_gives_valid_grammar_tokens(monkeypatch):
    monkeypatch.setattr(onnx_stepper, "INT8_MIN_WEIGHTS", 1024)   # the int8 path samples
    bundle = _tiny_remi_bundle()
    tokenizer, grammar = bundle.tokenizer, bundle.tokenizer.grammar()
    prompt = tokenizer.encode(PROMPT)
    rows = sample_continuations(bundle.model, tokenizer, [prompt] * 2, 60, seed=7, engine="onnx")
    assert rows == sample_continuations(bundle.model, tokenizer, [prompt] * 2, 60, seed=7,
                                        engine="onnx")                 # same seed, same tokens
    assert rows[0] != rows[1]
    for row in rows:
        assert len(row) == 60
        state = grammar.start()
        for token in prompt:
            state = grammar.advance(state, token)
        for token in row:
            assert grammar.allowed(state)[token], tokenizer.vocab.tokens[token]
            state = grammar.advance(state, token)
        assert tokenizer.decode(prompt + row).notes()


@needs_runtime
def test_float_graphs_continue_a_prompt_as_numpy_does():
    bundle = _tiny_remi_bundle()
    results = [continue_score(bundle, PROMPT, GenerationOptions(bars=2, seed=5, variations=2,
                                                                max_tokens=80, engine=engine))
               for engine in ("onnx", "numpy")]
    assert results[0].new_notes == results[1].new_notes and any(results[0].new_notes)


def test_auto_falls_back_to_numpy_without_the_runtime(runtime_missing):
    model = transformer()
    stepper = make_stepper(model, CPU)
    assert type(stepper) is NumpyTransformer
    with pytest.raises(SteppingError, match="needs the onnxruntime package"):
        make_stepper(model, CPU, "onnx")
    bundle = _tiny_remi_bundle()
    result = continue_score(bundle, PROMPT, GenerationOptions(bars=1, seed=1, max_tokens=30))
    assert any(result.new_notes)
    with pytest.raises(GenerationError, match="needs the onnxruntime"):
        continue_score(bundle, PROMPT, GenerationOptions(bars=1, seed=1, engine="onnx"))


@needs_runtime
def test_auto_falls_back_to_numpy_when_the_runtime_cannot_build_the_graphs(monkeypatch):
    def refuse(self, inputs, outputs):
        raise SteppingError("ONNX Runtime 0.0 cannot run the entry graph: no MatMulNBits")

    monkeypatch.setattr(onnx_stepper, "preferred", lambda: True)
    monkeypatch.setattr(onnx_stepper._Graph, "session", refuse)
    model = transformer(positions="absolute")   # a model no other test converted for onnx
    assert type(make_stepper(model, CPU)) is NumpyTransformer
    with pytest.raises(SteppingError, match="cannot run the entry graph"):
        make_stepper(model, CPU, "onnx")


def test_an_lstm_or_a_gpu_is_no_case_for_the_runtime():
    lstm = build_model("lstm", vocab_size=30, embedding_dim=8, hidden_size=8, num_layers=1,
                       fc_sizes=[8]).eval()
    with pytest.raises(SteppingError, match="steps only a float32 Transformer on a CPU"):
        make_stepper(lstm, CPU, "onnx")
    with pytest.raises(SteppingError, match="steps only a float32 Transformer on a CPU"):
        make_stepper(transformer(), torch.device("cuda"), "onnx")


def test_hand_written_protobuf_reads_back_with_the_onnx_package():
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from ml_core.models import onnx_proto

    weight = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    codes = np.array([[0, 128, 255]], np.uint8)
    data = onnx_proto.model(
        "g", [onnx_proto.node("MatMul", ["x", "w"], ["y"]),
              onnx_proto.node("LayerNormalization", ["y", "", "w"], ["z"], axis=-1,
                              epsilon=1e-5),
              onnx_proto.node("MatMulNBits", ["z"], ["q"], "com.microsoft", K=-3, N=300)],
        [onnx_proto.tensor("w", weight), onnx_proto.tensor("c", codes)],
        [onnx_proto.float_value("x", ["rows", 2])], [onnx_proto.float_value("q", None)],
        {"": 17, "com.microsoft": 1})
    model = onnx.ModelProto.FromString(data)
    assert model.ir_version == onnx_proto.IR_VERSION
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 17), ("com.microsoft", 1)}
    graph = model.graph
    assert [n.op_type for n in graph.node] == ["MatMul", "LayerNormalization", "MatMulNBits"]
    assert list(graph.node[1].input) == ["y", "", "w"] and graph.node[2].domain == "com.microsoft"
    attributes = {a.name: onnx.helper.get_attribute_value(a) for n in graph.node
                  for a in n.attribute}
    assert attributes == {"axis": -1, "epsilon": pytest.approx(1e-5), "K": -3, "N": 300}
    np.testing.assert_array_equal(numpy_helper.to_array(graph.initializer[0]), weight)
    np.testing.assert_array_equal(numpy_helper.to_array(graph.initializer[1]), codes)
    dims = graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("rows", 2)
    assert graph.output[0].name == "q" and not graph.output[0].type.tensor_type.HasField("shape")

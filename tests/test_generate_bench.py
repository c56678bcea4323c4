"""bench/generate.py: which engines it times for a model (the baseline's fastest among
them is the issue-43 comparison), with and without ONNX Runtime."""

from __future__ import annotations

import sys

from bench.generate import cpu_engines
from ml_core.models import build_model, onnx_stepper


def _models():
    transformer = build_model("transformer", vocab_size=30, d_model=32, num_layers=1,
                              num_heads=2, ff_size=64, context=16).eval()
    lstm = build_model("lstm", vocab_size=30, embedding_dim=8, hidden_size=8, num_layers=1,
                       fc_sizes=[8]).eval()
    return transformer, lstm


def test_engines_start_with_autos_choice_and_list_each_cpu_engine_once():
    transformer, lstm = _models()
    engines = cpu_engines(transformer)
    expected = ["onnx", "numpy"] if onnx_stepper.preferred() else ["numpy"] + (
        ["onnx"] if onnx_stepper.available() else [])
    assert engines == expected
    assert cpu_engines(lstm) == ["numpy"]                 # the runtime steps Transformers only
    assert cpu_engines(build_model("rnn", vocab_size=30)) == ["torch"]


def test_without_the_runtime_the_bench_times_numpy_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    onnx_stepper.available.cache_clear()
    try:
        assert cpu_engines(_models()[0]) == ["numpy"]
    finally:
        onnx_stepper.available.cache_clear()


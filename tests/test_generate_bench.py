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



def test_a_run_reports_its_rate_and_the_notes_it_wrote():
    """The bench's notes per second count the notes the continuation holds (what a musician
    waits for), beside the tokens per second."""
    from types import SimpleNamespace

    import torch

    from bench.generate import Clocks
    from ml_core.generation import GenerationOptions, continue_score
    from ml_core.music import Note, Score, Track
    from ml_core.tokenizers import get_tokenizer

    tokenizer = get_tokenizer("remi")
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                        num_layers=1, num_heads=2, ff_size=64, context=64).eval()
    bundle = SimpleNamespace(model=model, tokenizer=tokenizer, name="tiny")
    prompt = Score([Track("p", 0, False, [Note(60 + i % 5, i * 480, 480, 80) for i in range(8)])])
    clocks = Clocks()
    clocks.run("numpy", bundle, prompt, 48, "numpy")
    expected = continue_score(bundle, prompt, GenerationOptions(
        bars=10_000, max_tokens=48, seed=0, stay_in_key=True, engine="numpy"))
    assert clocks.notes["numpy"] == len(expected.new_notes[0]) > 0
    assert clocks.note_rate("numpy") == clocks.notes["numpy"] / clocks.wall["numpy"]
    assert clocks.rate("numpy", 48) > 0

"""Generation speed at batch 1 on the CPU, several ways on the same model in the same run:

- `auto`: what the app and `composer-train generate` do on a CPU: the whole Continue
  pipeline (`ml_core.generation.continue_score`: grammar mask, stay in key, Motif bias,
  sampling, decoding) with the engine `make_stepper` picks (`onnx`: ONNX Runtime's 8-bit
  kernels for the dense products, where installed on a CPU with fast int8 products (AVX2,
  VNNI, Arm dot product);
  else `numpy`, `ml_core.models.stepping`);
- `numpy`: the same pipeline stepped in NumPy (when `auto` is another engine);
- `torch`: the same pipeline with the model's own incremental torch forward (KV cache);
- `recompute`: the research code's method, a full forward over the whole window for
  every new token (timed on an evenly spread sample of its steps and extrapolated).

    .venv/bin/python -m bench.generate [--model default|lstm|PATH] [--prompt-tokens 256]
                                       [--tokens 512] [--repeats 3] [--recompute-tokens 48]
                                       [--baseline bach-chorales]

The model is a bundled model (`default` unless told) with its real weights. The prompt is
an example motif repeated until it encodes to `--prompt-tokens` tokens (then cut there);
512 new tokens overflow the default model's 512-token window, so the window slides as in
real use. The methods run in alternating rounds so that they share the machine's load,
each on one torch thread (the setting generation uses). Also 4 variations as one batch.
With `--baseline MODEL` that model's pipeline runs in the same rounds (same prompt motif
and lengths) with every CPU engine it can use, and its fastest one is the baseline (the
issue-43 check: a new default against `bach-chorales`, today's 2.5M architecture, each
with its own best engine); the JSON line adds "baseline_tokens_per_s",
"ratio_vs_baseline", each baseline engine's rate, the same ratio counted in this
process's CPU seconds, which a machine shared with other work disturbs less than the
wall clock, and notes written per second by each (a tokenizer with bar controls spends
more tokens on a bar, though the grammar forces those: see `extend` in
ml_core.models.stepping). Ends with one JSON line:
{"engine": ..., "tokens_per_s": ..., "recompute_tokens_per_s": ..., "ratio": ...,
 "batched4_tokens_per_s": ..., "torch_tokens_per_s": ..., "ratio_vs_torch": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from ml_core import bundle as bundle_module
from ml_core.generation import GenerationOptions, continue_score
from ml_core.midi_io import read_score
from ml_core.models.stepping import SteppingError, make_stepper
from ml_core.music import Score, Track, bar_ticks
from ml_core.sampling import sample

_HERE = Path(__file__).resolve().parent

ROOT = _HERE.parent


def pipeline_run(bundle, prompt, tokens: int, engine: str, variations: int = 1,
                 clock=time.perf_counter) -> tuple[float, int]:
    """(generated tokens per second of all rows, notes written) of the Continue pipeline,
    prompt included."""
    options = GenerationOptions(bars=10_000, max_tokens=tokens, seed=0, stay_in_key=True,
                                variations=variations, engine=engine)
    started = clock()
    result = continue_score(bundle, prompt, options)
    rate = variations * result.tokens_generated / max(clock() - started, 1e-9)
    return rate, sum(len(notes) for notes in result.new_notes)


def pipeline_rate(bundle, prompt, tokens: int, engine: str, variations: int = 1) -> float:
    return pipeline_run(bundle, prompt, tokens, engine, variations)[0]


def load_bundle(name: str):
    path = Path(name)
    if not path.is_dir():
        path = ROOT / "resources" / "models" / name
    return path, bundle_module.load(path, device="cpu")


def long_prompt(tokenizer, motif: Score, tokens: int) -> Score:
    """`motif` repeated (bar-aligned) until it encodes to at least `tokens` tokens, cut to
    the notes that its first `tokens` tokens hold."""
    length = -(-motif.end_tick // bar_ticks(motif.time_signature)) * bar_ticks(motif.time_signature)
    copies, score = 1, motif
    while len(tokenizer.encode(score)) < tokens:
        copies += 1
        score = motif.with_tracks([Track(t.name, t.program, t.is_drum,
                                         [n.moved(start=n.start + k * length)
                                          for k in range(copies) for n in t.notes])
                                   for t in motif.tracks])
    return motif.with_tracks(tokenizer.decode(tokenizer.encode(score)[:tokens]).tracks)


def recompute_seconds(model, window_length: int, vocab: int, generator: torch.Generator) -> float:
    """One step of the research method: a full forward over the window, then a draw."""
    window = torch.randint(0, vocab, (1, window_length), generator=generator)
    started = time.perf_counter()
    with torch.inference_mode():
        logits, _ = model(window)
        sample(logits[:, -1], temperature=1.0, generator=generator)
    return time.perf_counter() - started


def cpu_engines(model) -> list[str]:
    """The engines that can step `model` on a CPU, `auto`'s choice first."""
    chosen = make_stepper(model, torch.device("cpu")).engine
    engines = [chosen]
    for engine in ("onnx", "numpy"):
        if engine != chosen:
            try:
                make_stepper(model, torch.device("cpu"), engine)
            except SteppingError:
                continue
            engines.append(engine)
    return engines


class Clocks:
    """Wall and CPU seconds spent per label, over the rounds."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.notes: dict[str, int] = {}

    def run(self, label: str, bundle, prompt, tokens: int, engine: str,
            variations: int = 1) -> None:
        started = time.process_time()
        rate, notes = pipeline_run(bundle, prompt, tokens, engine, variations)
        self.wall[label] = self.wall.get(label, 0.0) + variations * tokens / rate
        self.notes[label] = self.notes.get(label, 0) + notes
        self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - started

    def rate(self, label: str, tokens: int) -> float:
        return tokens / self.wall[label]

    def cpu_rate(self, label: str, tokens: int) -> float:
        return tokens / self.cpu[label]

    def note_rate(self, label: str) -> float:
        """Notes written per second: tokenizers spend different numbers of tokens on a
        note (bar controls, track sections), so this compares what a musician waits for."""
        return self.notes[label] / self.wall[label]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default",
                        help="a bundled model's name or a bundle folder")
    parser.add_argument("--motif", default=str(ROOT / "resources/examples/c_major_4-4.mid"),
                        help="the motif repeated into the prompt")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=512, help="tokens generated per run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--recompute-tokens", type=int, default=48,
                        help="steps of the slow method to time, spread over the run")
    parser.add_argument("--baseline",
                        help="a second model whose pipeline runs in the same rounds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path, bundle = load_bundle(args.model)
    motif = read_score(Path(args.motif))
    prompt = long_prompt(bundle.tokenizer, motif, args.prompt_tokens)
    engines = cpu_engines(bundle.model)
    baseline = base_prompt = None
    base_engines: list[str] = []
    if args.baseline:
        _, baseline = load_bundle(args.baseline)
        base_prompt = long_prompt(baseline.tokenizer, motif, args.prompt_tokens)
        base_engines = cpu_engines(baseline.model)
        for engine in base_engines:
            pipeline_rate(baseline, base_prompt, 32, engine)
    prompt_tokens = len(bundle.tokenizer.encode(prompt))
    limit = getattr(bundle.model, "max_context", None) or 10**9
    vocab = bundle.tokenizer.vocab_size
    generator = torch.Generator().manual_seed(0)
    for engine in engines + ["torch"]:                   # warm-up (weights converted once)
        pipeline_rate(bundle, prompt, 32, engine)
    clocks = Clocks()
    recompute_total, recompute_count = 0.0, 0
    steps = list(range(0, args.tokens, max(1, args.tokens // args.recompute_tokens)))
    for round_index in range(args.repeats):
        for engine in base_engines:
            clocks.run(f"baseline {engine}", baseline, base_prompt, args.tokens, engine)
        for engine in engines:
            clocks.run(engine, bundle, prompt, args.tokens, engine)
        clocks.run("torch", bundle, prompt, args.tokens, "torch")
        clocks.run("batched4", bundle, prompt, args.tokens, engines[0], 4)
        for step in steps[round_index::args.repeats]:
            recompute_total += recompute_seconds(bundle.model, min(prompt_tokens + step, limit),
                                                 vocab, generator)
            recompute_count += 1
    total = args.repeats * args.tokens
    fast_rate = clocks.rate(engines[0], total)
    torch_rate = clocks.rate("torch", total)
    recompute_rate = recompute_count / recompute_total
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"model: {path.name} ({bundle.model.arch}, {bundle.model.parameter_count():,} "
          f"parameters), prompt {prompt_tokens} tokens, {args.tokens} new tokens, "
          f"1 torch thread, load average {load:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    print(", ".join(f"{engine} engine {clocks.rate(engine, total):.0f} tokens/s"
                    for engine in engines) + f" (auto: {engines[0]}), torch engine "
          f"{torch_rate:.0f}, recompute {recompute_rate:.0f}: {fast_rate / torch_rate:.2f}x "
          f"and {fast_rate / recompute_rate:.1f}x", file=sys.stderr)
    figures = {"engine": engines[0], "tokens_per_s": round(fast_rate, 1),
               "recompute_tokens_per_s": round(recompute_rate, 1),
               "ratio": round(fast_rate / recompute_rate, 1),
               "batched4_tokens_per_s": round(4 * total / clocks.wall["batched4"], 1),
               "torch_tokens_per_s": round(torch_rate, 1),
               "ratio_vs_torch": round(fast_rate / torch_rate, 2)}
    for engine in engines[1:]:
        figures[f"{engine}_tokens_per_s"] = round(clocks.rate(engine, total), 1)
    if baseline is not None:
        labels = [f"baseline {engine}" for engine in base_engines]
        best = max(labels, key=lambda label: clocks.rate(label, total))
        base_rate = clocks.rate(best, total)
        cpu_ratio = clocks.cpu[best] / clocks.cpu[engines[0]]
        print(f"baseline {args.baseline}: " + ", ".join(
            f"{label.split()[1]} {clocks.rate(label, total):.0f} tokens/s" for label in labels)
              + f"; this model ({engines[0]}) {fast_rate / base_rate:.2f}x its fastest "
              f"({best.split()[1]}); in CPU seconds {cpu_ratio:.2f}x; notes written per second "
              f"{clocks.note_rate(engines[0]):.0f} against {clocks.note_rate(best):.0f} "
              f"({clocks.note_rate(engines[0]) / clocks.note_rate(best):.2f}x)", file=sys.stderr)
        figures.update({"baseline": args.baseline, "baseline_engine": best.split()[1],
                        "baseline_tokens_per_s": round(base_rate, 1),
                        "ratio_vs_baseline": round(fast_rate / base_rate, 3),
                        "cpu_tokens_per_s": round(clocks.cpu_rate(engines[0], total), 1),
                        "cpu_ratio_vs_baseline": round(cpu_ratio, 3),
                        "notes_per_s": round(clocks.note_rate(engines[0]), 1),
                        "baseline_notes_per_s": round(clocks.note_rate(best), 1),
                        "notes_ratio_vs_baseline": round(clocks.note_rate(engines[0])
                                                         / clocks.note_rate(best), 3)})
        for label in labels:
            engine = label.split()[1]
            figures[f"baseline_{engine}_tokens_per_s"] = round(clocks.rate(label, total), 1)
            figures[f"ratio_vs_baseline_{engine}"] = round(
                fast_rate / clocks.rate(label, total), 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

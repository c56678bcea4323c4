"""Generation speed at batch 1 on the CPU, three ways on the same model in the same run:

- `numpy`: what the app and `composer-train generate` do on a CPU: the whole Continue
  pipeline (`ml_core.generation.continue_score`: grammar mask, stay in key, sampling,
  decoding) with the model stepped in NumPy (`ml_core.models.stepping`);
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
With `--baseline MODEL` that model's `numpy` pipeline runs in the same rounds (same
prompt motif and lengths) and the JSON line adds "baseline_tokens_per_s" and
"ratio_vs_baseline" (the issue-43 check: a new default against `bach-chorales`, today's
2.5M architecture), plus the same two figures counted in this process's CPU seconds,
which a machine shared with other work disturbs less than the wall clock.
Ends with one JSON line:
{"tokens_per_s": ..., "recompute_tokens_per_s": ..., "ratio": ..., "batched4_tokens_per_s": ...,
 "torch_tokens_per_s": ..., "ratio_vs_torch": ...}
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
from ml_core.music import Score, Track, bar_ticks
from ml_core.sampling import sample

_HERE = Path(__file__).resolve().parent

ROOT = _HERE.parent


def pipeline_rate(bundle, prompt, tokens: int, engine: str, variations: int = 1,
                  clock=time.perf_counter) -> float:
    """Generated tokens per second (all rows) of the Continue pipeline, prompt included."""
    options = GenerationOptions(bars=10_000, max_tokens=tokens, seed=0, stay_in_key=True,
                                variations=variations, engine=engine)
    started = clock()
    result = continue_score(bundle, prompt, options)
    return variations * result.tokens_generated / max(clock() - started, 1e-9)


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
                        help="a second model whose numpy pipeline runs in the same rounds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path, bundle = load_bundle(args.model)
    motif = read_score(Path(args.motif))
    prompt = long_prompt(bundle.tokenizer, motif, args.prompt_tokens)
    baseline = base_prompt = None
    if args.baseline:
        _, baseline = load_bundle(args.baseline)
        base_prompt = long_prompt(baseline.tokenizer, motif, args.prompt_tokens)
        pipeline_rate(baseline, base_prompt, 32, "numpy")
    prompt_tokens = len(bundle.tokenizer.encode(prompt))
    limit = getattr(bundle.model, "max_context", None) or 10**9
    vocab = bundle.tokenizer.vocab_size
    generator = torch.Generator().manual_seed(0)
    pipeline_rate(bundle, prompt, 32, "numpy")           # warm-up (weights converted once)
    pipeline_rate(bundle, prompt, 32, "torch")
    fast = slow = variations = 0.0
    cpu = {"model": 0.0, "baseline": 0.0}
    base_wall = 0.0
    recompute_total, recompute_count = 0.0, 0
    steps = list(range(0, args.tokens, max(1, args.tokens // args.recompute_tokens)))
    for round_index in range(args.repeats):
        if baseline is not None:
            started = time.process_time()
            base_wall += args.tokens / pipeline_rate(baseline, base_prompt, args.tokens, "numpy")
            cpu["baseline"] += time.process_time() - started
        started = time.process_time()
        fast += args.tokens / pipeline_rate(bundle, prompt, args.tokens, "numpy")
        cpu["model"] += time.process_time() - started
        slow += args.tokens / pipeline_rate(bundle, prompt, args.tokens, "torch")
        variations += 4 * args.tokens / pipeline_rate(bundle, prompt, args.tokens, "numpy", 4)
        for step in steps[round_index::args.repeats]:
            recompute_total += recompute_seconds(bundle.model, min(prompt_tokens + step, limit),
                                                 vocab, generator)
            recompute_count += 1
    numpy_rate = args.repeats * args.tokens / fast
    torch_rate = args.repeats * args.tokens / slow
    recompute_rate = recompute_count / recompute_total
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"model: {path.name} ({bundle.model.arch}, {bundle.model.parameter_count():,} "
          f"parameters), prompt {prompt_tokens} tokens, {args.tokens} new tokens, "
          f"1 torch thread, load average {load:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    print(f"numpy engine {numpy_rate:.0f} tokens/s, torch engine {torch_rate:.0f}, "
          f"recompute {recompute_rate:.0f}: {numpy_rate / torch_rate:.2f}x and "
          f"{numpy_rate / recompute_rate:.1f}x", file=sys.stderr)
    figures = {"tokens_per_s": round(numpy_rate, 1),
               "recompute_tokens_per_s": round(recompute_rate, 1),
               "ratio": round(numpy_rate / recompute_rate, 1),
               "batched4_tokens_per_s": round(4 * args.repeats * args.tokens / variations, 1),
               "torch_tokens_per_s": round(torch_rate, 1),
               "ratio_vs_torch": round(numpy_rate / torch_rate, 2)}
    if baseline is not None:
        base_rate = args.repeats * args.tokens / base_wall
        print(f"baseline {args.baseline}: {base_rate:.0f} tokens/s, this model "
              f"{numpy_rate / base_rate:.2f}x; "
              f"in CPU seconds {cpu['baseline'] / cpu['model']:.2f}x", file=sys.stderr)
        figures.update({"baseline": args.baseline, "baseline_tokens_per_s": round(base_rate, 1),
                        "ratio_vs_baseline": round(numpy_rate / base_rate, 3),
                        "cpu_tokens_per_s": round(args.repeats * args.tokens / cpu["model"], 1),
                        "cpu_ratio_vs_baseline": round(cpu["baseline"] / cpu["model"], 3)})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Generation speed at batch 1 on the CPU, three ways on the same model in the same run:

- `numpy`: what the app and `composer-train generate` do on a CPU: the whole Continue
  pipeline (`ml_core.generation.continue_score`: grammar mask, stay in key, sampling,
  decoding) with the model stepped in NumPy (`ml_core.models.stepping`);
- `torch`: the same pipeline with the model's own incremental torch forward (KV cache);
- `recompute`: the research code's method, a full forward over the whole window for
  every new token (timed on an evenly spread sample of its steps and extrapolated).

    .venv/bin/python -m bench.generate [--model default|lstm|PATH] [--prompt-tokens 256]
                                       [--tokens 512] [--repeats 3] [--recompute-tokens 48]

The model is a bundled model (`default` unless told) with its real weights. The prompt is
an example motif repeated until it encodes to `--prompt-tokens` tokens (then cut there);
512 new tokens overflow the default model's 512-token window, so the window slides as in
real use. The methods run in alternating rounds so that they share the machine's load,
each on one torch thread (the setting generation uses). Also 4 variations as one batch.
Ends with one JSON line:
{"tokens_per_s": ..., "recompute_tokens_per_s": ..., "ratio": ..., "batched4_tokens_per_s": ...,
 "torch_tokens_per_s": ..., "ratio_vs_torch": ...}
"""

from __future__ import annotations

# Run as a script, Python puts bench/ first on sys.path, where a sibling module (e.g.
# bench/tokenize.py) would shadow the standard library; use the repository root instead.
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


def pipeline_rate(bundle, prompt, tokens: int, engine: str, variations: int = 1) -> float:
    """Generated tokens per second (all rows) of the Continue pipeline, prompt included."""
    options = GenerationOptions(bars=10_000, max_tokens=tokens, seed=0, stay_in_key=True,
                                variations=variations, engine=engine)
    started = time.perf_counter()
    result = continue_score(bundle, prompt, options)
    return variations * result.tokens_generated / (time.perf_counter() - started)


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
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = Path(args.model)
    if not path.is_dir():
        path = ROOT / "resources" / "models" / args.model
    bundle = bundle_module.load(path, device="cpu")
    prompt = long_prompt(bundle.tokenizer, read_score(Path(args.motif)), args.prompt_tokens)
    prompt_tokens = len(bundle.tokenizer.encode(prompt))
    limit = getattr(bundle.model, "max_context", None) or 10**9
    vocab = bundle.tokenizer.vocab_size
    generator = torch.Generator().manual_seed(0)
    pipeline_rate(bundle, prompt, 32, "numpy")           # warm-up (weights converted once)
    pipeline_rate(bundle, prompt, 32, "torch")
    fast = slow = variations = 0.0
    recompute_total, recompute_count = 0.0, 0
    steps = list(range(0, args.tokens, max(1, args.tokens // args.recompute_tokens)))
    for round_index in range(args.repeats):
        fast += args.tokens / pipeline_rate(bundle, prompt, args.tokens, "numpy")
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
    print(json.dumps({"tokens_per_s": round(numpy_rate, 1),
                      "recompute_tokens_per_s": round(recompute_rate, 1),
                      "ratio": round(numpy_rate / recompute_rate, 1),
                      "batched4_tokens_per_s": round(4 * args.repeats * args.tokens / variations,
                                                     1),
                      "torch_tokens_per_s": round(torch_rate, 1),
                      "ratio_vs_torch": round(numpy_rate / torch_rate, 2)}))


if __name__ == "__main__":
    main()

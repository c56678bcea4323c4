"""Generation speed: our incremental generator (KV cache, one token per step) against the
research code's method (a full forward pass over the whole window for every new token),
same model, same run. Also 4 variations generated as one batch.

    .venv/bin/python bench/generate.py [--new-tokens 512] [--prompt 256] [--threads 1]
                                       [--recompute-tokens 64] [--repeats 4]

The model is the `default` preset (random weights are fine for timing) at vocab 300.
Both methods run in alternating rounds so they share the machine's load; the slow method
times an evenly spread sample of its steps (each one full forward over its window) and
extrapolates, since timing all 512 of them takes minutes. Ends with one JSON line:
{"tokens_per_s": ..., "recompute_tokens_per_s": ..., "ratio": ..., "batched4_tokens_per_s": ...}
"""

from __future__ import annotations

import os
import sys

# Run as a script, Python puts bench/ first on sys.path, where a sibling module (e.g.
# bench/tokenize.py) would shadow the standard library; use the repository root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from ml_core.models.presets import get_preset  # noqa: E402
from ml_core.sampling import sample  # noqa: E402

VOCAB = 300


def incremental(model, prompt: torch.Tensor, new_tokens: int, generator: torch.Generator) -> float:
    """Tokens per second of KV-cached generation (prompt encoding included in the time)."""
    limit = model.max_context
    started = time.perf_counter()
    logits, state = model(prompt)
    used = prompt.shape[1]
    logits = logits[:, -1]
    for _ in range(new_tokens):
        token, _ = sample(logits, temperature=1.0, generator=generator)
        if used + 1 > limit:
            state, used = model.crop_state(state, limit // 2), limit // 2
        logits, state = model(token.unsqueeze(1), state)
        logits = logits[:, -1]
        used += 1
    return prompt.shape[0] * new_tokens / (time.perf_counter() - started)


def recompute_step_seconds(model, prompt: torch.Tensor, step: int,
                           generator: torch.Generator) -> float:
    """Seconds the research method spends on new token number `step`: one full forward over
    the window (the last max_context tokens of prompt + generated so far) and a sample."""
    length = min(prompt.shape[1] + step, model.max_context)
    window = torch.randint(0, VOCAB, (prompt.shape[0], length), generator=generator)
    started = time.perf_counter()
    logits, _ = model(window)
    sample(logits[:, -1], temperature=1.0, generator=generator)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--recompute-tokens", type=int, default=64,
                        help="steps of the slow method to time, spread over the run")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both methods (1 suits one-token steps: a "
                             "second thread only adds synchronisation, and stalls whenever "
                             "the machine is busy)")
    parser.add_argument("--repeats", type=int, default=4, help="alternating rounds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = get_preset("default").build(vocab_size=VOCAB).eval()
    prompt = torch.randint(0, VOCAB, (1, args.prompt))
    generator = torch.Generator().manual_seed(0)
    # The two methods are measured in alternating rounds so that they share whatever load
    # the machine has. The slow method times `--recompute-tokens` of its steps, spread evenly
    # over the run (each step costs one forward over its window), and extrapolates.
    steps = list(range(0, args.new_tokens, max(1, args.new_tokens // args.recompute_tokens)))
    per_round = [steps[r::args.repeats] for r in range(args.repeats)]
    fast_seconds = slow_seconds = batched_seconds = 0.0
    with torch.inference_mode():
        incremental(model, prompt, 32, generator)  # warm-up
        for round_steps in per_round:
            fast_seconds += args.new_tokens / incremental(model, prompt, args.new_tokens, generator)
            batched_seconds += 4 * args.new_tokens / incremental(
                model, prompt.repeat(4, 1), args.new_tokens, generator)
            slow_seconds += sum(recompute_step_seconds(model, prompt, step, generator)
                                for step in round_steps)
    fast = args.repeats * args.new_tokens / fast_seconds
    batched = args.repeats * 4 * args.new_tokens / batched_seconds
    slow = len(steps) / slow_seconds
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"model: default preset, {model.parameter_count():,} parameters, vocab {VOCAB}, "
          f"{torch.get_num_threads()} threads, load average {load:.1f} on {os.cpu_count()} "
          f"CPUs", file=sys.stderr)
    print(json.dumps({"tokens_per_s": round(fast, 1), "recompute_tokens_per_s": round(slow, 1),
                      "ratio": round(fast / slow, 1), "batched4_tokens_per_s": round(batched, 1)}))


if __name__ == "__main__":
    main()

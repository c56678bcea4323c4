"""Training throughput of the `default` preset on CPU, on synthetic windows.

Runs the training step of ml_core.training (window sampling, forward, loss, backward,
gradient clipping, optimizer step) for a few dozen steps with the preset's recipe
(batch 16, 256-token windows), then the same model in fp32 eager mode at batch 1 as the
baseline, and ends with ONE JSON line:

    {"tokens_per_s": ..., "baseline_tokens_per_s": ..., "ratio": ..., ...}

    python bench/train_throughput.py [--steps 30] [--precision fp32|bf16] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The repository root instead of bench/ (whose script names could shadow stdlib modules).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ml_core.data import Split, WindowSampler  # noqa: E402
from ml_core.losses import IGNORE_INDEX, LossConfig, token_loss  # noqa: E402
from ml_core.models.presets import get_preset  # noqa: E402
from ml_core.training import make_optimizer  # noqa: E402

VOCAB = 300  # about the size of the REMI vocabulary the default preset is trained with


def synthetic_split(pieces: int = 64, length: int = 2000, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, VOCAB, size=pieces * length, dtype=np.int32)
    return Split(data, np.arange(0, pieces * length + 1, length, dtype=np.int64))


def measure(batch_size: int, window: int, steps: int, precision: str, warmup: int = 3) -> float:
    """Trained tokens per second over `steps` steps (after `warmup` untimed ones)."""
    preset = get_preset("default")
    torch.manual_seed(0)
    model = preset.build(vocab_size=VOCAB)
    model.train()
    optimizer = make_optimizer(preset.optimizer, model.parameters(), preset.lr)
    sampler = WindowSampler(synthetic_split(), window)
    dtype = torch.bfloat16 if precision == "bf16" else None
    tokens, started = 0, 0.0
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        batch = sampler.sample(np.random.default_rng([0, step]), batch_size)
        items = torch.from_numpy(batch.items)
        valid = torch.from_numpy(batch.valid[:, 1:])
        targets = items[:, 1:].masked_fill(~valid, IGNORE_INDEX)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits, _ = model(items[:, :-1])
        loss = token_loss(logits, targets, LossConfig("ce"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= warmup:
            tokens += int(valid.sum())
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    preset = get_preset("default")
    window = preset.window - 1  # the preset counts inputs + 1 target
    ours = measure(preset.batch_size, window, args.steps, args.precision)
    print(f"recipe: batch {preset.batch_size}, window {window}, {args.precision}: {ours:,.0f} tokens/s",
          file=sys.stderr)
    baseline = measure(1, window, args.steps, "fp32")
    print(f"baseline: batch 1, window {window}, fp32 eager: {baseline:,.0f} tokens/s", file=sys.stderr)
    print(json.dumps({"tokens_per_s": round(ours, 1), "baseline_tokens_per_s": round(baseline, 1),
                      "ratio": round(ours / baseline, 2), "batch_size": preset.batch_size,
                      "window": window, "precision": args.precision, "threads": args.threads,
                      "steps": args.steps}))


if __name__ == "__main__":
    main()

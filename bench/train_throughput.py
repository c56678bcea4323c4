"""Training throughput: the shipped trainer against a plain reference loop, in one run.

On the same synthetic data (random notes written as MIDI files, then `prepare`d with each
preset's tokenizer, so the windows are real token sequences):

  (a) the `default` preset through the shipped trainer (`ml_core.training.Trainer`: its
      precision, compile and optimizer choices, as a long `composer-train train` run
      gets them);
  (b) the 4.3M Transformer of "Symbolic Music Generation with Deep Learning Techniques"
      (`transformer-symbolic-4.3m`) through the shipped trainer;
  (c) the baseline: that Transformer trained as the paper describes it, written plainly
      (fp32, eager, `ml_core.models.reference.reference_forward` with the relative
      logits and RealFormer scores written out, batch 8, Adamax);
  (d) this machine's matmul rate (a 2048^3 product, fp32 and bf16) and each model's
      FLOPs per trained token, giving each run's share of the peak of the precision it
      ran in (MFU).

Throughput is the median of the per-step tokens/s after the warm-up steps (compilation
included in those). It ends with ONE JSON line:

    {"default_tokens_per_s": ..., "paper_transformer_tokens_per_s": ...,
     "reference_tokens_per_s": ..., "ratio": (b)/(c), "default_mfu": ...,
     "paper_transformer_mfu": ..., ...}

    python -m bench.train_throughput [--steps 12] [--warmup 3] [--compile auto|on|off]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ml_core.acceleration import matmul_rate, should_compile
from ml_core.data import PrepareOptions, WindowSampler, load_dataset, prepare_dataset
from ml_core.losses import IGNORE_INDEX, token_loss
from ml_core.midi_io import write_midi
from ml_core.models.presets import get_preset
from ml_core.models.reference import reference_forward
from ml_core.music import Note, Score, Track
from ml_core.training import Trainer, TrainOptions

PAPER = "transformer-symbolic-4.3m"


def synthetic_sources(folder: Path, pieces: int = 24, bars: int = 48) -> Path:
    """Random four-voice music in 4/4 as MIDI files: enough windows for every batch."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(pieces):
        notes = []
        for eighth in range(bars * 8):
            for _ in range(int(rng.integers(1, 4))):
                notes.append(Note(int(rng.integers(48, 84)), eighth * 240,
                                  int(rng.choice([240, 480, 960])), 80))
        write_midi(Score([Track("piano", 0, False, notes)], tempo_bpm=100),
                   folder / f"piece{index}.mid")
    return folder


def flops_per_token(model: torch.nn.Module, window: int) -> float:
    """Training FLOPs per token: 6 per weight of every matrix product, plus attention
    (QK^T and AV: 12 x layers x window x d; relative logits QE^T: 6 x layers x window x d)."""
    matrix_weights = sum(m.weight.numel() for m in model.modules()
                         if isinstance(m, torch.nn.Linear))
    config = model.config
    attention = 12 * config.num_layers * window * config.d_model
    if config.positions == "relative":
        attention += 6 * config.num_layers * window * config.d_model
    return 6 * matrix_weights + attention


def trainer_throughput(data: Path, preset: str, steps: int, warmup: int, compile_mode: str,
                       out: Path) -> tuple[float, str, bool, Trainer]:
    """Median tokens/s of the shipped trainer's steps after `warmup` steps."""
    options = TrainOptions(data=data, out=str(out), preset=preset, max_steps=warmup + steps,
                           epoch_fraction=1.0, epochs=1, log_every=1, checkpoint_every=10**6,
                           max_val_windows=8, compile=compile_mode)
    trainer = Trainer(options, log=lambda message: print(f"  {message}", file=sys.stderr))
    result = trainer.run()
    speeds = [r["tokens_per_s"] for r in result.history if r.get("type") == "step"][warmup:]
    return statistics.median(speeds), trainer.precision, trainer.compiled_loss is not None, trainer


def reference_throughput(data: Path, steps: int, warmup: int) -> float:
    """The paper's loop written plainly: fp32, eager, written-out attention, batch 8, Adamax."""
    preset = get_preset(PAPER)
    dataset = load_dataset(data)
    torch.manual_seed(0)
    model = preset.build(vocab_size=int(dataset.vocab_size)).train()
    optimizer = torch.optim.Adamax(model.parameters(), lr=preset.lr, foreach=False)
    window = preset.window - 1
    sampler = WindowSampler(dataset.train, window, dataset.pad_id)
    speeds = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        batch = sampler.sample(np.random.default_rng([0, step]), preset.batch_size)
        items = torch.from_numpy(batch.items)
        valid = torch.from_numpy(batch.valid[:, 1:])
        targets = items[:, 1:].masked_fill(~valid, IGNORE_INDEX)
        loss = token_loss(reference_forward(model, items[:, :-1]), targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= warmup:
            speeds.append(int(valid.sum()) / (time.perf_counter() - started))
    return statistics.median(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps (compilation)")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                        help="auto: what a long `composer-train train` run does on this machine")
    args = parser.parse_args()
    device = torch.device("cpu")
    compile_mode = args.compile
    if compile_mode == "auto":
        compile_mode = "on" if should_compile("auto", device, 10**6) else "off"

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        sources = synthetic_sources(root / "midi")
        data = {}
        for preset in ("default", PAPER):
            tokenizer = get_preset(preset).tokenizer
            data[preset] = root / f"data-{preset}"
            prepare_dataset([str(sources)], data[preset],
                            PrepareOptions(tokenizer, val_fraction=0.1))

        rates = {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}
        print(f"matmul 2048^3: fp32 {rates['fp32'] / 1e9:,.0f} GFLOP/s, "
              f"bf16 {rates['bf16'] / 1e9:,.0f} GFLOP/s", file=sys.stderr)

        figures = {}
        for key, preset in (("default", "default"), ("paper_transformer", PAPER)):
            speed, precision, compiled, trainer = trainer_throughput(
                data[preset], preset, args.steps, args.warmup, compile_mode, root / f"out-{key}")
            flops = flops_per_token(trainer.model, trainer.recipe.window)
            mfu = speed * flops / rates["bf16" if precision == "bf16" else "fp32"]
            figures[key] = (speed, precision, compiled, flops, mfu)
            print(f"({'a' if key == 'default' else 'b'}) {preset}: {speed:,.0f} tokens/s, "
                  f"{precision}, "
                  f"{'compiled' if compiled else 'eager'}, batch {trainer.recipe.batch_size}, "
                  f"{flops / 1e6:.1f} MFLOP/token, MFU {mfu:.1%}", file=sys.stderr)
        reference = reference_throughput(data[PAPER], max(3, args.steps // 2), 1)
        print(f"(c) reference loop ({PAPER}, fp32 eager, written-out attention, batch 8, Adamax): "
              f"{reference:,.0f} tokens/s", file=sys.stderr)

    default, paper = figures["default"], figures["paper_transformer"]
    print(json.dumps({
        "default_tokens_per_s": round(default[0], 1),
        "paper_transformer_tokens_per_s": round(paper[0], 1),
        "reference_tokens_per_s": round(reference, 1),
        "ratio": round(paper[0] / reference, 2),
        "default_mfu": round(default[4], 4), "paper_transformer_mfu": round(paper[4], 4),
        "default_precision": default[1], "paper_transformer_precision": paper[1],
        "compiled": default[2] and paper[2],
        "default_mflop_per_token": round(default[3] / 1e6, 2),
        "paper_transformer_mflop_per_token": round(paper[3] / 1e6, 2),
        "matmul_gflops_fp32": round(rates["fp32"] / 1e9, 1),
        "matmul_gflops_bf16": round(rates["bf16"] / 1e9, 1),
        "threads": torch.get_num_threads(), "steps": args.steps,
    }))


if __name__ == "__main__":
    main()

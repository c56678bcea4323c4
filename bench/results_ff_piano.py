"""The LSTM-vs-Transformer table of "Symbolic Music Generation with Deep Learning Techniques"
on the paper's own data (issue 44): its 214 training and 24 test files of Final Fantasy piano
arrangements (`../shared/data/ff-piano`, read in place), its 153-token representation
(bar_offset), its recipe (`docs/PRESETS.md`: windows of 257, the loss on all 256 targets,
batch 8, Adamax at its rates, an "epoch" of 2 % of the windows, the test NLL after each
epoch), early stopping on the test NLL (--patience, 3 epochs) capped at twice the paper's
best epoch (12 for the Transformer, 18 for the LSTM). The test NLL tiles every test piece
with windows of 256 targets, so each test token is scored once (the paper scored random
windows of the test set; the context lengths are spread the same way).

    python -m bench.results_ff_piano prepare           # the dataset + window counts (seconds)
    python -m bench.results_ff_piano speed             # tokens/s of each at 1 thread, estimate
    python -m bench.results_ff_piano pilot             # a reduced run of both, record "pilot"
    OMP_NUM_THREADS=1 nice -n 15 python -m bench.results_ff_piano train --model transformer \\
        --resume                                       # the real run, resumable (--resume)
    python -m bench.results_ff_piano report            # curves + the docs/RESULTS.md section
    python -m bench.results_ff_piano demise            # the Demise prompt's motif figures

The record, docs/results/ff-piano.json (bench/results_ff_record.py), is rewritten after every
epoch, so a run stopped by the end of a session leaves a true partial record; checkpoints
(atomic, every --checkpoint-every steps and at each epoch's end) and the prepared data live
under --work-dir, outside the repository; `train --resume` continues a run where it stopped
(a kill saves a checkpoint first). Each command ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import results_ff_record as records
from bench.results_plan import REPOSITORY, ModelRun, TrainPlan

DATA = REPOSITORY.parent / "shared" / "data" / "ff-piano"
WORK = REPOSITORY.parent / "data" / "ff-piano-prep"
RECORD = REPOSITORY / "docs" / "results" / "ff-piano.json"
PILOT = {"epoch_fraction": 0.0005, "epochs": 3, "val_windows": 32}   # ~40 steps an epoch


class FfPianoError(RuntimeError):
    """A one-line reason for a person."""


def prepare(data: Path, work: Path):
    """The paper's split in bar_offset tokens under `work` (cached): a PrepareResult."""
    from ml_core.data import MANIFEST, PrepareOptions, PrepareResult, prepare_dataset

    for split in ("train", "test"):
        if not (data / split).is_dir():
            prepared = work / "bar_offset"
            if (prepared / MANIFEST).is_file():   # carried to a machine without ../shared
                manifest = json.loads((prepared / MANIFEST).read_text(encoding="utf-8"))
                return PrepareResult(prepared, manifest, reused=True)
            raise FfPianoError(f"no {data / split}: the paper's data is not there")
    options = PrepareOptions(tokenizer="bar_offset", val_sources=(str(data / "test"),),
                             workers=1, score_cache=work / "score_cache")
    return prepare_dataset([str(data / "train")], work / "bar_offset", options)


def window_figures(directory: Path) -> dict[str, Any]:
    """Our windows of 257 counted as the paper counts them, against its figures; the
    difference and, above 2 %, what is known of it."""
    from ml_core.data import load_dataset

    dataset = load_dataset(directory)
    ours = {"train": records.paper_windows(dataset.train.lengths),
            "test": records.paper_windows(dataset.val.lengths)}
    paper = records.PAPER
    difference = {name: records.window_difference(ours[name], paper[f"{name}_windows"])
                  for name in ours}
    figures = {"train_windows": ours["train"], "test_windows": ours["test"],
               "window_difference": difference,
               "window_count_note": records.WINDOW_NOTE, "muspy_count": records.MUSPY_COUNT}
    if any(abs(value) > records.WINDOW_TOLERANCE for value in difference.values()):
        figures["window_count_explained"] = (
            "over 2 % from the paper's: our reader (ml_core.midi_io) and the paper's (muspy) "
            "give other notes; on the paper's files: " + records.WINDOW_NOTE)
    return figures


def data_figures(directory: Path) -> dict[str, Any]:
    """Files, tokens and notes of each split, and the test split's tokens per note."""
    import numpy as np

    from ml_core.data import load_dataset

    dataset = load_dataset(directory)
    tokenizer = dataset.encoder()
    is_pitch = np.array([bool(tokenizer.pitches_of(token))
                         for token in range(int(dataset.vocab_size))])
    figures: dict[str, Any] = {}
    for name, split in (("train", dataset.train), ("test", dataset.val)):
        notes = int(is_pitch[np.asarray(split.data)].sum())
        figures[name] = {"files": split.pieces, "tokens": int(len(split.data)), "notes": notes,
                         "tokens_per_note": len(split.data) / max(notes, 1)}
    return figures


def steps_per_epoch(directory: Path, fraction: float, batch: int, window: int = 256) -> int:
    """The trainer's steps per "epoch" (ml_core.training: fraction x windows / batch)."""
    from ml_core.data import load_dataset, window_counts

    total = int(window_counts(load_dataset(directory).train.lengths, window).sum())
    return max(1, math.ceil(fraction * total / batch))


def machine() -> str:
    from bench.results import cpu_name

    return f"{cpu_name()}, {platform.machine()} {platform.system()}, {os.cpu_count()} cores"


def recording_trainer(write: Callable[[Any, str], None]) -> type:
    """A Trainer that, after each epoch's test NLL, writes the record through `write(trainer,
    stopped_by)`."""
    from ml_core.training import Trainer

    class RecordingTrainer(Trainer):
        def _end_epoch(self, step_losses: float, steps: int) -> bool:
            stop = super()._end_epoch(step_losses, steps)
            write(self, "patience" if stop else "cap" if self.state.step >= self.total_steps
                  else "in progress")
            return stop

    return RecordingTrainer


def train_model(name: str, args: argparse.Namespace, say: Callable[[str], None],
                pilot: bool = False) -> dict[str, Any]:
    """Train (or resume) one model to early stopping or its cap, writing the record after
    every epoch; its entry."""
    from bench.results import train_or_resume
    from ml_core.metrics_log import read_metrics
    from ml_core.models.presets import get_preset

    prepared = prepare(args.data, args.work_dir)
    preset = get_preset(records.PRESETS[name])
    fraction = PILOT["epoch_fraction"] if pilot else preset.epoch_fraction
    per_epoch = steps_per_epoch(prepared.directory, fraction, preset.batch_size)
    cap = args.cap_epochs or (PILOT["epochs"] if pilot else records.CAP_EPOCHS[name])
    plan = TrainPlan(seconds=float("inf"), max_steps=cap * per_epoch, patience=args.patience,
                     epoch_fraction=fraction if pilot else None,
                     val_windows=PILOT["val_windows"] if pilot else args.val_windows,
                     checkpoint_every=args.checkpoint_every)
    run = ModelRun(name, records.PRESETS[name], "bar_offset", "symbolic",
                   "Symbolic Music Generation", paper_pair=True,
                   overrides=(("grad_clip", args.grad_clip),
                              *((("hparams", args.hparams),) if args.hparams else ())))
    bundle_dir = args.work_dir / ("pilot" if pilot else "runs") / name
    tokens_per_note = data_figures(prepared.directory)["test"]["tokens_per_note"]
    what = {"preset": preset.name, "cap_epochs": cap, "patience": args.patience,
            "steps_per_epoch": per_epoch, "epoch_fraction": fraction,
            "test_windows_scored": plan.val_windows or "all (tiled)", "machine": machine(),
            "threads": args.threads, "bundle": str(bundle_dir),
            "grad_clip": args.grad_clip if math.isfinite(args.grad_clip) else "none"}

    def write(trainer: Any, stopped_by: str) -> None:
        state = trainer.state
        curve = records.epoch_curve(read_metrics(trainer.run_dir, max_lines=sys.maxsize))
        entry = records.model_entry(curve, stopped_by=stopped_by, tokens_seen=state.tokens_seen,
                                    seconds=state.wall_seconds, tokens_per_note=tokens_per_note,
                                    steps=state.step, precision=trainer.precision,
                                    compiled=trainer.compiled_loss is not None, **what)
        records.update_record(args.record, entry, model=name, pilot=pilot)

    say(f"{name}: {per_epoch:,} steps an epoch, at most {cap} epochs ({cap * per_epoch:,} "
        f"steps; the time cap below is none), patience {args.patience}; record {args.record}")
    from ml_core.interrupts import terminate_as_interrupt

    options = argparse.Namespace(resume=args.resume, seed=args.seed,
                                 threads=args.threads, device=args.device, compile=args.compile)
    with terminate_as_interrupt():   # a kill saves the checkpoint, like Ctrl-C
        train_or_resume(run, prepared.directory, bundle_dir, plan, options, say,
                        trainer_class=recording_trainer(write))
    holder = records.read_record(args.record)
    return ((holder.get("pilot") or {}) if pilot else holder).get("models", {}).get(name, {})


def step_rates(data: Path, preset: str, steps: int, warmup: int, out: Path) -> dict[str, Any]:
    """Training tokens/s of `steps` steps after `warmup` (the shipped trainer, eager, its
    precision choice): by the wall clock and by this process's CPU time, which on a shared
    machine is what one core of its own would give."""
    import statistics
    import time

    from ml_core.training import Trainer, TrainOptions

    stamps: list[tuple[float, float]] = []

    class Timed(Trainer):
        def _batches(self, first: int, last: int):
            for step, batch in super()._batches(first, last):
                stamps.append((time.perf_counter(), time.process_time()))
                yield step, batch

    options = TrainOptions(data=data, out=str(out), preset=preset, max_steps=warmup + steps + 1,
                           epoch_fraction=1.0, epochs=1, checkpoint_every=10**6,
                           max_val_windows=1, compile="off")
    trainer = Timed(options, log=lambda message: None)
    trainer.run()
    tokens = trainer.recipe.batch_size * trainer.recipe.window
    laps = list(zip(stamps[warmup:], stamps[warmup + 1:], strict=False))
    return {"tokens_per_s": tokens / statistics.median(b[0] - a[0] for a, b in laps),
            "cpu_tokens_per_s": tokens / statistics.median(b[1] - a[1] for a, b in laps),
            "precision": trainer.precision}


def speed(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """Tokens/s of each model's training steps at --threads, and the wall time of the full
    schedule at the CPU-time rate (one core to itself)."""
    import tempfile

    from ml_core.models.presets import get_preset

    prepared = prepare(args.data, args.work_dir)
    test_tokens = data_figures(prepared.directory)["test"]["tokens"]
    figures = {}
    for name, preset_name in records.PRESETS.items():
        preset = get_preset(preset_name)
        with tempfile.TemporaryDirectory() as folder:
            rates = step_rates(prepared.directory, preset_name, args.steps, 2,
                               Path(folder) / name)
        rate = rates["cpu_tokens_per_s"]
        per_epoch = steps_per_epoch(prepared.directory, preset.epoch_fraction, preset.batch_size)
        # an epoch: its training steps, then one forward pass over the test set (~1/3 the cost)
        epoch_s = per_epoch * preset.batch_size * 256 / rate + test_tokens / (3 * rate)
        best = records.PAPER["models"][name]["best_epoch"]
        figures[name] = {**rates, "threads": args.threads, "steps_timed": args.steps,
                         "steps_per_epoch": per_epoch, "epoch_hours": epoch_s / 3600,
                         "paper_best_epoch_hours": best * epoch_s / 3600,
                         "cap_hours": records.CAP_EPOCHS[name] * epoch_s / 3600,
                         "load_average": os.getloadavg()[0], "machine": machine()}
        say(f"{name}: {rate:,.0f} tokens/s of CPU time ({rates['tokens_per_s']:,.0f} by the "
            f"wall clock, {rates['precision']}, {args.threads} thread), {per_epoch:,} steps an "
            f"epoch: {epoch_s / 3600:.2f} h an epoch, {figures[name]['cap_hours']:.1f} h for "
            f"{records.CAP_EPOCHS[name]} epochs")
    records.update_record(args.record, {"speed": figures})
    return figures


def prepare_command(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    prepared = prepare(args.data, args.work_dir)
    figures = window_figures(prepared.directory)
    figures["data"] = data_figures(prepared.directory)
    records.update_record(args.record, figures)
    for name in ("train", "test"):
        say(f"{name}: {figures[f'{name}_windows']:,} windows of 257 (paper "
            f"{records.PAPER[f'{name}_windows']:,}, {figures['window_difference'][name]:+.2%})")
    return figures


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("prepare", "speed", "pilot", "train", "report",
                                            "demise"))
    parser.add_argument("--model", choices=("transformer", "lstm", "both"), default="both")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run from its checkpoint (finished runs are skipped)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work-dir", type=Path, default=WORK,
                        help="prepared data and checkpoints (outside the repository)")
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument("--out", type=Path, default=REPOSITORY / "docs",
                        help="where report writes RESULTS.md's section and results/ pictures")
    parser.add_argument("--patience", type=int, default=3,
                        help="epochs without a lower test NLL that stop a run")
    parser.add_argument("--cap-epochs", type=int, default=None,
                        help="epochs a run may take at most (default 12 / 18: twice the paper's "
                        "best)")
    parser.add_argument("--val-windows", type=int, default=None,
                        help="test windows scored after each epoch (default: all, tiled)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4, help="speed: steps timed per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", default="off", choices=("auto", "on", "off"),
                        help="torch.compile the step (default off: the speed measured is eager)")
    parser.add_argument("--grad-clip", type=float, default=math.inf,
                        help="max gradient norm (default: none, as the paper's loop)")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--hparams", type=json.loads, default=None,
                        help="JSON object of model sizes replacing the preset's (tests only)")
    parser.add_argument("--seeds", type=int, default=3, help="demise: samples per model")
    parser.add_argument("--demise-from", choices=("runs", "pilot"), default="runs",
                        help="demise: the bundles of the real runs or of the pilot")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    import torch

    from ml_core.data import DataError
    from ml_core.training import TrainingInterrupted

    torch.set_num_threads(args.threads)

    def say(message: str) -> None:
        print(message, flush=True)

    names = list(records.PRESETS) if args.model == "both" else [args.model]
    try:
        if args.command == "prepare":
            result: Any = prepare_command(args, say)
        elif args.command == "speed":
            result = speed(args, say)
        elif args.command in ("pilot", "train"):
            prepare_command(args, say)
            result = {name: train_model(name, args, say, pilot=args.command == "pilot")
                      for name in names}
            result = {name: {key: entry.get(key) for key in ("best_test_nll", "best_epoch",
                                                             "epochs_run", "stopped_by",
                                                             "tokens_per_s")}
                      for name, entry in result.items()}
        elif args.command == "report":
            from bench.results_ff_text import write_report

            result = write_report(records.read_record(args.record), args.out, say)
        else:
            from bench.results_ff_demise import demise

            result = demise(args, say)
    except (KeyboardInterrupt, TrainingInterrupted):
        say("interrupted; rerun the same command with --resume to continue")
        return 130
    except (FfPianoError, DataError, ValueError, OSError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(json.dumps(records.json_ready({"bench": "results_ff_piano", "command": args.command,
                                         "result": result})), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

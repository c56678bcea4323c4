"""The results study's runs: preparing the datasets and training each model.

`prepare_all` builds one dataset per tokenizer from the same files and split;
`train_for` trains one model under its `TrainPlan` through `ml_core.training` (checkpointed,
so a stopped run resumes); `training_record` reads back what a run did (steps, tokens,
time, its validation curve) from the run folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.results_groups import REPRESENTATIONS
from bench.results_measure import notes_of_tokens
from bench.results_plan import ModelRun, ResultsError, TrainPlan


def prepare_all(runs: Sequence[ModelRun], args: argparse.Namespace,
                say: Callable[[str], None]) -> dict[str, Any]:
    """One dataset per tokenizer the chosen models read (and bar_offset, whose validation
    piece is the prompt), from the same files and split: {tokenizer: PrepareResult}."""
    from ml_core.data import PrepareOptions, prepare_dataset

    prepared = {}
    needed = [run.tokenizer for run in runs]
    if any(run.group == "representation" for run in runs):
        needed += list(REPRESENTATIONS)
    for tokenizer in dict.fromkeys(needed):
        started = time.perf_counter()
        options = PrepareOptions(tokenizer=tokenizer, val_fraction=args.val_fraction,
                                 seed=args.seed,
                                 limit=args.data_limit or None,
                                 workers=max(1, min(2, os.cpu_count() or 1)),
                                 score_cache=args.score_cache or args.work_dir / "score_cache")
        result = prepare_dataset(args.sources, args.work_dir / "data" / tokenizer, options)
        splits = result.manifest["splits"]
        say(f"data {tokenizer}: train {splits['train']['tokens']} / val {splits['val']['tokens']}"
            f" ({'cached' if result.reused else f'{time.perf_counter() - started:.0f} s'})")
        prepared[tokenizer] = result
    return prepared


def held_out_prompt(manifest: dict[str, Any], bars: int):
    """The first `bars` bars of the first validation piece, its voices merged into one track."""
    from ml_core.midi_io import read_score

    files = manifest["splits"]["val"]["file_list"] or manifest["splits"]["train"]["file_list"]
    if not files:
        raise ResultsError("the dataset has no piece to take a prompt from")
    score = read_score(files[0]).merged("Prompt")
    prompt = score.sliced(0, score.bar_start(bars))
    if prompt.is_empty:
        raise ResultsError(f"the first {bars} bars of {Path(files[0]).name} hold no notes")
    return Path(files[0]).name, prompt


def run_folder(bundle_dir: Path) -> Path:
    from ml_core.checkpoint import run_folder as folder

    return folder(bundle_dir)


def saved_state(bundle_dir: Path) -> dict[str, Any] | None:
    """The loop state of the run's last checkpoint (step, wall_seconds, stopped_early...)."""
    from ml_core.checkpoint import CHECKPOINT_JSON

    try:
        text = (run_folder(bundle_dir) / CHECKPOINT_JSON).read_text(encoding="utf-8")
        return json.loads(text)["state"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stop_reason(state: dict[str, Any] | None, plan: TrainPlan) -> str | None:
    """Why a run is over ("patience", "max steps", "time cap"), or None while it is not."""
    if not state or state.get("best_val_nll") is None:
        return None
    if state.get("stopped_early"):
        return "patience"
    if plan.max_steps is not None and state.get("step", 0) >= plan.max_steps:
        return "max steps"
    if plan.capped(state):
        return "time cap" if plan.patience is not None else "time budget"
    return None


def train_for(run: ModelRun, data_dir: Path, bundle_dir: Path, plan: TrainPlan, *,
              seed: int, threads: int,
              device: str = "cpu", compile: str = "auto", resume: bool = False,
              say: Callable[[str], None] = print, trainer_class: Any = None):
    """Train `run` with its preset's recipe until `plan` says stop: its wall-clock cap (all
    sessions together), max steps, or (with patience) no improvement for `patience` epochs
    once `min_steps` are done. `resume` continues from the run's checkpoint."""
    from ml_core.training import Trainer, TrainOptions

    base = trainer_class or Trainer

    class PlannedTrainer(base):
        # The loop ends an epoch (validates, keeps the best) when step == total_steps, so
        # shrinking total_steps to the current step once time is up closes the run cleanly.
        def _batches(self, first: int, last: int) -> Iterator[tuple[int, Any]]:
            deadline = time.perf_counter() + max(plan.seconds - self.state.wall_seconds, 0.0)
            for step, batch in super()._batches(first, last):
                if time.perf_counter() >= deadline and not (plan.floor_before_cap and step
                                                            + 1 < plan.min_steps):
                    self.total_steps = step + 1
                    yield step, batch
                    return
                yield step, batch

        def _end_epoch(self, step_losses: float, steps: int) -> bool:
            stop = super()._end_epoch(step_losses, steps)
            return stop and self.state.step >= plan.min_steps

    overrides = dict(run.overrides)
    if plan.epoch_fraction is not None:
        overrides.setdefault("epoch_fraction", plan.epoch_fraction)
    what = (f"until {plan.patience} epochs without improvement, cap {plan.seconds / 3600:g} h"
            if plan.patience is not None else f"{plan.seconds:.0f} s")
    options = TrainOptions(data=data_dir, out=str(bundle_dir), preset=run.preset, epochs=1_000_000,
                           max_steps=plan.max_steps, device=device, compile=compile, seed=seed,
                           threads=threads,
                           checkpoint_every=plan.checkpoint_every,
                           log_every=20 if plan.patience else 10**9,
                           max_val_windows=plan.val_windows, patience=plan.patience, resume=resume,
                           description=f"{run.key} ({run.preset}) on {run.tokenizer}, {what} "
                           f"(bench/results.py)",
                           **overrides)
    return PlannedTrainer(options, log=lambda message: say(f"  {run.key}: {message}")).run()


def training_record(bundle_dir: Path, plan: TrainPlan) -> dict[str, Any]:
    """Steps, tokens, seconds, best validation NLL and where, why it stopped: from the run's
    checkpoint and metrics.jsonl (so the same after a resume as after one session)."""
    from ml_core.metrics_log import read_metrics

    state = saved_state(bundle_dir) or {}
    curve = validation_curve(read_metrics(run_folder(bundle_dir), max_lines=sys.maxsize))
    best = min(curve, key=lambda point: point["val_nll"]) if curve else {}
    seconds = float(state.get("wall_seconds", 0.0))
    tokens = int(state.get("tokens_seen", 0))
    return {"seconds": seconds, "steps": int(state.get("step", 0)),
            "epochs": int(state.get("epoch", 0)),
            "tokens_seen": tokens, "tokens_per_s": tokens / seconds if seconds > 0 else None,
            "best_val_nll": state.get("best_val_nll"), "best_step": best.get("step"),
            "best_tokens": best.get("tokens_seen"), "stopped": stop_reason(state, plan),
            "cap_hours": plan.seconds / 3600 if plan.patience is not None else None,
            "min_steps": plan.min_steps if plan.patience is not None else None, "curve": curve}


def validation_curve(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The validation NLL after each epoch, with the step and tokens seen it was reached at."""
    curve = []
    for record in records:
        value = record.get("val_nll")
        if (record.get("type") == "epoch" and isinstance(value, (int, float))
            and math.isfinite(value)):
            curve.append({"step": int(record.get("step", 0)),
                          "tokens_seen": int(record.get("tokens_seen", 0)),
                          "val_nll": float(value)})
    return curve


def tokens_per_note(prepared: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Tokens per note of each split of the token datasets (the notes being the tokens that
    sound a pitch): turns the representations' learning curves into bits per note."""
    from ml_core.data import load_dataset

    ratios = {}
    for tokenizer, result in prepared.items():
        if result.manifest.get("kind") != "token":
            continue
        dataset = load_dataset(result.directory)
        encoder = dataset.encoder()
        notes_of = notes_of_tokens(encoder, int(dataset.vocab_size))
        counts = {name: (len(split.data), int(notes_of[np.asarray(split.data)].sum()))
                  for name, split in (("train", dataset.train), ("val", dataset.val))}
        if all(notes for _, notes in counts.values()):
            ratios[tokenizer] = {name: tokens / notes for name, (tokens, notes) in counts.items()}
    return ratios


def existing_datasets(runs: Sequence[ModelRun], args: argparse.Namespace) -> dict[str, Any]:
    """The datasets already prepared under --work-dir for these runs ({tokenizer: result}),
    without preparing any: what a report of runs in progress describes."""
    from ml_core.data import MANIFEST, PrepareResult

    found = {}
    for tokenizer in dict.fromkeys(["bar_offset"] + [run.tokenizer for run in runs]):
        directory = args.work_dir / "data" / tokenizer
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found[tokenizer] = PrepareResult(directory, manifest, reused=True)
    if not found:
        raise ResultsError(f"nothing has been prepared under {args.work_dir} yet: run without "
                           f"--report-only first")
    return found


def previous_training(work_dir: Path, key: str, bundle_dir: Path) -> dict[str, Any]:
    """How a reused bundle was trained: from the last results.json, else its model card
    (which counts steps up to the best epoch only)."""
    try:
        earlier = json.loads((work_dir / "results.json").read_text(encoding="utf-8"))["results"]
        return next(r["training"] for r in earlier if r["key"] == key and "training" in r)
    except (OSError, ValueError, KeyError, StopIteration):
        metrics = json.loads((bundle_dir / "config.json").read_text(encoding="utf-8"))["metrics"]
        return {"seconds": metrics["wall_seconds"], "steps": metrics["steps"],
                "epochs": metrics["epochs"], "best_val_nll": metrics["test_nll"],
                "tokens_seen": metrics.get("tokens_seen")}

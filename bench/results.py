"""Regenerate docs/RESULTS.md: every model of the research trained on the same music21
pieces, measured the same way, compared in bits per note across token representations,
and drawn continuing the same held-out prompt.

Two modes, two pages. The convergence mode (`--patience N`, issue 14) writes the study,
docs/RESULTS.md: each model trains until its validation NLL has not improved for N epochs,
and at least --min-steps (--pair-min-steps for the LSTM-vs-Transformer pair), capped at
--max-hours of training once past that floor (--pair-max-hours; the 12 x 1024 Transformer is
cut at --big-max-hours, floor or not); every run keeps a checkpoint
under --work-dir, so after any stop the same command with `--resume` continues each
unfinished model from its checkpoint and skips (and does not re-measure) finished ones.
The study in docs/RESULTS.md was run as

    nice -n 5 .venv/bin/python bench/results.py --patience 3 --max-hours 3 --pair-max-hours 10 \\
        --big-max-hours 3 --source music21:bach,music21:oneills1850 --data-limit 0 \\
        --eval-windows 256 --threads 1 --resume --models KEY

one model per process, two processes side by side (one per core), then `--report-only
--models all` with the same flags. `--report-only` writes RESULTS.md from whatever the
work dir holds at any time, measuring nothing: finished runs' measured rows, the training
so far and the learning curves of runs in progress.

The fast mode (no --patience) gives each model a fixed wall-clock budget, minutes each, and
writes docs/RESULTS-brief.md:

    .venv/bin/python bench/results.py [--budget-seconds 150] [--data-limit 120] [--out docs]

1. prepares one dataset per tokenizer (bar_offset, remi, midi_like, note_duration,
   chord_words, pianoroll, note_state) from the same files and the same seeded by-file
   split (cached under --work-dir; several comma-separated --source collections are one
   dataset; --score-cache shares the parsed files between them);
2. trains each model with its preset's recipe (the fast mode: a wall-clock budget; the
   convergence mode: early stopping on validation NLL), keeping the best epoch;
3. evaluates each bundle on the validation split (`ml_core.evaluation.evaluate`), scores
   whole validation pieces for bits per note and per-class precision / recall / F1
   (`validation_scores`), and continues one held-out prompt with it;
4. writes the page (bench/results_report.py) with a piano-roll picture per model and a
   learning-curve plot (validation NLL against tokens seen) per paper in <out>/results/
   (<out>/results-brief/ for the brief page), the raw numbers in <work-dir>/results.json,
   and prints them as one JSON line last.

The raw numbers of every measured run (curve, measurements, continuation notes) are also
merged into the committed record, --record (default <out>/results/results.json), which the
page is drawn from as well: the work dir holds checkpoints and may be lost with its machine,
the record is in git. Under --resume a run the record holds for this same study (the same
flags but --models) is restored from it instead of trained again.
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
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench import results_report as document  # noqa: E402
from bench.results_record import (  # noqa: E402
    cached_entry,
    json_ready,
    keep_lost_run,
    merge_results,
    read_record,
    save_entry,
    trained_steps,
)

REPOSITORY = Path(_HERE).parent


class ResultsError(RuntimeError):
    """The results could not be produced (one line for a person)."""


REPRESENTATION_VALIDATION = (0.005, 256)   # (epoch fraction, validation windows)


@dataclass(frozen=True)
class ModelRun:
    key: str              # file-safe name: bundle folder and picture name
    preset: str           # ml_core.models.presets name: architecture + training recipe
    tokenizer: str        # dataset it trains on (may differ from the preset's own)
    group: str            # the paper (results_report.GROUPS) whose comparison it belongs to
    reproduces: str       # short name of the report
    paper_pair: bool = False    # one of the two presets of the LSTM-vs-Transformer comparison
    big: bool = False           # may be cut to --big-max-hours
    overrides: tuple[tuple[str, Any], ...] = ()  # TrainOptions fields that replace the preset's
    tuning: bool = False        # a recipe variant of the pair: run only when named, not in "all"
    # (epoch fraction, validation windows) replacing the study's, convergence mode only: see
    # the word model below
    validation: tuple[float, int] | None = None

    def head(self) -> dict[str, str]:
        """What every entry of results.json says of its run."""
        return {"key": self.key, "preset": self.preset, "tokenizer": self.tokenizer, "group": self.group,
                "reproduces": self.reproduces}


# The sequential-models report's plain LSTM has no preset of its own: its recipe (hidden
# 512, Adam 1e-3, batch 64, windows of 128) with a one-layer LSTM and a linear output.
_SEQUENTIAL_LSTM = (("arch", "lstm"), ("hparams", dict(embedding_dim=128, hidden_size=512, num_layers=1,
                                                       fc_sizes=(), embedding_dropout=0.0, lstm_dropout=0.0,
                                                       fc_dropout=0.0, layer_norm=False)))

MODELS: tuple[ModelRun, ...] = (
    ModelRun("lstm-symbolic", "lstm-symbolic-4.4m", "bar_offset", "symbolic", "Symbolic Music Generation",
             paper_pair=True),
    ModelRun("transformer-symbolic", "transformer-symbolic-4.3m", "bar_offset", "symbolic",
             "Symbolic Music Generation", paper_pair=True),
    ModelRun("lstm-deepdive-simple", "lstm-deepdive-simple", "remi", "deep-dive", "A Deep Dive"),
    # 15.5 M parameters: at the preset's batch of 32 windows of 512 a step took ~100 s on one core
    # of the 2026-11-30 EPYC (1,000 steps: 28 h). The report does not give its batch; the study
    # uses 8, as for its Transformer and the pair: ~25 s a step there, ~5 s on one core of an
    # AVX-512 Xeon (2026-12-02, about 800 training tokens/s: the 1,000-step floor in ~1.5 h).
    ModelRun("lstm-deepdive-complex", "lstm-deepdive-complex", "remi", "deep-dive", "A Deep Dive",
             overrides=(("batch_size", 8),)),
    # The only run the time cap may stop before its step floor (the issue allows cutting it).
    ModelRun("transformer-deepdive", "transformer-deepdive-12x1024", "remi", "deep-dive", "A Deep Dive",
             big=True),
    ModelRun("pianoroll-lstm", "pianoroll-lstm", "pianoroll", "deep-dive", "A Deep Dive (one-hot roll)"),
    ModelRun("rnn", "rnn", "note_duration", "sequential", "Music generation with sequential models"),
    ModelRun("lstm-sequential", "rnn", "note_duration", "sequential", "Music generation with sequential models",
             overrides=_SEQUENTIAL_LSTM),
    ModelRun("lstm-attention", "lstm-attention", "note_duration", "sequential",
             "Music generation with sequential models"),
    # The word model reads a whole 50-word window for each prediction, so each validation target
    # costs as much as a training one: 64 windows (3,200 targets) every 5 % of the windows keep
    # validation under a fifth of its training time (256 every 2 % would be two thirds).
    ModelRun("bilstm-attention", "bilstm-attention", "chord_words", "making-music", "Making Music with LSTMs",
             validation=(0.05, 64)),
    ModelRun("biaxial-lstm", "biaxial-lstm", "note_state", "making-music", "Making Music with LSTMs"),
    ModelRun("gru-seq2seq", "gru-seq2seq", "pianoroll", "deep-musician", "Deep Musician"),
    # The representation comparison: the pair's Transformer on the other token schemes
    # (its bar_offset run is transformer-symbolic itself).
    # The representation runs validate four times as often as the preset's 2 % epochs (about
    # every 250-400 steps): the comparison at equal notes and equal steps reads their curves,
    # and a run of about 1,000 steps would otherwise have a single point.
    ModelRun("transformer-remi", "transformer-symbolic-4.3m", "remi", "representation", "representation comparison",
             validation=REPRESENTATION_VALIDATION),
    ModelRun("transformer-midi_like", "transformer-symbolic-4.3m", "midi_like", "representation",
             "representation comparison", validation=REPRESENTATION_VALIDATION),
    ModelRun("transformer-note_duration", "transformer-symbolic-4.3m", "note_duration", "representation",
             "representation comparison", validation=REPRESENTATION_VALIDATION),
    # Should the pair's ordering differ from the paper's: its Transformer with the two settings
    # the paper found it sensitive to (learning rate, batch size). Only when asked for.
    ModelRun("transformer-symbolic-lr3e-4", "transformer-symbolic-4.3m", "bar_offset", "symbolic-tuning",
             "Symbolic Music Generation (learning rate 3e-4)", overrides=(("lr", 3e-4),), tuning=True),
    ModelRun("transformer-symbolic-batch32", "transformer-symbolic-4.3m", "bar_offset", "symbolic-tuning",
             "Symbolic Music Generation (batch 32)", overrides=(("batch_size", 32),), tuning=True),
)
NOT_COMPARABLE = {
    "pianoroll": "one channel per key: a held note and the same note struck again give the same "
                 "roll, so the roll's likelihood is not a likelihood of the notes",
}


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fast = parser.add_argument_group("fast mode (no --patience)")
    fast.add_argument("--budget-seconds", type=float, default=150.0,
                      help="training wall-clock seconds for each of the two paper presets")
    fast.add_argument("--small-share", type=float, default=0.3,
                      help="the other models train for this share of --budget-seconds")
    converge = parser.add_argument_group("convergence mode")
    converge.add_argument("--patience", type=int, default=None,
                          help="train until validation NLL has not improved for N epochs (turns the mode on)")
    converge.add_argument("--max-hours", type=float, default=6.0, help="training wall-clock cap per model")
    converge.add_argument("--pair-max-hours", type=float, default=None,
                          help="cap for the LSTM-vs-Transformer pair (default: --max-hours)")
    converge.add_argument("--big-max-hours", type=float, default=None,
                          help="cap for A Deep Dive's 12 x 1024 Transformer, the one run it may stop before "
                               "its step floor (default: --max-hours)")
    converge.add_argument("--model-hours", action="append", default=[], metavar="KEY=HOURS",
                          help="this model's cap instead (repeatable): what a session's budget allows; "
                               "the step floor still holds (but for the 12 x 1024 Transformer), and the "
                               "page states every such cap")
    converge.add_argument("--pair-min-steps", type=int, default=5000,
                          help="patience cannot stop the LSTM-vs-Transformer pair before this step")
    converge.add_argument("--min-steps", type=int, default=1000,
                          help="patience cannot stop the other models before this step")
    converge.add_argument("--epoch-fraction", type=float, default=0.02,
                          help="for presets whose epoch is a whole pass over the windows: the share "
                               "of the windows between two validations (the pair keeps its own 2 %%)")
    converge.add_argument("--val-windows", type=int, default=256, help="validation windows per epoch")
    converge.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    converge.add_argument("--resume", action="store_true",
                          help="continue unfinished runs from their checkpoints, skip finished ones")
    parser.add_argument("--max-steps", type=int, default=None, help="also stop each run after N steps")
    parser.add_argument("--data-limit", type=int, default=120, help="music files used (first N; 0: all)")
    parser.add_argument("--source", default="music21:bach",
                        help="prepare sources, comma-separated (folders or music21:<query>), one dataset")
    parser.add_argument("--score-cache", type=Path, default=None,
                        help="parsed source files, shared by every tokenizer's dataset (default: "
                             "<work-dir>/score_cache)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="training and scoring device (cpu, cuda, auto)")
    parser.add_argument("--compile", default="auto", choices=("auto", "on", "off"),
                        help="torch.compile the training step (auto: the trainer's choice)")
    parser.add_argument("--prompt-bars", type=int, default=4, help="bars of the held-out piece used as prompt")
    parser.add_argument("--bars", type=int, default=4, help="bars each model continues the prompt by")
    parser.add_argument("--variations", type=int, default=4, help="continuations averaged for the in-scale ratio")
    parser.add_argument("--samples", type=int, default=4, help="sampled continuations for grammar errors")
    parser.add_argument("--sample-tokens", type=int, default=128)
    parser.add_argument("--eval-windows", type=int, default=64, help="validation windows scored per model")
    parser.add_argument("--score-pieces", type=int, default=0,
                        help="validation pieces scored whole for bits per note and per-class F1 (0: all)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--models", default="all",
                        help="comma-separated keys or groups: " + ",".join(m.key for m in MODELS)
                             + "; groups: " + ",".join(document.GROUPS) + "; all (every model but the tuning runs)")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "docs", help="RESULTS.md goes here")
    parser.add_argument("--work-dir", type=Path, default=REPOSITORY / "runs" / "results",
                        help="datasets, bundles, checkpoints and results.json (not the user's model folder)")
    parser.add_argument("--record", type=Path, default=None,
                        help="the committed record of measured runs (default <out>/results/results.json; "
                             "<out>/results-brief/results.json in the fast mode): every measured run is "
                             "added to it, and under --resume a run it holds is restored from it instead of "
                             "trained again when --work-dir has lost that run")
    parser.add_argument("--reuse-models", action="store_true",
                        help="evaluate bundles already in --work-dir instead of training again")
    parser.add_argument("--report-only", action="store_true",
                        help="train and measure nothing: write RESULTS.md from what --work-dir holds "
                             "(measured runs, the curves of runs still in progress)")
    args = parser.parse_args(argv)
    if args.budget_seconds <= 0 or not 0 < args.small_share <= 1:
        parser.error("--budget-seconds must be positive and --small-share in (0, 1]")
    if args.max_hours <= 0 or any(hours is not None and hours <= 0 for hours in (args.big_max_hours,
                                                                                 args.pair_max_hours)):
        parser.error("--max-hours must be positive")
    if not 0 < args.epoch_fraction <= 1:
        parser.error("--epoch-fraction must be in (0, 1]")
    if min(args.threads, args.prompt_bars, args.bars, args.variations, args.sample_tokens,
           args.eval_windows, args.val_windows, args.checkpoint_every) < 1 or min(
           args.samples, args.data_limit, args.score_pieces, args.pair_min_steps, args.min_steps) < 0:
        parser.error("counts must be at least 1 (--samples, --data-limit, --score-pieces, "
                     "--min-steps at least 0)")
    if args.patience is not None and args.patience < 1:
        parser.error("--patience must be at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be at least 1")
    args.runs = select_models(args.models)
    args.model_caps = model_caps(args.model_hours, parser.error)
    if args.record is None:
        args.record = args.out / page_names(args)[1] / "results.json"
    args.sources = [s.strip() for s in args.source.split(",") if s.strip()]
    if not args.sources:
        parser.error("--source names nothing")
    return args


def select_models(text: str) -> list[ModelRun]:
    known = {m.key: m for m in MODELS}
    chosen: list[ModelRun] = []
    unknown = []
    for name in (name.strip() for name in text.split(",")):
        if not name:
            continue
        members = ([m for m in MODELS if not m.tuning] if name == "all" else [known[name]] if name in known
                   else [m for m in MODELS if m.group == name])
        if not members:
            unknown.append(name)
        chosen += [m for m in members if m not in chosen]
    if unknown or not chosen:
        raise SystemExit(f"error: unknown model(s) {', '.join(unknown) or text!r} "
                         f"(choose from {', '.join(known)}, or a group: {', '.join(document.GROUPS)})")
    return chosen


def budget_for(run: ModelRun, budget_seconds: float, small_share: float) -> float:
    """The fast mode's training seconds for `run`."""
    return budget_seconds if run.paper_pair else budget_seconds * small_share


@dataclass(frozen=True)
class TrainPlan:
    """How long one run trains and what ends it."""

    seconds: float                  # wall-clock cap, over all resumed sessions together
    max_steps: int | None = None
    patience: int | None = None     # None: the fast mode (the budget alone ends it)
    min_steps: int = 0              # patience cannot stop the run before this step
    epoch_fraction: float | None = None
    val_windows: int = 16
    checkpoint_every: int = 10**9
    floor_before_cap: bool = False  # the time cap cannot stop the run before min_steps

    def capped(self, state: dict[str, Any]) -> bool:
        """Whether the wall-clock cap (budget) ends a run in this state."""
        return state.get("wall_seconds", 0.0) >= self.seconds and not (
            self.floor_before_cap and state.get("step", 0) < self.min_steps)


def plan_for(run: ModelRun, args: argparse.Namespace) -> TrainPlan:
    if args.patience is None:
        return TrainPlan(budget_for(run, args.budget_seconds, args.small_share), args.max_steps)
    from ml_core.models.presets import get_preset

    hours = args.max_hours
    if run.key in args.model_caps:
        hours = args.model_caps[run.key]
    elif run.big and args.big_max_hours is not None:
        hours = args.big_max_hours
    elif run.paper_pair and args.pair_max_hours is not None:
        hours = args.pair_max_hours
    whole_pass = get_preset(run.preset).epoch_fraction >= 1.0
    epoch_fraction, val_windows = run.validation or (args.epoch_fraction if whole_pass else None, args.val_windows)
    # Every run reaches its step floor (the 1,000 / 5,000 steps) even past its cap, but
    # the 12 x 1024 Transformer, which the issue lets us cut to a stated budget.
    return TrainPlan(hours * 3600.0, args.max_steps, args.patience,
                     args.pair_min_steps if run.paper_pair else args.min_steps,
                     epoch_fraction, val_windows, args.checkpoint_every, floor_before_cap=not run.big)


# ---------------------------------------------------------------- data


def prepare_all(runs: Sequence[ModelRun], args: argparse.Namespace,
                say: Callable[[str], None]) -> dict[str, Any]:
    """One dataset per tokenizer the chosen models read (and bar_offset, whose validation
    piece is the prompt), from the same files and split: {tokenizer: PrepareResult}."""
    from ml_core.data import PrepareOptions, prepare_dataset

    prepared = {}
    needed = [run.tokenizer for run in runs]
    if any(run.group == "representation" for run in runs):
        needed += list(document.REPRESENTATIONS)
    for tokenizer in dict.fromkeys(needed):
        started = time.perf_counter()
        options = PrepareOptions(tokenizer=tokenizer, val_fraction=args.val_fraction, seed=args.seed,
                                 limit=args.data_limit or None, workers=max(1, min(2, os.cpu_count() or 1)),
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


# ---------------------------------------------------------------- training


def model_caps(texts: Sequence[str], error: Callable[[str], Any]) -> dict[str, float]:
    """--model-hours KEY=HOURS flags as {key: hours}; `error` reports a bad one."""
    known = {m.key for m in MODELS}
    caps: dict[str, float] = {}
    for text in texts:
        key, _, hours = text.partition("=")
        try:
            value = float(hours)
        except ValueError:
            value = -1.0
        if key.strip() not in known or not value > 0 or not math.isfinite(value):
            error(f"--model-hours {text!r}: expected KEY=HOURS with a model key and positive hours")
        caps[key.strip()] = value
    return caps


def run_folder(bundle_dir: Path) -> Path:
    from ml_core.checkpoint import run_folder as folder

    return folder(bundle_dir)


def saved_state(bundle_dir: Path) -> dict[str, Any] | None:
    """The loop state of the run's last checkpoint (step, wall_seconds, stopped_early...)."""
    from ml_core.checkpoint import CHECKPOINT_JSON

    try:
        return json.loads((run_folder(bundle_dir) / CHECKPOINT_JSON).read_text(encoding="utf-8"))["state"]
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


def train_for(run: ModelRun, data_dir: Path, bundle_dir: Path, plan: TrainPlan, *, seed: int, threads: int,
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
                if time.perf_counter() >= deadline and not (plan.floor_before_cap and step + 1 < plan.min_steps):
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
                           max_steps=plan.max_steps, device=device, compile=compile, seed=seed, threads=threads,
                           checkpoint_every=plan.checkpoint_every, log_every=20 if plan.patience else 10**9,
                           max_val_windows=plan.val_windows, patience=plan.patience, resume=resume,
                           description=f"{run.key} ({run.preset}) on {run.tokenizer}, {what} (bench/results.py)",
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
    return {"seconds": seconds, "steps": int(state.get("step", 0)), "epochs": int(state.get("epoch", 0)),
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
        if record.get("type") == "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
            curve.append({"step": int(record.get("step", 0)), "tokens_seen": int(record.get("tokens_seen", 0)),
                          "val_nll": float(value)})
    return curve


# ---------------------------------------------------------------- scoring whole pieces


def token_class(name: str) -> str:
    """A vocabulary entry's class: note, duration, offset, ... or special (PAD, BOS, xxsep)."""
    head = name.split("_")[0]
    if head.startswith("xx") or head.isupper():
        return "special"
    head = head.rstrip("0123456789")
    return {"n": "note", "d": "duration", "pitch": "note", "noteon": "note"}.get(head.lower(), head.lower())


def notes_of_tokens(encoder: Any, vocab: int) -> np.ndarray:
    """The notes each token id sounds (a pitch token 1, a chord word its pitches, others 0)."""
    return np.asarray([len(encoder.pitches_of(i)) for i in range(vocab)], np.int64)


def _positions(split: Any, window: int, pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows tiling the first `pieces` pieces with stride `window`: each target once."""
    chosen, starts = [], []
    for piece in range(pieces):
        length = int(split.lengths[piece])
        for start in range(0, length - 1, window) if length >= 2 else ():
            chosen.append(piece)
            starts.append(start)
    return np.asarray(chosen, np.int64), np.asarray(starts, np.int64)


def validation_scores(model: Any, dataset: Any, window: int, *, max_pieces: int | None = None,
                      batch_size: int = 8, device: Any = "cpu") -> dict[str, Any]:
    """Whole validation pieces scored with the model: total NLL, the notes those tokens hold,
    bits per note = nats / notes / ln 2 (comparable across vocabularies), and for token
    models per-class precision / recall / F1 by token class (the sequential-models report's
    macro scores over note and duration classes, F1 = 2PR / (P + R)).

    Frame models: the summed BCE over keys and steps per struck note where the frames mark
    note onsets (note_state's articulate channel), else "not comparable" with the reason."""
    from torch import no_grad

    from ml_core.data import WindowSampler
    from ml_core.evaluation import score_windows
    from ml_core.models.base import preceding_ids

    split = dataset.val if dataset.val.pieces else dataset.train
    pieces = split.pieces if not max_pieces else min(split.pieces, max_pieces)
    limit = getattr(model, "max_context", None)
    window = min(window, limit) if limit else window
    encoder = dataset.encoder()
    frame = dataset.kind == "frame"
    shape = tuple(dataset.manifest.get("feature_shape") or ())
    onsets = frame and len(shape) == 2 and shape[-1] == 2   # (keys, [sound, onset])
    name = dataset.manifest["tokenizer"]["name"]
    if frame and not onsets:
        return {"bits_per_note": None, "pieces": pieces,
                "reason": NOT_COMPARABLE.get(name, "the frames do not mark where notes start")}
    sampler = WindowSampler(split, window, 0 if frame else dataset.pad_id, preceding=preceding_ids(model))
    chosen, starts = _positions(split, window, pieces)
    vocab = int(dataset.vocab_size or 0)
    model.eval()
    with no_grad():
        scores = score_windows(model, sampler, chosen, starts, kind=dataset.kind, vocab=vocab,
                               batch_size=batch_size, device=device,
                               notes_of=None if frame else notes_of_tokens(encoder, vocab))
    nats, notes, count = scores.nats, scores.notes, scores.steps
    report: dict[str, Any] = {"pieces": pieces, "nats": nats, "notes": notes,
                              ("frames" if frame else "tokens"): count,
                              "bits_per_note": nats / notes / math.log(2) if notes else None}
    if not frame:
        report["nats_per_token"] = nats / max(count, 1)
        classes = [token_class(encoder.vocab.string(i)) for i in range(vocab)]
        report["classes"] = class_scores(scores.true_counts, scores.predicted, scores.hits, classes)
    return report


def class_scores(true_counts: np.ndarray, predicted: np.ndarray, hits: np.ndarray,
                 classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per token class: macro precision and recall over its ids that occur, F1 of the two."""
    labels = np.asarray(classes)
    present = true_counts > 0
    precision = np.divide(hits, predicted, out=np.zeros(len(hits)), where=predicted > 0)
    recall = np.divide(hits, true_counts, out=np.zeros(len(hits)), where=present)
    scores = {}
    for name in dict.fromkeys(classes):
        chosen = present & (labels == name)
        if name == "special" or not chosen.any():
            continue
        p, r = float(precision[chosen].mean()), float(recall[chosen].mean())
        scores[name] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0,
                        "ids": int(chosen.sum())}
    return scores


# ---------------------------------------------------------------- measuring


def measure(run: ModelRun, bundle_dir: Path, data_dir: Path, prompt, args: argparse.Namespace) -> dict[str, Any]:
    """Validation metrics, whole-piece scores and continuations of one trained bundle."""
    from ml_core import bundle as bundles
    from ml_core.data import load_dataset
    from ml_core.evaluation import evaluate, musical_statistics
    from ml_core.generation import GenerationOptions, continue_score
    from ml_core.models.presets import get_preset

    device = args.device if args.device != "auto" else ("cuda" if _cuda() else "cpu")
    loaded = bundles.load(bundle_dir, device)
    dataset = load_dataset(data_dir)
    window = ((loaded.config.get("training") or {}).get("recipe") or {}).get("window") \
        or get_preset(run.preset).window - 1
    report = evaluate(loaded, dataset, samples=args.samples, sample_tokens=args.sample_tokens,
                      window=window, max_windows=args.eval_windows, seed=args.seed)
    report["whole_pieces"] = validation_scores(loaded.model, dataset, window,
                                               max_pieces=args.score_pieces or None, device=device)
    if device != "cpu":
        loaded = bundles.load(bundle_dir, "cpu")   # tokens/s: the app's CPU decoding
    single = continue_score(loaded, prompt, GenerationOptions(
        bars=args.bars, temperature=1.0, seed=args.seed, variations=1, device="cpu"))
    several = continue_score(loaded, prompt, GenerationOptions(
        bars=args.bars, temperature=1.0, seed=args.seed + 1, variations=args.variations, device="cpu"))
    statistics = [musical_statistics(prompt, score) for score in several.scores]
    report.update({
        "parameters": loaded.config.get("parameter_count"),
        "tokens_per_s": single.tokens_per_s,
        "generated_tokens": single.tokens_generated,
        "prompt_in_scale_ratio": _mean([s["in_scale_ratio"] for s in statistics if s["notes"]]),
        "prompt_continuation_notes": _mean([s["notes"] for s in statistics]),
    })
    return {"report": report, "continuation": single.new_notes[0]}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


# ---------------------------------------------------------------- main


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
        raise ResultsError(f"nothing has been prepared under {args.work_dir} yet: run without --report-only first")
    return found


def progress_entry(run: ModelRun, args: argparse.Namespace) -> dict[str, Any]:
    """What --work-dir says of one run, measuring nothing: its measured entry when the run
    finished and was measured at its last step; else its training so far ("in progress"),
    or "not started"."""
    bundle_dir = args.work_dir / "models" / run.key
    plan = plan_for(run, args)
    entry = run.head()
    if saved_state(bundle_dir) is None:
        recorded = recorded_entry(args, run.key)
        if recorded is not None:
            return recorded
        started = run_folder(bundle_dir).is_dir()
        earlier = recorded_entry(args, run.key, measured=False)
        if earlier is not None and trained_steps(earlier):
            return {**earlier, "status": "checkpoint lost; " + ("restarting" if started else "not restarted")}
        return {**entry, "status": "starting" if started else "not started"}
    training = training_record(bundle_dir, plan)
    measured = cached_entry(args.work_dir, run.key, training)
    if measured is not None:
        return keep_lost_run(measured, recorded_entry(args, run.key)
                             or recorded_entry(args, run.key, measured=False))
    try:
        card = json.loads((bundle_dir / "config.json").read_text(encoding="utf-8"))
        training["parameters"] = card.get("parameter_count")
    except (OSError, ValueError):
        pass
    earlier = recorded_entry(args, run.key, measured=False)
    if earlier is not None and trained_steps(earlier) > training["steps"]:
        # the record's run trained further (its checkpoint went with an earlier machine):
        # the page keeps it until the new run passes it, and says where the new one is
        return {**earlier, "status": f"checkpoint lost; a new run is at {training['steps']:,} steps"}
    return {**entry, "training": training, "status": "finished, not measured" if training["stopped"]
            else "in progress"}


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


def study_flags(args: argparse.Namespace) -> list[str]:
    """What makes two runs of a model the same experiment: every reproducing flag but --models."""
    flags = regeneration_flags(args)
    # A per-model cap is what one session's budget allowed, stated per model on the page; it
    # does not make the other models' runs another experiment.
    for name in ("--models", "--model-hours"):
        while name in flags:
            at = flags.index(name)
            del flags[at:at + 2]
    return flags


def recorded_entry(args: argparse.Namespace, key: str, measured: bool = True) -> dict[str, Any] | None:
    """The entry the record holds for `key` (measured, or else one that has not been
    measured), when the record is of this same study."""
    record = read_record(args.record)
    if record is None or record.get("study") != study_flags(args):
        return None
    return next((entry for entry in record["results"] if isinstance(entry, dict) and entry.get("key") == key
                 and ("report" in entry) == measured), None)


def write_record(args: argparse.Namespace, payload: dict[str, Any]) -> None:
    """Add this run's results to the record, under a lock shared by the processes training
    side by side in one work dir, atomically (a kill leaves the old record or the new)."""
    import fcntl

    from ml_core.files import atomic_write_text

    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.record.parent.mkdir(parents=True, exist_ok=True)
    with open(args.work_dir / "record.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        earlier, study = read_record(args.record), study_flags(args)
        same = earlier is not None and earlier.get("study") == study
        results = merge_results(earlier["results"] if same else [], payload["results"],
                                [run.key for run in MODELS])
        atomic_write_text(args.record, json.dumps(json_ready(
            {**payload, "study": study, "results": results}), indent=1) + "\n")


def cpu_name() -> str:
    """The processor's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train_or_resume(run: ModelRun, data_dir: Path, bundle_dir: Path, plan: TrainPlan,
                    args: argparse.Namespace, say: Callable[[str], None], trainer_class: Any = None) -> bool:
    """Train `run` as `plan` says, resuming its checkpoint under --resume; False when it had
    finished already (nothing was trained)."""
    state = saved_state(bundle_dir) if args.resume else None
    reason = stop_reason(state, plan)
    if state and reason:
        say(f"{run.key}: finished earlier ({reason}, step {state['step']:,}); not trained again")
        return False
    resume = bool(state)
    what = (f"for {plan.seconds:.0f} s" if plan.patience is None else
            f"to early stopping (patience {plan.patience}, min {plan.min_steps:,} steps, "
            f"cap {plan.seconds / 3600:g} h)")
    say(f"training {run.key} ({run.preset}) {what}" + (f", resuming at step {state['step']:,}" if resume else ""))
    train_for(run, data_dir, bundle_dir, plan, seed=args.seed, threads=args.threads, device=args.device,
              compile=args.compile, resume=resume, say=say, trainer_class=trainer_class)
    return True


def run_model(run: ModelRun, data_dir: Path, prompt, args: argparse.Namespace,
              say: Callable[[str], None]) -> dict[str, Any]:
    """Train (or resume, or reuse), measure and draw one model; the entry of results.json."""
    bundle_dir = args.work_dir / "models" / run.key
    plan = plan_for(run, args)
    if args.reuse_models and (bundle_dir / "config.json").is_file():
        training = previous_training(args.work_dir, run.key, bundle_dir)
        training.setdefault("curve", training_record(bundle_dir, plan)["curve"])
    else:
        recorded = recorded_entry(args, run.key) if args.resume and saved_state(bundle_dir) is None else None
        if recorded is not None:   # the work dir lost it (a new machine): the record keeps it
            say(f"{run.key}: measured earlier at step {recorded['training']['steps']:,} ({args.record}); "
                "not trained again")
            save_entry(args.work_dir, recorded)
            return recorded
        trained = train_or_resume(run, data_dir, bundle_dir, plan, args, say)
        training = training_record(bundle_dir, plan)
        earlier = None if trained else cached_entry(args.work_dir, run.key, training)
        if earlier is not None:
            say(f"  {run.key}: measured earlier at step {training['steps']:,}")
            return earlier
    began = time.perf_counter()
    measured = measure(run, bundle_dir, data_dir, prompt, args)
    report = measured["report"]
    bits = report["whole_pieces"].get("bits_per_note")
    say(f"  {run.key}: NLL {report['nll']:.3f}, {document.number(bits, 2)} bits/note, "
        f"{report['tokens_per_s']:.0f} tokens/s (measured in {time.perf_counter() - began:.0f} s)")
    entry = {**run.head(), "training": training, "report": report, "machine": machine_text(args),
             # kept so that any later page (--report-only) can draw it again
             "continuation": [[n.pitch, n.start, n.duration, n.velocity] for n in measured["continuation"]]}
    save_entry(args.work_dir, entry)
    return entry


def draw_continuations(results: Sequence[dict[str, Any]], prompt, folder: Path) -> None:
    """The piano roll of every measured model continuing the held-out prompt, from the notes
    its entry keeps."""
    from ml_core.music import Note

    for result in results:
        if "report" not in result or "continuation" not in result:
            continue
        training = result.get("training") or {}
        document.draw_piano_roll(prompt, [Note(*values) for values in result["continuation"]],
                                 folder / f"{result['key']}.png",
                                 f"{result['key']} ({result['preset']}, {training.get('steps', 0):,} steps, "
                                 f"{document.duration_text(training.get('seconds'))} of training)")


def machine_text(args: argparse.Namespace) -> str:
    """Where a run trained and was measured: the processor and its cores (the device is the
    study's --device)."""
    return f"{cpu_name()}, {platform.machine()} {platform.system()}, {os.cpu_count()} cores"


def archived_pages(out: Path) -> list[str]:
    """Earlier runs of the study kept as pages (<out>/results-archive/<name>/RESULTS.md),
    relative to --out, oldest first."""
    return sorted(path.relative_to(out).as_posix() for path in (out / "results-archive").glob("*/RESULTS.md"))


def page_names(args: argparse.Namespace) -> tuple[str, str]:
    """(page, pictures folder) under --out: the study (convergence mode) is RESULTS.md, the
    brief runs (fast mode) RESULTS-brief.md, each with its own pictures."""
    return ("RESULTS.md", "results") if args.patience is not None else ("RESULTS-brief.md", "results-brief")


def summary_line(results: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The last line printed: each model's headline numbers."""
    models = {}
    for result in results:
        report, training = result.get("report"), result.get("training") or {}
        if not report:
            models[result["key"]] = ({"error": result["error"]} if "error" in result else
                                     {"status": result.get("status"), "steps": training.get("steps"),
                                      "best_val_nll": training.get("best_val_nll"),
                                      "best_step": training.get("best_step")})
            continue
        models[result["key"]] = {
            "steps": training.get("steps"), "tokens_seen": training.get("tokens_seen"),
            "seconds": round(training.get("seconds") or 0.0, 1), "stopped": training.get("stopped"),
            "best_val_nll": training.get("best_val_nll"), "best_step": training.get("best_step"),
            "nll": report.get("nll"), "bits_per_note": (report.get("whole_pieces") or {}).get("bits_per_note"),
            "training_tokens_per_s": training.get("tokens_per_s"), "tokens_per_s": report.get("tokens_per_s")}
    return json_ready({"bench": "results", "seconds": round(seconds, 1), "models": models})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    import torch

    from ml_core.data import DataError
    from ml_core.files import atomic_write_text
    from ml_core.interrupts import terminate_as_interrupt
    from ml_core.training import TrainingInterrupted

    torch.set_num_threads(args.threads)

    def say(message: str) -> None:
        print(message, flush=True)

    started = time.perf_counter()
    try:
        prepared = existing_datasets(args.runs, args) if args.report_only else prepare_all(args.runs, args, say)
        first_data = prepared.get("bar_offset") or next(iter(prepared.values()))
        prompt_name, prompt = held_out_prompt(first_data.manifest, args.prompt_bars)
    except (DataError, ResultsError, ValueError, OSError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    results = [progress_entry(run, args) for run in args.runs] if args.report_only else []
    for run in [] if args.report_only else args.runs:
        try:
            with terminate_as_interrupt():   # a kill saves the checkpoint, like Ctrl-C
                results.append(run_model(run, prepared[run.tokenizer].directory, prompt, args, say))
        except (KeyboardInterrupt, TrainingInterrupted):   # the trainer saved its checkpoint first
            say(f"interrupted during {run.key}; rerun the same command with --resume to continue")
            return 130
        except Exception as error:  # one model's failure is reported in its row, the others go on
            message = " ".join(str(error).split()) or type(error).__name__
            say(f"  {run.key} FAILED: {type(error).__name__}: {message}")
            results.append({**run.head(), "error": f"{type(error).__name__}: {message}"})

    first = first_data.manifest["splits"]
    data = {"source": ",".join(args.sources), "limit": args.data_limit, "seed": args.seed,
            "val_fraction": args.val_fraction, "train_files": first["train"]["files"],
            "tokens_per_note": tokens_per_note(prepared)}
    data["rows"] = document.data_rows(prepared, data["tokens_per_note"])
    environment = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                   "machine": machine_text(args),
                   "torch": torch.__version__, "threads": args.threads, "device": args.device}
    settings = {name: getattr(args, name) for name in ("patience", "max_hours", "big_max_hours", "pair_max_hours",
                                                      "pair_min_steps", "min_steps", "epoch_fraction", "max_steps")}
    command = " ".join([".venv/bin/python bench/results.py"]
                       + [shlex.quote(flag) for flag in regeneration_flags(args)])
    args.out.mkdir(parents=True, exist_ok=True)
    page, pictures = page_names(args)
    brief = page_names(argparse.Namespace(patience=None))[0]
    frames = {name for name, result in prepared.items() if result.manifest.get("kind") == "frame"}
    curves = document.draw_all_curves(results, args.out / pictures, data["tokens_per_note"], frames)
    draw_continuations(results, prompt, args.out / pictures)
    atomic_write_text(args.out / page, document.render_markdown(
        results, data, command, prompt_name, environment, settings, curves, pictures=pictures,
        brief=brief if page != brief and (args.out / brief).is_file() else None,
        archives=archived_pages(args.out) if page != brief else ()) + "\n")
    payload = {"command": command, "data": data, "environment": environment, "settings": settings,
               "results": results}
    atomic_write_text(args.work_dir / "results.json", json.dumps(json_ready(payload), indent=1))
    write_record(args, payload)
    say(f"wrote {args.out / page} in {time.perf_counter() - started:.0f} s")
    print(json.dumps(summary_line(results, time.perf_counter() - started)), flush=True)
    return 0 if args.report_only or all("report" in r for r in results) else 1


FLAGS = ("budget_seconds", "small_share", "patience", "max_hours", "big_max_hours", "pair_max_hours", "pair_min_steps",
         "min_steps", "epoch_fraction", "val_windows", "max_steps", "data_limit", "source", "val_fraction",
         "seed", "device", "compile", "prompt_bars", "bars", "variations", "samples", "sample_tokens", "eval_windows",
         "score_pieces", "threads", "models", "model_hours")
CONVERGE_ONLY = ("max_hours", "big_max_hours", "pair_max_hours", "pair_min_steps", "min_steps", "epoch_fraction",
                 "val_windows", "model_hours")


def regeneration_flags(args: argparse.Namespace) -> list[str]:
    """The flags that reproduce this run (defaults left out; --resume is how to continue it)."""
    defaults = parse_arguments([])
    flags = []
    for name in FLAGS:
        value = getattr(args, name)
        if value == getattr(defaults, name) or (args.patience is None and name in CONVERGE_ONLY) or (
                args.patience is not None and name in ("budget_seconds", "small_share")):
            continue
        if isinstance(value, list):   # a repeatable flag, once per value
            flags += [part for item in value for part in ("--" + name.replace("_", "-"), str(item))]
            continue
        flags += ["--" + name.replace("_", "-"), f"{value:g}" if isinstance(value, float) else str(value)]
    return flags


if __name__ == "__main__":
    sys.exit(main())

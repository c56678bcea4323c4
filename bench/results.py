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

    nice -n 5 .venv/bin/python -m bench.results --patience 3 --max-hours 3 --pair-max-hours 10 \\
        --big-max-hours 3 --source music21:bach,music21:oneills1850 --data-limit 0 \\
        --eval-windows 256 --threads 1 --resume --models KEY

one model per process, two processes side by side (one per core), then `--report-only
--models all` with the same flags. `--report-only` writes RESULTS.md from whatever the
work dir holds at any time, measuring nothing: finished runs' measured rows, the training
so far and the learning curves of runs in progress.

The fast mode (no --patience) gives each model a fixed wall-clock budget, minutes each, and
writes docs/RESULTS-brief.md:

    .venv/bin/python -m bench.results [--budget-seconds 150] [--data-limit 120] [--out docs]

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

# Run as a script, Python puts bench/ first on sys.path, where a sibling module (e.g.
# bench/tokenize.py) would shadow the standard library; use the repository root instead.
import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import results_plots as plots
from bench import results_report as report
from bench import results_tables as tables
from bench.results_measure import measure
from bench.results_plan import (
    MODELS,
    ModelRun,
    ResultsError,
    TrainPlan,
    page_names,
    parse_arguments,
    plan_for,
    regeneration_flags,
    study_flags,
)
from bench.results_record import (
    cached_entry,
    json_ready,
    keep_lost_run,
    merge_results,
    read_record,
    save_entry,
    trained_steps,
)
from bench.results_train import (
    existing_datasets,
    held_out_prompt,
    prepare_all,
    previous_training,
    run_folder,
    saved_state,
    stop_reason,
    tokens_per_note,
    train_for,
    training_record,
)

# ---------------------------------------------------------------- data


# ---------------------------------------------------------------- training


# ---------------------------------------------------------------- scoring whole pieces


# ---------------------------------------------------------------- measuring


# ---------------------------------------------------------------- main


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
            return {**earlier,
                    "status": "checkpoint lost; " + ("restarting" if started else "not restarted")}
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
        return {**earlier,
                "status": f"checkpoint lost; a new run is at {training['steps']:,} steps"}
    return {**entry, "training": training, "status": "finished, not measured" if training["stopped"]
            else "in progress"}


def recorded_entry(args: argparse.Namespace, key: str,
                   measured: bool = True) -> dict[str, Any] | None:
    """The entry the record holds for `key` (measured, or else one that has not been
    measured), when the record is of this same study."""
    record = read_record(args.record)
    if record is None or record.get("study") != study_flags(args):
        return None
    return next((entry for entry in record["results"] if isinstance(entry, dict)
                 and entry.get("key") == key
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
                    args: argparse.Namespace, say: Callable[[str], None],
                    trainer_class: Any = None) -> bool:
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
    say(f"training {run.key} ({run.preset}) {what}"
        + (f", resuming at step {state['step']:,}" if resume else ""))
    train_for(run, data_dir, bundle_dir, plan, seed=args.seed, threads=args.threads,
              device=args.device,
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
        recorded = (recorded_entry(args, run.key) if args.resume
                    and saved_state(bundle_dir) is None else None)
        if recorded is not None:   # the work dir lost it (a new machine): the record keeps it
            say(f"{run.key}: measured earlier at step {recorded['training']['steps']:,} "
                f"({args.record}); "
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
    say(f"  {run.key}: NLL {report['nll']:.3f}, {tables.number(bits, 2)} bits/note, "
        f"{report['tokens_per_s']:.0f} tokens/s (measured in {time.perf_counter() - began:.0f} s)")
    entry = {**run.head(), "training": training, "report": report, "machine": machine_text(args),
             # kept so that any later page (--report-only) can draw it again
             "continuation": [[n.pitch, n.start, n.duration, n.velocity]
                              for n in measured["continuation"]]}
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
        plots.draw_piano_roll(prompt, [Note(*values) for values in result["continuation"]],
                                 folder / f"{result['key']}.png",
                                 f"{result['key']} ({result['preset']}, "
                                 f"{training.get('steps', 0):,} steps, "
                                 f"{tables.duration_text(training.get('seconds'))} of training)")


def machine_text(args: argparse.Namespace) -> str:
    """Where a run trained and was measured: the processor and its cores (the device is the
    study's --device)."""
    return f"{cpu_name()}, {platform.machine()} {platform.system()}, {os.cpu_count()} cores"


def archived_pages(out: Path) -> list[str]:
    """Earlier runs of the study kept as pages (<out>/results-archive/<name>/RESULTS.md),
    relative to --out, oldest first."""
    return sorted(path.relative_to(out).as_posix()
                  for path in (out / "results-archive").glob("*/RESULTS.md"))


def summary_line(results: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The last line printed: each model's headline numbers."""
    models = {}
    for result in results:
        report, training = result.get("report"), result.get("training") or {}
        if not report:
            models[result["key"]] = ({"error": result["error"]} if "error" in result else
                                     {"status": result.get("status"),
                                      "steps": training.get("steps"),
                                      "best_val_nll": training.get("best_val_nll"),
                                      "best_step": training.get("best_step")})
            continue
        models[result["key"]] = {
            "steps": training.get("steps"), "tokens_seen": training.get("tokens_seen"),
            "seconds": round(training.get("seconds") or 0.0, 1), "stopped": training.get("stopped"),
            "best_val_nll": training.get("best_val_nll"), "best_step": training.get("best_step"),
            "nll": report.get("nll"),
            "bits_per_note": (report.get("whole_pieces") or {}).get("bits_per_note"),
            "training_tokens_per_s": training.get("tokens_per_s"),
            "tokens_per_s": report.get("tokens_per_s")}
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
        prepared = (existing_datasets(args.runs, args) if args.report_only
                    else prepare_all(args.runs, args, say))
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
    data["rows"] = tables.data_rows(prepared, data["tokens_per_note"])
    environment = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                   "machine": machine_text(args),
                   "torch": torch.__version__, "threads": args.threads, "device": args.device}
    settings = {name: getattr(args, name)
                for name in ("patience", "max_hours", "big_max_hours", "pair_max_hours",
                                                      "pair_min_steps", "min_steps",
                                                      "epoch_fraction", "max_steps")}
    command = " ".join([".venv/bin/python -m bench.results"]
                       + [shlex.quote(flag) for flag in regeneration_flags(args)])
    args.out.mkdir(parents=True, exist_ok=True)
    page, pictures = page_names(args)
    brief = page_names(argparse.Namespace(patience=None))[0]
    frames = {name for name, result in prepared.items() if result.manifest.get("kind") == "frame"}
    curves = plots.draw_all_curves(results, args.out / pictures, data["tokens_per_note"], frames)
    draw_continuations(results, prompt, args.out / pictures)
    atomic_write_text(args.out / page, report.render_markdown(
        results, data, command, prompt_name, environment, settings, curves, pictures=pictures,
        brief=brief if page != brief and (args.out / brief).is_file() else None,
        archives=archived_pages(args.out) if page != brief else ()) + "\n")
    if page != brief:   # the paper's-own-data section (issue 44) stays on the page
        from bench.results_ff_text import keep_section

        keep_section(args.out / page, args.record.parent / "ff-piano.json")
    payload = {"command": command, "data": data, "environment": environment, "settings": settings,
               "results": results}
    atomic_write_text(args.work_dir / "results.json", json.dumps(json_ready(payload), indent=1))
    write_record(args, payload)
    say(f"wrote {args.out / page} in {time.perf_counter() - started:.0f} s")
    print(json.dumps(summary_line(results, time.perf_counter() - started)), flush=True)
    return 0 if args.report_only or all("report" in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

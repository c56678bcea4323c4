"""`metrics.jsonl`, a training run's log: its schema and the one reader of it.

One JSON object per line, appended while training (`checkpoint.RunLog` writes it, into
the run folder and a copy inside the bundle). Two kinds of record:

    {"type": "step",  "step": 40, "loss": 1.84, "lr": 0.001, "tokens_per_s": 2729.7,
     "tokens_seen": 163840}
    {"type": "epoch", "step": 400, "epoch": 1, "train_loss": 1.9, "val_nll": 1.7,
     "val_perplexity": 5.5, "lr": 0.001, "tokens_seen": 1638400, "seconds": 61.2,
     "best": true}

`step` counts optimizer steps and is the x axis of every curve. A line torn by a kill,
or anything that is not a JSON object, is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
STEP, EPOCH = "step", "epoch"          # the record types
MAX_LINES = 100_000                    # a runaway log is read from its first lines only

Curve = tuple[list[float], list[float]]  # (steps, values)


def metrics_path(path: str | os.PathLike[str]) -> Path:
    """The log itself: `path` when it is the file, `path/metrics.jsonl` for a folder."""
    path = Path(path)
    return path / METRICS_FILE if path.is_dir() else path


def read_metrics(path: str | os.PathLike[str], max_lines: int = MAX_LINES) -> list[dict[str, Any]]:
    """The records of a log (a bundle or run folder, or the file); [] when there is none."""
    records: list[dict[str, Any]] = []
    try:
        with open(metrics_path(path), encoding="utf-8", errors="replace") as stream:
            for index, line in enumerate(stream):
                if index >= max_lines:
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line being written, torn by a kill, or garbage
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        return []
    return records


def _curve(records: list[dict[str, Any]], kind: str, key: str) -> Curve:
    steps: list[float] = []
    values: list[float] = []
    for record in records:
        step, value = record.get("step"), record.get(key)
        if record.get("type") != kind or isinstance(value, bool):
            continue
        if isinstance(step, (int, float)) and isinstance(value, (int, float)):
            steps.append(float(step))
            values.append(float(value))
    return steps, values


def training_loss(records: list[dict[str, Any]]) -> Curve:
    """The loss of each logged step (an epoch's mean would zig-zag against them)."""
    return _curve(records, STEP, "loss")


def validation_nll(records: list[dict[str, Any]]) -> Curve:
    """The validation NLL (nats/token) at the end of each epoch."""
    return _curve(records, EPOCH, "val_nll")


def loss_curves(records: list[dict[str, Any]]) -> dict[str, Curve]:
    """{"train_loss": curve, "val_loss": curve}, leaving out a curve with no point."""
    curves = {"train_loss": training_loss(records), "val_loss": validation_nll(records)}
    return {name: curve for name, curve in curves.items() if curve[0]}

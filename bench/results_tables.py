"""The results study's tables and numbers as text: models, classes, frames,
representations, the data, the machines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.results_groups import REPRESENTATIONS


def number(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded, missing values as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


MODEL_HEADER = ("model", "preset", "params", "tokenizer", "steps", "tokens seen",
                "wall time", "stopped by",
                "best val NLL (step)", "NLL", "accuracy", "grammar errors / 100 unmasked", "masked",
                "in-scale", "training tokens/s", "tokens/s")


def model_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for result in results:
        report, training = result.get("report"), result.get("training") or {}
        head = [f"`{result['key']}`", f"`{result['preset']}`"]
        if not report and training:   # still training (or not measured yet): the training so far
            best_step = training.get("best_step")
            rows.append(head + [
                number(training.get("parameters")), result["tokenizer"],
                number(training.get("steps")),
                number(training.get("tokens_seen")), duration_text(training.get("seconds")),
                training.get("stopped") or f"*{result.get('status', 'not finished')}*",
                number(training.get("best_val_nll"))
                + (f" ({best_step:,})" if best_step is not None else "")]
                + ["–"] * (len(MODEL_HEADER) - 11) + [number(training.get("tokens_per_s"), 0), "–"])
            continue
        if not report:
            why = (f"*{result['status']}*" if result.get("status")
                   else f"failed: {result.get('error', '?')}")
            rows.append(head + ["–", result["tokenizer"], why] + ["–"] * (len(MODEL_HEADER) - 5))
            continue
        token = report["kind"] == "token"
        best_step = training.get("best_step")
        rows.append(head + [
            number(report.get("parameters")), result["tokenizer"],
            number(training.get("steps")), number(training.get("tokens_seen")),
            duration_text(training.get("seconds")), training.get("stopped") or "not finished",
            number(training.get("best_val_nll"))
            + (f" ({best_step:,})" if best_step is not None else ""),
            number(report.get("nll")) + ("" if token else " (BCE)"),
            number(report.get("accuracy")) if token else "–",
            number(report.get("grammar_errors_per_100_unmasked"), 1) if token else "–",
            number(report.get("grammar_errors_per_100_masked"), 1) if token else "–",
            number(report.get("prompt_in_scale_ratio"), 2),
            number(training.get("tokens_per_s"), 0),
            number(report.get("tokens_per_s"), 0),
        ])
    return rows


def class_rows(results: Sequence[dict[str, Any]], group: str = "sequential") -> list[list[str]]:
    """Macro precision / recall / F1 over the note and the duration classes, per model."""
    rows = []
    for result in results:
        if result.get("group") != group or not result.get("report"):
            continue
        classes = (result["report"].get("whole_pieces") or {}).get("classes") or {}
        row = [f"`{result['key']}`"]
        for name in ("note", "duration"):
            scores = classes.get(name) or {}
            row += [number(scores.get(k)) for k in ("precision", "recall", "f1")]
        rows.append(row)
    return rows


def frame_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for result in results:
        report = result.get("report")
        if not report or report["kind"] != "frame":
            continue
        rows.append([f"`{result['key']}`", result["tokenizer"], number(report.get("bce")),
                     number(report.get("density_predicted"), 2),
                     number(report.get("density_real"), 2),
                     number(report.get("sample_density"), 2)])
    return rows


def representation_rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Bits per note of the same Transformer on each token scheme, then the other models."""
    by_key = {r["key"]: r for r in results if r.get("report")}
    rows = []
    listed = [by_key[key] for key in REPRESENTATIONS.values() if key in by_key]
    listed += [r for r in by_key.values() if r not in listed]
    for result in listed:
        scores = result["report"].get("whole_pieces") or {}
        value = scores.get("bits_per_note")
        rows.append([f"`{result['key']}`", result["tokenizer"], number(scores.get("pieces")),
                     number(scores.get("notes")),
                     number(scores.get("tokens", scores.get("frames"))),
                     number(scores.get("nats_per_token")),
                     number(value) if value is not None
                     else f"not comparable: {scores.get('reason', '?')}"])
    return rows


def machines_text(results: Sequence[dict[str, Any]], machine: str) -> str:
    """Which measured runs trained on another machine than the page's (a study resumed on a
    new machine: wall-clock caps buy different step counts there), or ''."""
    by_machine: dict[str, list[str]] = {}
    for result in results:
        if result.get("report") and result.get("machine"):
            by_machine.setdefault(result["machine"], []).append(result["key"])
    if not by_machine or set(by_machine) == {machine}:
        return ""
    return "Measured on more than one machine: " + "; ".join(
        f"{', '.join(f'`{key}`' for key in keys)} on {where}"
        for where, keys in by_machine.items()) + "."


def data_rows(prepared: dict[str, Any], tokens_per_note: dict[str, dict[str, float]] | None = None
              ) -> list[list[str]]:
    """One row per dataset; tokens per note (training split) where the report measured it."""
    rows = []
    for tokenizer, result in prepared.items():
        manifest = result.manifest
        splits = manifest["splits"]
        ratio = (tokens_per_note or {}).get(tokenizer, {}).get("train")
        rows.append([tokenizer, manifest["kind"], number(manifest.get("vocab_size")),
                     number(splits["train"]["files"]), number(splits["train"]["tokens"]),
                     number(splits["val"]["files"]), number(splits["val"]["tokens"]),
                     number(ratio, 2), number(len(manifest["skipped"]))])
    return rows

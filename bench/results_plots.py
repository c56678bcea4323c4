"""The results study's pictures: a piano roll of each model's continuation and the
learning curves (validation NLL against tokens seen; bits per note across representations).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.results_groups import (
    CONTINUATION_COLOUR,
    CURVE_COLOURS,
    CURVE_GROUPS,
    CURVE_MEMBERS,
    GROUPS,
    PAPER_NLL,
    PROMPT_COLOUR,
    REPRESENTATIONS,
)


def draw_piano_roll(prompt, continuation: Sequence[Any], path: Path, title: str) -> None:
    """Pitch-vs-time rectangles: the prompt in blue, the continuation in orange, bar lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    quarter = prompt.ticks_per_quarter
    prompt_notes = [n for t in prompt.tracks if not t.is_drum for n in t.notes]
    everything = prompt_notes + list(continuation)
    end = max([n.end for n in everything] + [prompt.end_tick, quarter])
    pitches = [n.pitch for n in everything] or [60]
    figure, axes = pyplot.subplots(figsize=(9, 3.2), dpi=100)
    for notes, colour in ((prompt_notes, PROMPT_COLOUR), (continuation, CONTINUATION_COLOUR)):
        boxes = [Rectangle((n.start / quarter, n.pitch - 0.4), n.duration / quarter, 0.8)
                 for n in notes]
        axes.add_collection(PatchCollection(boxes, facecolor=colour, edgecolor="black",
                                            linewidth=0.3))
    for tick in prompt.bar_starts(end):
        axes.axvline(tick / quarter, color="grey", linewidth=0.6, alpha=0.6, zorder=0)
    axes.axvline(prompt.next_bar_start(max(prompt.end_tick - 1, 0)) / quarter, color="black",
                 linewidth=1.2)
    axes.set_xlim(0, end / quarter)
    axes.set_ylim(min(pitches) - 2, max(pitches) + 2)
    axes.set_xlabel("quarter notes")
    axes.set_ylabel("MIDI pitch")
    axes.set_title(title, fontsize=10)
    axes.legend(handles=[Patch(color=PROMPT_COLOUR, label="prompt"),
                         Patch(color=CONTINUATION_COLOUR,
                               label=f"continuation\n({len(continuation)} notes)")],
                loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)


def draw_learning_curves(curves: dict[str, Sequence[dict[str, Any]]], path: Path, title: str,
                         paper: dict[str, float] | None = None, *, x: str = "tokens_seen",
                         y: str = "val_nll",
                         x_label: str = "training tokens seen",
                         y_label: str = "validation NLL (nats/token)",
                         faint: dict[str, str] | None = None) -> None:
    """Validation NLL (each point's `y`) against tokens seen (`x`), one line per model, its
    best epoch ringed; the paper's final figures as dashed lines where it gives them. The
    curves labelled in `faint` (earlier runs: {label: the label of the run it belongs to}) are
    dotted in that run's colour, without markers, beneath the measured runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4), dpi=100)
    faint = faint or {}
    colours = {label: CURVE_COLOURS[index % len(CURVE_COLOURS)]
               for index, label in enumerate(label for label in curves if label not in faint)}
    for label, curve in curves.items():
        if not curve:
            continue
        colour = colours.get(faint.get(label, label), "grey")
        tokens = [point[x] for point in curve]
        values = [point[y] for point in curve]
        if label in faint:
            axes.plot(tokens, values, color=colour, linestyle=":", linewidth=1.5,
                      label=label, zorder=1)
            continue
        axes.plot(tokens, values, color=colour, marker="o", markersize=3, label=label, zorder=2)
        best = int(np.argmin(values))
        axes.scatter([tokens[best]], [values[best]], s=90, facecolors="none", edgecolors=colour,
                     linewidths=1.5)
        if paper and label in paper:
            axes.axhline(paper[label], color=colour, linestyle="--", linewidth=1,
                         label=f"{label}: paper {paper[label]}")
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_count_tick))
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)


def _count_tick(value: float, _position: Any = None) -> str:
    """An axis tick for a count of tokens or notes: 0, 500 k, 1.5 M (not matplotlib's 1e7
    offset)."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g} M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g} k"
    return f"{value:g}"


def _save_figure(figure: Any, path: Path) -> None:
    from matplotlib import pyplot

    from ml_core.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary)
    pyplot.close(figure)


def per_note_curves(results: Sequence[dict[str, Any]],
                    tokens_per_note: dict[str, dict[str, float]]) -> dict[str,
                                                                          list[dict[str, Any]]]:
    """The representation runs' learning curves in units every token scheme shares:
    validation bits per note (NLL per token x the validation split's tokens per note / ln 2)
    against training notes seen (tokens seen / the training split's tokens per note).
    {tokenizer: [{"step", "notes_seen", "bits_per_note"}]}"""
    by_key = {r["key"]: r["training"]["curve"] for r in results
              if (r.get("training") or {}).get("curve")}
    curves = {}
    for tokenizer, key in REPRESENTATIONS.items():
        ratio = tokens_per_note.get(tokenizer)
        if key in by_key and ratio:
            curves[tokenizer] = [{"step": point["step"], "tokens_seen": point["tokens_seen"],
                                  "notes_seen": point["tokens_seen"] / ratio["train"],
                                  "bits_per_note": point["val_nll"] * ratio["val"] / math.log(2)}
                                 for point in by_key[key]]
    return curves


def equal_training(curves: dict[str, Sequence[dict[str, Any]]],
                   x: str = "notes_seen") -> tuple[float, dict[str, float]] | None:
    """The best bits per note each representation had reached by the same amount of training,
    `x` = "notes_seen" (the same music) or "tokens_seen" (the same steps, so the same compute),
    at the shortest run's last epoch: (amount, {tokenizer: bits}); None under two curves."""
    if len(curves) < 2:
        return None
    common = min(curve[-1][x] for curve in curves.values())
    reached = {name: _best_until(curve, common, x=x, y="bits_per_note")
               for name, curve in curves.items()}
    reached = {name: value for name, value in reached.items() if value is not None}
    return (common, reached) if len(reached) >= 2 else None


def draw_all_curves(results: Sequence[dict[str, Any]], folder: Path,
                    tokens_per_note: dict[str, dict[str, float]] | None = None,
                    frame_tokenizers: Collection[str] = ()) -> dict[str, str]:
    """One plot per paper comparison with two or more token models' curves, and the
    representations' in bits per note against notes seen: {group: file name}. Frame models
    (their tokenizer in `frame_tokenizers`, or a frame report) stay off these plots: their
    BCE per key and step is not on the nats-per-token axis."""
    drawn = {}
    per_note = per_note_curves(results, tokens_per_note or {})
    if len(per_note) >= 2:
        draw_learning_curves(per_note, folder / "curve-representation.png",
                             GROUPS["representation"],
                             x="notes_seen", y="bits_per_note", x_label="training notes seen",
                             y_label="validation bits per note")
        drawn["representation"] = "curve-representation.png"
    for group in CURVE_GROUPS:
        members = CURVE_MEMBERS.get(group, (group,))
        curves = {r["key"]: r["training"]["curve"] for r in results
                  if r.get("group") in members and r.get("training", {}).get("curve")
                  and r.get("tokenizer") not in frame_tokenizers
                  and (r.get("report") or {}).get("kind") != "frame"}
        if len(curves) < 2 or not any(r.get("group") == group and r.get("training")
                                      for r in results):
            continue
        lost = {f"{r['key']} (earlier run, checkpoint lost)": r for r in results
                if r["key"] in curves and (r.get("earlier_run") or {}).get("curve")}
        name = f"curve-{group}.png"
        draw_learning_curves({**curves,
                              **{label: r["earlier_run"]["curve"] for label, r in lost.items()}},
                             folder / name, GROUPS[group],
                             PAPER_NLL if group == "symbolic" else None,
                             faint={label: r["key"] for label, r in lost.items()})
        drawn[group] = name
    return drawn


def _best_until(curve: Sequence[dict[str, Any]], tokens: float, *, x: str = "tokens_seen",
                y: str = "val_nll", slack: float = 0.01) -> float | None:
    """The best validation NLL a run had reached by `tokens` training tokens. Between two
    validations the best-so-far curve is interpolated linearly: a learning curve is convex, so
    this errs on the high side, but far less than falling back to the validation before (which
    may be a whole epoch earlier). None before the first validation, unless that one is within
    `slack` of `tokens` (runs stopped at the same step floor differ by a few short windows)."""
    best, previous = None, None
    for point in sorted(curve, key=lambda p: p[x]):
        value = point[y] if best is None else min(best, point[y])
        if point[x] == tokens:
            return value
        if point[x] > tokens:
            if previous is None:
                return value if point[x] <= tokens * (1 + slack) else None
            share = (tokens - previous[0]) / (point[x] - previous[0])
            return previous[1] + share * (value - previous[1])
        best, previous = value, (point[x], value)
    return best

"""The document half of bench/results.py: docs/RESULTS.md's tables, its per-paper text
(whether our numbers agree with the research, and why not) and its pictures (piano rolls,
learning curves). Pure functions of the entries bench/results.py measured; nothing here
trains or scores a model."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PAPER_NLL = {"lstm-symbolic": 1.425, "transformer-symbolic": 1.237}  # nats/token, full training
PROMPT_COLOUR, CONTINUATION_COLOUR = "#4c72b0", "#dd8452"
CURVE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2")
GROUPS = {
    "symbolic": "LSTM vs Transformer (\"Symbolic Music Generation with Deep Learning Techniques\")",
    "deep-dive": "LSTMs vs Transformer (\"A Deep Dive into Music Generation\")",
    "sequential": "RNN vs LSTM vs LSTM with attention (\"Music generation with sequential models\")",
    "making-music": "\"Making Music with LSTMs\"",
    "deep-musician": "\"Deep Musician\"",
    "representation": "the same Transformer on four token representations",
    "symbolic-tuning": "the pair's Transformer with another learning rate or batch size",
}
CURVE_GROUPS = ("symbolic", "deep-dive", "sequential", "symbolic-tuning")    # one learning-curve plot each
CURVE_MEMBERS = {"symbolic-tuning": ("symbolic", "symbolic-tuning")}   # the variants beside the pair
REPRESENTATIONS = {"bar_offset": "transformer-symbolic", "remi": "transformer-remi",
                   "midi_like": "transformer-midi_like", "note_duration": "transformer-note_duration"}


# ---------------------------------------------------------------- pictures


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
        boxes = [Rectangle((n.start / quarter, n.pitch - 0.4), n.duration / quarter, 0.8) for n in notes]
        axes.add_collection(PatchCollection(boxes, facecolor=colour, edgecolor="black", linewidth=0.3))
    for tick in prompt.bar_starts(end):
        axes.axvline(tick / quarter, color="grey", linewidth=0.6, alpha=0.6, zorder=0)
    axes.axvline(prompt.next_bar_start(max(prompt.end_tick - 1, 0)) / quarter, color="black", linewidth=1.2)
    axes.set_xlim(0, end / quarter)
    axes.set_ylim(min(pitches) - 2, max(pitches) + 2)
    axes.set_xlabel("quarter notes")
    axes.set_ylabel("MIDI pitch")
    axes.set_title(title, fontsize=10)
    axes.legend(handles=[Patch(color=PROMPT_COLOUR, label="prompt"),
                         Patch(color=CONTINUATION_COLOUR, label=f"continuation\n({len(continuation)} notes)")],
                loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    figure.tight_layout()
    _save_figure(figure, path)


def draw_learning_curves(curves: dict[str, Sequence[dict[str, Any]]], path: Path, title: str,
                         paper: dict[str, float] | None = None, *, x: str = "tokens_seen", y: str = "val_nll",
                         x_label: str = "training tokens seen", y_label: str = "validation NLL (nats/token)",
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
            axes.plot(tokens, values, color=colour, linestyle=":", linewidth=1.5, label=label, zorder=1)
            continue
        axes.plot(tokens, values, color=colour, marker="o", markersize=3, label=label, zorder=2)
        best = int(np.argmin(values))
        axes.scatter([tokens[best]], [values[best]], s=90, facecolors="none", edgecolors=colour, linewidths=1.5)
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
    """An axis tick for a count of tokens or notes: 0, 500 k, 1.5 M (not matplotlib's 1e7 offset)."""
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
                    tokens_per_note: dict[str, dict[str, float]]) -> dict[str, list[dict[str, Any]]]:
    """The representation runs' learning curves in units every token scheme shares:
    validation bits per note (NLL per token x the validation split's tokens per note / ln 2)
    against training notes seen (tokens seen / the training split's tokens per note).
    {tokenizer: [{"step", "notes_seen", "bits_per_note"}]}"""
    by_key = {r["key"]: r["training"]["curve"] for r in results if (r.get("training") or {}).get("curve")}
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
    reached = {name: _best_until(curve, common, x=x, y="bits_per_note") for name, curve in curves.items()}
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
        draw_learning_curves(per_note, folder / "curve-representation.png", GROUPS["representation"],
                             x="notes_seen", y="bits_per_note", x_label="training notes seen",
                             y_label="validation bits per note")
        drawn["representation"] = "curve-representation.png"
    for group in CURVE_GROUPS:
        members = CURVE_MEMBERS.get(group, (group,))
        curves = {r["key"]: r["training"]["curve"] for r in results
                  if r.get("group") in members and r.get("training", {}).get("curve")
                  and r.get("tokenizer") not in frame_tokenizers and (r.get("report") or {}).get("kind") != "frame"}
        if len(curves) < 2 or not any(r.get("group") == group and r.get("training") for r in results):
            continue
        lost = {f"{r['key']} (earlier run, checkpoint lost)": r for r in results
                if r["key"] in curves and (r.get("earlier_run") or {}).get("curve")}
        name = f"curve-{group}.png"
        draw_learning_curves({**curves, **{label: r["earlier_run"]["curve"] for label, r in lost.items()}},
                             folder / name, GROUPS[group], PAPER_NLL if group == "symbolic" else None,
                             faint={label: r["key"] for label, r in lost.items()})
        drawn[group] = name
    return drawn


# ---------------------------------------------------------------- the document


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


MODEL_HEADER = ("model", "preset", "params", "tokenizer", "steps", "tokens seen", "wall time", "stopped by",
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
                number(training.get("parameters")), result["tokenizer"], number(training.get("steps")),
                number(training.get("tokens_seen")), duration_text(training.get("seconds")),
                training.get("stopped") or f"*{result.get('status', 'not finished')}*",
                number(training.get("best_val_nll")) + (f" ({best_step:,})" if best_step is not None else "")]
                + ["–"] * (len(MODEL_HEADER) - 11) + [number(training.get("tokens_per_s"), 0), "–"])
            continue
        if not report:
            why = f"*{result['status']}*" if result.get("status") else f"failed: {result.get('error', '?')}"
            rows.append(head + ["–", result["tokenizer"], why] + ["–"] * (len(MODEL_HEADER) - 5))
            continue
        token = report["kind"] == "token"
        best_step = training.get("best_step")
        rows.append(head + [
            number(report.get("parameters")), result["tokenizer"],
            number(training.get("steps")), number(training.get("tokens_seen")),
            duration_text(training.get("seconds")), training.get("stopped") or "not finished",
            number(training.get("best_val_nll")) + (f" ({best_step:,})" if best_step is not None else ""),
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
                     number(report.get("density_predicted"), 2), number(report.get("density_real"), 2),
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
                     number(scores.get("notes")), number(scores.get("tokens", scores.get("frames"))),
                     number(scores.get("nats_per_token")),
                     number(value) if value is not None else f"not comparable: {scores.get('reason', '?')}"])
    return rows


def comparison_text(results: Sequence[dict[str, Any]], train_files: int,
                    tokens_per_note: dict[str, dict[str, float]] | None = None) -> list[str]:
    """Plain-language paragraphs, per paper, on whether our numbers agree with it and why not."""
    by_key = {r["key"]: r["report"] for r in results if r.get("report")}
    training = {r["key"]: r.get("training") or {} for r in results if r.get("report")}
    tokenizers = {r["key"]: r["tokenizer"] for r in results}
    in_progress = {r["key"]: {**r["training"], "status": r.get("status")} for r in results
                   if not r.get("report") and r.get("training")}
    tuned = {r["key"]: r["training"] for r in results
             if r.get("group") == "symbolic-tuning" and (r.get("training") or {}).get("best_val_nll") is not None}
    earlier = {r["key"]: r["earlier_run"] for r in results if r.get("report") and r.get("earlier_run")}
    paragraphs = [_paper_pair_text(by_key, training, train_files, tuned, earlier)
                  or _pair_progress_text({**in_progress, **training}), _deep_dive_text(by_key, training),
                  _sequential_text(by_key, training, tokenizers), _representation_text(
                      by_key, training, per_note_curves(results, tokens_per_note or {})),
                  _making_music_text(by_key, training), _grammar_text(by_key), _frame_text(by_key)]
    return [p for p in paragraphs if p]


def _trained_to(training: dict[str, Any], *, inside: bool = False) -> str:
    """How far a run trained and what stopped it; `inside`: for text already in parentheses."""
    stopped = training.get("stopped")
    steps = f"{training.get('steps', 0):,} steps"
    if stopped == "patience":
        best = f"best at step {training.get('best_step') or 0:,}"
        return f"{steps}, stopped by patience, {best}" if inside else f"{steps}, stopped by patience ({best})"
    if stopped == "time cap":
        return f"{steps}, stopped by the {training.get('cap_hours', 0):g} h cap"
    return f"{steps}, {stopped or 'not finished'}"


def _paper_pair_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]],
                     train_files: int, tuned: dict[str, dict[str, Any]] | None = None,
                     earlier: dict[str, dict[str, Any]] | None = None) -> str:
    lstm, transformer = by_key.get("lstm-symbolic"), by_key.get("transformer-symbolic")
    if not (lstm and transformer):
        return ""
    ours_lower = "Transformer" if transformer["nll"] < lstm["nll"] else "LSTM"
    pair = (training["lstm-symbolic"], training["transformer-symbolic"])
    named = [("LSTM", pair[0]), ("Transformer", pair[1])]
    converged = all(t.get("stopped") == "patience" or (t.get("min_steps") and t.get("steps", 0) >= t["min_steps"])
                    for t in pair)
    paper_steps = ("The paper trained each until its test loss stopped improving: best after 9 "
                   "\"epochs\" for the LSTM and 6 for the Transformer, an epoch being 2 % of its "
                   "639,470 windows, about 1,600 steps of batch 8, so roughly 14,000 and 10,000 steps; "
                   f"ours: the LSTM {_trained_to(pair[0])}, the Transformer {_trained_to(pair[1])}.")
    if ours_lower == "Transformer":
        verdict = "This agrees with the paper's ordering."
    elif converged and tuned:
        lstm_best = pair[0].get("best_val_nll")
        tried = "; ".join(f"`{key}` best {run['best_val_nll']:.3f} ({_trained_to(run, inside=True)})"
                          for key, run in tuned.items())
        beaten = lstm_best is not None and any(run["best_val_nll"] < lstm_best for run in tuned.values())
        verdict = ("With the paper's recipes this is the opposite of its ordering, both runs trained to "
                   "early stopping or past the step floor. The paper found its Transformer the more "
                   "sensitive to learning rate and batch size, so those were tried (validation NLL during "
                   f"training; the LSTM's best {number(lstm_best)}): {tried}. "
                   + ("With that setting the Transformer is the lower, as in the paper: the ordering "
                      "depends on tuning the Transformer." if beaten else
                      "The LSTM stays lower, so here the ordering differs from the paper's."))
    elif converged:
        verdict = ("This is the opposite of the paper's ordering, with both runs trained to early "
                   "stopping or past the step floor. Tried so far: only the paper's recipes (Adamax, "
                   "batch 8; the LSTM at 5e-4 decaying x0.8 per epoch, the Transformer at a flat 1e-3); "
                   "the paper notes its Transformer was the more sensitive of the two to batch size and "
                   "learning rate, so a lower Transformer rate and a larger batch (`--models "
                   "symbolic-tuning`) are the next runs before concluding.")
    else:
        verdict = ("This is the opposite of the paper's ordering. Neither run reached early stopping, "
                   "so the model that learns fastest per second of compute wins, which says little "
                   "about where each would end.")
    below = sum(ours["nll"] <= PAPER_NLL[key] for key, ours in (("lstm-symbolic", lstm),
                                                                 ("transformer-symbolic", transformer)))
    level = ("Both of ours are above the paper's, as expected from models that saw less music." if not below else
             f"{'Both' if below == 2 else 'One'} of ours {'are' if below == 2 else 'is'} at or below the "
             "paper's figure, which most likely means our validation music is more predictable than the "
             "paper's piano arrangements of game soundtracks, not a better model.")
    return (f"**LSTM vs Transformer (\"Symbolic Music Generation with Deep Learning Techniques\").** "
            f"The paper reports a best test NLL of {PAPER_NLL['lstm-symbolic']} nats/token for its "
            f"4.4M-parameter LSTM and {PAPER_NLL['transformer-symbolic']} for its 4.3M-parameter "
            f"Transformer, on its own data after full training on a GPU. Ours use {train_files} "
            f"training pieces of other music, so the absolute numbers are not comparable with the "
            f"paper's; only the ordering is. {level} Here the {ours_lower} reaches the lower "
            f"validation NLL ({lstm['nll']:.3f} for the LSTM, {transformer['nll']:.3f} for the "
            f"Transformer). {verdict}{_equal_tokens_text(named, 'was')}{_at_the_cap_text(named)}"
            f"{_earlier_runs_text(named, {'LSTM': 'lstm-symbolic', 'Transformer': 'transformer-symbolic'}, earlier or {})}"
            f" {paper_steps}")


def _earlier_runs_text(runs: Sequence[tuple[str, dict[str, Any]]], keys: dict[str, str],
                       earlier: dict[str, dict[str, Any]]) -> str:
    """For a run whose record keeps an earlier, longer run of the same model (its checkpoint
    lost with a machine): how far that one went, whether its validations match this run's
    where both have one (a restart with the same seed repeats it), its best, and where it
    stood at the other run's last training tokens. Empty without such a run."""
    text = ""
    for name, run in runs:
        longer = earlier.get(keys.get(name, ""))
        curve = (longer or {}).get("curve") or []
        if not curve:
            continue
        mine = {point["step"]: point["val_nll"] for point in run.get("curve") or []}
        shared = [point for point in curve if point["step"] in mine]
        same = shared and all(abs(mine[point["step"]] - point["val_nll"]) < 1e-9 for point in shared)
        both = f"all {len(shared)} validations" if len(shared) > 1 else "the one validation"
        match = (f"it repeated this run's validation NLL exactly at {both} both made, so it is this run "
                 "continued" if same else f"its validation NLL differs from this run's at {both} both made"
                 if shared else "no validation step is shared with this run")
        text += (f" An earlier run of the {name} in this same study went on to {longer['steps']:,} steps "
                 f"({longer['tokens_seen'] / 1e6:.1f} M tokens) before its checkpoint was lost with its "
                 f"machine, unmeasured: {match}; its best was {longer['best_val_nll']:.3f} at step "
                 f"{longer.get('best_step') or 0:,}.")
        reached = run["curve"][-1]["tokens_seen"] if run.get("curve") else 0
        for other_name, other in runs:
            if other_name == name or not other.get("curve") or other["curve"][-1]["tokens_seen"] <= reached:
                continue   # only where the earlier run says more than this one's own curve
            at = other["curve"][-1]["tokens_seen"]
            mine_then, theirs = _best_until(curve, at), _best_until(other["curve"], at)
            if mine_then is not None and theirs is not None:
                lower = name if mine_then < theirs else other_name
                text += (f" At the {other_name}'s last {at / 1e6:.1f} M tokens it was at {mine_then:.3f} "
                         f"against the {other_name}'s {theirs:.3f}, so the {lower} was the lower there.")
    return text


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


def _equal_tokens_text(runs: Sequence[tuple[str, dict[str, Any]]], verb: str) -> str:
    """Which run was lowest at the same number of training tokens (the shortest run's last
    point), from the learning curves of runs on the same tokens; an empty string without them."""
    if len(runs) < 2 or not all(run.get("curve") for _, run in runs):
        return ""
    common = min(run["curve"][-1]["tokens_seen"] for _, run in runs)
    at = {name: _best_until(run["curve"], common) for name, run in runs}
    if None in at.values():
        return ""
    lowest = min(at, key=at.get)
    values = ", ".join(f"{at[name]:.3f} {name}" for name, _ in runs)
    return (f" At the same {common / 1e6:.1f} M training tokens the {lowest} {verb} "
            f"{'lower' if len(runs) == 2 else 'lowest'} ({values}: each one's best by then, "
            "interpolated between validations).")


def _at_the_cap_text(runs: Sequence[tuple[str, dict[str, Any]]], epochs: int = 3) -> str:
    """How fast the runs stopped by their time cap were still learning, in one sentence: the
    mean gain per epoch over each one's last validations (up to `epochs`; the cap's own is
    of a partial epoch). An empty string when none was stopped by its cap."""
    measured = []
    for name, run in runs:
        curve = run.get("curve") or []
        if run.get("stopped") != "time cap" or len(curve) < 2:
            continue
        n = min(epochs, len(curve) - 1)
        gain = (curve[-1 - n]["val_nll"] - min(point["val_nll"] for point in curve[-n:])) / n
        if gain <= 0:
            clause = f"the {name} had not improved"
        elif gain < 0.001:
            clause = f"the {name} had all but stopped improving (less than 0.001 per epoch)"
        else:
            clause = f"the {name} was still gaining {gain:.3f} per epoch"
        measured.append((clause, n))
    if not measured:
        return ""

    def validations(n: int) -> str:
        return f"last {n} validations" if n > 1 else "last validation"

    counts = {n for _, n in measured}
    if len(measured) > 1 and len(counts) == 1:
        clauses = [clause for clause, _ in measured]
        tail = f", over the {validations(counts.pop())} of each"
    else:
        clauses = [f"{clause} over its {validations(n)}" for clause, n in measured]
        tail = ""
    body = " and ".join(clauses)
    return f" At {'its cap' if len(measured) == 1 else 'their caps'} {body}{tail}."


def _pair_progress_text(training: dict[str, dict[str, Any]]) -> str:
    """The LSTM-vs-Transformer pair while one of them is still training: the best
    validation NLL so far, and at the same number of training tokens."""
    lstm, transformer = training.get("lstm-symbolic"), training.get("transformer-symbolic")
    if not (lstm and transformer and lstm.get("curve") and transformer.get("curve")):
        return ""

    def so_far(name: str, run: dict[str, Any]) -> str:
        if run.get("stopped"):
            where = _trained_to(run).split(", ", 1)[1]
        elif str(run.get("status")).startswith("checkpoint lost"):
            where = run["status"].replace("; ", ", ")
        else:
            where = "still training"
        return (f"the {name} {run['steps']:,} steps ({run['tokens_seen'] / 1e6:.1f} M tokens, "
                f"{duration_text(run['seconds'])}), best {run['best_val_nll']:.3f} at step "
                f"{run.get('best_step') or 0:,}, {where}")

    equal = _equal_tokens_text([("LSTM", lstm), ("Transformer", transformer)], "is")
    return (f"**LSTM vs Transformer (\"Symbolic Music Generation with Deep Learning Techniques\"): in "
            f"progress.** The paper reports a best test NLL of {PAPER_NLL['lstm-symbolic']} nats/token "
            f"for its LSTM and {PAPER_NLL['transformer-symbolic']} for its Transformer. Ours so far: "
            f"{so_far('LSTM', lstm)}; {so_far('Transformer', transformer)}.{equal}"
            + _ordering_so_far_text({"LSTM": lstm, "Transformer": transformer}))


def _ordering_so_far_text(runs: dict[str, dict[str, Any]], epochs: int = 3) -> str:
    """The ordering of two runs that have not both stopped: which one was lower at every
    validation of the shorter run (best so far, at equal training tokens), and, for one still
    training behind a stopped one, how many epochs at its recent gain it would need to reach
    the other's best. Says that this is the ordering of runs that have not finished."""
    (first, a), (second, b) = runs.items()
    common = min(a["curve"][-1]["tokens_seen"], b["curve"][-1]["tokens_seen"])
    points = sorted({p["tokens_seen"] for run in (a, b) for p in run["curve"] if p["tokens_seen"] <= common})
    pairs = [(_best_until(a["curve"], t), _best_until(b["curve"], t)) for t in points]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    text = ""
    if pairs and len({x < y for x, y in pairs}) == 1 and all(x != y for x, y in pairs):
        lower, higher = (first, second) if pairs[0][0] < pairs[0][1] else (second, first)
        text = (f" The {lower} was lower at every one of the {len(pairs)} validations up to "
                f"{common / 1e6:.1f} M tokens (best so far at equal tokens)"
                + (", the paper's ordering." if lower == "Transformer" else ", the reverse of the paper's ordering."))
        behind, ahead = runs[higher], runs[lower]
        curve = behind["curve"]
        if ahead.get("stopped") and not behind.get("stopped") and len(curve) > epochs:
            gain = (curve[-1 - epochs]["val_nll"] - min(p["val_nll"] for p in curve[-epochs:])) / epochs
            gap = behind["best_val_nll"] - ahead["best_val_nll"]
            if gain > 0 and gap > 0:
                text += (f" The {higher} gained {gain:.4f} per epoch over its last {epochs} validations: at "
                         f"that rate it would need about {math.ceil(gap / gain):,} more epochs to reach the "
                         f"{lower}'s best, and learning curves flatten.")
    return text + (" The runs have not both stopped, so this is the ordering of models that have not "
                   "finished learning; the verdict comes when both have.")


def _deep_dive_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]]) -> str:
    keys = [k for k in ("lstm-deepdive-simple", "lstm-deepdive-complex", "transformer-deepdive") if k in by_key]
    if len(keys) < 2:
        return ""
    nll = {k: by_key[k]["nll"] for k in keys}
    best = min(nll, key=nll.get)
    parts = [f"{k} {nll[k]:.3f} ({_trained_to(training[k], inside=True)})" for k in keys]
    text = ("**LSTMs vs Transformer (\"A Deep Dive into Music Generation\").** The report gives no "
            "likelihoods: it found no difference between the music of its simple and complex LSTMs, "
            "and judged its 12 x 1024 Transformer (REMI, 9 hours of training) by far the best by ear. "
            f"Our validation NLL on remi tokens: {', '.join(parts)}; the lowest is {best}.")
    simple, complex_ = nll.get("lstm-deepdive-simple"), nll.get("lstm-deepdive-complex")
    if simple is not None and complex_ is not None:
        close = abs(simple - complex_) <= 0.05 * min(simple, complex_)
        text += (" The two LSTMs are within 5 % of each other, which agrees with the report." if close else
                 " The two LSTMs differ by more than 5 %, unlike the report's impression of their music.")
    if "transformer-deepdive" in nll:
        text += (" The Transformer is the best, as the report found." if best == "transformer-deepdive" else
                 " The Transformer is not the best here; with 100M parameters it is the model that "
                 "most needs the compute it was cut off from and more data than ours.")
    names = {"lstm-deepdive-simple": "simple LSTM", "lstm-deepdive-complex": "complex LSTM",
             "transformer-deepdive": "Transformer"}
    equal = _equal_tokens_text([(names[k], training.get(k) or {}) for k in keys], "was")
    lstms = [k for k in keys if k != "transformer-deepdive"]
    if not equal and len(lstms) == 2 and len(keys) == 3:
        # the cut Transformer stopped before the LSTMs' first validation: compare the two LSTMs
        equal = _equal_tokens_text([(names[k], training.get(k) or {}) for k in lstms], "was")
    return text + equal


def _making_music_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]]) -> str:
    """The report's finding: the vocabulary (word) model trains to a fit that generalises,
    the note-state (bi-axial) one barely learns. Compared in bits per note on the same
    validation pieces, and by how far each one's validation loss fell from its first epoch."""
    keys = [k for k in ("bilstm-attention", "biaxial-lstm") if k in by_key]
    if len(keys) < 2:
        return ""
    names = {"bilstm-attention": "the word model (BiLSTM-attention)", "biaxial-lstm": "the bi-axial LSTM"}

    def fell(key: str) -> float | None:
        curve = (training.get(key) or {}).get("curve") or []
        if len(curve) < 2 or curve[0]["val_nll"] <= 0:
            return None
        return 1.0 - min(point["val_nll"] for point in curve) / curve[0]["val_nll"]

    bits = {k: (by_key[k].get("whole_pieces") or {}).get("bits_per_note") for k in keys}
    parts = [f"{names[k]} {bits[k]:.2f} bits per note" if bits[k] is not None else f"{names[k]} (no bits per note)"
             for k in keys]
    drops = {k: fell(k) for k in keys}
    text = ("**Word model vs note-state model (\"Making Music with LSTMs\").** The report found the "
            "vocabulary approach easier to train to a model that generalises: its word model's validation "
            "loss fell steadily (over-fitting after about 50 epochs), while the bi-axial note-state model's "
            "loss barely moved and its music sounded the same for every input. On our validation pieces: "
            + ", ".join(parts) + ".")
    if all(v is not None for v in bits.values()):
        better = min(keys, key=lambda k: bits[k])
        text += (" The word model predicts the held-out music better, which agrees with the report."
                 if better == "bilstm-attention" else
                 " The bi-axial LSTM predicts the held-out music better, which differs from the report.")
    if all(v is not None for v in drops.values()):
        text += (" From its first epoch to its best, the validation loss fell "
                 + " and ".join(f"{drops[k]:.0%} for {names[k]}" for k in keys) + ".")
    steps = "; ".join(f"{names[k]}: {_trained_to(training.get(k) or {})}" for k in keys)
    return text + f" Trained: {steps}."


def _sequential_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]],
                     tokenizers: dict[str, str]) -> str:
    names = {"rnn": "plain RNN", "lstm-sequential": "LSTM", "lstm-attention": "LSTM with attention"}
    present = [k for k in names if k in by_key]
    if len(present) < 2:
        return ""

    def f1(key: str) -> float:
        classes = (by_key[key].get("whole_pieces") or {}).get("classes") or {}
        chosen = [classes[c]["f1"] for c in ("note", "duration") if c in classes]
        return float(np.mean(chosen)) if chosen else by_key[key].get("macro_f1", 0.0)

    by_f1 = max(present, key=f1)
    by_nll = min(present, key=lambda k: by_key[k]["nll"])
    if "lstm-attention" not in present:
        verdict = "the report's best, the LSTM with attention, is not measured yet"
    else:
        verdict = f"which {'agrees with' if by_f1 == 'lstm-attention' else 'differs from'} the report"
    scores = ", ".join(f"{names[k]} {f1(k):.3f}" for k in present)
    steps = ", ".join(f"{names[k]} {_trained_to(training[k])}" for k in present)
    runner_up = max((k for k in present if k != by_f1), key=f1)
    margin = f1(by_f1) - f1(runner_up)
    close = (f", though only {margin:.3f} ahead of the {names[runner_up]}: too close to call"
             if margin < 0.01 else "")
    named = [(names[k], training.get(k) or {}) for k in present]
    return ("**RNN vs LSTM vs LSTM with attention (\"Music generation with sequential models\").** The "
            "report found the LSTM with attention best by precision / recall / F1 over its note and "
            f"duration classes. Ours (mean of the note and duration F1, table above): {scores}; the "
            f"{names[by_f1]} is best ({verdict}){close}, and the {names[by_nll]} has the lowest "
            f"NLL. They read {tokenizers[present[0]]} tokens; trained: {steps}."
            + _equal_tokens_text(named, "was") + _at_the_cap_text(named))


def _comparable(curves: dict[str, Sequence[dict[str, Any]]], by_key: dict[str, dict[str, Any]],
                x: str) -> dict[str, Sequence[dict[str, Any]]]:
    """The curves to compare at equal training `x`: with two finished runs, the runs still
    training count only once they have gone as far as the shortest finished one, so that a
    run in its first epoch does not pull the comparison back to it."""
    finished = [name for name in curves if REPRESENTATIONS[name] in by_key]
    if len(finished) < 2:
        return curves
    reach = min(curves[name][-1][x] for name in finished)
    return {name: curve for name, curve in curves.items() if name in finished or curve[-1][x] >= reach}


def _representation_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]],
                         per_note: dict[str, Sequence[dict[str, Any]]] | None = None) -> str:
    bits = {tokenizer: (by_key[key].get("whole_pieces") or {}).get("bits_per_note")
            for tokenizer, key in REPRESENTATIONS.items() if key in by_key}
    bits = {k: v for k, v in bits.items() if v is not None}
    compared = {x: _comparable(per_note or {}, by_key, x) for x in ("notes_seen", "tokens_seen")}
    same_notes, same_steps = (equal_training(curves, x) for x, curves in compared.items())
    if len(bits) < 2 and same_notes is None:
        return ""
    text = ("**Which representation wins.** Nats per token are not comparable across vocabularies "
            "(a scheme that spends more tokens per note has an easier job per token), so the same "
            "Transformer preset is compared in bits per note.")
    if len(bits) >= 2:
        order = sorted(bits, key=bits.get)
        text += (" The total NLL of whole validation pieces divided by the notes their tokens hold, "
                 "in bits, for each run's kept model; lower is better: "
                 + ", ".join(f"{k} {bits[k]:.2f}" for k in order) + ".")
        hours = {k: (training.get(REPRESENTATIONS[k]) or {}).get("seconds") for k in order}
        if all(hours.values()) and max(hours.values()) > 1.2 * min(hours.values()):
            text += (f" {order[0]} is lowest, but these runs trained for different times ("
                     + ", ".join(f"{k} {duration_text(hours[k])}" for k in order)
                     + "), so the verdict comes from equal training instead.")
        else:
            text += f" {order[0]} wins."
    winners = []
    for equal, x, amount_text, why in (
            (same_notes, "notes_seen", lambda n: f"{number(n, 0)} training notes", "the same music heard"),
            (same_steps, "tokens_seen", lambda n: f"{n / 1e6:.2f} M training tokens",
             "the same steps, so the same compute")):
        if equal is None:
            continue
        amount, reached = equal
        order = sorted(reached, key=reached.get)
        winners.append(order[0])
        unread = [k for k in compared[x] if k not in reached]
        text += (f" At the same {amount_text(amount)} ({why}; the shortest run's last epoch): "
                 + ", ".join(f"{k} {reached[k]:.2f}" for k in order) + f"; {order[0]} is lowest there"
                 + (f" ({', '.join(unread)}: no validation by then)." if unread else "."))
        if len(winners) == 1:
            text += (" These come from the learning curves (validation NLL per token x the validation "
                     "split's tokens per note / ln 2, each run's best by then, interpolated between "
                     "the two validations around that point where a run has none there).")
    if len(winners) == 2:
        text += (f" At equal training **{winners[0]} wins** by both measures." if winners[0] == winners[1]
                 else f" At equal training the winner depends on the measure: {winners[0]} per note "
                      f"heard, {winners[1]} per step of compute.")
    return text + (" A scheme that also encodes velocity, tempo or meter pays for them in the same "
                   "bits, and a window of 256 tokens holds fewer notes in a verbose scheme.")


def _grammar_text(by_key: dict[str, dict[str, Any]]) -> str:
    masked = {key: r["grammar_errors_per_100_masked"] for key, r in by_key.items()
              if r.get("grammar_errors_per_100_masked") is not None}
    if not masked:
        return ""
    unmasked = ", ".join(f"{key} {by_key[key]['grammar_errors_per_100_unmasked']:.1f}" for key in masked)
    outcome = ("every model makes none, as the method guarantees." if all(v == 0 for v in masked.values())
               else "some errors remain, which points at a bug in a grammar (see the table).")
    return ("**Grammar masking.** The LSTM-vs-Transformer paper enforces the token grammar at sampling "
            "time by masking invalid tokens (the sequential-models report does the same with its "
            "output filter). Sampled without the mask, our token models make these "
            f"many grammar errors per 100 tokens: {unmasked}. With the mask, {outcome}")


def _frame_text(by_key: dict[str, dict[str, Any]]) -> str:
    frames = [key for key, r in by_key.items() if r["kind"] == "frame"]
    if not frames:
        return ""
    density = ", ".join(f"{key} {by_key[key]['density_predicted']:.2f} predicted vs "
                        f"{by_key[key]['density_real']:.2f} real" for key in frames)
    ratio = {key: by_key[key]["density_predicted"] / max(by_key[key]["density_real"], 1e-9) for key in frames}
    sparse = [key for key in frames if ratio[key] < 0.5]
    dense = [key for key in frames if ratio[key] > 1.5]
    parts = []
    if sparse:
        parts.append(f"{', '.join(sparse)} predict{'s' if len(sparse) == 1 else ''} "
                     "far fewer notes than the music has, as the reports warn")
    if dense:
        parts.append(f"{', '.join(dense)} still put{'s' if len(dense) == 1 else ''} many keys near "
                     f"probability 0.5 and so over-predict{'s' if len(dense) == 1 else ''}")
    seen = ("Here " + "; ".join(parts) + ".") if parts else "All are within 50 % of the real density."
    return ("**Frame models (\"Deep Musician\", \"Making Music with LSTMs\", the piano-roll LSTM of "
            "\"A Deep Dive\").** Their loss is a binary cross-entropy per key and step, not comparable "
            "with the token models' NLL. Deep Musician and Making Music with LSTMs both report that "
            "such models learn that most keys are silent and end up predicting (nearly) empty rolls; "
            "Deep Musician's density metric (notes sounding per step) measures it. After thresholding "
            f"at 0.5: {density}. {seen} The pictures sample each key instead of thresholding.")


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
        f"{', '.join(f'`{key}`' for key in keys)} on {where}" for where, keys in by_machine.items()) + "."


def _lowered_caps_text(results: Sequence[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The runs whose wall-clock cap was set below the study's (--model-hours: what a
    session's budget allowed), read from each run's own record so that it stays true
    whatever flags regenerate the page."""
    lowered = []
    for result in results:
        cap = (result.get("training") or {}).get("cap_hours")
        if not cap:
            continue
        if result.get("group") == "symbolic" and settings.get("pair_max_hours"):
            usual = settings["pair_max_hours"]
        elif result.get("key") == "transformer-deepdive" and settings.get("big_max_hours"):
            usual = settings["big_max_hours"]
        else:
            usual = settings["max_hours"]
        if cap < usual - 1e-9:
            floor = "" if result.get("key") == "transformer-deepdive" else " past its step floor"
            lowered.append(f"`{result['key']}` {cap:g} h{floor}")
    if not lowered:
        return ""
    return (" These runs had a lower cap, what one session of a 2-core machine allowed: "
            + ", ".join(lowered) + "; their rows are a budget, not convergence.")


def render_markdown(results: Sequence[dict[str, Any]], data: dict[str, Any], command: str,
                    prompt_name: str, environment: dict[str, Any], settings: dict[str, Any] | None = None,
                    curves: dict[str, str] | None = None, *, pictures: str = "results",
                    brief: str | None = None, archives: Sequence[str] = ()) -> str:
    """The page. `pictures`: the folder beside it holding the pictures; `brief`: the page of
    the brief runs, linked from the study's while it is in progress; `archives`: pages of
    earlier runs of the study, linked under the machine line."""
    settings = settings or {}
    converge = settings.get("patience") is not None
    files = f"the first {data['limit']} files" if data["limit"] else "all files"
    if converge:
        big = settings.get("big_max_hours")
        how = (f"trained until its validation NLL had not improved for {settings['patience']} epochs, "
               f"but not stopped before step {settings['pair_min_steps']:,} (the LSTM-vs-Transformer "
               f"pair) or {settings['min_steps']:,} (the others), and once past that floor stopped after "
               f"{settings['max_hours']:g} hours of training per model"
               + (f" or {settings['max_steps']:,} steps" if settings.get("max_steps") else "")
               + (f" ({settings['pair_max_hours']:g} hours for the pair)" if settings.get("pair_max_hours") else "")
               + (f"; the 12 x 1024 Transformer of A Deep Dive is cut at {big:g} hours, floor or not"
                  if big is not None else "")
               + f"; presets whose epoch is a whole pass over the windows validate every "
                 f"{settings['epoch_fraction']:.0%} of them instead (the BiLSTM-attention word model every 5 % "
                 "on 64 windows: each of its predictions reads a whole 50-word window, so a validation target "
                 "costs as much as a training one); the bundle keeps the best epoch. A Deep Dive's complex "
                 "LSTM trains at batch 8 instead of its preset's 32: the report gives no batch, and a step at "
                 "32 costs about four times one at 8 (the 1,000-step floor: 28 hours on one core of the "
                 "2026-11-30 machine, about 6 on an AVX-512 one)."
               + _lowered_caps_text(results, settings))
        title = "# Results: every model of the research, trained until it stops improving"
    else:
        how = ("trained for a fixed wall-clock budget; the bundle keeps the epoch with the best "
               "validation NLL.")
        title = "# Results: every model family, trained briefly on the same music"
    lines = [
        title,
        "",
        "Generated by `bench/results.py`; do not edit by hand. Regenerate with:",
        "",
        "```",
        command,
        "```",
        "",
        f"Run {environment['date']} on {environment['machine']} (torch {environment['torch']}, "
        f"device {environment.get('device', 'cpu')}, CPU threads: {environment['threads']}; "
        "a shared machine makes speeds indicative).",
        "",
    ]
    elsewhere = machines_text(results, environment["machine"])
    if elsewhere:
        lines += [elsewhere, ""]
    if archives:
        lines += ["Earlier runs of this study: " + ", ".join(
            f"[{Path(page).parent.name}]({page})" for page in archives) + ".", ""]
    unfinished = [r for r in results if not r.get("report")]
    if unfinished and any(r.get("status") for r in unfinished):
        started = [r["key"] for r in unfinished if r.get("status") != "not started"
                   and not str(r.get("status")).endswith("not restarted")]
        lines += [f"**In progress:** {len(results) - len(unfinished)} of {len(results)} models trained and "
                  f"measured; still training: {', '.join(f'`{k}`' for k in started) or 'none'}; not started "
                  f"(or not restarted): {len(unfinished) - len(started)}. The training columns of an unfinished run show it so "
                  "far; its measured columns fill in when it stops. The command above with `--resume` "
                  "continues every run from its checkpoint."
                  + (f" Every model trained for minutes instead: [{brief}]({brief})." if brief else ""), ""]
    lines += [
        "## Data",
        "",
        f"Source `{data['source']}`, {files}, split by file with seed {data['seed']} ({data['val_fraction']:.0%} validation); no "
        "augmentation. Each tokenizer gets its own dataset from the same files and split:",
        "",
        markdown_table(["tokenizer", "kind", "vocabulary", "train files", "train tokens / frames",
                        "val files", "val tokens / frames", "tokens / note", "skipped"], data["rows"]),
        "",
        "## Models",
        "",
        "Each model uses its preset's architecture and training recipe (optimizer, learning rate "
        "and schedule, window, batch, \"epoch\" = share of the windows) from "
        f"`ml_core/models/presets.py` (see docs/PRESETS.md), {how}",
        "",
        "- **steps, tokens seen, wall time**: of training, over all resumed sessions; **stopped by**: "
        "patience (early stopping), the time cap or budget, or max steps.",
        "- **best val NLL (step)**: the best validation NLL during training and the step it was "
        "reached at (the kept model); **NLL**: mean negative log-likelihood of the kept model on "
        "validation windows, nats/token (frame models: binary cross-entropy per key and step, BCE).",
        "- **accuracy**: top-1 next-token accuracy.",
        "- **grammar errors / 100**: errors per 100 sampled tokens (temperature 1) continuing "
        "validation prompts, sampled without and with the grammar mask.",
        f"- **in-scale**: share of the continuation's notes in the key of the held-out prompt "
        f"(first bars of `{prompt_name}`), mean over the sampled variations.",
        "- **training tokens/s**: tokens seen / wall time; **tokens/s**: `continue_score` at batch 1 "
        "on the CPU, prompt reading and streaming decode included (frame models: frames/s).",
        "",
        markdown_table(MODEL_HEADER, model_rows(results)),
        "",
    ]
    classes = class_rows(results)
    if classes:
        lines += ["### Per-class scores (\"Music generation with sequential models\")", "",
                  "Macro precision and recall over the note classes and over the duration classes that "
                  "occur in the validation pieces, F1 = 2PR / (P + R), as the report defines them:", "",
                  markdown_table(["model", "note P", "note R", "note F1", "duration P", "duration R",
                                  "duration F1"], classes), ""]
    frames = frame_rows(results)
    if frames:
        lines += ["### Frame models: Deep Musician's density", "",
                  markdown_table(["model", "frames", "BCE", "density predicted (threshold 0.5)",
                                  "density real", "density sampled"], frames), ""]
    representation = representation_rows(results)
    if representation:
        lines += ["## Bits per note", "",
                  "Total NLL of whole validation pieces (windows tiling each piece, every token scored "
                  "once) divided by the notes the scored tokens hold, in bits: comparable across token "
                  "representations where nats per token are not. The first rows are the same "
                  "Transformer preset on each representation of the same pieces.", "",
                  markdown_table(["model", "representation", "pieces", "notes", "tokens / frames",
                                  "nats / token", "bits / note"], representation), ""]
    if curves:
        lines += ["## Learning curves", "", "Validation NLL after each epoch against the training "
                  "tokens seen; a ring marks the best epoch (the kept model). The representations' plot "
                  "is in per-note units instead: validation bits per note against training notes seen.", ""]
        for group, name in curves.items():
            lines += [f"![learning curves: {GROUPS[group]}]({pictures}/{name})", ""]
    lines += ["## Agreement with the research", ""]
    for paragraph in comparison_text(results, data["train_files"], data.get("tokens_per_note")):
        lines += [paragraph, ""]
    lines += [
        "## Continuations of the same held-out prompt",
        "",
        f"Each model continues the first bars of `{prompt_name}` (a validation piece, voices "
        "merged) by the same number of bars, temperature 1, no key mask. Blue: the prompt; "
        "orange: the continuation; grey lines: bar lines; the black line: where the "
        "continuation starts.",
        "",
    ]
    drawn = [r for r in results if "report" in r and "continuation" in r]
    for result in drawn:
        lines += [f"### {result['key']} ({result['reproduces']})", "",
                  f"![{result['key']} continuing the prompt]({pictures}/{result['key']}.png)", ""]
    if not drawn:
        lines += ["No model has finished training yet: each one's picture comes when it does.", ""]
    return "\n".join(lines)


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

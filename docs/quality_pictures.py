"""Piano-roll pictures for docs/QUALITY.md (issue 13): a few prompts continued by each model.

Three prompts, none of them in any bundled model's training data, each continued 8 bars
(seed 0, the app's default sampling, no key mask) by every model, one PNG per prompt with
one row per model on a shared pitch axis:
- `single_line.png`: a single line, the first single-line folk tune among the held-out
  prompts of `bench/continuation_quality.py` (its first 4 bars);
- `waltz.png`: the bundled example `a_minor_3-4` (a 3/4 melody over a bass and chords);
- `chorale.png`: the bundled example `e_minor_chorale_4-4` (a four-part chorale texture).
The prompt is grey, the continuation coloured; each row's title gives the take's figures
from `ml_core.quality.continuation_figures` (notes per onset, density ratio, register
shift, in-scale share). `fill.png`: the same folk tune's first 12 bars with bars 5-6
(`quality.FILL_BARS`, from 0: 4-5) refilled by each model trained to fill, the true bars
faint behind the new ones, figures from `quality.fill_figures`.

`pictures.json` beside them holds, per picture, the prompt, and per model the seed, the
number of new notes and every figure (null where a take has none), for QUALITY.md to quote.

    .venv/bin/python -m docs.quality_pictures [--models default lstm bach-chorales]
                                              [--out docs/quality] [--seed 0]
                                              [--score-cache DIR] [--pictures KEY ...]
                                              [--bars 8]

Models are bundle names (resources/models, the user's models folder) or bundle folders;
one that does not load is skipped with a line saying why. `--pictures` draws only some of
single_line, waltz, chorale and fill; `--bars` shortens the continuations (for tests).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_core import bundle as bundles
from ml_core import quality
from ml_core.files import atomic_path, atomic_write_text
from ml_core.generation import (
    GenerationOptions,
    continue_score,
    fill_score,
    target_tick,
    trained_with_infilling,
)
from ml_core.music import Note, Score, beat_ticks
from ml_core.pitch import pitch_name

_HERE = Path(__file__).resolve().parent

PICTURES = ("single_line", "waltz", "chorale", "fill")
DEFAULT_MODELS = ("default", "lstm", "bach-chorales")
WALTZ_EXAMPLE = "a_minor_3-4"
CHORALE_EXAMPLE = "e_minor_chorale_4-4"
SINGLE_LINE_FALLBACK = "c_major_4-4"
FOLK_SEARCH = 12                 # held-out folk prompts looked through for a single line

DPI = 100
WIDTH_IN = 11.0                  # 1100 px: a markdown page's width
ROW_IN = 2.4
HEADER_IN = 0.75
PROMPT_COLOUR = "#8c8c8c"
TRUE_COLOUR = "#b8b8b8"
MODEL_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
NOTE_HEIGHT = 0.85               # semitones


def figure_pixels(rows: int) -> tuple[int, int]:
    """(width, height) in pixels of a picture with `rows` model rows."""
    return round(WIDTH_IN * DPI), round((HEADER_IN + ROW_IN * rows) * DPI)


# ---------------------------------------------------------------- prompts


@dataclass(frozen=True)
class Subject:
    """One picture's prompt: the benchmark prompt and how the picture names it."""

    key: str
    heading: str
    prompt: quality.Prompt


def _example(name: str) -> quality.Prompt:
    return next(p for p in quality.example_prompts() if p.name == name)


def single_line_prompt(cache: Path | None) -> quality.Prompt:
    """The first single-line folk tune among the benchmark's held-out prompts (their order
    does not depend on how many are asked for), else the C major example."""
    for wanted in range(1, FOLK_SEARCH + 1):
        prompts = quality.held_out_prompts({"folk": wanted}, cache=cache)
        single = [p for p in prompts if p.single_line]
        if single:
            return single[0]
        if len(prompts) < wanted:
            break
    return _example(SINGLE_LINE_FALLBACK)


def _meter(score: Score) -> str:
    numerator, denominator = score.time_signature
    return f"{numerator}/{denominator}"


def _bars(score: Score) -> int:
    return score.bar_at(max(score.end_tick - 1, 0))[0] + 1


def _described(prompt: quality.Prompt) -> str:
    score = prompt.piece if prompt.piece is not None else prompt.score
    origin = "held out" if prompt.group != quality.EXAMPLE_GROUP else "bundled example"
    return f"{prompt.name} ({origin}, {_meter(score)})"


def subjects(keys: Sequence[str], cache: Path | None) -> list[Subject]:
    folk = single_line_prompt(cache) if {"single_line", "fill"} & set(keys) else None
    made = []
    for key in keys:
        if key == "single_line":
            made.append(Subject(key, f"A single line: {_described(folk)}", folk))
        elif key == "waltz":
            waltz = _example(WALTZ_EXAMPLE)
            made.append(Subject(key, f"A waltz: {_described(waltz)}", waltz))
        elif key == "chorale":
            chorale = _example(CHORALE_EXAMPLE)
            made.append(Subject(key, f"A chorale: {_described(chorale)}", chorale))
        elif key == "fill" and folk is not None and folk.piece is not None:
            made.append(Subject(key, f"Fill: {_described(folk)}", folk))
    return made


# ---------------------------------------------------------------- takes


@dataclass
class Take:
    """One model's answer to one subject."""

    model: str
    colour: str
    new_notes: list[Note]
    figures: dict[str, float]


def continue_take(bundle: Any, prompt: quality.Prompt, bars: int,
                  seed: int) -> tuple[list[Note], dict[str, float]]:
    result = continue_score(bundle, prompt.score, GenerationOptions(bars=bars, seed=seed))
    notes = result.new_notes[0]
    figures = quality.continuation_figures(prompt.score, notes, target_tick(prompt.score, bars),
                                           reference=prompt.reference, truth=prompt.piece)
    return notes, figures


def fill_take(bundle: Any, piece: Score, seed: int) -> tuple[list[Note], dict[str, float]]:
    first, end = quality.FILL_BARS
    result = fill_score(bundle, piece, first, end, GenerationOptions(seed=seed))
    figures = quality.fill_figures(piece, result.scores[0], piece.bar_start(first),
                                   piece.bar_start(end))
    return result.new_notes[0], figures


def load_models(names: Sequence[str]) -> list[tuple[str, Any]]:
    """(label, bundle) of each model that loads; the others are reported and skipped."""
    loaded: list[tuple[str, Any]] = []
    for name in names:
        try:
            bundle = bundles.load(bundles.resolve(name))
        except Exception as error:  # noqa: BLE001 - any failure only skips that model
            print(f"skipped model {name}: {error}".splitlines()[0], flush=True)
            continue
        label = getattr(bundle, "name", None) or str(name)
        loaded.append((label if label not in {n for n, _ in loaded} else str(name), bundle))
    return loaded


# ---------------------------------------------------------------- drawing


def _number(value: float, text: str) -> str:
    return "–" if not math.isfinite(value) else text.format(value)


def continuation_caption(figures: dict[str, float]) -> str:
    return (f"notes per onset {_number(figures['new_npo'], '{:.2f}')} (prompt "
            f"{figures['prompt_npo']:.2f})"
            f"   density ratio {_number(figures['density_ratio'], '{:.2f}')}"
            f"   register shift {_number(figures['register_shift'], '{:.1f}')} st"
            f"   in scale {_number(figures['in_scale'], '{:.0%}')}"
            f"   first note {_number(figures['gap_beats'], '{:+.2f}')} beats")


def fill_caption(figures: dict[str, float]) -> str:
    return (f"vs the true bars: notes per onset {_number(figures['new_npo'], '{:.2f}')}"
            f" (true {_number(figures['prompt_npo'], '{:.2f}')})"
            f"   density ratio {_number(figures['density_ratio'], '{:.2f}')}"
            f"   register shift {_number(figures['register_shift'], '{:.1f}')} st"
            f"   in scale {_number(figures['in_scale'], '{:.0%}')}"
            f"   outside unchanged {'yes' if figures['outside_unchanged'] == 1.0 else 'NO'}")


def _boxes(axes: Any, notes: Sequence[Note], quarter: int, colour: str, *, alpha: float = 1.0,
           edge: str = "black", zorder: int = 3) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    if not notes:
        return
    rectangles = [Rectangle((n.start / quarter, n.pitch - NOTE_HEIGHT / 2),
                            n.duration / quarter, NOTE_HEIGHT)
                  for n in notes]
    axes.add_collection(PatchCollection(rectangles, facecolor=colour, edgecolor=edge, linewidth=0.4,
                                        alpha=alpha, zorder=zorder))


def _grid(axes: Any, score: Score, end: int) -> None:
    """Bar lines (numbered below) and fainter beat lines, in the score's own meter."""
    quarter = score.ticks_per_quarter
    starts = score.bar_starts(end)
    for bar_start in starts:
        axes.axvline(bar_start / quarter, color="#505050", linewidth=0.8, zorder=1)
        step = beat_ticks(score.time_signature_at(bar_start), quarter)
        for tick in range(bar_start + step,
                          min(score.bar_start(score.bar_at(bar_start)[0] + 1), end), step):
            axes.axvline(tick / quarter, color="#d0d0d0", linewidth=0.5, zorder=0)
    axes.set_xticks([(s + score.bar_length_at(s) / 2) / quarter for s in starts])
    axes.set_xticklabels([str(i + 1) for i in range(len(starts))], fontsize=8)
    axes.tick_params(axis="x", length=0)


def _pitch_axis(axes: Any, low: int, high: int) -> None:
    axes.set_ylim(low - 1.5, high + 1.5)
    octaves = [p for p in range(low - 1, high + 2) if p % 12 == 0]
    axes.set_yticks(octaves or [low])
    axes.set_yticklabels([pitch_name(p) for p in (octaves or [low])], fontsize=8)
    for pitch in octaves:
        axes.axhline(pitch, color="#e4e4e4", linewidth=0.5, zorder=0)


def draw(path: Path, heading: str, score: Score, context: Sequence[Note],
         takes: Sequence[Take], end: int,
         *, mark: int | None = None, span: tuple[int, int] | None = None,
         truth: Sequence[Note] = (),
         caption: Any = None) -> None:
    """One row per take: `context` notes grey, the take's notes in its colour, `truth`
    faint; `mark` a line where the prompt ends, `span` the filled bars shaded; `caption`
    (a function of a take's figures) replaces the continuation / fill caption."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    quarter = score.ticks_per_quarter
    everything = list(context) + list(truth) + [n for t in takes for n in t.new_notes]
    pitches = [n.pitch for n in everything] or [60]
    width, height = figure_pixels(len(takes))
    figure, rows = pyplot.subplots(len(takes), 1, figsize=(width / DPI, height / DPI), dpi=DPI,
                                   sharex=True, sharey=True, squeeze=False, layout="constrained")
    for axes, take in zip(rows[:, 0], takes, strict=True):
        _grid(axes, score, end)
        if span is not None:
            axes.axvspan(span[0] / quarter, span[1] / quarter, color="#fff4d6", zorder=0)
        _boxes(axes, truth, quarter, TRUE_COLOUR, alpha=0.55, edge="none", zorder=2)
        _boxes(axes, context, quarter, PROMPT_COLOUR, edge="#505050")
        _boxes(axes, take.new_notes, quarter, take.colour)
        if mark is not None:
            axes.axvline(mark / quarter, color="black", linewidth=2.0, zorder=4)
        text = caption(take.figures) if caption is not None else \
            fill_caption(take.figures) if span is not None else continuation_caption(take.figures)
        axes.set_title(f"{take.model}  ({len(take.new_notes)} new notes)", loc="left", fontsize=10,
                       fontweight="bold", color=take.colour)
        axes.set_title(text, loc="right", fontsize=8)
        axes.set_xlim(0, end / quarter)
        _pitch_axis(axes, min(pitches), max(pitches))
    rows[-1, 0].set_xlabel(f"bar ({_meter(score)})", fontsize=8)
    legend = [Patch(facecolor=PROMPT_COLOUR, edgecolor="#505050",
                    label="prompt" if span is None else "kept bars")]
    if mark is not None:
        legend.append(Patch(facecolor="black", label="prompt ends"))
    if span is not None:
        legend.append(Patch(facecolor=TRUE_COLOUR, alpha=0.55, label="true bars (faint)"))
    figure.suptitle(heading, fontsize=11, x=0.01, ha="left")
    figure.legend(handles=legend, loc="upper right", ncol=len(legend), fontsize=8, frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=DPI)
    pyplot.close(figure)


# ---------------------------------------------------------------- the run


_clean = quality.json_ready


def _prompt_record(subject: Subject) -> dict[str, Any]:
    prompt = subject.prompt
    score = prompt.piece if subject.key == "fill" else prompt.score
    record: dict[str, Any] = {"name": prompt.name, "group": prompt.group, "meter": _meter(score),
                              "bars": _bars(score), "notes": len(quality.pitched_notes(score)),
                              "single_line": prompt.single_line}
    if subject.key == "fill":
        record["fill_bars"] = list(quality.FILL_BARS)
    return record


def picture(subject: Subject, models: Sequence[tuple[str, Any]], out: Path, seed: int,
            bars: int) -> dict[str, Any] | None:
    """Draw one subject's picture; its pictures.json entry (None when no model can answer)."""
    prompt = subject.prompt
    colours = {name: MODEL_COLOURS[i % len(MODEL_COLOURS)] for i, (name, _) in enumerate(models)}
    takes = []
    if subject.key == "fill":
        piece = prompt.piece
        first, stop = (piece.bar_start(b) for b in quality.FILL_BARS)
        for name, bundle in models:
            if trained_with_infilling(bundle):
                takes.append(Take(name, colours[name], *fill_take(bundle, piece, seed)))
        if not takes:
            print("fill: no model was trained to fill bars; no picture", flush=True)
            return None
        notes = quality.pitched_notes(piece)
        shown = quality.PROMPT_BARS + quality.CONTINUATION_BARS
        heading = (f"{subject.heading}, bars {quality.FILL_BARS[0] + 1}-{quality.FILL_BARS[1]} of "
                   f"its first "
                   f"{shown} refilled, seed {seed}")
        draw(out / "fill.png", heading, piece,
             [n for n in notes if not first <= n.start < stop], takes,
             piece.bar_start(shown), span=(first, stop),
             truth=[n for n in notes if first <= n.start < stop])
    else:
        for name, bundle in models:
            takes.append(Take(name, colours[name], *continue_take(bundle, prompt, bars, seed)))
        end = target_tick(prompt.score, bars)
        draw(out / f"{subject.key}.png",
             subject.heading
             + f", its {_bars(prompt.score)} bars continued {bars} bars, seed {seed}",
             prompt.score, quality.pitched_notes(prompt.score), takes, end,
             mark=quality.prompt_end(quality.pitched_notes(prompt.score)))
    print(f"{subject.key}.png: "
          + "; ".join(f"{t.model} {len(t.new_notes)} notes" for t in takes), flush=True)
    return {"picture": f"{subject.key}.png",
            "kind": "fill" if subject.key == "fill" else "continue",
            "prompt": _prompt_record(subject), "bars": None if subject.key == "fill" else bars,
            "takes": [{"model": t.model, "seed": seed, "new_notes": len(t.new_notes),
                       "figures": _clean(t.figures)}
                      for t in takes]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="bundle names or folders")
    parser.add_argument("--out", type=Path, default=_HERE / "quality",
                        help="folder for the PNGs and JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "composer-assistant-bench-scores",
                        help="parsed corpus pieces are kept here between runs")
    parser.add_argument("--pictures", nargs="+", choices=PICTURES, default=list(PICTURES))
    parser.add_argument("--bars", type=int, default=quality.CONTINUATION_BARS,
                        help="continuation length")
    args = parser.parse_args(argv)
    models = load_models(args.models)
    if not models:
        print("no model could be loaded", file=sys.stderr)
        return 1
    entries = [entry for subject in subjects(args.pictures, args.score_cache)
               if (entry := picture(subject, models, args.out, args.seed, args.bars)) is not None]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "pictures.json",
                      json.dumps({"seed": args.seed, "models": [name for name, _ in models],
                                  "sampling": "app default, no key "
                                  "mask", "pictures": entries}, indent=1) + "\n")
    print(f"wrote {len(entries)} pictures and pictures.json to {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

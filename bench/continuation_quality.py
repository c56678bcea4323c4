"""Continuation quality (issue 13): does a model continue the musician's motif?

Prompts that no model trained on `music21:all`'s training split has seen: the bundled
example motifs plus the first 4 bars of validation pieces of `music21:all` (the split
`composer-train prepare` makes: val fraction 0.1, seed 0) from folk-tune, chorale and
piano collections (37 prompts). Each is continued 8 bars with seeds 0 and 1, the app's
default sampling (temperature 1, no top-k/top-p), no key mask. For each prompt and model:
in-scale share of the new notes, notes per onset of prompt and continuation, density ratio,
register shift, IOI-histogram overlap, the gap (beats) from the prompt's end to the first
new note, and for held-out pieces the overlap of the continuation's pitch-class,
pitch-range and IOI distributions with the piece's true next 8 bars. Infilling: bars 4-5
of each held-out piece (first 12 bars) refilled, the same features against the true bars,
and whether every note outside them came back unchanged ("not supported" for a model not
trained to fill). The figures are defined in `ml_core/quality.py`.

    .venv/bin/python -m bench.continuation_quality [--models NAME_OR_PATH ...] [--quick]
                                                   [--seeds 0 1] [--score-cache DIR]
                                                   [--temperature T] [--top-p P]

Default models: every bundled model. `--quick`: 4 prompts, one seed, 2 bars (for tests).
Prints a table per model, the aggregates and issue 13's checks, then one JSON line:
{"bench": "continuation_quality", "prompts": N, "seeds": [...], "models": {NAME: {...}}}
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ml_core import bundle as bundles
from ml_core import quality

COLUMNS = (("new_npo", "npo", "{:.2f}"), ("prompt_npo", "p.npo", "{:.2f}"),
           ("density_ratio", "dens", "{:.2f}"), ("register_shift", "reg", "{:.1f}"),
           ("in_scale", "scale", "{:.2f}"), ("ioi_overlap", "ioi", "{:.2f}"),
           ("min_gap_beats", "gap", "{:+.2f}"), ("true_pc_overlap", "t.pc", "{:.2f}"),
           ("true_range_overlap", "t.rng", "{:.2f}"), ("true_ioi_overlap", "t.ioi", "{:.2f}"))


def default_models() -> list[str]:
    root = Path(__file__).resolve().parent.parent / "resources" / "models"
    return sorted(p.name for p in root.iterdir() if (p / "config.json").exists())


def _cell(value: Any, fmt: str) -> str:
    return "-" if not isinstance(value, float) or math.isnan(value) else fmt.format(value)


def table(rows: list[dict[str, Any]], title: str) -> str:
    header = f"{'prompt':34s} {'group':8s}" + "".join(f"{label:>7s}" for _, label, _ in COLUMNS)
    lines = [title, header]
    for row in rows:
        lines.append(f"{row['name'][:34]:34s} {row['group']:8s}"
                     + "".join(f"{_cell(row.get(key), fmt):>7s}" for key, _, fmt in COLUMNS))
    return "\n".join(lines)


def format_summary(name: str, summary: dict[str, Any]) -> str:
    lines = [f"{name}: {summary['prompts']} prompts, {summary['tokens_per_s']:.0f} tokens/s while "
             f"continuing"]
    for group, figures in summary["by_group"].items():
        lines.append(f"  {group:8s} " + " ".join(f"{label}={_cell(figures.get(key), fmt)}"
                                                 for key, label, fmt in COLUMNS if key in figures))
    for check, result in summary["criteria"].items():
        lines.append(f"  [{'pass' if result['pass'] else 'FAIL'}] {check}: {result['value']:.2f} "
                     f"({result['bound']})")
    infill = summary["infill"]
    if isinstance(infill, str):
        lines.append(f"  infilling: {infill}")
    else:
        for check, result in infill["criteria"].items():
            lines.append(f"  [{'pass' if result['pass'] else 'FAIL'}] fill {check}: "
                         f"{result['value']:.2f} ({result['bound']})")
    return "\n".join(lines)


_clean = quality.json_ready


def card_figures(summary: dict[str, Any], prompts: int, seeds: list[int], bars: int,
                 sampling: dict[str, Any]) -> dict[str, Any]:
    """What a model card keeps of one model's run: the checks' values, the means, speed."""
    infill = summary["infill"]
    return {
        "bench": f"bench/continuation_quality.py ({prompts} prompts, seeds "
        f"{' and '.join(map(str, seeds))}, "
        f"{bars} bars, no key mask)",
        "sampling": sampling or "app default",
        "criteria": {k: v["value"] for k, v in summary["criteria"].items()},
        "fill_criteria": infill
        if isinstance(infill, str)
        else {k: v["value"] for k, v in infill["criteria"].items()},
        "mean": summary["mean"],
        "tokens_per_s": summary["tokens_per_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="bundle names or folders (default: the bundled ones)")
    parser.add_argument("--quick", action="store_true",
                        help="4 prompts, one seed, 2 bars (for tests)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--score-cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "composer-assistant-bench-scores",
                        help="parsed corpus pieces are kept here between runs")
    parser.add_argument("--temperature", type=float, default=None, help="default: the app's")
    parser.add_argument("--top-p", type=float, default=None, help="default: the app's")
    parser.add_argument("--record", action="store_true",
                        help="write each model's figures into its model card (config.json metrics)")
    args = parser.parse_args(argv)
    sampling = {k: v for k, v in (("temperature", args.temperature), ("top_p", args.top_p))
                if v is not None}
    seeds = args.seeds or ([0] if args.quick else [0, 1])
    bars = 2 if args.quick else quality.CONTINUATION_BARS
    started = time.perf_counter()
    prompts = quality.benchmark_prompts(args.quick, args.score_cache)
    print(f"{len(prompts)} prompts ({time.perf_counter() - started:.1f} s to read), seeds {seeds}, "
          f"{bars} bars each, no key mask", flush=True)
    results = {}
    for name in args.models or default_models():
        folder = bundles.resolve(name)
        bundle = bundles.load(folder)
        name = (getattr(bundle, "name", name)
                if getattr(bundle, "name", name) not in results else name)
        model_started = time.perf_counter()
        measured = quality.measure_model(bundle, prompts, seeds=seeds, bars=bars,
                                         fill_bars=(2, 3) if args.quick else quality.FILL_BARS,
                                         sampling=sampling)
        summary = quality.summarise(measured)
        summary["seconds"] = time.perf_counter() - model_started
        print(table(measured["rows"], f"\n== {name}: continuations"))
        if measured["fill_rows"]:
            print(table(measured["fill_rows"], f"-- {name}: filled bars against the true bars"))
        print(format_summary(name, summary), flush=True)
        results[name] = summary
        if args.record:
            bundles.record_metrics(folder, "continuation_quality", _clean(card_figures(
                summary, len(prompts), seeds, bars, sampling)))
    print(json.dumps(_clean({"bench": "continuation_quality", "prompts": len(prompts),
                             "seeds": seeds,
                             "bars": bars, "sampling": sampling or "app default",
                             "models": results})))
    return 0


if __name__ == "__main__":
    sys.exit(main())

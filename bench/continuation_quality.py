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
of each held-out piece (first 12 bars) refilled with seeds 0-7, the same features against
the true bars, and whether every note outside them came back unchanged ("not supported"
for a model not trained to fill); beside the density check, how often the bar before and
the bar after the span are themselves within its bounds of the true bars' density (what
following the surroundings can reach). The figures are defined in `ml_core/quality.py`.

    .venv/bin/python -m bench.continuation_quality [--models NAME_OR_PATH ...] [--quick]
                                                   [--seeds 0 1] [--fill-seeds 0 ... 7]
                                                   [--score-cache DIR]
                                                   [--temperature T] [--top-p P]

Issue 41 (does the continuation pick up the motif?): per prompt and per group, rhythm
reuse, figure reuse, bass kept, density in bounds and the verbatim-repeat share
(`ml_core.motif`), each beside the held-out piece's true next bars' own value. More prompt
groups when `../shared/data` (or `--data`) is there, read in place: pop songs held out of
a split of POP909 (melody with accompaniment, "pop", and the melody alone, "pop-mel"), the
test split of the ff-piano dataset ("ff"), performed renditions of the held-out pieces
("perf"), and dense multi-part corpus pieces, parts merged ("dense"); without the data
those groups are skipped with a line saying so. `--motif repeat develop free` measures
each Motif mode as a row of the same table (ablations).

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


FILL_SEEDS = list(range(8))  # fills' seeds unless --fill-seeds: one model's fill density
                             # check read 0.68-0.86 seed by seed, 0.79 over seeds 0-3 and
                             # 0.85 over 4-11 (a 2-bar fill is a few dozen notes); 8 seeds
                             # cost under 2 minutes
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MOTIF_COLUMNS = (("rhythm_reuse", "rhythm"), ("figure_reuse", "figure"), ("bass_kept", "bass"),
                 ("density_in_bounds", "dens.ok"), ("register_in_bounds", "reg.ok"),
                 ("verbatim_share", "verbatim"))


def _from_first_note(score: Any) -> Any:
    """The score from the bar holding its first note (a song's silent intro cut)."""
    notes = quality.pitched_notes(score)
    if not notes:
        return score
    start = score.bar_start(score.bar_at(notes[0].start)[0])
    return score.sliced(start, score.end_tick + 1, shift=True)


def held_out_pop_songs(pop: Path) -> Any:
    """(folder, song as `_pop_song` reads it) of each POP909 song held out of a 10 % split
    (seed 0), in turn: the songs no model of ours trains on."""
    from ml_core.data import split_files

    songs = sorted(p for p in pop.iterdir() if (p / f"{p.name}.mid").is_file()
                   and (p / "beat_midi.txt").is_file())
    _, held_out = split_files(songs, 0.1, 0)
    for song in held_out:
        yield song, _pop_song(song)


def _pop_song(folder: Path) -> Any:
    """A POP909 song in 4/4 from its first downbeat at or before its melody's first note (the files
    carry no usable meter; the songs' `beat_midi.txt` marks the downbeats, in seconds)."""
    from dataclasses import replace

    from ml_core.midi_io import read_midi

    score = read_midi(folder / f"{folder.name}.mid")
    rows = [line.split() for line in (folder / "beat_midi.txt").read_text().splitlines()
            if line.strip()]
    downbeats = [score.tick_at_seconds(float(r[0])) for r in rows if len(r) >= 3
                 and float(r[2]) == 1.0]
    score = replace(score, time_signature=(4, 4), time_signature_changes=[])
    notes = quality.pitched_notes(score.with_tracks([t for t in score.tracks
                                                     if t.name.upper() == "MELODY"])) \
        or quality.pitched_notes(score)
    if not notes or not downbeats:
        return score
    first = notes[0].start   # where the tune starts (an intro before it is cut)
    start = max((d for d in downbeats if d <= first + score.ticks_per_quarter // 8),
                default=downbeats[0])
    return score.sliced(start, score.end_tick + 1, shift=True)


def data_prompts(data: Path, per_group: int, cache: Any) -> tuple[list[quality.Prompt], list[str]]:
    """Issue 41's prompt groups from `data` (and the corpus), with a line per skipped group."""
    from ml_core.data import DataError, read_pieces, resolve_collections, split_files
    from ml_core.midi_io import read_midi
    from ml_core.music import Track

    prompts: list[quality.Prompt] = []
    notes: list[str] = []
    pop = data / "pop909"
    if pop.is_dir():
        taken = 0
        for song, score in held_out_pop_songs(pop):
            if taken >= per_group:
                break
            whole = quality._held_out(score.with_tracks([Track("merged", 0, False,
                                                               quality.pitched_notes(score))]),
                                      f"pop909/{song.name}", "pop")
            melody = [t for t in score.tracks if t.name.upper() == "MELODY"]
            alone = (quality._held_out(score.with_tracks(melody), f"pop909/{song.name}", "pop-mel")
                     if melody else None)
            if whole is not None and alone is not None:
                prompts += [whole, alone]
                taken += 1
    else:
        notes.append(f"pop, pop-mel: skipped ({pop} not found)")
    ff = data / "ff-piano" / "test"
    if ff.is_dir():
        taken = 0
        for path in sorted(ff.glob("*.mid")):
            if taken >= per_group:
                break
            prompt = quality._held_out(_from_first_note(read_midi(path)), f"ff/{path.stem}", "ff")
            if prompt is not None:
                prompts.append(prompt)
                taken += 1
    else:
        notes.append(f"ff: skipped ({ff} not found)")
    from bench.performed_prompts import performed

    clean = (quality.held_out_prompts({"folk": 2, "chorale": 2, "piano": max(1, per_group - 4)},
                                      cache=cache))
    for prompt in clean[:per_group]:
        played = performed(prompt.piece, prompt.name)
        end = played.bar_start(quality.PROMPT_BARS)
        prompts.append(quality.Prompt(prompt.name, "perf",
                                      played.sliced(0, end, shift=True), prompt.score,
                                      prompt.piece))
    collection_of = resolve_collections(["music21:all"])
    _, val_files = split_files(list(collection_of), 0.1, 0)
    taken = 0
    for path in val_files:
        if taken >= per_group or collection_of[path] not in DENSE_COLLECTIONS:
            continue
        try:
            pieces = read_pieces(str(path), cache)
        except DataError:
            continue
        piece = pieces[0] if pieces else None
        if piece is None or sum(1 for t in piece.tracks if t.notes and not t.is_drum) < 4:
            continue
        merged = piece.with_tracks([Track("merged", 0, False, quality.pitched_notes(piece))])
        prompt = quality._held_out(merged, quality._piece_name(path, collection_of[path]), "dense")
        if prompt is not None:
            prompts.append(prompt)
            taken += 1
    return prompts, notes


DENSE_COLLECTIONS = ("beethoven", "mozart", "haydn", "schubert", "monteverdi", "verdi",
                     "handel", "dvorak")


def motif_table(results: dict[str, dict[str, Any]]) -> str:
    """Issue 41's figures by group: the truth's value, then each run's (model / motif)."""
    runs = list(results)
    groups = (sorted({g for summary in results.values() for g in summary["motif"]} - {"all"})
              + ["all"])
    lines = []
    for key, label in MOTIF_COLUMNS:
        lines.append(f"\n{label}: {'group':8s} {'n':>3s} {'truth':>6s}"
                     + "".join(f"{r[:16]:>17s}" for r in runs))
        for group in groups:
            first = next(s["motif"][group] for s in results.values() if group in s["motif"])
            cells = [_cell(s["motif"].get(group, {}).get(key), "{:.2f}") for s in results.values()]
            lines.append(f"{'':{len(label) + 1}s} {group:8s} {int(first['prompts']):3d} "
                         f"{_cell(first.get('truth_' + key), '{:.2f}'):>6s}"
                         + "".join(f"{c:>17s}" for c in cells))
    return "\n".join(lines)


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
            baseline = (f"; the surroundings' own density: {result['surroundings']:.2f}"
                        if "surroundings" in result else "")
            lines.append(f"  [{'pass' if result['pass'] else 'FAIL'}] fill {check}: "
                         f"{result['value']:.2f} ({result['bound']}{baseline})")
    return "\n".join(lines)


_clean = quality.json_ready


def card_figures(summary: dict[str, Any], prompts: int, seeds: list[int], bars: int,
                 sampling: dict[str, Any], card: dict[str, Any] | None = None,
                 fill_seeds: list[int] | None = None) -> dict[str, Any]:
    """What a model card keeps of one model's run: the checks' values, the means, speed.
    Fills left out of this run (`--no-fill`) keep the fill figures `card` (the card's
    previous entry) holds."""
    infill = summary["infill"]
    if isinstance(infill, dict):
        fill_criteria: Any = {k: v["value"] for k, v in infill["criteria"].items()}
    elif infill == "not measured" and isinstance((card or {}).get("fill_criteria"), dict):
        fill_criteria = card["fill_criteria"]
    else:
        fill_criteria = infill
    return {
        "bench": f"bench/continuation_quality.py ({prompts} prompts, seeds "
        f"{' and '.join(map(str, seeds))}, "
        + (f"fills seeds {' '.join(map(str, fill_seeds))}, "
           if fill_seeds is not None and list(fill_seeds) != list(seeds) else "")
        + f"{bars} bars, no key mask)",
        "sampling": sampling or "app default",
        "criteria": {k: v["value"] for k, v in summary["criteria"].items()},
        "fill_criteria": fill_criteria,
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
    parser.add_argument("--motif", nargs="+", default=None, choices=("repeat", "develop", "free"),
                        help="Motif modes, each a row of the table (default: the app's)")
    parser.add_argument("--data", type=Path, default=DATA,
                        help="where pop909/ and ff-piano/ are (read in place)")
    parser.add_argument("--per-group", type=int, default=8,
                        help="prompts per data group (issue 41's groups)")
    parser.add_argument("--groups", nargs="+", default=None,
                        help="measure only these prompt groups")
    parser.add_argument("--no-fill", action="store_true", help="skip the fill measurements")
    parser.add_argument("--fill-seeds", nargs="+", type=int, default=None,
                        help="seeds of the fills (default 0-7; --quick: the seeds): a "
                             "2-bar fill's density moves more from seed to seed than a "
                             "continuation's")
    parser.add_argument("--record", action="store_true",
                        help="write each model's figures into its model card (config.json metrics)")
    args = parser.parse_args(argv)
    sampling = {k: v for k, v in (("temperature", args.temperature), ("top_p", args.top_p))
                if v is not None}
    seeds = args.seeds or ([0] if args.quick else [0, 1])
    bars = 2 if args.quick else quality.CONTINUATION_BARS
    fill_seeds = args.fill_seeds or (seeds if args.quick else FILL_SEEDS)
    started = time.perf_counter()
    prompts = quality.benchmark_prompts(args.quick, args.score_cache)
    if not args.quick:
        more, skipped = data_prompts(args.data, args.per_group, args.score_cache)
        prompts += more
        for line in skipped:
            print(line)
    if args.groups:
        prompts = [p for p in prompts if p.group in args.groups]
    print(f"{len(prompts)} prompts ({time.perf_counter() - started:.1f} s to read), seeds {seeds}, "
          f"{bars} bars each, no key mask; fills seeds {fill_seeds}", flush=True)
    results = {}
    runs = [(name, motif) for name in args.models or default_models()
            for motif in (args.motif or [None])]
    for name, motif in runs:
        folder = bundles.resolve(name)
        bundle = bundles.load(folder)
        name = (getattr(bundle, "name", name)
                if getattr(bundle, "name", name) not in results else name)
        name = name if motif is None else f"{name}/{motif}"
        model_started = time.perf_counter()
        measured = quality.measure_model(bundle, prompts, seeds=seeds, bars=bars,
                                         fill_bars=(2, 3) if args.quick else quality.FILL_BARS,
                                         with_fill=not args.no_fill, fill_seeds=fill_seeds,
                                         sampling=sampling if motif is None
                                         else {**sampling, "motif": motif})
        summary = quality.summarise(measured)
        summary["seconds"] = time.perf_counter() - model_started
        print(table(measured["rows"], f"\n== {name}: continuations"))
        if measured["fill_rows"]:
            print(table(measured["fill_rows"], f"-- {name}: filled bars against the true bars"))
        print(format_summary(name, summary), flush=True)
        results[name] = summary
        if args.record:
            card = bundles.read_config(folder).get("metrics", {}).get("continuation_quality")
            bundles.record_metrics(folder, "continuation_quality", _clean(card_figures(
                summary, len(prompts), seeds, bars, sampling, card, fill_seeds)))
    print(motif_table(results))
    print(json.dumps(_clean({"bench": "continuation_quality", "prompts": len(prompts),
                             "seeds": seeds, "fill_seeds": fill_seeds,
                             "bars": bars, "sampling": sampling or "app default",
                             "models": results})))
    return 0


if __name__ == "__main__":
    sys.exit(main())

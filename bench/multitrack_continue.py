"""Issue 42's first measurement: continuing one part of a multi-part piece.

Held-out multi-part pieces (chorales of `music21:all`'s validation split, the soprano over
the other parts; POP909's held-out songs, the MELODY over the piano and bridge, read in
place from `../shared/data/pop909`): the first 4 bars are the prompt, the active part is
continued 8 bars, and its new notes are compared with the true part's next 8 bars:

- `register_ok`: |median new pitch - median true pitch| <= REGISTER_BOUND semitones;
- `density_ok`: new notes per beat / true notes per beat within DENSITY_BOUNDS;
- `start_beats`: from the part's own end to its first new note, in beats;
- `below`: share of new notes below the true part's lowest pitch (the other parts' range).

Three ways: `whole` (today's Continue: every part as one prompt), `merged` (every part cut
at the active part's end, controls/start/Motif from the active part) and `alone` (the
active part only). `every part` rows: `ml_core.tracks.continue_tracks` continues all parts
at once, each compared with its own truth (the share of parts in bounds). Prints a table
and ends with one JSON line.

    OMP_NUM_THREADS=1 python -m bench.multitrack_continue --per-group 6 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml_core import quality
from ml_core.music import Note, Score

MODES = ("whole", "merged", "alone")
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _active(score: Score, name: str | None) -> int | None:
    """The melody part: the named track, else the pitched track with the highest median."""
    pitched = [i for i, t in enumerate(score.tracks) if not t.is_drum and t.notes]
    if name is not None:
        named = [i for i in pitched if score.tracks[i].name.upper() == name]
        return named[0] if named else None
    if len(pitched) < 2:
        return None
    return max(pitched, key=lambda i: statistics.median(n.pitch for n in score.tracks[i].notes))


def pieces(per_group: int, cache: Any) -> list[tuple[str, Score, int]]:
    """(name, first 12 bars at 480 tpq, active track) of held-out multi-part pieces."""
    chosen: list[tuple[str, Score, int]] = []
    for prompt in quality.held_out_prompts({"chorale": per_group * 2}, cache=cache):
        active = _active(prompt.piece, None)
        if active is not None and len(chosen) < per_group:
            chosen.append((prompt.name, prompt.piece, active))
    pop = DATA / "pop909"
    if pop.is_dir():
        from bench.continuation_quality import held_out_pop_songs

        taken = 0
        for song, song_score in held_out_pop_songs(pop):
            if taken >= per_group:
                break
            score = quality._at_480(song_score)
            active = _active(score, "MELODY")
            body = score.sliced(0, score.bar_start(quality.PROMPT_BARS
                                                   + quality.CONTINUATION_BARS), shift=True)
            if active is None or len(body.tracks[active].notes) < 16:
                continue
            chosen.append((f"pop909/{song.name}", body, active))
            taken += 1
    else:
        print(f"pop909: skipped ({pop} not found)", file=sys.stderr)
    return chosen


def _prompt(piece: Score, active: int) -> Score:
    return piece.sliced(0, piece.bar_start(quality.PROMPT_BARS), shift=True)


def run(bundle: Any, mode: str, piece: Score, active: int, seed: int) -> list[Note]:
    from ml_core.generation import GenerationOptions, continue_score
    from ml_core.tracks import continue_track

    prompt = _prompt(piece, active)
    options = GenerationOptions(bars=quality.CONTINUATION_BARS, seed=seed)
    if mode == "whole":
        pitched = prompt.with_tracks([t for t in prompt.tracks if not t.is_drum])
        return continue_score(bundle, pitched, options).new_notes[0]
    return continue_track(bundle, prompt, active, options, context=mode).new_notes[0]


def every_part(bundle: Any, piece: Score, seed: int) -> dict[int, list[Note]]:
    """Each part's new notes when every part is continued as itself."""
    from ml_core.generation import GenerationOptions
    from ml_core.tracks import continue_tracks, pitched_tracks

    prompt = _prompt(piece, 0)
    with_truth = [i for i in pitched_tracks(prompt)
                  if any(n.start >= prompt.end_tick for n in piece.tracks[i].notes)]
    result = continue_tracks(bundle, prompt, with_truth,
                             GenerationOptions(bars=quality.CONTINUATION_BARS, seed=seed))
    return {i: notes[0] for i, notes in result.extra["per_track"].items()}


def figures(piece: Score, active: int, new: list[Note]) -> dict[str, float]:
    prompt_end = piece.bar_start(quality.PROMPT_BARS)
    own = [n for n in piece.tracks[active].notes if n.start < prompt_end]
    own_end = max(min(n.end, prompt_end) for n in own)
    truth = [n for n in piece.tracks[active].notes if n.start >= prompt_end]
    span = piece.bar_start(quality.PROMPT_BARS + quality.CONTINUATION_BARS) - prompt_end
    beats = span / piece.ticks_per_quarter
    nan = float("nan")
    if not new or not truth:
        return {"register_ok": 0.0, "density_ok": 0.0, "register_shift": nan,
                "density_ratio": 0.0, "start_beats": nan, "below": nan}
    shift = abs(statistics.median(n.pitch for n in new) - statistics.median(n.pitch
                                                                           for n in truth))
    ratio = (len(new) / beats) / (len(truth) / beats)
    low = min(n.pitch for n in truth)
    return {"register_ok": float(shift <= quality.REGISTER_BOUND),
            "density_ok": float(quality.DENSITY_BOUNDS[0] <= ratio <= quality.DENSITY_BOUNDS[1]),
            "register_shift": float(shift), "density_ratio": ratio,
            "start_beats": (min(n.start for n in new) - own_end) / piece.ticks_per_quarter,
            "below": sum(n.pitch < low for n in new) / len(new)}


def _mean(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return round(statistics.fmean(kept), 3) if kept else float("nan")


def held_out_run(argv: list[str] | None, description: str) -> tuple[argparse.Namespace, Any,
                                                                    list]:
    """The multi-track benches' shared command line: (arguments, the loaded bundle, the
    held-out pieces)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="default", help="a bundle name, bundle or run folder")
    parser.add_argument("--per-group", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--score-cache", type=Path)
    parser.add_argument("--instruments", choices=("as-written", "band"), default="as-written",
                        help="band: POP909's MELODY played by a flute, BRIDGE and PIANO by "
                             "guitars (families no bundled model was taught)")
    parser.add_argument("--untaught", choices=("mapped", "as-is"), default="mapped",
                        help="as-is: tracks of families the model was never taught keep "
                             "their own (untaught) parts instead of the piano parts it knows")
    args = parser.parse_args(argv)
    from ml_core import bundle as bundles

    bundle = bundles.load(bundles.resolve(args.model))
    if args.untaught == "as-is" and hasattr(bundle.tokenizer, "taught"):
        bundle.tokenizer.taught = None
    chosen = pieces(args.per_group, args.score_cache)
    if args.instruments == "band":
        chosen = [(name, as_band(piece) if name.startswith("pop909") else piece, active)
                  for name, piece, active in chosen]
    return args, bundle, chosen


BAND = {"MELODY": 73, "BRIDGE": 27, "PIANO": 24}   # flute, clean and nylon guitars


def as_band(piece: Score) -> Score:
    """A POP909 song with its parts given band instruments (BAND), the notes unchanged."""
    return piece.with_tracks([replace(t, program=BAND.get(t.name.upper(), t.program))
                              for t in piece.tracks])


def main(argv: list[str] | None = None) -> int:
    args, bundle, chosen = held_out_run(argv, __doc__.splitlines()[0])
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, piece, active in chosen:
        group = name.split("/")[0]
        for mode in MODES:
            for seed in args.seeds:
                new = run(bundle, mode, piece, active, seed)
                rows.setdefault(group, {}).setdefault(mode, []).append(
                    figures(piece, active, new))
    for name, piece, _ in chosen:
        group = name.split("/")[0]
        for seed in args.seeds:
            for index, new in every_part(bundle, piece, seed).items():
                rows[group].setdefault("every part", []).append(figures(piece, index, new))
    keys = ("register_ok", "density_ok", "register_shift", "density_ratio", "start_beats",
            "below")
    summary = {group: {mode: {k: _mean([r[k] for r in modes[mode]]) for k in keys}
                       for mode in modes} for group, modes in rows.items()}
    print(f"{'group':10} {'mode':10} " + " ".join(f"{k:>14}" for k in keys))
    for group, modes in summary.items():
        for mode, values in modes.items():
            print(f"{group:10} {mode:10} " + " ".join(f"{values[k]:>14}" for k in keys))
    print(json.dumps({"bench": "multitrack_continue", "model": args.model,
                      "pieces": {g: len(m[MODES[0]]) // len(args.seeds)
                                 for g, m in rows.items()},
                      "seeds": args.seeds, "summary": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

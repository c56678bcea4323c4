"""Issue 42's measurement of multi-track generation, with the truth's figures beside ours.

Held-out multi-part pieces (`bench.multitrack_continue.pieces`: chorales of `music21:all`'s
validation split; POP909's held-out songs read in place from `../shared/data/pop909`,
skipped with one line when absent), their first 12 bars:

- `continue`: the first 4 bars are the prompt, every part is continued 8 bars (a model
  with the remi_tracks tokenizer: `ml_core.multitrack.continue_all`, the parts written
  together bar by bar; a single-stream model: `ml_core.tracks.continue_tracks`, one
  generation per part). Per part: `register_ok` (median pitch within REGISTER_BOUND of
  the true part's), `density_ok` (notes per beat within DENSITY_BOUNDS of the truth's);
  `leaks`: new notes in a track that was not asked for (or out of every part); over the
  piece: `crossings` (share of beats where a part sounds below the next lower part, parts
  ordered by the truth's median) and `consonance` (share of consonant pairs among the notes
  sounding together on each beat), for ours and for the truth's 8 bars.
- `add part` (remi_tracks models only): a chorale's bass written under its other parts
  (role bass), POP909's piano accompaniment under the MELODY alone (role harmony), over all
  12 bars: `below` (share of new notes below the melody note sounding at their onset),
  `consonance` (pairs on beats with the new part in them), `density_ratio` and
  `onbeat` (share of onsets on a beat), each beside the true part's.

Ends with one JSON line.

    OMP_NUM_THREADS=1 python -m bench.multitrack_quality --model /work/data/runs/mt-pilot \
        --per-group 6 --seeds 0 1
"""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any

from ml_core import quality
from ml_core.music import Note, Score

CONSONANT = frozenset({0, 3, 4, 5, 7, 8, 9})   # interval classes counted as consonant
NAN = float("nan")


# ----------------------------------------------------------------------- figures
def _beats(score: Score, start: int, end: int) -> list[int]:
    step = score.ticks_per_quarter
    return list(range(start, end, step))


def _sounding(notes: list[Note], tick: int) -> list[int]:
    return [n.pitch for n in notes if n.start <= tick < n.end]


def consonance(parts: list[list[Note]], beats: list[int], *, with_part: int | None = None
               ) -> float:
    """Share of consonant pairs among the notes of different parts sounding together on
    `beats` (only pairs with a note of part `with_part`, when given); NaN with no pair."""
    good = total = 0
    for tick in beats:
        sounding = [(i, p) for i, part in enumerate(parts) for p in _sounding(part, tick)]
        for a in range(len(sounding)):
            for b in range(a + 1, len(sounding)):
                (i, p), (j, q) = sounding[a], sounding[b]
                if i == j or (with_part is not None and with_part not in (i, j)):
                    continue
                total += 1
                good += abs(p - q) % 12 in CONSONANT
    return good / total if total else NAN


def crossings(parts: list[list[Note]], beats: list[int]) -> float:
    """Share of (beat, adjacent pair) where the upper part's lowest sounding pitch is below
    the lower part's highest (`parts` from the top down); NaN when no pair sounds."""
    crossed = total = 0
    for tick in beats:
        for upper, lower in zip(parts, parts[1:], strict=False):
            high, low = _sounding(upper, tick), _sounding(lower, tick)
            if high and low:
                total += 1
                crossed += min(high) < max(low)
    return crossed / total if total else NAN


def part_bounds(new: list[Note], truth: list[Note]) -> dict[str, float]:
    """register_ok / density_ok of one part's new notes against its true notes."""
    if not new or not truth:
        return {"register_ok": 0.0 if truth else NAN, "density_ok": float(not new and not truth)}
    shift = abs(statistics.median(n.pitch for n in new) - statistics.median(n.pitch
                                                                           for n in truth))
    ratio = len(new) / len(truth)
    return {"register_ok": float(shift <= quality.REGISTER_BOUND),
            "density_ok": float(quality.DENSITY_BOUNDS[0] <= ratio <= quality.DENSITY_BOUNDS[1])}


def below_share(new: list[Note], melody: list[Note]) -> float:
    """Share of `new` notes below the melody note sounding at (or last struck before) their
    onset; NaN without new notes or melody."""
    if not new or not melody:
        return NAN
    ordered = sorted(melody)
    below = 0
    for note in new:
        sounding = _sounding(ordered, note.start) or [m.pitch for m in ordered
                                                      if m.start <= note.start][-1:] \
            or [ordered[0].pitch]
        below += note.pitch < min(sounding)
    return below / len(new)


def onbeat_share(notes: list[Note], ticks_per_quarter: int) -> float:
    return (sum(n.start % ticks_per_quarter == 0 for n in notes) / len(notes)) if notes else NAN


def _by_median(piece: Score, indices: list[int]) -> list[int]:
    return sorted(indices, key=lambda i: -statistics.median(n.pitch
                                                            for n in piece.tracks[i].notes))


# ----------------------------------------------------------------------- continue
def continue_row(bundle: Any, piece: Score, seed: int) -> dict[str, float]:
    from ml_core.generation import GenerationOptions
    from ml_core.multitrack import continue_all, knows_tracks
    from ml_core.tracks import continue_tracks, pitched_tracks

    prompt_end = piece.bar_start(quality.PROMPT_BARS)
    end = piece.bar_start(quality.PROMPT_BARS + quality.CONTINUATION_BARS)
    prompt = piece.sliced(0, prompt_end, shift=False)
    chosen = [i for i in pitched_tracks(prompt)
              if any(prompt_end <= n.start < end for n in piece.tracks[i].notes)]
    options = GenerationOptions(bars=quality.CONTINUATION_BARS, seed=seed)
    if knows_tracks(bundle.tokenizer):
        result = continue_all(bundle, prompt, chosen, options)
    else:
        result = continue_tracks(bundle, prompt, chosen, options)
    after = result.scores[0]
    new = {}
    for i, track in enumerate(prompt.tracks):
        old = set(track.notes)
        new[i] = [n for n in after.tracks[i].notes if n not in old]
    truth = {i: [n for n in piece.tracks[i].notes if prompt_end <= n.start < end]
             for i in chosen}
    leaks = sum(len(notes) for i, notes in new.items() if i not in chosen) + sum(
        len(t.notes) for t in after.tracks[len(prompt.tracks):])
    bounds = [part_bounds(new[i], truth[i]) for i in chosen]
    order = _by_median(piece, chosen)
    beats = _beats(piece, prompt_end, end)
    ours = [[n for n in new[i] if n.start < end] for i in order]
    true = [truth[i] for i in order]
    return {"register_ok": _mean([b["register_ok"] for b in bounds]),
            "density_ok": _mean([b["density_ok"] for b in bounds]),
            "parts": float(len(chosen)), "leaks": float(leaks),
            "crossings": crossings(ours, beats), "crossings_truth": crossings(true, beats),
            "consonance": consonance(ours, beats), "consonance_truth": consonance(true, beats)}


# ----------------------------------------------------------------------- add part
def add_part_row(bundle: Any, piece: Score, group: str, seed: int) -> dict[str, float] | None:
    """The true part (the chorale's lowest part; POP909's PIANO) taken out and written again
    under the rest (the chorale's other parts; POP909's MELODY alone)."""
    from ml_core.generation import GenerationOptions
    from ml_core.multitrack import add_part

    pitched = [i for i, t in enumerate(piece.tracks) if t.notes and not t.is_drum]
    names = {t.name.upper(): i for i, t in enumerate(piece.tracks)}
    if group == "pop909":
        if "PIANO" not in names or "MELODY" not in names:
            return None
        target, kept, role = names["PIANO"], [names["MELODY"]], "harmony"
    else:
        if len(pitched) < 3:
            return None
        order = _by_median(piece, pitched)
        target, kept, role = order[-1], order[:-1], "bass"
    melody = _by_median(piece, kept)[0]
    context = piece.with_tracks([piece.tracks[i] for i in kept])
    end_bar = quality.PROMPT_BARS + quality.CONTINUATION_BARS
    result = add_part(bundle, context, role, bars=(0, end_bar),
                      options=GenerationOptions(seed=seed))
    new = result.scores[0].tracks[-1].notes
    truth = piece.tracks[target].notes
    beats = _beats(piece, 0, piece.bar_start(end_bar))
    others = [piece.tracks[i].notes for i in kept]
    tpq = piece.ticks_per_quarter
    ratio = len(new) / len(truth) if truth else NAN
    return {"below": below_share(new, piece.tracks[melody].notes),
            "below_truth": below_share(truth, piece.tracks[melody].notes),
            "consonance": consonance(others + [new], beats, with_part=len(others)),
            "consonance_truth": consonance(others + [truth], beats, with_part=len(others)),
            "density_ratio": ratio,
            "density_ok": float(quality.DENSITY_BOUNDS[0] <= ratio <= quality.DENSITY_BOUNDS[1]),
            "onbeat": onbeat_share(new, tpq), "onbeat_truth": onbeat_share(truth, tpq),
            "leaks": float(sum(len(a.notes) != len(b.notes) for a, b in
                               zip(context.tracks, result.scores[0].tracks, strict=False)))}


# ----------------------------------------------------------------------- report
def _mean(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return round(statistics.fmean(kept), 3) if kept else NAN


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in rows for k in row})
    summary = {k: _mean([row.get(k, NAN) for row in rows]) for k in keys}
    if "leaks" in summary:
        summary["leaks"] = float(sum(row.get("leaks", 0.0) for row in rows))
    return summary


def main(argv: list[str] | None = None) -> int:
    from bench.multitrack_continue import held_out_run
    from ml_core.multitrack import knows_tracks

    args, bundle, chosen = held_out_run(argv, __doc__.splitlines()[0])
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, piece, _ in chosen:
        group = name.split("/")[0]
        for seed in args.seeds:
            rows.setdefault(group, {}).setdefault("continue", []).append(
                continue_row(bundle, piece, seed))
            if knows_tracks(bundle.tokenizer):
                row = add_part_row(bundle, piece, group, seed)
                if row is not None:
                    rows[group].setdefault("add part", []).append(row)
    if not knows_tracks(bundle.tokenizer):
        print("add part: skipped (the model reads one stream of notes)", file=sys.stderr)
    summary = {group: {kind: summarise(kinds[kind]) for kind in kinds}
               for group, kinds in rows.items()}
    for group, kinds in summary.items():
        for kind, values in kinds.items():
            print(f"{group:10} {kind:9} " + "  ".join(f"{k} {v}" for k, v in values.items()))
    print(json.dumps({"bench": "multitrack_quality", "model": args.model,
                      "pieces": {g: len(k["continue"]) // len(args.seeds)
                                 for g, k in rows.items()},
                      "seeds": args.seeds, "summary": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

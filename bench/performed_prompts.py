"""Performed and app-written prompts (issue 19): does a model still read the music when it
is played in, or drawn in the app, instead of written out as notation?

Pieces: the held-out set of `bench/continuation_quality.py` (validation pieces of
`music21:all` from folk, chorale and piano collections; their first 12 bars). Three
versions of each, all deterministic:
- clean: as read (notation: on the grid, velocity 80, notated lengths, one tempo);
- performed: this benchmark's own perturbation, unlike the training augmentation's
  draws (ml_core.tokenizers.performance): a per-piece level with a crescendo or
  diminuendo across the piece and 4-bar swells, accents on bar lines and on a random
  tenth of the notes; articulation per 2-bar phrase (staccato 0.5, detached 0.8, legato
  1.05 of the notated length); onset jitter (per onset +-25 ticks and per note +-10 at
  480 per quarter); tempo drift (a tempo change every beat, a slow curve of +-6% around
  a per-piece tempo of 70-150 BPM);
- app: what the app writes when a musician draws the notes: one track, velocity 100
  (the roll's default), 120 BPM, on the grid, the drawn lengths.
For each bundle (default: the shipped `default`): bits per note (the model's total NLL on
the piece's tokens, first window of the model's context, divided by the notes those tokens
hold, in bits) and the share of that loss by token type (Pitch, Velocity, Duration,
Position...), per version; the same pieces read as generation reads them (no token seeing
more than the model's `max_context`, its trained window where that is shorter than its
context: `bits_per_note_generated`); then the continuation-quality checks of issue 13
(ml_core.quality) for the first 4 bars of each piece as prompt, per version (features
compared with the clean prompt), one seed by default. Ends with one JSON line:
{"bench": "performed_prompts", "models": {NAME: {"bits_per_note": {"clean": ..,
 "performed": .., "app": ..}, "loss_share": {...}, "continuation": {...}}}}

    .venv/bin/python -m bench.performed_prompts [--models NAME_OR_PATH ...] [--quick]
        [--seeds 0] [--no-continuation]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml_core import bundle as bundles
from ml_core import quality
from ml_core.music import Note, Score, TempoChange, Track, beat_ticks

VERSIONS = ("clean", "performed", "app")
# Bits per note also on the performed and app versions with every velocity set back to the
# corpus's 80: what a model whose tokenizer carries no velocity reads (its dynamics are
# invisible), so the loss left is the timing, articulation and tempo part.
FLAT_VERSIONS = ("performed_v80", "app_v80")
CORPUS_VELOCITY = 80
APP_VELOCITY, APP_TEMPO = 100, 120.0


# ----------------------------------------------------------------------- the versions
def performed(score: Score, name: str) -> Score:
    """The benchmark's deterministic "performance" of a piece (see the module docstring)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    tpq = score.ticks_per_quarter
    notes = sorted((n for t in score.tracks if not t.is_drum for n in t.notes),
                   key=lambda n: (n.start, n.pitch))
    end_bar = max(1, score.bar_at(max(n.start for n in notes))[0] + 1)
    level, slope = rng.uniform(50, 105), rng.choice([-25.0, 25.0])
    articulation = {phrase: rng.choice([0.5, 0.8, 1.05]) for phrase in range(end_bar // 2 + 1)}
    onset_shift = {start: int(rng.integers(-25, 26)) for start in sorted({n.start for n in notes})}
    tracks = []
    for track in score.tracks:
        played = []
        for note in track.notes:
            bar, offset = score.bar_at(note.start)
            loudness = (level + slope * (bar / end_bar - 0.5) + 10 * np.sin(2 * np.pi * bar / 4)
                        + (12 if offset == 0 else 0) + (15 if rng.random() < 0.1 else 0))
            start = max(0, note.start + onset_shift.get(note.start, 0) + int(rng.integers(-10, 11)))
            duration = max(tpq // 8, int(note.duration * articulation[bar // 2]))
            played.append(Note(note.pitch, start, duration, int(np.clip(round(loudness), 1, 127))))
        tracks.append(Track(track.name, track.program, track.is_drum, sorted(played)))
    tempo = rng.uniform(70, 150)
    beat = beat_ticks(score.time_signature, tpq)
    changes = [TempoChange(tick, tempo * (1 + 0.06 * np.sin(2 * np.pi * tick / (8 * beat))))
               for tick in range(beat, score.end_tick, beat)]
    return Score(tracks, tempo, score.time_signature, tpq, changes,
                 list(score.time_signature_changes))


def app_written(score: Score) -> Score:
    """The piece as drawn on the app's roll: one track, velocity 100, 120 BPM."""
    notes = sorted(Note(n.pitch, n.start, n.duration, APP_VELOCITY)
                   for t in score.tracks if not t.is_drum for n in t.notes)
    return Score([Track("Track 1", 0, False, notes)], APP_TEMPO, score.time_signature,
                 score.ticks_per_quarter,
                 [], list(score.time_signature_changes))


def version(score: Score, name: str, which: str) -> Score:
    if which.endswith("_v80"):
        played = version(score, name, which[:-4])
        return played.with_tracks([Track(t.name, t.program, t.is_drum,
                                         [n.moved(velocity=CORPUS_VELOCITY)
                                                                          for n in t.notes])
                                                                          for t in played.tracks])
    return (score if which == "clean" else performed(score, name) if which == "performed"
            else app_written(score))


# ----------------------------------------------------------------------- bits per note
def token_type(tokenizer: Any, token: int) -> str:
    return tokenizer.vocab.string(token).split("_")[0]


def _token_nll(model: Any, ids: list[int]) -> np.ndarray:
    """NLL (nats) of ids[1:], each predicted from the ids before it, in one forward."""
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids[:-1]]))                       # (1, T, V)
        return (-torch.log_softmax(logits[0].float(), -1)[torch.arange(len(ids) - 1),
                                                          torch.tensor(ids[1:])]).numpy()


def windowed_nll(model: Any, ids: list[int], reach: int) -> np.ndarray:
    """NLL of ids[1:] with no token seeing more than `reach` tokens before it, as the
    steppers generate from a model capped at its trained window (`max_context`): windows
    of reach + 1 ids every reach / 2, each token scored in the first window that gives
    it at least reach / 2 tokens of context (the first window scores all of its own)."""
    nll = _token_nll(model, ids[:reach + 1])
    if len(ids) <= reach + 1:
        return nll
    half = max(1, reach // 2)
    parts, scored = [nll], len(nll)
    start = half
    while scored < len(ids) - 1:
        window = _token_nll(model, ids[start:start + reach + 1])
        # window[i] is the target ids[start + i + 1]; keep those not scored yet
        parts.append(window[scored - start:])
        scored = start + len(window)
        start += half
    return np.concatenate(parts)


def _context_and_reach(bundle: Any) -> tuple[int, int]:
    """The model's context (the first window read) and how many tokens back generation
    reads (`max_context`: the trained window where that is shorter)."""
    context = int(bundle.config.get("hparams", {}).get("context", 512))
    return context, min(context, getattr(bundle.model, "max_context", None) or context)


def loss_by_type(bundle: Any, score: Score, generated: bool = False
                 ) -> tuple[dict[str, float], int]:
    """(NLL in nats by token type, notes) over the first window of the piece's tokens;
    `generated`: each token reading at most the model's `max_context` (its trained window
    where that is shorter than its context), as generation does."""
    tokenizer, model = bundle.tokenizer, bundle.model
    context, reach = _context_and_reach(bundle)
    ids = list(tokenizer.encode(score))[:context + 1]
    nll = windowed_nll(model, ids, reach) if generated and reach < context else _token_nll(model,
                                                                                            ids)
    totals: dict[str, float] = {}
    for token, value in zip(ids[1:], nll.tolist(), strict=True):
        kind = token_type(tokenizer, token)
        totals[kind] = totals.get(kind, 0.0) + value
    notes = sum(1 for token in ids[1:] if tokenizer.pitches_of(token))
    return totals, notes


def bits_per_note(bundle: Any, pieces: list[quality.Prompt]) -> dict[str, Any]:
    result: dict[str, Any] = {"bits_per_note": {}, "loss_share": {}}
    for which in VERSIONS + FLAT_VERSIONS:
        totals: dict[str, float] = {}
        notes = 0
        for prompt in pieces:
            part, count = loss_by_type(bundle, version(prompt.piece, prompt.name, which))
            notes += count
            for kind, value in part.items():
                totals[kind] = totals.get(kind, 0.0) + value
        total = sum(totals.values())
        result["bits_per_note"][which] = total / math.log(2) / max(1, notes)
        result["loss_share"][which] = {k: v / total
                                       for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    # the same pieces read as generation reads them: only a model capped at a trained
    # window shorter than its context reads them otherwise than in one pass
    context, reach = _context_and_reach(bundle)
    result["bits_per_note_generated"] = {}
    for which in VERSIONS:
        if reach >= context:
            result["bits_per_note_generated"][which] = result["bits_per_note"][which]
            continue
        total, notes = 0.0, 0
        for prompt in pieces:
            part, count = loss_by_type(bundle, version(prompt.piece, prompt.name, which),
                                       generated=True)
            total += sum(part.values())
            notes += count
        result["bits_per_note_generated"][which] = total / math.log(2) / max(1, notes)
    clean = result["bits_per_note"]["clean"]
    result["ratio_to_clean"] = {w: result["bits_per_note"][w] / clean for w in VERSIONS
                                + FLAT_VERSIONS}
    shares = result["loss_share"]
    result["share_excess_points"] = {
        w: max(100 * (shares[w][k] - shares["clean"].get(k, 0.0)) for k in shares[w])
        for w in VERSIONS + FLAT_VERSIONS
    }
    return result


# ----------------------------------------------------------------------- continuation
def continuation(bundle: Any, pieces: list[quality.Prompt], seeds: list[int],
                 bars: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for which in VERSIONS:
        prompts = [quality.Prompt(p.name, p.group, version(p.score, p.name, which),
                                  None if which == "clean" else p.score, p.piece) for p in pieces]
        summary = quality.summarise(quality.measure_model(bundle, prompts, seeds=seeds, bars=bars,
                                                          with_fill=False))
        figures[which] = {name: check["value"] for name, check in summary["criteria"].items()}
        figures[which].update({k: summary["mean"][k]
                               for k in ("true_pc_overlap", "true_range_overlap",
                                                              "true_ioi_overlap")
                                                              if k in summary["mean"]})
    figures["max_points_from_clean"] = {
        which: max(abs(100 * (figures[which][k] - figures["clean"][k])) for k in figures["clean"]
                   if isinstance(figures["clean"][k], float) and math.isfinite(figures["clean"][k])
                   and math.isfinite(figures[which][k]))
        for which in VERSIONS[1:]}
    return figures


def _spread(pieces: list[quality.Prompt], count: int | None) -> list[quality.Prompt]:
    """`count` pieces taken evenly across the list (all groups), or all of them."""
    if not count or count >= len(pieces):
        return pieces
    return [pieces[int(i)] for i in np.linspace(0, len(pieces) - 1, count).round()]


_clean = quality.json_ready


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["default"])
    parser.add_argument("--quick", action="store_true",
                        help="2 pieces, 2-bar continuations (for tests)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--no-continuation", action="store_true", help="bits per note only")
    parser.add_argument("--continuation-pieces", type=int, help="continue only the first N pieces")
    parser.add_argument("--score-cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "composer-assistant-bench-scores")
    parser.add_argument("--record", action="store_true",
                        help="write each model's figures into its model card (config.json metrics)")
    args = parser.parse_args(argv)
    groups = {"folk": 1, "chorale": 1} if args.quick else {"folk": 12, "chorale": 12, "piano": 8}
    bars = 2 if args.quick else quality.CONTINUATION_BARS
    started = time.perf_counter()
    pieces = quality.held_out_prompts(groups, cache=args.score_cache)
    print(f"{len(pieces)} held-out pieces ({time.perf_counter() - started:.1f} s to "
          f"read)", flush=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    results = {}
    for name in args.models:
        folder = bundles.resolve(name)
        bundle = bundles.load(folder)
        name = (getattr(bundle, "name", name)
                if getattr(bundle, "name", name) not in results else name)
        bundle.model.eval()
        figures = bits_per_note(bundle, pieces)
        print(f"\n== {name}: bits per note (ratio to clean; largest gain in a token type's share "
              f"of the loss)")
        for which in VERSIONS + FLAT_VERSIONS:
            shares = ", ".join(f"{k} {100 * v:.0f}%"
                               for k, v in list(figures["loss_share"][which].items())[:5])
            print(f"  {which:13s} {figures['bits_per_note'][which]:6.2f} bits/note  "
                  f"x{figures['ratio_to_clean'][which]:.2f}"
                  f"  +{figures['share_excess_points'][which]:.0f} pts   [{shares}]")
        reach = getattr(bundle.model, "max_context", None)
        print("  as generated (each token reading at most " + (f"{reach}" if reach else "all")
              + " tokens): " + ", ".join(f"{w} {v:.2f}" for w, v in
                                          figures["bits_per_note_generated"].items()))
        if not args.no_continuation:
            chosen = _spread(pieces, args.continuation_pieces)
            figures["continuation"] = continuation(bundle, chosen, args.seeds, bars)
            print(f"  continuation checks ({len(chosen)} prompts, seeds {args.seeds}):")
            for which in VERSIONS:
                row = figures["continuation"][which]
                print(f"  {which:9s} " + " ".join(f"{k}={v:.2f}" for k, v in row.items()
                                                   if isinstance(v, float) and math.isfinite(v)))
            print(f"  largest difference from clean, points: "
                  f"{figures['continuation']['max_points_from_clean']}")
        results[name] = figures
        if args.record:
            card = {key: figures[key]
                    for key in ("bits_per_note", "bits_per_note_generated", "ratio_to_clean",
                                "share_excess_points")}
            if "continuation" in figures:
                card["continuation"] = figures["continuation"]
            bundles.record_metrics(folder, "performed_prompts", _clean(
                {"bench":
                 f"bench/performed_prompts.py ({len(pieces)} held-out pieces, seeds {args.seeds})",
                 **card}))
    print(json.dumps(_clean({"bench": "performed_prompts", "pieces": len(pieces),
                             "seeds": args.seeds,
                             "models": results})))
    return 0


if __name__ == "__main__":
    sys.exit(main())

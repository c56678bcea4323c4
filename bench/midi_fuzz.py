"""Damaged MIDI files: seeded byte mutations of real files, read leniently as the app opens
them (`read_midi(path, allow_empty=True, warnings=[])`) and by mido (`clip=True`) side by
side (DESIGN.md: every reader linear in its input; issue 39).

    .venv/bin/python -m bench.midi_fuzz [--count 3000] [--seed 39] [--folder DIR ...]

Sources: the repository's own MIDI files (resources/examples) unless folders are given.
Each mutation flips, inserts, deletes or cuts a few bytes (or a run of them) of one source
file. Budget: no lenient read over 1 s, nothing but MidiFileError raised, and at least as
many mutations read as mido reads. The run prints the counts and the slowest reads and
ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ml_core.midi_io import MIDI_EXTENSIONS, MidiFileError, read_midi

EXAMPLES = Path(__file__).resolve().parent.parent / "resources" / "examples"
BUDGET_S = 1.0


def sources(folders: list[Path]) -> list[Path]:
    """Every MIDI file under the folders (resources/examples when none), sorted."""
    found = sorted(path for folder in folders or [EXAMPLES] for path in folder.rglob("*")
                   if path.suffix.lower() in MIDI_EXTENSIONS)
    if not found:
        raise SystemExit("error: no MIDI files found")
    return found


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four seeded edits of `data`: a byte changed, bytes inserted or deleted, the
    file cut short, or a run of bytes overwritten (a damaged sector)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(("flip", "flip", "insert", "delete", "cut", "smear"))
        where = rng.randrange(len(out) + 1) if out else 0
        if kind == "flip" and where < len(out):
            out[where] = rng.randrange(256)
        elif kind == "insert":
            out[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == "delete":
            del out[where:where + rng.randint(1, 16)]
        elif kind == "cut":
            del out[where:]
        elif kind == "smear":
            length = min(rng.randint(2, 64), len(out) - where)
            out[where:where + length] = bytes(rng.randrange(256) for _ in range(length))
    return bytes(out)


def _read_ours(path: Path) -> tuple[bool, str | None]:
    """(read, the unexpected error if one escaped) for the app's lenient read."""
    try:
        read_midi(path, allow_empty=True, warnings=[])
    except MidiFileError:
        return False, None
    except Exception as error:  # the finding: anything else escaped
        return False, f"{type(error).__name__}: {error}"
    return True, None


def _read_mido(path: Path) -> bool:
    import mido

    try:
        mido.MidiFile(path, clip=True)
    except Exception:  # mido raises many types for bad input; it only counts here
        return False
    return True


def run(files: list[Path], count: int, seed: int, folder: Path,
        with_mido: bool = True) -> dict[str, Any]:
    """Mutate `count` times (seeded), read each mutation both ways; the figures."""
    rng = random.Random(seed)
    originals = [path.read_bytes() for path in files]
    ours = mido_read = 0
    escaped: list[str] = []
    timings: list[tuple[float, str]] = []
    target = folder / "mutated.mid"
    for index in range(count):
        which = rng.randrange(len(files))
        target.write_bytes(mutate(originals[which], rng))
        began = time.perf_counter()
        read, error = _read_ours(target)
        elapsed = time.perf_counter() - began
        ours += read
        if error is not None:
            escaped.append(f"#{index} ({files[which].name}): {error}")
        timings.append((elapsed, f"#{index} ({files[which].name})"))
        if with_mido:
            mido_read += _read_mido(target)
    timings.sort(reverse=True)
    return {"mutations": count, "seed": seed, "sources": len(files), "ours_read": ours,
            "mido_read": mido_read if with_mido else None, "escaped": escaped,
            "slowest_s": round(timings[0][0], 4) if timings else 0.0,
            "slowest": timings[0][1] if timings else None,
            "over_budget": sum(1 for elapsed, _ in timings if elapsed > BUDGET_S),
            "total_s": round(sum(elapsed for elapsed, _ in timings), 2),
            "top": [(round(elapsed, 4), what) for elapsed, what in timings[:5]]}


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="mutations to read")
    parser.add_argument("--seed", type=int, default=39)
    parser.add_argument("--folder", type=Path, action="append", default=[],
                        help="read source files here instead of resources/examples (repeatable)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")     # mido warns about odd bytes it clips
    files = sources(args.folder)
    with tempfile.TemporaryDirectory() as folder:
        result = run(files, args.count, args.seed, Path(folder))
    print(f"{result['mutations']} mutations of {result['sources']} files (seed {args.seed}): "
          f"read {result['ours_read']} leniently, mido (clip=True) read {result['mido_read']}")
    print(f"  slowest read {result['slowest_s'] * 1000:.1f} ms ({result['slowest']}); "
          f"{result['over_budget']} over {BUDGET_S:g} s; all reads {result['total_s']} s")
    for line in result["escaped"][:10]:
        print(f"  escaped: {line}")
    ok = (not result["escaped"] and not result["over_budget"]
          and result["ours_read"] >= result["mido_read"])
    print("budget met" if ok else "BUDGET MISSED")
    print(json.dumps({key: value for key, value in result.items() if key != "escaped"}
                     | {"escaped": len(result["escaped"]), "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

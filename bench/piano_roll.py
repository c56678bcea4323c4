"""Piano-roll budget check: open a 10,000-note file in the editor, then scroll through it.

Runs offscreen. Prints ONE JSON line:
  open_s      reading the MIDI file, building the document and its 10,000 items, first paint
  repaint_ms  median time of a forced synchronous repaint of the roll's viewport while
              scrolling (background + visible notes), over many scroll positions
plus context: the whole editor surface's repaint (ruler, keyboard, roll, velocity lane),
the notes visible per frame, and the budgets (open <= 1 s, repaint <= 16 ms).

    .venv/bin/python -m bench.piano_roll [--notes 10000] [--frames 120]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track

OPEN_BUDGET_S = 1.0
REPAINT_BUDGET_MS = 16.0


def dense_piece(note_count: int, seed: int = 7) -> Score:
    """Four voices of random-walk lines, ~32 notes per 4/4 bar: a busy piano piece."""
    rng = random.Random(seed)
    voices = [(72, 120), (64, 240), (55, 240), (40, 480)]     # (start pitch, typical length)
    tracks = [Track(f"Voice {i + 1}", 0, False, []) for i in range(len(voices))]
    per_voice = note_count // len(voices)
    for track, (pitch, length) in zip(tracks, voices, strict=True):
        tick = 0
        for _ in range(per_voice):
            pitch = min(100, max(28, pitch + rng.choice((-3, -2, -1, 0, 1, 2, 3))))
            duration = length * rng.choice((1, 1, 1, 2))
            track.notes.append(Note(pitch, tick, duration, rng.randint(40, 120)))
            tick += duration // rng.choice((1, 1, 2))
    while sum(len(t.notes) for t in tracks) < note_count:
        tracks[0].notes.append(Note(60, tracks[0].notes[-1].end, 120, 80))
    return Score(tracks, 120.0, (4, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    from composer_app.main_window import MainWindow

    with tempfile.TemporaryDirectory() as folder:
        os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = folder    # keep settings out of the user's
        path = Path(folder) / "dense.mid"
        write_midi(dense_piece(args.notes), path)
        window = MainWindow()
        window.resize(1400, 900)
        window.show()
        app.processEvents()
        view = window.canvas.view

        started = time.perf_counter()
        opened = window.files.load(path) and window.files.wait_until_opened()
        while view.rebuild_pending():             # large pieces get their items in slices
            app.processEvents()
        app.processEvents()
        view.viewport().repaint()
        open_s = time.perf_counter() - started
        if not opened:
            raise SystemExit("the benchmark file did not open")

        bar = view.horizontalScrollBar()
        step = max(1, view.viewport().width() // 3)
        viewport_ms, canvas_ms, visible = [], [], []
        for frame in range(args.frames):
            bar.setValue((frame * step) % max(1, bar.maximum()))
            app.processEvents()
            t0 = time.perf_counter()
            view.viewport().repaint()
            viewport_ms.append((time.perf_counter() - t0) * 1000)
            bar.setValue(bar.value() + step // 2)
            t0 = time.perf_counter()
            window.canvas.repaint()
            canvas_ms.append((time.perf_counter() - t0) * 1000)
            visible.append(len(view.visible_note_ids()))
        note_count = len(window.document.notes())
        window.document.load_score(Score([]))       # nothing to prompt about on close
        window.close()

    print(json.dumps({
        "open_s": round(open_s, 3),
        "repaint_ms": round(statistics.median(viewport_ms), 2),
        "canvas_repaint_ms": round(statistics.median(canvas_ms), 2),
        "repaint_p90_ms": round(sorted(viewport_ms)[int(len(viewport_ms) * 0.9)], 2),
        "notes": note_count,
        "visible_notes_median": int(statistics.median(visible)),
        "open_budget_s": OPEN_BUDGET_S,
        "repaint_budget_ms": REPAINT_BUDGET_MS,
    }))


if __name__ == "__main__":
    main()

"""How long does the GUI event loop stall while a model generates? (budget: <= 50 ms)

Builds the `default` transformer preset (~3-4 M parameters, random init: the weights do
not change the cost) or loads a bundled model (`--model default-next`: its real weights,
stepped by the engine generation picks), saves it as a bundle in a temporary user model
folder, opens the
Continue panel over a document holding a two-bar motif, preloads the bundle, then clicks
Continue for 8 bars while a 5 ms QTimer records the gaps between its ticks. A stall is a
gap minus the timer interval. Also reports the time from the click to the first preview
note on the document (budget: <= 150 ms) and the generation rate.

    python -m bench.gui_latency [--bars 8] [--device cpu] [--preset default | --model NAME]

Ends with ONE JSON line: {"max_stall_ms": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TIMER_INTERVAL_MS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--model", help="a bundled model's name or a bundle folder (instead of "
                                        "the preset)")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    scratch = tempfile.TemporaryDirectory(prefix="gui-latency-")
    os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = scratch.name
    os.environ["COMPOSER_ASSISTANT_MODELS_DIR"] = str(Path(scratch.name) / "models")

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])

    from composer_app.continuation import panel as continue_panel
    from composer_app.continuation.panel import ContinuePanel
    from composer_app.document.document import Document
    from ml_core import bundle, paths
    from ml_core.generation import resolve_device
    from ml_core.models import count_parameters
    from ml_core.models.presets import get_preset
    from ml_core.models.stepping import make_stepper
    from ml_core.music import Note, Score, Track
    from ml_core.tokenizers import get_tokenizer

    if arguments.model:
        loaded = bundle.load(bundle.resolve(arguments.model))
        model, tokenizer = loaded.model, loaded.tokenizer
    else:
        preset = get_preset(arguments.preset)
        tokenizer = get_tokenizer(preset.tokenizer, **preset.tokenizer_config)
        model = preset.build(vocab_size=tokenizer.vocab_size).eval()
    parameters = count_parameters(model)
    bundle.save(paths.user_models_dir() / "bench", model, tokenizer.to_dict(), name="bench")

    errors: list[str] = []
    continue_panel.show_error = lambda parent, text: errors.append(text)
    document = Document()
    steps = (0, 2, 4, 5, 7, 5, 4, 2)
    document.load_score(Score([Track("Piano", 0, False,
                                     [Note(60 + steps[i % 8], i * 240, 240) for i in range(16)])]))
    panel = ContinuePanel(document)
    panel.show()
    panel.model_panel.select("bench")
    panel.model_panel.set_device(arguments.device)
    panel.sampling_panel.bars.setValue(arguments.bars)
    panel.sampling_panel.seed_lock.setChecked(True)
    panel.sampling_panel.seed.setValue(arguments.seed)

    def wait_until(condition, timeout_s: float) -> bool:
        deadline = time.perf_counter() + timeout_s
        while not condition() and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.002)
        return condition()

    loaded: list[str] = []
    panel.worker.loaded.connect(loaded.append)
    panel.preload()
    if not wait_until(lambda: loaded or errors, 300):
        raise SystemExit("error: the bundle did not load in 5 minutes")
    # Warm-up: the first generation pays one-off costs (lazy imports, allocator) that the
    # musician pays once per session, not per Continue.
    panel.sampling_panel.bars.setValue(1)
    panel.continue_()
    wait_until(lambda: not panel.is_running(), 300)
    document.undo_stack.undo()
    panel.sampling_panel.bars.setValue(arguments.bars)

    ticks: list[float] = []
    timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TIMER_INTERVAL_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    first_note: list[float] = []

    def on_preview() -> None:
        if not first_note and document.preview():
            first_note.append(time.perf_counter())

    document.preview_changed.connect(on_preview)
    timer.start()
    wait_until(lambda: len(ticks) >= 20, 5)  # the timer runs steadily before the click
    clicked = time.perf_counter()
    ticks.append(clicked)
    panel.continue_button.click()
    finished = wait_until(lambda: not panel.is_running(), 600)
    ended = time.perf_counter()
    ticks.append(ended)
    timer.stop()
    result = panel.result()
    panel.shutdown()

    if errors or not finished or result is None:
        raise SystemExit(f"error: generation failed: {errors or 'timed out'}")
    measured = [t for t in ticks if t >= clicked]
    gaps_ms = [(b - a) * 1000 for a, b in zip(measured, measured[1:], strict=False)]
    stalls = sorted(max(0.0, gap - TIMER_INTERVAL_MS) for gap in gaps_ms)
    report = {
        "max_stall_ms": round(stalls[-1], 1) if stalls else 0.0,
        "p99_stall_ms": round(stalls[int(0.99 * (len(stalls) - 1))], 1) if stalls else 0.0,
        "first_note_ms": round((first_note[0] - clicked) * 1000, 1) if first_note else None,
        "tokens": result.tokens_generated,
        "notes": len(result.new_notes[0]),
        "seconds": round(ended - clicked, 2),
        "tokens_per_s": round(result.tokens_generated / max(ended - clicked, 1e-9), 1),
        "model": arguments.model or f"preset {arguments.preset}",
        "parameters": parameters,
        "engine": make_stepper(model, resolve_device(arguments.device)).engine,
        "device": result.device,
        "bars": arguments.bars,
    }
    scratch.cleanup()
    print(json.dumps(report))


if __name__ == "__main__":
    main()

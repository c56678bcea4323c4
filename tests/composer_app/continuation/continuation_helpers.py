"""Helpers of the Continue panel tests, in a module of its own name (a test importing from
`conftest` got whichever folder's conftest was loaded first). A tiny REMI model trained
(with `ml_core.training`) with attribute controls and the bar-infilling objective, on
synthetic pieces whose bars alternate between a single line of eighths and three-note chords
on quarters: enough for it to learn what Texture means."""

from __future__ import annotations

import random

BAR = 1920
LINE = (0, 2, 4, 5, 7, 5, 4, 2)


def line_bar(bar: int, base: int):
    from ml_core.music import Note

    return [Note(base + LINE[i], bar * BAR + i * 240, 240, 80) for i in range(8)]


def chord_bar(bar: int, base: int):
    from ml_core.music import Note

    return [Note(pitch, bar * BAR + beat * 480, 480, 70)
            for beat in range(4) for pitch in (base - 12, base - 8, base - 5)]


def synthetic_piece(seed: int, bars: int = 8):
    from ml_core.music import Score, Track

    chooser = random.Random(seed)
    notes = []
    for bar in range(bars):
        base = 60 + chooser.choice((0, 2, 4, 5, 7))
        notes += line_bar(bar, base) if (bar + seed) % 2 == 0 else chord_bar(bar, base)
    return Score([Track("Piano", 0, False, notes)], 120.0)


def train_steerable_bundle(root, steps: int = 160):
    """Six synthetic MIDI files -> a REMI dataset (controls and infilling tokens on) -> a
    one-layer Transformer trained `steps` steps with infill_rate 0.3, validated once at the
    end (measured 40-90 s on the 2-core dev machine while other jobs shared it);
    the bundle's folder (under `root`). docs/screenshot_fill.py uses it too."""
    import torch

    from ml_core.data import PrepareOptions, prepare_dataset
    from ml_core.midi_io import write_midi
    from ml_core.training import TrainOptions, train

    (root / "midi").mkdir(parents=True, exist_ok=True)
    for seed in range(6):
        write_midi(synthetic_piece(seed), root / "midi" / f"piece{seed}.mid")
    prepare_dataset([str(root / "midi")], root / "data",
                    PrepareOptions("remi", {"use_velocity": False}, val_fraction=0.2, workers=1))
    threads = torch.get_num_threads()
    try:
        result = train(TrainOptions(
            data=root / "data", out=str(root / "steerable"), arch="transformer",
            hparams={"d_model": 32, "num_layers": 1, "num_heads": 2, "ff_size": 64},
            window=64, batch_size=8, max_steps=steps, epochs=1, epoch_fraction=100.0, lr=8e-3,
            optimizer="adam",
            device="cpu", precision="fp32", compile="off", infill_rate=0.3,
            checkpoint_every=1000, log_every=50, max_val_windows=8,
            description="steerable test model"),
            log=lambda _message: None)
    finally:
        torch.set_num_threads(threads)
    return result.bundle_path


def make_panel(qtbot, score, model: str, seed: int = 7):
    """A Continue panel over `score` with the model named `model` chosen, `seed` locked (the
    same continuation every run)."""
    from composer_app.canvas.canvas import PianoRollCanvas
    from composer_app.continuation.panel import ContinuePanel
    from composer_app.document.document import Document

    document = Document()
    document.load_score(score)
    canvas = PianoRollCanvas(document)
    widget = ContinuePanel(document, canvas.timeline, canvas.selection)
    widget._test_keep = (document, canvas)  # keep them alive with the panel (tests read the canvas)
    qtbot.addWidget(widget)
    qtbot.addWidget(canvas)
    widget.show()
    assert widget.model_panel.select(model)
    widget.worker.interval_s = 0.0
    widget.sampling_panel.seed.setValue(seed)
    widget.sampling_panel.seed_lock.setChecked(True)
    return widget

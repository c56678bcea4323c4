"""bench/val_nll.py: several bundles on the same validation windows, per collection group."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ml_core import bundle
from ml_core.data import Augmentation, PrepareOptions, prepare_dataset
from ml_core.midi_io import write_midi
from ml_core.models import build_model
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import from_dict

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_val_nll_scores_every_model_on_the_same_groups(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    for folder, count in (("tunes", 10), ("pop", 10)):
        (tmp_path / folder).mkdir()
        for index in range(count):
            notes = [Note(int(rng.integers(55, 80)), i * 240, 240) for i in range(60)]
            write_midi(Score([Track("", 0, False, notes)]), tmp_path / folder / f"{index}.mid")
    data = tmp_path / "data"
    prepare_dataset([str(tmp_path / "tunes"), str(tmp_path / "pop")], data,
                    PrepareOptions("remi", val_fraction=0.2, augmentation=Augmentation()))
    description = json.loads((data / "manifest.json").read_text())["tokenizer"]
    vocab = from_dict(description).vocab_size
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model("transformer", vocab_size=vocab, d_model=16, num_layers=1, num_heads=2,
                            ff_size=32, context=64).eval()
        models.append(str(bundle.save(tmp_path / f"m{seed}", model, description, name=f"m{seed}")))
    from bench import val_nll as script

    assert script.main(["--data", str(data), "--models", *models, "--group", "pop=pop",
                        "--window", "32", "--max-windows", "8"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["windows"] == {"pop": 8, "rest": 8}
    figures = [report["models"][name] for name in models]
    for groups in figures:
        assert set(groups) == {"pop", "rest"}
        assert all(math.isfinite(v) and v > 0 for v in groups.values())
    assert figures[0] != figures[1]          # two different models, two different scores
    torch.manual_seed(0)
    other = build_model("transformer", vocab_size=vocab + 3, d_model=16, num_layers=1, num_heads=2,
                        ff_size=32, context=64)
    mismatched = bundle.save(tmp_path / "other", other, {**description}, name="other")
    assert script.main(["--data", str(data), "--models", str(mismatched)]) == 2

"""`composer-train train --infill-rate` and `generate --fill-bars / --texture / --density /
--register`, end to end with a tiny model trained on the bundled examples."""

from __future__ import annotations

import json
from pathlib import Path

from ml_core import bundle
from ml_core.midi_io import read_midi, read_score
from ml_core.music import bar_ticks
from training_cli.__main__ import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--hparam", "embedding_dim=16", "--hparam", "hidden_size=32", "--hparam", "num_layers=1",
        "--hparam", "fc_sizes=[32]"]


def test_train_with_infilling_then_fill_and_steer_controls(tmp_path, capsys):
    data = tmp_path / "examples"
    assert main(["prepare", str(REPO / "resources" / "examples"), "--tokenizer", "remi",
                 "--val-fraction", "0.2", "--out", str(data), "--workers", "1"]) == 0
    model = tmp_path / "tiny-fill"
    assert main(["train", "--data", str(data), "--model", "lstm", *TINY, "--out", str(model),
                 "--window", "64", "--batch-size", "4", "--max-steps", "12",
                 "--epoch-fraction", "0.5",
                 "--device", "cpu", "--infill-rate", "0.5"]) == 0
    config = bundle.load(model, "cpu").config
    assert config["training"]["objectives"]["infill_rate"] == 0.5
    assert (config["tokenizer"]["config"]["use_controls"]
            and config["tokenizer"]["config"]["use_infill"])
    capsys.readouterr()

    prompt_path = REPO / "resources" / "examples" / "c_major_4-4.mid"
    prompt = read_score(prompt_path)
    out = tmp_path / "filled.mid"
    assert main(["generate", "--prompt", str(prompt_path), "--model", str(model), "--out", str(out),
                 "--fill-bars", "2:4", "--seed", "3", "--texture", "1", "--density", "2",
                 "--register", "C5", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == [str(out)]
    filled = read_score(out)
    bar = filled.bar_start(1)
    span = range(prompt.bar_start(1), prompt.bar_start(3))   # bars 2 and 3, 1-based
    assert bar == span.start
    outside = sorted((n.pitch, n.start, n.duration, n.velocity) for n in prompt.notes()
                     if n.start not in span)
    assert sorted((n.pitch, n.start, n.duration, n.velocity) for n in filled.notes()
                  if n.start not in span) == outside

    continued = tmp_path / "continued.mid"
    assert main(["generate", "--prompt", str(prompt_path), "--model", str(model), "--out",
                 str(continued),
                 "--bars", "2", "--seed", "1", "--texture", "auto", "--register", "any", "--device",
                 "cpu"]) == 0
    assert read_score(continued).note_count > prompt.note_count


def test_fill_and_control_flags_refuse_clearly(tmp_path, capsys):
    prompt = REPO / "resources" / "examples" / "c_major_4-4.mid"
    out = tmp_path / "x.mid"
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--fill-bars", "3:2"]) == 2
    assert "--fill-bars expects A:B" in capsys.readouterr().err
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--texture", "thick"]) == 2
    assert "--texture expects" in capsys.readouterr().err
    # The chorale model learned no infilling: a clear refusal, no traceback.
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--fill-bars", "1:2",
                 "--model", "bach-chorales", "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert (error.startswith("error:") and "not trained to fill" in error
            and "Traceback" not in error)
    assert not out.exists()
    # The bundled default did: bar 1 is rewritten, bar 2 on is the prompt's.
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--fill-bars", "1:2",
                 "--device", "cpu", "--seed", "0"]) == 0
    original, filled = read_midi(prompt), read_midi(out)

    def after_bar_one(score):  # (pitch, start, duration) in quarters, from bar 2 on
        quarter = score.ticks_per_quarter
        bar = bar_ticks(score.time_signature, quarter)
        return sorted((n.pitch, n.start / quarter, n.duration / quarter)
                      for t in score.tracks for n in t.notes if n.start >= bar)

    assert after_bar_one(original) and after_bar_one(filled) == after_bar_one(original)

"""The whole CLI path on real corpus music: prepare, train in a subprocess, kill it with
SIGKILL after its first checkpoint, resume, evaluate, generate, load the bundle."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ml_core import bundle
from ml_core.checkpoint import CHECKPOINT_JSON, run_folder
from ml_core.midi_io import read_score, write_midi
from ml_core.music import Note, Score, Track
from ml_core.paths import user_models_dir
from training_cli.__main__ import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--hparam", "embedding_dim=16", "--hparam", "hidden_size=32", "--hparam", "num_layers=1",
        "--hparam", "fc_sizes=[32]"]


def _train_command(data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "training_cli", "train", "--data", str(data), "--model", "lstm",
            *TINY, "--out", "tiny-bach", "--window", "32", "--batch-size", "4", "--max-steps", "60",
            "--checkpoint-every", "5", "--epoch-fraction", "0.1", "--lr", "0.003",
            "--device", "cpu",
            *extra]


def _checkpoint_step(folder: Path) -> int | None:
    try:
        return json.loads((folder / CHECKPOINT_JSON).read_text())["state"]["step"]
    except (OSError, ValueError, KeyError):
        return None


def test_prepare_train_kill_resume_evaluate_generate(tmp_path, capsys):
    data = tmp_path / "bach"
    assert main(["prepare", "music21:bach", "--limit", "4", "--tokenizer", "remi",
                 "--val-fraction", "0.25", "--out", str(data), "--workers", "2"]) == 0
    assert "train 3 files" in capsys.readouterr().out
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    # ---- train, and kill the process as soon as its first checkpoint is on disk
    runs = run_folder(user_models_dir() / "tiny-bach")
    process = subprocess.Popen(_train_command(data), cwd=REPO, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while _checkpoint_step(runs) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, errors = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, errors
    killed_at = _checkpoint_step(runs)
    assert killed_at is not None and 0 < killed_at < 60

    # ---- resume: continues from the checkpoint step, not from 0, and finishes
    finished = subprocess.run(_train_command(data, "--resume"), cwd=REPO, env=environment,
                              capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr
    assert f"resuming from step {killed_at}" in finished.stdout
    assert _checkpoint_step(runs) == 60
    folder = user_models_dir() / "tiny-bach"
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["type"] == "step"]
    assert steps == sorted(set(steps)) and steps[-1] == 60    # nothing logged twice

    # ---- the bundle loads and is listed
    loaded = bundle.load(folder, "cpu")
    assert loaded.arch == "lstm" and loaded.config["metrics"]["steps"] >= killed_at
    assert main(["models", "--json"]) == 0
    assert "tiny-bach" in [row["name"] for row in json.loads(capsys.readouterr().out)]

    # ---- evaluate
    assert main(["evaluate", "tiny-bach", "--data", str(data), "--json", "--samples", "2",
                 "--sample-tokens", "24", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nll"] > 0 and report["perplexity"] > 1
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    assert report["grammar_errors_per_100_masked"] == 0

    # ---- generate from a MIDI prompt: the prompt unchanged, then more notes
    prompt_notes = [Note(p, i * 480, 480, 80)
                    for i, p in enumerate([60, 64, 67, 72, 71, 67, 64, 62])]
    write_midi(Score([Track("piano", 0, False, prompt_notes)]), tmp_path / "prompt.mid")
    assert main(["generate", "--prompt", str(tmp_path / "prompt.mid"), "--bars", "2", "--out",
                 str(tmp_path / "out.mid"), "--model", "tiny-bach", "--seed", "3", "--json",
                 "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tokens"] > 0 and summary["tokens_per_s"] > 0
    result = read_score(tmp_path / "out.mid")
    notes = sorted(n for t in result.tracks for n in t.notes)
    # the prompt is unchanged (the model may add a chord tone at its last onset, no earlier)
    last_onset = prompt_notes[-1].start
    assert [n for n in notes if n.start < last_onset] == sorted(prompt_notes[:-1])
    assert len(notes) > len(prompt_notes)
    assert not Counter(prompt_notes) - Counter(notes)

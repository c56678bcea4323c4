"""DistributedDataParallel on two CPU processes (gloo) through torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from ml_core import bundle
from ml_core.checkpoint import run_folder
from ml_core.data import PrepareOptions, prepare_dataset
from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track

REPO = Path(__file__).resolve().parents[2]


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(5)
    for index in range(4):
        notes = [Note(int(p), i * 240, 240) for i, p in enumerate(rng.integers(55, 80, 64))]
        write_midi(Score([Track("piano", 0, False, notes)]), root / f"song{index}.mid")
    prepare_dataset([str(root)], root / "data", PrepareOptions("remi", val_fraction=0.25))
    return root / "data"


def test_two_cpu_ranks_train_one_normal_bundle(tmp_path):
    data = _dataset(tmp_path)
    out = tmp_path / "models" / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2",
               "-m", "training_cli", "train", "--data", str(data), "--model", "lstm",
               "--hparam", "embedding_dim=16", "--hparam", "hidden_size=32", "--hparam",
               "num_layers=1",
               "--hparam", "fc_sizes=[32]", "--out", str(out), "--window", "16",
               "--batch-size", "4",
               "--max-steps", "6", "--checkpoint-every", "3", "--epoch-fraction", "0.2",
               "--device", "cpu"]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True,
                              timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count("saved the best model") == 1          # rank 0 alone reports

    loaded = bundle.load(out, "cpu")
    assert loaded.arch == "lstm"
    assert loaded.config["training"]["world_size"] == 2
    metrics = loaded.config["metrics"]
    assert metrics["steps"] == 6 and metrics["test_nll"] > 0
    # both ranks' windows count: 6 steps x 2 ranks x batch 4 x 16 targets (no piece is shorter)
    assert metrics["tokens_seen"] == 6 * 2 * 4 * 16
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in records if r["type"] == "epoch" and r["step"] == 6]) == 1   # one writer
    state = json.loads((run_folder(out) / "checkpoint.json").read_text())["state"]
    assert state["step"] == 6

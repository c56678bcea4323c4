"""The CLI side of collections and file budgets: prepare reports collections, train checks
--balance / --balance-weights against the dataset, a zip bomb is one error line."""

import io
import zipfile

import numpy as np

from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track
from training_cli.__main__ import main


def _tune(path, seed):
    rng = np.random.default_rng(seed)
    notes = [Note(int(p), i * 240, 240) for i, p in enumerate(rng.integers(60, 72, 64))]
    write_midi(Score([Track("piano", 0, False, notes)]), path)


def _one_error_line(capsys, argv) -> str:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_prepare_reports_collections_and_train_checks_balance_options(tmp_path, capsys):
    for name, seeds in (("folk", (1, 2)), ("chorales", (3, 4, 5))):
        (tmp_path / name).mkdir()
        for seed in seeds:
            _tune(tmp_path / name / f"{seed}.mid", seed)
    data = tmp_path / "data"
    assert main(["prepare", str(tmp_path / "folk"), str(tmp_path / "chorales"),
                 "--tokenizer", "remi",
                 "--out", str(data), "--workers", "1", "--val-fraction", "0"]) == 0
    out = capsys.readouterr().out
    assert "collections (train): chorales 3 pieces" in out and "folk 2 pieces" in out
    model = tmp_path / "models" / "m"
    line = _one_error_line(capsys, ["train", "--data", data, "--model", "lstm", "--out", model,
                                    "--balance-weights", "jazz=2"])
    assert line == "error: the dataset has no collection jazz (it has chorales, folk)"
    line = _one_error_line(capsys, ["train", "--data", data, "--model", "lstm", "--out", model,
                                    "--balance-weights", "folk"])
    assert "name=weight" in line


def test_generate_refuses_a_zip_bomb_prompt_in_one_line(tmp_path, capsys):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("score.xml", "w", force_zip64=True) as member:
            for _ in range(60):
                member.write(bytes(2**20))
    (tmp_path / "bomb.mxl").write_bytes(buffer.getvalue())
    line = _one_error_line(capsys, ["generate", "--prompt", tmp_path / "bomb.mxl",
                                    "--out", tmp_path / "o.mid"])
    assert line == "error: bomb.mxl: the compressed score expands to more than 50 MB"
    assert not (tmp_path / "o.mid").exists()

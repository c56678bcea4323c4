"""Every subcommand answers bad input with exit code 2 and ONE `error: ...` line."""

import json

import numpy as np
import pytest

from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track
from training_cli.__main__ import main


def _assert_user_error(capsys, argv, expected_text):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert expected_text.lower() in lines[0].lower(), lines[0]


@pytest.fixture()
def places(tmp_path):
    """An empty folder, a folder of non-music, a corrupt MIDI, a good prompt, a tiny dataset."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("no music here")
    (tmp_path / "corrupt").mkdir()
    corrupt = tmp_path / "corrupt" / "bad.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff\xff")
    rng = np.random.default_rng(0)
    notes = [Note(int(p), i * 240, 240) for i, p in enumerate(rng.integers(60, 72, 32))]
    write_midi(Score([Track("piano", 0, False, notes)]), tmp_path / "prompt.mid")
    return tmp_path


@pytest.fixture()
def dataset(places, capsys):
    assert main(["prepare", str(places / "prompt.mid"), "--tokenizer", "remi",
                 "--out", str(places / "data"), "--workers", "1"]) == 0
    capsys.readouterr()
    return places / "data"


def test_prepare_errors(places, capsys):
    out = places / "out"
    _assert_user_error(capsys,
                       ["prepare", places / "missing.mid", "--tokenizer", "remi", "--out", out],
                       "no such file")
    _assert_user_error(capsys, ["prepare", places / "empty", "--tokenizer", "remi", "--out", out],
                       "no music files")
    _assert_user_error(capsys, ["prepare", places / "text", "--tokenizer", "remi", "--out", out],
                       "no music files")
    _assert_user_error(capsys, ["prepare", places / "corrupt", "--tokenizer", "remi", "--out", out,
                                "--workers", "1"], "none of the 1 file")
    _assert_user_error(capsys,
                       ["prepare", places / "prompt.mid", "--tokenizer", "nonsense", "--out", out],
                       "unknown tokenizer 'nonsense'")
    _assert_user_error(capsys,
                       ["prepare", places / "prompt.mid", "--tokenizer", "remi", "--out", out,
                                "--opt", "colour=blue"], "remi")
    _assert_user_error(capsys,
                       ["prepare", places / "prompt.mid", "--tokenizer", "remi", "--out", out,
                                "--opt", "novalue"], "key=value")
    _assert_user_error(capsys, ["prepare", "music21:nobody-by-this-name", "--tokenizer", "remi",
                                "--out", out], "no pieces")
    assert not (out / "manifest.json").exists()


def test_train_errors(places, dataset, capsys):
    out = places / "models" / "m"
    _assert_user_error(capsys,
                       ["train", "--data", places / "nowhere", "--model", "lstm", "--out", out],
                       "no such dataset")
    _assert_user_error(capsys,
                       ["train", "--data", places / "empty", "--model", "lstm", "--out", out],
                       "not a prepared dataset")
    _assert_user_error(capsys,
                       ["train", "--data", dataset, "--model", "no_such_arch", "--out", out],
                       "unknown model architecture")
    _assert_user_error(capsys,
                       ["train", "--data", dataset, "--preset", "no-such-preset", "--out", out],
                       "unknown preset")
    _assert_user_error(capsys,
                       ["train", "--data", dataset, "--model", "lstm", "--hparam", "wings=2",
                                "--out", out], "unknown hyper-parameter")
    _assert_user_error(capsys, ["train", "--data", dataset, "--out", out],
                       "--model ARCH, --preset NAME or --init-from")
    _assert_user_error(capsys,
                       ["train", "--data", dataset, "--init-from", "no-such-bundle", "--out", out],
                       "no model named 'no-such-bundle'")
    _assert_user_error(capsys, ["train", "--data", dataset, "--init-from", "default", "--hparam",
                                "d_model=128",
                                "--out", out], "d_model differs")
    _assert_user_error(capsys,
                       ["train", "--data", dataset, "--model", "lstm", "--out", out, "--resume"],
                       "no checkpoint")
    _assert_user_error(capsys, ["train", "--data", dataset, "--model", "lstm", "--out", out,
                                "--max-steps", "0"], "max-steps")
    _assert_user_error(capsys,
                       ["train", "--data", dataset, "--model", "lstm", "--out", places / "text"],
                       "is not a model bundle")
    assert (places / "text" / "readme.txt").read_text() == "no music here"


def test_evaluate_errors(places, dataset, capsys):
    _assert_user_error(capsys, ["evaluate", "no-such-model", "--data", dataset], "no-such-model")
    _assert_user_error(capsys, ["evaluate", places / "empty", "--data", dataset], "")
    _assert_user_error(capsys, ["evaluate", "default", "--data", places / "empty"],
                       "not a prepared dataset")
    _assert_user_error(capsys, ["evaluate", "default", "--data", places / "missing"],
                       "no such dataset")


def test_generate_errors(places, capsys):
    out = places / "out.mid"
    _assert_user_error(capsys, ["generate", "--prompt", places / "missing.mid", "--out", out],
                       "missing.mid")
    bad = places / "corrupt" / "bad.mid"
    _assert_user_error(capsys, ["generate", "--prompt", bad, "--out", out], "bad.mid")
    _assert_user_error(capsys, ["generate", "--prompt", places / "prompt.mid", "--out", out,
                                "--model", "no-such-model"], "no-such-model")
    _assert_user_error(capsys, ["generate", "--prompt", places / "prompt.mid", "--out", out,
                                "--key", "H major"], "cannot read key")
    _assert_user_error(capsys, ["generate", "--prompt", places / "prompt.mid", "--out",
                                places / "no" / "dir" / "out.mid"], "does not exist")
    _assert_user_error(capsys, ["generate", "--prompt", places / "prompt.mid", "--out", out,
                                "--variations", "0"], "variations")
    assert not out.exists()


def test_models_lists_bundles_as_json(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    for row in rows:
        assert {"name", "arch", "parameters", "tokenizer", "test_nll", "location"} <= set(row)


def test_argument_parsing_helpers():
    from training_cli.commands import output_paths, parse_assignments, parse_key

    assert parse_assignments(["beat_resolution=8", "name=x", "sizes=[1,2]", "flag=true"],
                             "--opt") == {
        "beat_resolution": 8, "name": "x", "sizes": [1, 2], "flag": True}
    assert parse_key("D minor") == (2, "minor")
    assert parse_key("F# major") == (6, "major")
    assert parse_key("Bb") == (10, "major")
    assert [p.name for p in output_paths(__import__("pathlib").Path("out.mid"), 3)] == [
        "out-1.mid", "out-2.mid", "out-3.mid"]

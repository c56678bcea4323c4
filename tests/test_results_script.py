"""Fast checks of bench/results.py's helpers (the full run trains models and is not a test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml_core.music import Note, Score, Track

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "results.py"


@pytest.fixture(scope="module")
def results(load_script):
    return load_script(SCRIPT, "bench_results")


def _report(nll: float, **extra) -> dict:
    base = {"kind": "token", "nll": nll, "accuracy": 0.5, "macro_f1": 0.1,
            "grammar_errors_per_100_unmasked": 12.5, "grammar_errors_per_100_masked": 0.0,
            "prompt_in_scale_ratio": 0.9, "tokens_per_s": 1234.0, "parameters": 4_426_457}
    return {**base, **extra}


def _entry(key: str, report: dict) -> dict:
    return {"key": key, "preset": key, "tokenizer": "bar_offset", "reproduces": "paper",
            "training": {"seconds": 150.2, "steps": 1200, "epochs": 3, "best_val_nll": report["nll"]},
            "report": report}


def test_number_and_table_formatting(results):
    assert results.number(None) == "–"
    assert results.number(float("nan")) == "–"
    assert results.number(4_426_457) == "4,426,457"
    assert results.number(1.23456) == "1.235"
    assert results.number(0.5, 1) == "0.5"
    table = results.markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]).splitlines()
    assert table == ["| a | b |", "|---|---|", "| 1 | 2 |", "| 3 | 4 |"]


def test_model_rows_show_metrics_and_failures(results):
    rows = results.model_rows([
        _entry("lstm-symbolic", _report(2.0)),
        {"key": "rnn", "preset": "rnn", "tokenizer": "bar_offset", "reproduces": "x", "error": "boom"},
        _entry("gru-seq2seq", {"kind": "frame", "nll": 0.1, "prompt_in_scale_ratio": None,
                               "tokens_per_s": 50.0, "parameters": 10}),
    ])
    assert rows[0][:6] == ["`lstm-symbolic`", "`lstm-symbolic`", "4,426,457", "bar_offset",
                           "150 s / 1,200 steps", "2.000"]
    assert rows[0][6:] == ["0.500", "12.5", "0.0", "0.90", "1234"]
    assert rows[1][4] == "failed: boom" and len(rows[1]) == len(rows[0])
    assert rows[2][5] == "0.100 (BCE)" and rows[2][6] == "–" and rows[2][9] == "–"


def test_comparison_follows_the_measured_ordering(results):
    agree = results.comparison_text([_entry("lstm-symbolic", _report(3.0)),
                                     _entry("transformer-symbolic", _report(2.5))], 50)
    assert "Transformer reaches the lower validation NLL (3.000 for the LSTM, 2.500" in agree[0]
    assert "agrees with the paper's ordering" in agree[0] and "50 training pieces" in agree[0]
    assert "every model makes none" in agree[1]
    opposite = results.comparison_text([_entry("lstm-symbolic", _report(2.0)),
                                        _entry("transformer-symbolic", _report(2.4, grammar_errors_per_100_masked=1.0))], 9)
    assert "LSTM reaches the lower" in opposite[0] and "opposite of the paper's ordering" in opposite[0]
    assert "some errors remain" in opposite[1]


def test_piano_roll_picture_has_both_colours(results, tmp_path):
    prompt = Score([Track("Prompt", 0, False, [Note(60 + i, i * 480, 480, 80) for i in range(8)])], 120.0, (4, 4))
    continuation = [Note(67, 3840 + i * 240, 240, 80) for i in range(8)]
    path = tmp_path / "roll.png"
    results.draw_piano_roll(prompt, continuation, path, "test")
    from matplotlib import image

    pixels = (image.imread(path)[..., :3] * 255).round().astype(int)
    assert pixels.shape == (320, 900, 3)
    for colour in (results.PROMPT_COLOUR, results.CONTINUATION_COLOUR):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=-1) <= 6).sum() > 200, colour
    assert not list(tmp_path.glob("*.tmp.png"))


def test_arguments_select_models_and_reproduce_flags(results):
    args = results.parse_arguments(["--budget-seconds", "5", "--data-limit", "6", "--models", "rnn,lstm-symbolic"])
    assert [run.key for run in args.runs] == ["rnn", "lstm-symbolic"]
    assert results.regeneration_flags(args) == ["--budget-seconds", "5", "--data-limit", "6",
                                                "--models", "rnn,lstm-symbolic"]
    assert results.budget_for(args.runs[0], 100.0, 0.3) == pytest.approx(30.0)
    assert results.budget_for(args.runs[1], 100.0, 0.3) == 100.0
    with pytest.raises(SystemExit, match="unknown model"):
        results.select_models("rnn,nope")

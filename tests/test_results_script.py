"""Fast checks of bench/results.py's helpers (the full run trains models and is not a test)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench import (
    results_findings,
    results_groups,
    results_measure,
    results_plan,
    results_plots,
    results_report,
    results_tables,
    results_text,
    results_train,
)
from ml_core.music import Note, Score, Track


@pytest.fixture(scope="module")
def results():
    from bench import results

    return results


def _report(nll: float, **extra) -> dict:
    base = {"kind": "token", "nll": nll, "accuracy": 0.5, "macro_f1": 0.1,
            "grammar_errors_per_100_unmasked": 12.5, "grammar_errors_per_100_masked": 0.0,
            "prompt_in_scale_ratio": 0.9, "tokens_per_s": 1234.0, "parameters": 4_426_457}
    return {**base, **extra}


def _entry(key: str, report: dict, group: str = "symbolic", **training) -> dict:
    return {"key": key, "preset": key, "tokenizer": "bar_offset", "reproduces": "paper",
            "group": group,
            "training": {"seconds": 150.2, "steps": 1200, "epochs": 3,
                         "best_val_nll": report["nll"],
                         "tokens_seen": 2_457_600, "tokens_per_s": 16_362.2, "best_step": 800,
                         "stopped": "time budget", **training},
            "report": report}


def test_number_and_table_formatting(results):
    assert results_tables.number(None) == "–"
    assert results_tables.number(float("nan")) == "–"
    assert results_tables.number(4_426_457) == "4,426,457"
    assert results_tables.number(1.23456) == "1.235"
    assert results_tables.number(0.5, 1) == "0.5"
    assert results_tables.number(9331.7, 0) == "9,332"
    assert (results_tables.duration_text(90.4) == "90 s"
            and results_tables.duration_text(5400) == "90 min")
    assert results_tables.duration_text(4 * 3600) == "4.0 h"
    table = results_tables.markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]).splitlines()
    assert table == ["| a | b |", "|---|---|", "| 1 | 2 |", "| 3 | 4 |"]


def test_model_rows_show_metrics_and_failures(results):
    rows = results_tables.model_rows([
        _entry("lstm-symbolic", _report(2.0)),
        {"key": "rnn", "preset": "rnn", "tokenizer": "bar_offset", "reproduces": "x",
         "error": "boom"},
        _entry("gru-seq2seq", {"kind": "frame", "nll": 0.1, "prompt_in_scale_ratio": None,
                               "tokens_per_s": 50.0, "parameters": 10}),
    ])
    assert len(rows[0]) == len(results_tables.MODEL_HEADER)
    assert rows[0][:10] == ["`lstm-symbolic`", "`lstm-symbolic`", "4,426,457",
                            "bar_offset", "1,200",
                            "2,457,600", "150 s", "time budget", "2.000 (800)", "2.000"]
    assert rows[0][10:] == ["0.500", "12.5", "0.0", "0.90", "16,362", "1,234"]
    assert rows[1][4] == "failed: boom" and len(rows[1]) == len(rows[0])
    assert rows[2][9] == "0.100 (BCE)" and rows[2][10] == "–" and rows[2][13] == "–"


def test_comparison_follows_the_measured_ordering(results):
    agree = results_report.comparison_text([_entry("lstm-symbolic", _report(3.0)),
                                     _entry("transformer-symbolic", _report(2.5))], 50)
    assert "Transformer reaches the lower validation NLL (3.000 for the LSTM, 2.500" in agree[0]
    assert "agrees with the paper's ordering" in agree[0] and "50 training pieces" in agree[0]
    assert "every model makes none" in agree[1]
    opposite = results_report.comparison_text([_entry("lstm-symbolic", _report(2.0)),
                                        _entry("transformer-symbolic",
                                               _report(2.4, grammar_errors_per_100_masked=1.0))], 9)
    assert ("LSTM reaches the lower" in opposite[0]
            and "opposite of the paper's ordering" in opposite[0])
    assert "Neither run reached early stopping" in opposite[0]
    assert "some errors remain" in opposite[1]
    converged = results_report.comparison_text([
        _entry("lstm-symbolic", _report(2.0), stopped="patience", min_steps=5000, steps=7000,
               best_step=5200),
        _entry("transformer-symbolic", _report(2.4), stopped="time cap", min_steps=5000, steps=9000,
               cap_hours=6.0)], 900)
    assert "trained to early stopping or past the step floor" in converged[0]
    assert "Tried so far: only the paper's recipes" in converged[0]
    assert "7,000 steps, stopped by patience (best at step 5,200)" in converged[0]
    assert "9,000 steps, stopped by the 6 h cap" in converged[0]
    pair = [_entry("lstm-symbolic", _report(2.0), stopped="patience", min_steps=5000, steps=7000,
                   best_step=5200),
            _entry("transformer-symbolic", _report(2.4), stopped="patience",
                   min_steps=5000, steps=6000)]
    tuned = [{**_entry("transformer-symbolic-lr3e-4", _report(2.1), "symbolic-tuning",
                       stopped="patience",
                       steps=4000, best_val_nll=2.1), "status": "finished, not measured"},
             {**_entry("transformer-symbolic-batch32", _report(1.9), "symbolic-tuning",
                       stopped="patience",
                       steps=3000, best_val_nll=1.9)}]
    del tuned[0]["report"]
    text = results_report.comparison_text(pair + tuned, 900)[0]
    assert "so those were tried (validation NLL during training; the LSTM's best 2.000)" in text
    assert "`transformer-symbolic-lr3e-4` best 2.100 (4,000 steps, stopped by patience" in text
    assert "With that setting the Transformer is the lower, as in the paper" in text
    stays = results_report.comparison_text(pair + tuned[:1], 900)[0]
    assert "The LSTM stays lower, so here the ordering differs from the paper's." in stays
    assert "Both of ours are above the paper's" in stays
    # both stopped by their caps: the ordering at equal tokens and how fast each was still learning
    lstm_curve = [{"step": s, "tokens_seen": s * 2000, "val_nll": v}
                  for s, v in ((1000, 1.0), (2000, 0.9), (3000, 0.8995))]
    transformer_curve = [{"step": s, "tokens_seen": s * 2000, "val_nll": v}
                         for s, v in ((500, 0.95), (1000, 0.85), (1500, 0.82))]
    capped = results_report.comparison_text([
        _entry("lstm-symbolic", _report(0.8995), stopped="time cap", cap_hours=10,
               min_steps=1000, steps=3000,
               curve=lstm_curve),
        _entry("transformer-symbolic", _report(0.82), stopped="time cap", cap_hours=10,
               min_steps=1000, steps=1500,
               curve=transformer_curve)], 9)[0]
    assert ("This agrees with the paper's ordering. At the same 3.0 M training tokens the "
            "Transformer was lower "
            "(0.950 LSTM, 0.820 Transformer: each one's best by then, interpolated between "
            "validations). "
            "At their caps the LSTM was still gaining 0.050 per epoch and the "
            "Transformer was still gaining 0.065 per epoch, over the last 2 validations of "
            "each.") in capped
    slow = {"stopped": "time cap", "curve": lstm_curve[1:]}
    assert (
        results_text._at_the_cap_text([("LSTM", slow)])
        == " At its cap the LSTM had all but stopped improving (less than 0.001 per epoch) over "
        "its last validation."
    )
    worse = {"stopped": "time cap",
             "curve": [*lstm_curve, {"step": 3100, "tokens_seen": 1, "val_nll": 0.95}]}
    assert results_text._at_the_cap_text([("LSTM", worse)], epochs=1) == \
        " At its cap the LSTM had not improved over its last validation."
    stale = {"stopped": "time cap", "curve": [{"val_nll": v} for v in (0.8, 0.85, 0.9, 0.95)]}
    assert results_text._at_the_cap_text([("LSTM", slow), ("Transformer", stale)]) == (
        " At their caps the LSTM had all but stopped improving (less than 0.001 per epoch) over "
        "its last "
        "validation and the Transformer had not improved over its last 3 validations.")
    assert results_text._at_the_cap_text([("LSTM", {**slow, "stopped": "patience"})]) == ""
    assert "the LSTM 3,000 steps, stopped by the 10 h cap, the Transformer 1,500 steps" in capped
    low = results_report.comparison_text([_entry("lstm-symbolic", _report(1.0)),
                                            _entry("transformer-symbolic", _report(1.3))], 9)[0]
    assert "One of ours is at or below the paper's figure" in low


def test_paragraphs_for_the_other_papers(results):
    def classes(note_f1: float) -> dict:
        return {"whole_pieces": {"bits_per_note": None, "classes": {
            "note": {"precision": note_f1, "recall": note_f1, "f1": note_f1},
            "duration": {"precision": 0.5, "recall": 0.5, "f1": 0.5}}}}

    def curve(*points: tuple[int, float]) -> list[dict]:
        return [{"step": t // 100, "tokens_seen": t, "val_nll": v} for t, v in points]

    # the Transformer, cut short, stops at 2 M tokens: the LSTMs are read there, between validations
    entries = [_entry("lstm-deepdive-simple", _report(1.50), "deep-dive",
                      curve=curve((1_000_000, 2.0), (3_000_000, 1.6), (5_000_000, 1.5))),
               _entry("lstm-deepdive-complex", _report(1.52), "deep-dive",
                      curve=curve((1_000_000, 1.9), (3_000_000, 1.7), (5_000_000, 1.52))),
               _entry("transformer-deepdive", _report(1.20), "deep-dive",
                      curve=curve((1_000_000, 2.2), (2_000_000, 1.2))),
               _entry("rnn", _report(1.9, **classes(0.2)), "sequential",
                      curve=curve((4_000_000, 1.9))),
               _entry("lstm-sequential", _report(1.8, **classes(0.3)), "sequential",
                      curve=curve((500_000, 2.2), (2_000_000, 2.0), (6_000_000, 1.8))),
               _entry("lstm-attention", _report(1.7, **classes(0.4)), "sequential")]
    for key, bits in (("transformer-symbolic", 3.2), ("transformer-remi", 2.9),
                      ("transformer-midi_like", 3.5)):
        entries.append(_entry(key, _report(1.0, whole_pieces={"bits_per_note": bits}),
                              "representation"))
    word_curve = [{"step": 80, "tokens_seen": 4000, "val_nll": 4.0},
                  {"step": 160, "tokens_seen": 8000, "val_nll": 3.0}]
    roll_curve = [{"step": 80, "tokens_seen": 4000, "val_nll": 0.10},
                  {"step": 160, "tokens_seen": 8000, "val_nll": 0.095}]
    entries += [_entry("bilstm-attention", _report(3.0, whole_pieces={"bits_per_note": 6.5}),
                       "making-music",
                       curve=word_curve, stopped="patience"),
                _entry("biaxial-lstm",
                       _report(0.095, kind="frame", density_predicted=0.1, density_real=1.9,
                                               whole_pieces={"bits_per_note": 9.25}),
                                               "making-music",
                       curve=roll_curve, stopped="time cap", cap_hours=3)]
    text = "\n".join(results_report.comparison_text(entries, 10))
    assert ("the word model (BiLSTM-attention) 6.50 bits per note, the bi-axial LSTM 9.25 bits per "
            "note. The word "
            "model predicts the held-out music better, which agrees with the report. From its "
            "first epoch to its "
            "best, the validation loss fell 25% for the word model (BiLSTM-attention) and 5% for "
            "the bi-axial LSTM."
            in text)
    assert "the bi-axial LSTM: 1,200 steps, stopped by the 3 h cap." in text
    assert ("within 5 % of each other, which agrees" in text
            and "The Transformer is the best, as the report" in text)
    assert ("LSTM with attention is best (which agrees with the report), and the LSTM with "
            "attention has" in text)
    near = [{**e, "report": _report(1.7, **classes(0.31))} if e["key"] == "lstm-attention" else e
            for e in entries]
    assert ("LSTM with attention is best (which agrees with the report), though only 0.005 ahead "
            "of the LSTM: "
            "too close to call" in "\n".join(results_report.comparison_text(near, 10)))
    assert "lower is better: remi 2.90, bar_offset 3.20, midi_like 3.50. remi wins." in text
    # a run trained far longer than the others (the pair's Transformer) does not win by its budget
    longer = [{**e, "training": {**e["training"], "seconds": 36000}}
              if e["key"] == "transformer-symbolic" else e
              for e in entries]
    assert ("midi_like 3.50. remi is lowest, but these runs trained for different times (remi 150 "
            "s, "
            "bar_offset 10.0 h, midi_like 150 s), so the verdict comes from equal training instead."
            in "\n".join(results_report.comparison_text(longer, 10)))
    two = ("\n".join(results_report.comparison_text([e for e in entries
                                                     if e["key"] != "lstm-attention"], 10)))
    assert ("the LSTM is best (the report's best, the LSTM with attention, is not measured "
            "yet)" in two)
    assert ("At the same 2.0 M training tokens the Transformer was lowest (1.800 simple LSTM, "
            "1.800 complex LSTM, "
            "1.200 Transformer: each one's best by then, interpolated between "
            "validations).") in text
    # one run without a learning curve, then one not yet validated by the shortest run's end: no
    # comparison at equal tokens for that paper; once all have a point there, there is
    assert text.count("At the same") == 1
    training = {entry["key"]: entry["training"] for entry in entries}
    training["lstm-attention"]["curve"] = curve((1_000_000, 1.7))
    assert "\n".join(results_report.comparison_text(entries, 10)).count("At the same") == 1
    training["rnn"]["curve"] = curve((500_000, 2.5), (4_000_000, 1.9))
    text = "\n".join(results_report.comparison_text(entries, 10))
    assert ("trained: plain RNN 1,200 steps, time budget, LSTM 1,200 steps, time budget, LSTM with "
            "attention 1,200 "
            "steps, time budget. At the same 1.0 M training tokens the LSTM with attention was "
            "lowest (2.414 plain "
            "RNN, 2.133 LSTM, 1.700 LSTM with attention: each one's best by then, interpolated "
            "between "
            "validations).") in text
    rows = results_tables.class_rows(entries)
    assert rows[2] == ["`lstm-attention`", "0.400", "0.400", "0.400", "0.500", "0.500", "0.500"]
    first = results_tables.representation_rows(entries)[0]
    assert first[0] == "`transformer-symbolic`" and first[-1] == "3.200"


def test_piano_roll_picture_has_both_colours(results, tmp_path):
    prompt = Score([Track("Prompt", 0, False, [Note(60 + i, i * 480, 480, 80) for i in range(8)])],
                   120.0, (4, 4))
    continuation = [Note(67, 3840 + i * 240, 240, 80) for i in range(8)]
    path = tmp_path / "roll.png"
    results_plots.draw_piano_roll(prompt, continuation, path, "test")
    from matplotlib import image

    pixels = (image.imread(path)[..., :3] * 255).round().astype(int)
    assert pixels.shape == (320, 900, 3)
    for colour in (results_groups.PROMPT_COLOUR, results_groups.CONTINUATION_COLOUR):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=-1) <= 6).sum() > 200, colour
    assert not list(tmp_path.glob("*.tmp.png"))
    # a page drawn later (--report-only) draws it again from the notes its entry keeps
    kept = _entry("rnn", _report(2.0), "sequential")
    kept["continuation"] = [[n.pitch, n.start, n.duration, n.velocity] for n in continuation]
    results.draw_continuations([kept, _entry("lstm-attention", _report(2.0), "sequential")], prompt,
                               tmp_path / "again")
    assert [p.name for p in (tmp_path / "again").iterdir()] == ["rnn.png"]
    assert (image.imread(tmp_path / "again" / "rnn.png")[..., :3] * 255).round().astype(
        int
    ).shape == (320, 900, 3)


def test_arguments_select_models_and_reproduce_flags(results):
    args = results.parse_arguments(["--budget-seconds", "5", "--data-limit", "6", "--models",
                                    "rnn,lstm-symbolic"])
    assert [run.key for run in args.runs] == ["rnn", "lstm-symbolic"]
    assert results.regeneration_flags(args) == ["--budget-seconds", "5", "--data-limit", "6",
                                                "--models", "rnn,lstm-symbolic"]
    assert results_plan.budget_for(args.runs[0], 100.0, 0.3) == pytest.approx(30.0)
    assert results_plan.budget_for(args.runs[1], 100.0, 0.3) == 100.0
    with pytest.raises(SystemExit, match="unknown model"):
        results_plan.select_models("rnn,nope")
    assert [run.key for run in results_plan.select_models("symbolic,rnn")] == [
        "lstm-symbolic",
        "transformer-symbolic",
        "rnn",
    ]
    assert not any(run.tuning for run in results_plan.select_models("all"))
    assert len(results_plan.select_models("all,symbolic-tuning")) == len(results.MODELS)
    tuning = results_plan.select_models("symbolic-tuning")
    assert [(run.key, dict(run.overrides)) for run in tuning] == [
        ("transformer-symbolic-lr3e-4", {"lr": 3e-4}),
        ("transformer-symbolic-batch32", {"batch_size": 32})]
    converge = results.parse_arguments(["--patience", "3", "--max-hours", "2",
                                        "--big-max-hours", "1",
                                        "--source", "music21:bach, music21:essenFolksong",
                                        "--data-limit", "0",
                                        "--models", "deep-dive"])
    assert converge.sources == ["music21:bach", "music21:essenFolksong"]
    assert results.regeneration_flags(converge)[:6] == ["--patience", "3", "--max-hours", "2",
                                                        "--big-max-hours", "1"]
    plans = {run.key: results.plan_for(run, converge) for run in converge.runs}
    assert (plans["transformer-deepdive"].seconds == 3600.0
            and plans["lstm-deepdive-simple"].seconds == 7200.0)
    assert plans["lstm-deepdive-complex"].seconds == 7200.0
    assert (plans["lstm-deepdive-simple"].epoch_fraction == 0.02
            and plans["lstm-deepdive-simple"].min_steps == 1000)
    pair = results.plan_for(results_plan.select_models("lstm-symbolic")[0], converge)
    assert pair.min_steps == 5000 and pair.epoch_fraction is None and pair.patience == 3
    assert pair.seconds == 7200.0
    longer = results.parse_arguments(["--patience", "3", "--max-hours", "2",
                                      "--pair-max-hours", "10"])
    assert results.plan_for(results_plan.select_models("transformer-symbolic")[0],
                            longer).seconds == 36000.0
    assert results.plan_for(results_plan.select_models("rnn")[0], longer).seconds == 7200.0
    assert results.plan_for(results_plan.select_models("rnn")[0], longer).val_windows == 256
    word = results.plan_for(results_plan.select_models("bilstm-attention")[0], longer)
    assert (word.epoch_fraction, word.val_windows, word.min_steps) == (0.05, 64, 1000)
    assert "--pair-max-hours" in results.regeneration_flags(longer)
    with pytest.raises(SystemExit):
        results.parse_arguments(["--patience", "3", "--pair-max-hours", "0"])


def test_a_per_model_cap_is_a_budget_stated_on_the_page_not_another_study(results):
    """--model-hours lowers one model's cap (what a session allows) without making the other
    models' recorded runs another experiment; the page names every run that had a lower
    cap, from the run's own record."""
    base = ["--patience", "3", "--max-hours", "3", "--pair-max-hours", "10", "--big-max-hours", "3"]
    capped = results.parse_arguments(base + ["--model-hours", "transformer-remi=0.5",
                                             "--model-hours", "transformer-deepdive=0.75"])
    assert capped.model_caps == {"transformer-remi": 0.5, "transformer-deepdive": 0.75}
    plans = {run.key: results.plan_for(run, capped) for run in capped.runs}
    assert (plans["transformer-remi"].seconds == 1800.0
            and plans["transformer-remi"].min_steps == 1000)
    assert plans["transformer-remi"].floor_before_cap
    # the representation runs validate four times per preset epoch, so a 1,000-step run has a curve
    assert (plans["transformer-remi"].epoch_fraction,
            plans["transformer-remi"].val_windows) == (0.005, 256)
    assert plans["transformer-symbolic"].epoch_fraction is None
    assert (plans["transformer-deepdive"].seconds == 2700.0
            and not plans["transformer-deepdive"].floor_before_cap)
    assert (plans["rnn"].seconds == 3 * 3600.0
            and plans["transformer-symbolic"].seconds == 10 * 3600.0)
    flags = results.regeneration_flags(capped)
    assert flags[-4:] == ["--model-hours", "transformer-remi=0.5", "--model-hours",
                          "transformer-deepdive=0.75"]
    assert results.study_flags(capped) == results.study_flags(results.parse_arguments(base))
    for bad in ("nobody=1", "rnn=0", "rnn", "rnn=soon", "rnn=nan"):
        with pytest.raises(SystemExit):
            results.parse_arguments(base + ["--model-hours", bad])
    settings = {"patience": 3, "max_hours": 3.0, "big_max_hours": 3.0, "pair_max_hours": 10.0,
                "pair_min_steps": 5000, "min_steps": 1000, "epoch_fraction": 0.02}
    entries = [_entry("transformer-symbolic", _report(0.6), cap_hours=10.0),
               {**_entry("transformer-remi", _report(0.7), "representation", cap_hours=0.5)},
               {**_entry("transformer-deepdive", _report(0.9), "deep-dive", cap_hours=0.75)},
               {**_entry("rnn", _report(0.7), "sequential", cap_hours=3.0)}]
    page = results_report.render_markdown(
        entries,
        {"source": "s", "limit": 0, "seed": 0, "val_fraction": 0.1, "train_files": 3, "rows": []},
        "cmd", "piece.mid", {"date": "d", "machine": "m", "torch": "t", "threads": 1}, settings)
    assert ("These runs had a lower cap, what one session of a 2-core machine allowed: "
            "`transformer-remi` "
            "0.5 h past its step floor, `transformer-deepdive` 0.75 h;") in page
    assert "`rnn` 3" not in page and "`transformer-symbolic` 10" not in page
    uncapped = results_report.render_markdown(
        entries[:1] + entries[3:],
        {"source": "s", "limit": 0, "seed": 0, "val_fraction": 0.1, "train_files": 3,
                                    "rows": []}, "cmd", "piece.mid",
        {"date": "d", "machine": "m", "torch": "t", "threads": 1}, settings)
    assert "lower cap" not in uncapped


def test_token_classes_and_macro_scores(results):
    assert [results_measure.token_class(n)
            for n in ("n60", "d4", "xxbos", "Pitch_60", "Duration_4", "BOS", "Offset_3")] \
        == ["note", "duration", "special", "note", "duration", "special", "offset"]
    true = np.array([0, 4, 2, 0, 5])
    predicted = np.array([1, 2, 4, 0, 5])
    hits = np.array([0, 2, 2, 0, 4])
    scores = results_measure.class_scores(true, predicted, hits,
                                          ["special", "note", "note", "note", "duration"])
    # ids 1, 2 occur; id 3 does not
    assert scores["note"]["precision"] == pytest.approx((1.0 + 0.5) / 2)
    assert scores["note"]["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert (scores["note"]["f1"] == pytest.approx(0.75)
            and scores["duration"]["f1"] == pytest.approx(0.8))
    assert "special" not in scores


class _Uniform(torch.nn.Module):
    """Zero logits: every token (or key) equally likely."""

    def __init__(self, width: tuple[int, ...]) -> None:
        super().__init__()
        self.width = width

    def forward(self, inputs, state=None):
        shape = inputs.shape[:2] + self.width
        return torch.zeros(shape), None


def _dataset(manifest: dict, data: np.ndarray, lengths: list[int]):
    from ml_core.data import Dataset, Split

    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    split = Split(data, offsets)
    return Dataset(Path("."), manifest, split, split)


def test_bits_per_note_of_a_uniform_model_is_exact(results):
    from ml_core.data import describe_encoder
    from ml_core.tokenizers import get_tokenizer

    tokenizer = get_tokenizer("bar_offset")
    pieces = [
        Score(
            [Track("A", 0, False, [Note(60 + i % 7, i * 240, 240, 80) for i in range(count)])],
            120.0,
            (4, 4),
        )
        for count in (9, 14)
    ]
    encoded = [np.asarray(tokenizer.encode(piece), np.int32) for piece in pieces]
    manifest = {
        "kind": "token",
        "tokenizer": describe_encoder("bar_offset", {}),
        "vocab_size": tokenizer.vocab_size,
        "pad_id": 0,
        "feature_shape": [],
    }
    dataset = _dataset(manifest, np.concatenate(encoded), [len(e) for e in encoded])
    scores = results_measure.validation_scores(_Uniform((tokenizer.vocab_size,)), dataset, window=7)
    targets = sum(len(e) - 1 for e in encoded)
    notes = sum(len(tokenizer.pitches_of(int(t))) for e in encoded for t in e[1:])
    assert notes == 23 and scores["tokens"] == targets and scores["notes"] == notes
    assert scores["bits_per_note"] == pytest.approx(targets * np.log2(tokenizer.vocab_size) / notes)
    assert scores["nats_per_token"] == pytest.approx(np.log(tokenizer.vocab_size))
    assert set(scores["classes"]) >= {"note", "duration"}
    assert (results_measure.validation_scores(_Uniform((tokenizer.vocab_size,)), dataset, 7,
                                              max_pieces=1)["pieces"] == 1)


def test_bits_per_note_of_frames_where_notes_are_marked(results):
    frames = np.zeros((12, 4, 2), np.float32)
    frames[[0, 4, 8], 1, :] = 1.0       # three notes struck on key 1, each held 2 steps
    frames[[1, 5, 9], 1, 0] = 1.0
    manifest = {"kind": "frame", "tokenizer": {"name": "note_state", "config": {}},
                "feature_shape": [4, 2]}
    scores = results_measure.validation_scores(_Uniform((4, 2)),
                                               _dataset(manifest, frames, [12]), window=5)
    assert scores["notes"] == 2 and scores["frames"] == 11   # the first frame is never a target
    assert scores["bits_per_note"] == pytest.approx(11 * 4 * 2 / 2)   # BCE ln 2 per element
    roll = {"kind": "frame", "tokenizer": {"name": "pianoroll", "config": {}}, "feature_shape": [4]}
    flat = results_measure.validation_scores(_Uniform((4,)),
                                             _dataset(roll, frames[..., 0], [12]), window=5)
    assert flat["bits_per_note"] is None and "struck again" in flat["reason"]


class _FakeTrainer:
    """Stands in for ml_core.training.Trainer: a scripted validation NLL every 5 steps, a
    checkpoint.json and metrics.jsonl like the real one's, resume from the checkpoint."""

    VALUES = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8, 3.9, 4.0]

    def __init__(self, options, log=print) -> None:
        self.options = options
        self.run_dir = Path(options.out).parent / f".{Path(options.out).name}.training"
        self.state = SimpleNamespace(
            step=0,
            epoch=0,
            tokens_seen=0,
            best_val_nll=None,
            bad_epochs=0,
            wall_seconds=0.0,
            stopped_early=False,
        )
        if options.resume:
            saved = json.loads((self.run_dir / "checkpoint.json").read_text())["state"]
            self.state = SimpleNamespace(**saved)
        self.total_steps = options.max_steps or 10**6

    def _batches(self, first, last):
        for step in range(first, last):
            yield step, None

    def _end_epoch(self, losses, steps):
        state = self.state
        value = self.VALUES[state.epoch]
        state.epoch += 1
        improved = state.best_val_nll is None or value < state.best_val_nll
        state.best_val_nll = value if improved else state.best_val_nll
        state.bad_epochs = 0 if improved else state.bad_epochs + 1
        with open(self.run_dir / "metrics.jsonl", "a") as log:
            log.write(
                json.dumps(
                    {
                        "type": "epoch",
                        "step": state.step,
                        "tokens_seen": state.tokens_seen,
                        "val_nll": value,
                        "best": improved,
                    }
                )
                + "\n"
            )
        return state.bad_epochs >= self.options.patience

    def run(self):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.options.resume:
            (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)
        for step, _ in self._batches(self.state.step, self.total_steps):
            self.state.step, self.state.tokens_seen = step + 1, self.state.tokens_seen + 100
            self.state.wall_seconds += 0.5
            if (self.state.step % 5 == 0
                or self.state.step == self.total_steps) and self._end_epoch(0.0, 5):
                self.state.stopped_early = True
            if (self.state.step % 5 == 0 or self.state.stopped_early
                or self.state.step == self.total_steps):
                (self.run_dir / "checkpoint.json").write_text(json.dumps({"state":
                                                                          vars(self.state)}))
            if self.state.stopped_early:
                break


def test_patience_min_steps_and_resume_flow(results, tmp_path):
    run = results_plan.select_models("rnn")[0]
    bundle = tmp_path / "models" / "rnn"
    args = SimpleNamespace(resume=True, seed=0, threads=1, device="cpu", compile="off")
    said = []
    first = results.TrainPlan(seconds=1e9, max_steps=10, patience=2, min_steps=30)
    assert results.train_or_resume(run, tmp_path, bundle, first, args, said.append, _FakeTrainer)
    assert results.training_record(bundle, first)["stopped"] == "max steps"
    # the same run continued: patience would stop it at step 25, the floor keeps it to 30
    plan = results.TrainPlan(seconds=1e9, patience=2, min_steps=30)
    assert results.train_or_resume(run, tmp_path, bundle, plan, args, said.append, _FakeTrainer)
    assert any("resuming at step 10" in line for line in said)
    record = results.training_record(bundle, plan)
    assert (record["steps"], record["stopped"], record["best_step"],
            record["best_tokens"]) == (30, "patience", 15, 1500)
    assert [point["step"] for point in record["curve"]] == [5, 10, 15, 20, 25, 30]
    assert record["tokens_per_s"] == pytest.approx(200.0) and record["min_steps"] == 30
    assert not results.train_or_resume(run, tmp_path, bundle, plan, args, said.append, _FakeTrainer)
    assert "finished earlier (patience, step 30)" in said[-1]
    capped = results.TrainPlan(seconds=10.0, patience=2)
    assert (results.stop_reason(results.saved_state(bundle) | {"stopped_early": False},
                                capped) == "time cap")
    assert results.stop_reason(None, capped) is None


def test_the_time_cap_waits_for_the_step_floor_except_for_the_big_transformer(results, tmp_path):
    args = SimpleNamespace(resume=True, seed=0, threads=1, device="cpu", compile="off")
    run = results_plan.select_models("rnn")[0]
    floor = results.TrainPlan(seconds=0.0, patience=50, min_steps=12, floor_before_cap=True)
    assert results.train_or_resume(
        run, tmp_path, tmp_path / "models" / "rnn", floor, args, lambda m: None, _FakeTrainer
    )
    record = results.training_record(tmp_path / "models" / "rnn", floor)
    # past its cap, up to its floor
    assert (record["steps"], record["stopped"]) == (12, "time cap")
    cut = results.TrainPlan(seconds=0.0, patience=50, min_steps=12)
    assert results.train_or_resume(
        run, tmp_path, tmp_path / "models" / "cut", cut, args, lambda m: None, _FakeTrainer
    )
    assert results.training_record(tmp_path / "models" / "cut", cut)["steps"] == 1
    assert (not floor.capped({"wall_seconds": 99.0, "step": 11})
            and floor.capped({"wall_seconds": 99.0, "step": 12}))
    assert (results.stop_reason({"best_val_nll": 1.0, "wall_seconds": 99.0, "step": 5},
                                floor) is None)
    settings = results.parse_arguments(["--patience", "3", "--max-hours", "2",
                                        "--big-max-hours", "1"])
    plans = {key: results.plan_for(results_plan.select_models(key)[0], settings)
             for key in ("lstm-deepdive-complex", "transformer-deepdive", "transformer-symbolic")}
    assert (plans["lstm-deepdive-complex"].floor_before_cap
            and plans["transformer-symbolic"].floor_before_cap)
    assert (not plans["transformer-deepdive"].floor_before_cap
            and plans["transformer-deepdive"].seconds == 3600.0)
    complex_lstm = results_plan.select_models("lstm-deepdive-complex")[0]
    assert dict(complex_lstm.overrides) == {"batch_size": 8} and not complex_lstm.big


def test_learning_curves_picture(results, tmp_path):
    curves = {
        "lstm-symbolic": [
            {"step": s, "tokens_seen": s * 2048, "val_nll": 3.0 - s / 1000}
            for s in range(100, 1100, 100)
        ],
        "transformer-symbolic": [
            {"step": s, "tokens_seen": s * 2048, "val_nll": 2.8 - s / 900}
            for s in range(100, 900, 100)
        ],
    }
    path = tmp_path / "curve.png"
    results_plots.draw_learning_curves(curves, path, "test", results_groups.PAPER_NLL)
    from matplotlib import image

    pixels = (image.imread(path)[..., :3] * 255).round().astype(int)
    assert pixels.shape == (400, 800, 3)
    for colour in results_groups.CURVE_COLOURS[:2]:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=-1) <= 6).sum() > 200, colour
    drawn = results_plots.draw_all_curves(
        [
            _entry("lstm-symbolic", _report(2.0), curve=curves["lstm-symbolic"]),
            _entry("transformer-symbolic", _report(2.0), curve=curves["transformer-symbolic"]),
            _entry("rnn", _report(2.0), "sequential", curve=curves["lstm-symbolic"]),
        ],
        tmp_path,
    )
    assert (drawn == {"symbolic": "curve-symbolic.png"}
            and (tmp_path / "curve-symbolic.png").is_file())
    with_variant = results_plots.draw_all_curves(
        [
            _entry("lstm-symbolic", _report(2.0), curve=curves["lstm-symbolic"]),
            _entry(
                "transformer-symbolic-lr3e-4",
                _report(2.0),
                "symbolic-tuning",
                curve=curves["transformer-symbolic"],
            ),
        ],
        tmp_path,
    )
    assert with_variant == {"symbolic-tuning": "curve-symbolic-tuning.png"}
    # a frame model's BCE curve is not drawn on a nats-per-token plot: measured or still running
    deep = "deep-dive"
    simple = _entry("lstm-deepdive-simple", _report(2.0), deep, curve=curves["lstm-symbolic"])
    frame_report = _report(0.03, kind="frame")
    measured_roll = {
        **_entry("pianoroll-lstm", frame_report, deep, curve=curves["transformer-symbolic"]),
        "tokenizer": "pianoroll",
    }
    running_roll = {**measured_roll, "status": "in progress"}
    del running_roll["report"]
    assert results_plots.draw_all_curves([simple, measured_roll], tmp_path / "a") == {}
    assert (results_plots.draw_all_curves([simple, running_roll], tmp_path / "b", None,
                                          {"pianoroll"}) == {})
    two = [simple,
           _entry("transformer-deepdive", _report(1.9), deep, curve=curves["transformer-symbolic"])]
    assert results_plots.draw_all_curves(
        two + [running_roll], tmp_path / "c", None, {"pianoroll"}
    ) == {deep: "curve-deep-dive.png"}
    assert results_train.validation_curve(
        [
            {"type": "step", "step": 1, "loss": 2.0},
            {"type": "epoch", "step": 5, "tokens_seen": 40, "val_nll": 1.5},
        ]
    ) == [{"step": 5, "tokens_seen": 40, "val_nll": 1.5}]
    tick = results_plots._count_tick
    assert ([tick(v) for v in (0, 500, 250_000, 1_500_000, 20_000_000)] == ["0", "500", "250 k",
                                                                            "1.5 M", "20 M"])


PAGE_ARGUMENTS = (
    {"source": "s", "limit": 0, "seed": 0, "val_fraction": 0.1, "train_files": 3, "rows": []},
    "cmd", "piece.mid", {"date": "d", "machine": "m", "torch": "t", "threads": 1},
    {"patience": 3, "max_hours": 1.0, "big_max_hours": None, "pair_min_steps": 5000,
     "min_steps": 1000, "epoch_fraction": 0.02},
)


def test_report_of_runs_in_progress(results, tmp_path):
    """--report-only: a run with a checkpoint and no measurement shows its training so far
    (row, progress paragraph, banner); a run measured at its last step shows its entry."""
    args = results.parse_arguments(["--report-only", "--patience", "3", "--models", "symbolic,rnn",
                                    "--work-dir", str(tmp_path)])
    train_args = SimpleNamespace(resume=True, seed=0, threads=1, device="cpu", compile="off")
    unfinished = results.TrainPlan(seconds=1e9, max_steps=15, patience=3)
    for run in args.runs[:2]:
        results.train_or_resume(
            run,
            tmp_path,
            tmp_path / "models" / run.key,
            unfinished,
            train_args,
            lambda line: None,
            _FakeTrainer,
        )
    entries = {run.key: results.progress_entry(run, args) for run in args.runs}
    # the plan of --report-only (no --max-steps) says neither run is over
    assert (entries["lstm-symbolic"]["status"] == "in progress"
            and "report" not in entries["lstm-symbolic"])
    assert entries["lstm-symbolic"]["training"]["steps"] == 15
    assert entries["rnn"] == {
        "key": "rnn",
        "preset": "rnn",
        "tokenizer": "note_duration",
        "group": "sequential",
        "reproduces": "Music generation with sequential models",
        "status": "not started",
    }
    rows = results_tables.model_rows(list(entries.values()))
    assert all(len(row) == len(results_tables.MODEL_HEADER) for row in rows)
    assert rows[0][4:9] == ["15", "1,500", "8 s", "*in progress*", "3.000 (15)"]
    assert rows[2][4] == "*not started*"
    text = results_report.comparison_text(list(entries.values()), 10)[0]
    assert text.startswith("**LSTM vs Transformer") and "in progress" in text
    assert ("best 3.000 at step 15, still training" in text
            and "(3.000 LSTM, 3.000 Transformer: each one's best by then" in text)
    page = results_report.render_markdown(
        list(entries.values()),
        *PAGE_ARGUMENTS,
    )
    assert (
        "**In progress:** 0 of 3 models trained and measured; still training: `lstm-symbolic`, "
        "`transformer-symbolic`; not started (or not restarted): 1." in page
    )
    assert "RESULTS-brief" not in page and "No model has finished training yet" in page
    assert results.page_names(args) == ("RESULTS.md", "results")
    assert results.page_names(results.parse_arguments([])) == ("RESULTS-brief.md", "results-brief")
    linked = results_report.render_markdown(
        list(entries.values()),
        *PAGE_ARGUMENTS,
        {"symbolic": "curve-symbolic.png"},
        pictures="results",
        brief="RESULTS-brief.md",
    )
    assert ("Every model trained for minutes instead: "
            "[RESULTS-brief.md](RESULTS-brief.md)." in linked)
    assert "](results/curve-symbolic.png)" in linked
    # measured at the step its checkpoint holds, and stopped: the measured entry is the row
    saved = tmp_path / "models" / ".lstm-symbolic.training" / "checkpoint.json"
    state = json.loads(saved.read_text())
    state["state"]["stopped_early"] = True
    saved.write_text(json.dumps(state))
    measured = _entry("lstm-symbolic", _report(2.2), steps=15, stopped="patience")
    (tmp_path / "entries").mkdir()
    (tmp_path / "entries" / "lstm-symbolic.json").write_text(json.dumps(measured))
    assert results.progress_entry(args.runs[0], args) == measured


def test_a_kill_stops_like_ctrl_c(results, tmp_path, monkeypatch, capsys):
    """SIGTERM while a model trains: the same way out as Ctrl-C (the trainer saves its
    checkpoint on KeyboardInterrupt), exit 130 with the --resume hint; the handler is restored."""
    import os
    import signal

    monkeypatch.setattr(results, "prepare_all", lambda runs, args, say: {
        "note_duration": SimpleNamespace(manifest={}, directory=tmp_path)})
    monkeypatch.setattr(results, "held_out_prompt", lambda manifest, bars: ("piece.mid", None))

    def killed(run, data_dir, prompt, args, say):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(results, "run_model", killed)
    before = signal.getsignal(signal.SIGTERM)
    code = results.main(["--models", "rnn", "--work-dir", str(tmp_path), "--out", str(tmp_path)])
    assert code == 130 and signal.getsignal(signal.SIGTERM) is before
    assert "interrupted during rnn; rerun the same command with --resume" in capsys.readouterr().out
    # the trainer turns the interrupt into TrainingInterrupted once its checkpoint is saved
    from ml_core.training import TrainingInterrupted

    def saved_and_stopped(run, data_dir, prompt, args, say):
        raise TrainingInterrupted(7, tmp_path)

    monkeypatch.setattr(results, "run_model", saved_and_stopped)
    assert (results.main(["--models", "rnn", "--work-dir", str(tmp_path), "--out",
                          str(tmp_path)]) == 130)
    assert "FAILED" not in capsys.readouterr().out


def test_representations_compared_per_note_at_equal_notes(results, tmp_path):
    """Curves in nats per token and tokens seen become bits per note against notes seen; the
    comparison is made at the shortest run's last point."""
    import math

    def curve(values, tokens_per_step):
        return [
            {"step": 100 * (i + 1), "tokens_seen": 100 * (i + 1) * tokens_per_step, "val_nll": v}
            for i, v in enumerate(values)
        ]

    entries = [_entry("transformer-symbolic", _report(1.0), curve=curve([1.2, 1.0, 0.9, 0.8], 300)),
               {**_entry("transformer-remi", _report(1.0), "representation",
                         curve=curve([1.0, 0.7], 400)),
                "status": "in progress"},
               _entry("rnn", _report(1.0), "sequential", curve=curve([2.0], 10))]
    del entries[1]["report"]
    ratios = {"bar_offset": {"train": 3.0, "val": 3.0}, "remi": {"train": 4.0, "val": 4.0}}
    per_note = results_plots.per_note_curves(entries, ratios)
    assert set(per_note) == {"bar_offset", "remi"}
    assert per_note["remi"][1] == {"step": 200, "tokens_seen": 80000, "notes_seen": 20000.0,
                                   "bits_per_note": 0.7 * 4 / math.log(2)}
    notes, reached = results_plots.equal_training(per_note)
    # remi stops at 20,000 notes; by then bar_offset (10,000 notes per 100 steps) is at step 200
    assert notes == 20000.0
    assert reached == {"bar_offset": pytest.approx(1.0 * 3 / math.log(2)),
                       "remi": pytest.approx(0.7 * 4 / math.log(2))}
    text = results_report.comparison_text(entries, 10, ratios)
    paragraph = next(p for p in text if p.startswith("**Which representation wins"))
    assert ("At the same 20,000 training notes" in paragraph
            and "remi 4.04, bar_offset 4.33; remi is lowest" in paragraph)
    # at the same 80,000 tokens (remi's end) bar_offset is at step 266: between 1.0 and 0.9 per
    # token
    tokens, same_steps = results_plots.equal_training(per_note, "tokens_seen")
    assert (tokens == 80000
            and same_steps["bar_offset"] == pytest.approx((1.0 - 0.1 * 2 / 3) * 3 / math.log(2)))
    assert "At the same 0.08 M training tokens (the same steps" in paragraph
    # remi's 0.7 x 4 tokens per note ties bar_offset's 0.933 x 3 there
    assert (same_steps["remi"] == pytest.approx(same_steps["bar_offset"])
            and "remi 4.04" in paragraph)
    # a compact scheme hears more notes per step: behind per note heard, ahead per step of compute
    compact = [{"tokens_seen": t, "notes_seen": t / 2, "bits_per_note": b}
               for t, b in ((1e6, 4.2), (4e6, 2.7))]
    verbose = [{"tokens_seen": t, "notes_seen": t / 4, "bits_per_note": b}
               for t, b in ((1e6, 4.0), (2e6, 3.8))]
    text = results_findings._representation_text({}, {}, {"midi_like": compact, "remi": verbose})
    assert ("At the same 500,000 training notes" in text
            and "remi 3.80, midi_like 4.20; remi is lowest there" in text)
    assert ("At the same 2.00 M training tokens" in text
            and "midi_like 3.70, remi 3.80; midi_like is lowest" in text)
    assert ("the winner depends on the measure: remi per note heard, midi_like per step of "
            "compute" in text)
    better = [{**point, "bits_per_note": point["bits_per_note"] - 1.2} for point in compact]
    same = results_findings._representation_text({}, {}, {"midi_like": better, "remi": verbose})
    assert "At equal training **midi_like wins** by both measures." in same
    # with two runs finished, one still in its first epoch is left out until it catches up
    finished = {"transformer-midi_like": {}, "transformer-remi": {}}
    early = [{"tokens_seen": 4e5, "notes_seen": 1e5, "bits_per_note": 3.0}]
    curves = {"midi_like": better, "remi": verbose, "note_duration": early}
    assert results_findings._representation_text(finished, {}, curves) == same
    # a run whose first validation comes after the comparison point is named as such
    late = [{"tokens_seen": 3e6, "notes_seen": 1.5e6, "bits_per_note": 2.0}]
    named = results_findings._representation_text({}, {},
                                                  {"midi_like": better, "remi": verbose,
                                                   "bar_offset": late})
    assert "remi 3.80; midi_like is lowest there (bar_offset: no validation by then)." in named
    # under two finished runs every curve counts (the comparison shows progress while they train)
    assert results_findings._comparable(curves, {"transformer-remi": {}}, "notes_seen") == curves
    assert (set(results_findings._comparable(curves, finished, "notes_seen")) == {"midi_like",
                                                                                  "remi"})
    caught_up = [*early, {"tokens_seen": 5e6, "notes_seen": 1.5e6, "bits_per_note": 2.0}]
    assert ("note_duration 2.71, midi_like 3.00, remi 3.80" in
            results_findings._representation_text(finished, {},
                                                  {**curves, "note_duration": caught_up}))
    assert results_plots.equal_training({"bar_offset": per_note["bar_offset"]}) is None
    # between two validations the best-so-far curve is interpolated, not read at the one before
    halfway = {"bar_offset": per_note["bar_offset"],
               "remi": [{**per_note["remi"][1], "notes_seen": 25000.0}]}
    expected = pytest.approx(0.95 * 3 / math.log(2))
    assert results_plots.equal_training(halfway)[1]["bar_offset"] == expected
    worse_later = [{"tokens_seen": 10, "val_nll": 1.0}, {"tokens_seen": 20, "val_nll": 0.8},
                   {"tokens_seen": 30, "val_nll": 0.9}]
    best_until = results_plots._best_until
    assert (best_until(worse_later, 25) == pytest.approx(0.8)
            and best_until(worse_later, 15) == pytest.approx(0.9))
    assert best_until(worse_later, 5) is None and best_until(worse_later, 99) == pytest.approx(0.8)
    # runs stopped at the same step floor differ by a few short windows: a first validation
    # within 1 % of the amount counts as reached there, one 2 % later does not
    assert (best_until(worse_later, 9.95) == pytest.approx(1.0)
            and best_until(worse_later, 9.8) is None)
    drawn = results_plots.draw_all_curves(entries, tmp_path, ratios)
    assert drawn == {"representation": "curve-representation.png"}
    assert (tmp_path / "curve-representation.png").stat().st_size > 10_000


def test_data_rows_give_tokens_per_note(results):
    manifest = {"kind": "token", "vocab_size": 153, "skipped": ["x.mid"],
                "splits": {"train": {"files": 40, "tokens": 9000},
                           "val": {"files": 5, "tokens": 1000}}}
    frames = {**manifest, "kind": "frame", "vocab_size": None}
    rows = results_tables.data_rows({"bar_offset": SimpleNamespace(manifest=manifest),
                                       "pianoroll": SimpleNamespace(manifest=frames)},
                                      {"bar_offset": {"train": 3.254, "val": 3.3}})
    assert rows == [["bar_offset", "token", "153", "40", "9,000", "5", "1,000", "3.25", "1"],
                    ["pianoroll", "frame", "–", "40", "9,000", "5", "1,000", "–", "1"]]


def test_the_record_keeps_measured_runs_when_the_work_dir_is_lost(results, tmp_path, monkeypatch):
    """Each measured run goes into the committed record (results.json beside the pictures);
    with the work dir gone (a new machine), --resume restores a recorded run instead of
    training it again and --report-only still shows it; nothing unmeasured replaces a
    measured entry; a record of another study is neither used nor merged."""
    flags = ["--patience", "3", "--models", "symbolic,rnn", "--work-dir", str(tmp_path / "work"),
             "--out", str(tmp_path / "docs"), "--resume"]
    args = results.parse_arguments(flags)
    assert args.record == tmp_path / "docs" / "results" / "results.json"
    brief = results.parse_arguments(["--out", str(tmp_path)])
    assert brief.record == tmp_path / "results-brief" / "results.json"
    assert results.study_flags(args) == ["--patience", "3"]
    lstm = _entry("lstm-symbolic", _report(2.2), steps=15, stopped="patience")
    lstm["continuation"] = [[60, 0.0, 1.0, 90]]
    running = {**results_plan.select_models("transformer-symbolic")[0].head(),
               "status": "in progress",
               "training": {"steps": 9, "curve": [{"step": 5, "tokens_seen": 500, "val_nll": 3.0}]}}
    payload = {"command": "cmd", "data": {}, "environment": {}, "settings": {}}
    assert results.read_record(args.record) is None
    results.write_record(args, {**payload, "results": [lstm, running]})
    rnn = {**_entry("rnn", _report(1.5), "sequential", stopped="time cap"), "key": "rnn"}
    failed = {**results_plan.select_models("lstm-symbolic")[0].head(),
              "error": "RuntimeError: boom"}
    results.write_record(args, {**payload, "results": [rnn, failed]})
    record = results.read_record(args.record)
    assert [entry["key"] for entry in record["results"]] == ["lstm-symbolic",
                                                             "transformer-symbolic", "rnn"]
    assert (record["results"][0] == lstm and record["results"][1] == running
            and record["study"] == ["--patience", "3"])

    # the work dir is empty: the report shows the recorded measurement, not "not started"
    report_args = results.parse_arguments(flags[:-1] + ["--report-only"])
    assert results.progress_entry(report_args.runs[0], report_args) == lstm
    # (and a recorded unfinished run whose checkpoint is gone is still shown, as such)
    assert results.progress_entry(report_args.runs[1], report_args) == {
        **running, "status": "checkpoint lost; not restarted"}

    def must_not_train(*arguments, **keywords):
        raise AssertionError("trained again")

    monkeypatch.setattr(results, "train_or_resume", must_not_train)
    said = []
    assert results.run_model(args.runs[0], tmp_path, None, args, said.append) == lstm
    assert ("lstm-symbolic: measured earlier at step 15" in said[0]
            and "not trained again" in said[0])
    restored = tmp_path / "work" / "entries" / "lstm-symbolic.json"
    assert json.loads(restored.read_text()) == lstm
    # an unfinished recorded run is trained; so is everything without --resume
    with pytest.raises(AssertionError, match="trained again"):
        results.run_model(args.runs[1], tmp_path, None, args, said.append)
    restored.unlink()
    fresh = results.parse_arguments(flags[:-1])
    with pytest.raises(AssertionError, match="trained again"):
        results.run_model(fresh.runs[0], tmp_path, None, fresh, said.append)

    # another study (other patience): the record is not used, and is replaced, not merged
    other = results.parse_arguments(["--patience", "4"] + flags[2:])
    assert results.recorded_entry(other, "lstm-symbolic") is None
    results.write_record(other, {**payload, "results": [rnn]})
    assert [entry["key"] for entry in results.read_record(args.record)["results"]] == ["rnn"]
    args.record.write_text("{not json")
    assert results.read_record(args.record) is None and results.recorded_entry(args, "rnn") is None
    results.write_record(args, {**payload, "results": [lstm]})
    assert results.read_record(args.record)["results"] == [lstm]


def test_page_names_other_machines_and_earlier_runs(results, tmp_path):
    here, there = "CPU A (x86_64 Linux, 2 cores)", "CPU B (x86_64 Linux, 2 cores)"
    measured = [{**_entry("lstm-symbolic", _report(2.0)), "machine": here},
                {**_entry("transformer-symbolic", _report(1.9)), "machine": there},
                {**_entry("rnn", _report(1.5), "sequential"), "machine": there}]
    assert results_tables.machines_text(measured[:1], here) == ""
    assert results_tables.machines_text(measured, here) == (
        f"Measured on more than one machine: `lstm-symbolic` on {here}; `transformer-symbolic`, "
        f"`rnn` on {there}.")
    assert results_tables.machines_text(measured[1:], here).endswith(f"`transformer-symbolic`, "
                                                                     f"`rnn` on {there}.")
    for name in ("2026-12-01-b", "2026-11-30-a"):
        (tmp_path / "results-archive" / name).mkdir(parents=True)
        (tmp_path / "results-archive" / name / "RESULTS.md").write_text("old")
    (tmp_path / "results-archive" / "empty").mkdir()
    archives = results.archived_pages(tmp_path)
    assert archives == ["results-archive/2026-11-30-a/RESULTS.md",
                        "results-archive/2026-12-01-b/RESULTS.md"]
    page = results_report.render_markdown(
        measured,
        {"source": "s", "limit": 0, "seed": 0, "val_fraction": 0.1, "train_files": 3, "rows": []},
        "cmd", "piece.mid", {"date": "d", "machine": here, "torch": "t", "threads": 1},
        {"patience": 3, "max_hours": 1.0, "big_max_hours": None, "pair_min_steps": 5000,
         "min_steps": 1000,
         "epoch_fraction": 0.02}, archives=archives)
    assert ("Earlier runs of this study: [2026-11-30-a](results-archive/2026-11-30-a/RESULTS.md), "
            "[2026-12-01-b](results-archive/2026-12-01-b/RESULTS.md).") in page
    assert "Measured on more than one machine: `lstm-symbolic` on CPU A" in page
    assert results.cpu_name()


def test_a_report_after_the_work_dir_was_lost_keeps_the_record(results, tmp_path, monkeypatch):
    """--report-only on a new machine (datasets prepared again, no runs yet): the page shows
    the recorded measurement with its picture, and the record written back still holds it."""
    prompt = Score([Track("Prompt", 0, False, [Note(60 + i, i * 480, 480, 80) for i in range(8)])],
                   120.0, (4, 4))
    monkeypatch.setattr(results, "existing_datasets", lambda runs, args: {
        "bar_offset": SimpleNamespace(manifest={"splits": {"train": {"files": 3}}},
                                      directory=tmp_path)})
    monkeypatch.setattr(results, "held_out_prompt", lambda manifest, bars: ("piece.mid", prompt))
    monkeypatch.setattr(results, "tokens_per_note", lambda prepared: {})
    monkeypatch.setattr(results_tables, "data_rows", lambda prepared, ratios: [])
    flags = ["--patience", "3", "--models", "symbolic", "--work-dir", str(tmp_path / "work"),
             "--out", str(tmp_path / "docs")]
    measured = {**_entry("lstm-symbolic", _report(2.2), steps=15, stopped="patience"),
                "continuation": [[67, 3840 + i * 240, 240, 80] for i in range(8)]}
    results.write_record(results.parse_arguments(flags),
                         {"command": "c", "data": {}, "environment": {},
                                                          "settings": {}, "results": [measured]})
    assert results.main(flags + ["--report-only"]) == 0
    page = (tmp_path / "docs" / "RESULTS.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| `lstm-symbolic`"))
    assert "| 15 |" in row and "| patience |" in row and "2.200" in row
    assert "**In progress:** 1 of 2 models trained and measured" in page
    assert (tmp_path / "docs" / "results" / "lstm-symbolic.png").is_file()
    record = results.read_record(tmp_path / "docs" / "results" / "results.json")
    assert [entry["key"] for entry in record["results"]] == ["lstm-symbolic",
                                                             "transformer-symbolic"]
    assert record["results"][0] == measured and record["results"][1]["status"] == "not started"
    assert record["environment"]["machine"] == results.machine_text(results.parse_arguments(flags))


def test_a_run_whose_checkpoint_was_lost_stays_on_the_page_until_its_restart_passes_it(
        results, tmp_path, monkeypatch):
    """The record holds an unmeasured run at 18,012 steps whose checkpoint went with an
    earlier machine: neither the page nor the record trades it for a restart at fewer steps
    (or for "not started"), the page says where the restart is, and once the restart has
    trained further it takes the row."""
    flags = ["--patience", "3", "--models", "symbolic", "--work-dir", str(tmp_path / "work"),
             "--out", str(tmp_path / "docs")]
    args = results.parse_arguments(flags)
    head = results_plan.select_models("lstm-symbolic")[0].head()
    lost = {**head, "status": "in progress", "training": {"steps": 18012, "best_val_nll": 0.807}}
    payload = {"command": "cmd", "data": {}, "environment": {}, "settings": {}}
    results.write_record(args, {**payload, "results": [lost]})
    run = args.runs[0]
    assert results.progress_entry(run, args) == {**lost, "status": "checkpoint lost; not restarted"}
    results.write_record(args, {**payload, "results": [{**head, "status": "not started"}]})
    assert results.read_record(args.record)["results"] == [lost]

    restart = {"steps": 2000, "best_val_nll": 1.0, "stopped": None, "curve": []}
    monkeypatch.setattr(results, "saved_state", lambda bundle_dir: {"step": restart["steps"]})
    monkeypatch.setattr(results, "training_record", lambda bundle_dir, plan: dict(restart))
    shown = results.progress_entry(run, args)
    assert shown["training"] == lost["training"]
    assert shown["status"] == "checkpoint lost; a new run is at 2,000 steps"
    in_progress = {**head, "status": "in progress", "training": restart}
    results.write_record(args, {**payload, "results": [in_progress]})
    assert results.read_record(args.record)["results"] == [lost]
    row = results_tables.model_rows([shown])[0]
    assert "18,012" in row and "*checkpoint lost; a new run is at 2,000 steps*" in row

    restart["steps"] = 18500
    shown = results.progress_entry(run, args)
    assert shown["status"] == "in progress" and shown["training"]["steps"] == 18500
    results.write_record(args, {**payload, "results": [shown]})
    assert results.read_record(args.record)["results"][0]["training"]["steps"] == 18500


def test_the_pair_ordering_so_far_is_stated_from_every_shared_validation(results):
    """While the LSTM still trains behind a Transformer stopped by its cap, the page states
    which was lower at every validation both reached, whether that is the paper's ordering,
    how far the LSTM's recent gain is from closing the gap, and that the verdict waits."""
    def curve(values, step=1000):
        return [{"step": step * (i + 1), "tokens_seen": 2_000_000 * (i + 1), "val_nll": v}
                for i, v in enumerate(values)]

    lstm = {"steps": 6000, "tokens_seen": 12_000_000, "seconds": 3600.0, "best_val_nll": 0.85,
            "best_step": 6000,
            "stopped": None, "curve": curve([1.07, 0.98, 0.93, 0.90, 0.87, 0.85])}
    transformer = {"steps": 4000, "tokens_seen": 8_000_000, "seconds": 7200.0, "best_val_nll": 0.75,
                   "best_step": 4000, "stopped": "time cap", "cap_hours": 2.0,
                   "curve": curve([0.95, 0.87, 0.81, 0.75])}
    text = results_text._ordering_so_far_text({"LSTM": lstm, "Transformer": transformer})
    assert ("The Transformer was lower at every one of the 4 validations up to 8.0 M tokens (best "
            "so far at "
            "equal tokens), the paper's ordering.") in text
    # last 3 validations: 0.93 -> 0.85 is 0.0267 per epoch; the gap 0.10 takes 4 epochs
    assert "The LSTM gained 0.0267 per epoch over its last 3 validations" in text
    assert "about 4 more epochs to reach the Transformer's best" in text
    assert text.endswith("the verdict comes when both have.")
    crossing = {**transformer, "curve": curve([1.10, 0.87, 0.81, 0.75])}
    text = results_text._ordering_so_far_text({"LSTM": lstm, "Transformer": crossing})
    assert "every one" not in text and "The runs have not both stopped" in text
    reverse = results_text._ordering_so_far_text(
        {"LSTM": {**transformer, "stopped": None}, "Transformer": {**lstm, "stopped": "time cap"}})
    assert ("The LSTM was lower at every one of the 4 validations" in reverse
            and "the reverse of the paper's" in reverse)
    entries = [{**_entry("lstm-symbolic", _report(1.0)), "training": lstm, "status": "in progress"},
               {**_entry("transformer-symbolic", _report(0.75)), "training": transformer}]
    del entries[0]["report"]
    page_text = results_report.comparison_text(entries, 10)[0]
    assert "in progress" in page_text and "the paper's ordering." in page_text
    assert "best 0.850 at step 6,000, still training;" in page_text
    entries[0]["status"] = "checkpoint lost; not restarted"
    page_text = results_report.comparison_text(entries, 10)[0]
    assert "best 0.850 at step 6,000, checkpoint lost, not restarted;" in page_text


def test_deep_dive_paragraph_reads_without_nested_parentheses(results):
    by_key = {"lstm-deepdive-simple": _report(0.639), "transformer-deepdive": _report(1.517)}
    training = {"lstm-deepdive-simple": {"steps": 2400, "stopped": "patience", "best_step": 1920},
                "transformer-deepdive": {"steps": 123, "stopped": "time cap", "cap_hours": 0.5}}
    text = results_findings._deep_dive_text(by_key, training)
    assert ("lstm-deepdive-simple 0.639 (2,400 steps, stopped by patience, best at step 1,920), "
            "transformer-deepdive 1.517 (123 steps, stopped by the 0.5 h cap)") in text
    assert "the lowest is lstm-deepdive-simple" in text


def test_deep_dive_compares_the_two_lstms_at_equal_tokens_when_the_transformer_stopped_first(
        results):
    """The 12 x 1024 Transformer cut at 123 steps has no point where the LSTMs have one: the
    paragraph still compares the simple and complex LSTMs at the shorter one's last tokens."""
    def curve(points):
        return [{"step": step, "tokens_seen": tokens, "val_nll": nll}
                for step, tokens, nll in points]

    by_key = {"lstm-deepdive-simple": _report(0.639), "lstm-deepdive-complex": _report(0.647),
              "transformer-deepdive": _report(1.517)}
    training = {
        "lstm-deepdive-simple": {"steps": 2400, "stopped": "patience", "best_step": 1920,
                                 "curve": curve([(160, 2_000_000, 1.2), (320, 6_000_000, 0.9)])},
        "lstm-deepdive-complex": {"steps": 1000, "stopped": "time cap", "cap_hours": 1.0,
                                  "curve": curve([(639, 2_600_000, 0.69),
                                                  (1000, 4_000_000, 0.647)])},
        "transformer-deepdive": {"steps": 123, "stopped": "time cap", "cap_hours": 0.5,
                                 "curve": curve([(123, 500_000, 1.517)])}}
    text = results_findings._deep_dive_text(by_key, training)
    # the simple LSTM's best by 4.0 M tokens, interpolated: 1.2 + (2/4) * (0.9 - 1.2) = 1.05
    assert ("At the same 4.0 M training tokens the complex LSTM was lower (1.050 simple LSTM, "
            "0.647 "
            "complex LSTM") in text
    assert "The two LSTMs are within 5 % of each other" in text


def test_a_measured_restart_keeps_the_longer_lost_run_as_its_earlier_run(results, tmp_path,
                                                                         monkeypatch):
    """The record's unmeasured 18,012-step run lost its checkpoint; a restart capped sooner is
    measured at 9,000 steps. The record and the page take the measured restart and keep the
    lost run's curve beside it (not a restart that went further), and the pair paragraph
    and plot say how far it went and that it was this run continued."""
    def curve(steps, values):
        return [{"step": s, "tokens_seen": s * 2048, "val_nll": v}
                for s, v in zip(steps, values, strict=True)]

    flags = ["--patience", "3", "--models", "symbolic", "--work-dir", str(tmp_path / "work"),
             "--out", str(tmp_path / "docs")]
    args = results.parse_arguments(flags)
    head = results_plan.select_models("lstm-symbolic")[0].head()
    lost_training = {"steps": 18012, "tokens_seen": 18012 * 2048, "best_val_nll": 0.807,
                     "best_step": 17496,
                     "curve": curve([3000, 6000, 9000, 12000, 18000],
                                    [0.95, 0.86, 0.83, 0.82, 0.807])}
    lost = {**head, "status": "in progress", "training": lost_training}
    payload = {"command": "cmd", "data": {}, "environment": {}, "settings": {}}
    results.write_record(args, {**payload, "results": [lost]})

    restart = {"steps": 9000, "tokens_seen": 9000 * 2048, "best_val_nll": 0.83, "best_step": 9000,
               "stopped": "time cap", "cap_hours": 2.0, "min_steps": 5000,
               "curve": curve([3000, 6000, 9000], [0.95, 0.86, 0.83])}
    measured = {**head, "training": restart, "report": _report(0.83)}
    results.save_entry(args.work_dir, measured)
    monkeypatch.setattr(results, "saved_state", lambda bundle_dir: {"step": restart["steps"]})
    monkeypatch.setattr(results, "training_record", lambda bundle_dir, plan: dict(restart))
    shown = results.progress_entry(args.runs[0], args)
    assert shown["report"] == measured["report"] and shown["earlier_run"] == lost_training
    results.write_record(args, {**payload, "results": [measured]})
    kept = results.read_record(args.record)["results"][0]
    assert kept["training"] == restart and kept["earlier_run"] == lost_training
    results.write_record(args, {**payload, "results": [measured]})     # measured again: still kept
    assert results.read_record(args.record)["results"][0]["earlier_run"] == lost_training
    longer = {**measured, "training": {**restart, "steps": 20000}}
    results.write_record(args, {**payload, "results": [longer]})       # a run past it needs none
    assert "earlier_run" not in results.read_record(args.record)["results"][0]
    assert "earlier_run" not in results.keep_lost_run(measured, measured)

    transformer = {"steps": 15781, "tokens_seen": 15781 * 2048, "best_val_nll": 0.646,
                   "best_step": 15000,
                   "stopped": "time cap", "cap_hours": 10.0, "min_steps": 5000,
                   "curve": curve([3000, 6000, 9000, 12000, 15781],
                                  [0.80, 0.72, 0.69, 0.67, 0.646])}
    entries = [{**measured, "earlier_run": lost_training},
               {**_entry("transformer-symbolic", _report(0.646)), "training": transformer}]
    text = results_report.comparison_text(entries, 10)[0]
    assert ("An earlier run of the LSTM in this same study went on to 18,012 steps (36.9 M tokens) "
            "before its "
            "checkpoint was lost with its machine, unmeasured: it repeated this run's validation "
            "NLL exactly at "
            "all 3 validations both made, so it is this run continued; its best was 0.807 at step "
            "17,496.") in text
    # at the Transformer's 32.3 M tokens the lost run's best so far is interpolated between 12,000
    # and 18,000
    at = 0.82 + (15781 - 12000) / 6000 * (0.807 - 0.82)
    assert (f"At the Transformer's last 32.3 M tokens it was at {at:.3f} against the Transformer's "
            f"0.646, so "
            "the Transformer was the lower there.") in text
    different = {**lost_training, "curve": curve([3000, 18000], [0.96, 0.807])}
    text = (results_report.comparison_text([{**entries[0], "earlier_run": different}, entries[1]],
                                           10)[0])
    assert "its validation NLL differs from this run's at the one validation both made" in text
    assert "earlier run" not in results_report.comparison_text([measured, entries[1]], 10)[0]

    drawn = {}
    monkeypatch.setattr(results_plots, "draw_learning_curves",
                        lambda curves, path, title, paper=None,
                        **options: drawn.update(curves=curves, **options))
    assert results_plots.draw_all_curves(entries, tmp_path) == {"symbolic": "curve-symbolic.png"}
    assert drawn["faint"] == {"lstm-symbolic (earlier run, checkpoint lost)": "lstm-symbolic"}
    assert drawn["curves"]["lstm-symbolic (earlier run, checkpoint lost)"] == lost_training["curve"]
    assert drawn["curves"]["lstm-symbolic"] == restart["curve"]


def test_an_earlier_run_is_drawn_dotted_in_its_runs_colour(results, tmp_path):
    from matplotlib import pyplot

    shown = {}
    original = pyplot.subplots

    def keep(*args, **kwargs):
        shown["figure"], shown["axes"] = original(*args, **kwargs)
        return shown["figure"], shown["axes"]

    curves = {"a": [{"tokens_seen": 1, "val_nll": 2.0}, {"tokens_seen": 2, "val_nll": 1.5}],
              "b": [{"tokens_seen": 1, "val_nll": 2.2}, {"tokens_seen": 2, "val_nll": 1.9}],
              "a (earlier)": [{"tokens_seen": 1, "val_nll": 2.0},
                              {"tokens_seen": 4, "val_nll": 1.2}]}
    pyplot.subplots = keep
    try:
        results_plots.draw_learning_curves(curves, tmp_path / "c.png", "t",
                                           faint={"a (earlier)": "a"})
    finally:
        pyplot.subplots = original
    lines = {line.get_label(): line for line in shown["axes"].get_lines()}
    assert lines["a (earlier)"].get_linestyle() == ":" and lines["a"].get_linestyle() == "-"
    assert lines["a (earlier)"].get_color() == lines["a"].get_color() != lines["b"].get_color()
    assert (tmp_path / "c.png").stat().st_size > 1000

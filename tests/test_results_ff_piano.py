"""bench/results_ff_piano.py (issue 44) on tiny generated MIDI: the paper's split and its
window count, the record after each epoch, and a resumed run continuing its curve. The
paper's own data (../shared/data/ff-piano) is never needed here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import results_ff_piano as ff
from bench import results_ff_record as records
from bench import results_ff_text as text
from bench.train_throughput import synthetic_sources
from ml_core.data import load_dataset
from ml_core.midi_io import read_midi
from ml_core.tokenizers import get_tokenizer

TINY = json.dumps({"d_model": 32, "num_layers": 1, "num_heads": 2, "ff_size": 32})


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    root = tmp_path / "ff"
    synthetic_sources(root / "train", pieces=3, bars=6)
    synthetic_sources(root / "test", pieces=1, bars=5)
    return root


def test_paper_window_count_rule():
    # every start of 257 tokens within a piece; shorter pieces give none
    assert records.paper_windows([257, 300, 256, 10]) == 1 + 44
    assert records.paper_windows(np.array([5, 6]), window=5) == 1 + 2
    assert records.window_difference(1010, 1000) == pytest.approx(0.01)


def test_prepare_keeps_the_given_split_and_counts_windows(tmp_path, data):
    prepared = ff.prepare(data, tmp_path / "work")
    assert prepared.manifest["split"]["by"] == "given"
    splits = prepared.manifest["splits"]
    assert [Path(p).parent.name for p in splits["train"]["file_list"]] == ["train"] * 3
    assert [Path(p).parent.name for p in splits["val"]["file_list"]] == ["test"]
    tokenizer = get_tokenizer("bar_offset")
    lengths = {name: [len(tokenizer.encode(read_midi(path)))
                      for path in sorted((data / name).glob("*.mid"))]
               for name in ("train", "test")}
    figures = ff.window_figures(prepared.directory)
    for name in ("train", "test"):
        expected = sum(max(length - 256, 0) for length in lengths[name])
        assert expected > 0
        assert figures[f"{name}_windows"] == expected
    dataset = load_dataset(prepared.directory)
    assert sorted(dataset.train.lengths.tolist()) == sorted(lengths["train"])
    # far from the paper's 639,470: the explanation field appears above 2 %
    assert "window_count_explained" in figures
    tokens_per_note = ff.data_figures(prepared.directory)["test"]["tokens_per_note"]
    assert 2.5 < tokens_per_note < 4.0


def _args_list(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["--model", "transformer", "--data", str(data), "--work-dir", str(tmp_path / "work"),
            "--record", str(tmp_path / "ff-piano.json"), "--hparams", TINY, *extra]


def test_record_after_each_epoch_and_resume_continues_the_curve(tmp_path, data, monkeypatch,
                                                                capsys):
    record_path = tmp_path / "ff-piano.json"
    made = ff.recording_trainer

    def cut_after_first_epoch(write):   # the session ends just after epoch 1
        def write_then_stop(trainer, stopped_by):
            write(trainer, stopped_by)
            raise KeyboardInterrupt
        return made(write_then_stop)

    monkeypatch.setattr(ff, "recording_trainer", cut_after_first_epoch)
    assert ff.main(["pilot", *_args_list(tmp_path, data, "--cap-epochs", "2")]) == 130
    record = json.loads(record_path.read_text())
    entry = record["pilot"]["models"]["transformer"]
    assert entry["epochs_run"] == 1 and entry["stopped_by"] == "in progress"
    first = entry["curve"][0]
    assert set(first) >= {"epoch", "step", "tokens_seen", "test_nll", "train_loss"}
    assert entry["best_test_nll"] == first["test_nll"] and entry["best_epoch"] == 1
    assert entry["bits_per_note"] == pytest.approx(
        first["test_nll"] * record["data"]["test"]["tokens_per_note"] / math.log(2), rel=1e-3)
    assert entry["tokens_per_s"] > 0 and entry["machine"] and entry["cap_epochs"] == 2
    assert record["train_windows"] > 0 and record["paper"]["test_windows"] == 70_248

    # the next session: --resume trains only epoch 2, and the curve keeps epoch 1
    monkeypatch.setattr(ff, "recording_trainer", made)
    capsys.readouterr()
    assert ff.main(["pilot", *_args_list(tmp_path, data, "--cap-epochs", "2", "--resume")]) == 0
    assert "resuming" in capsys.readouterr().out
    entry = json.loads(record_path.read_text())["pilot"]["models"]["transformer"]
    assert entry["epochs_run"] == 2 and entry["stopped_by"] == "cap"
    assert entry["curve"][0] == first
    assert [point["epoch"] for point in entry["curve"]] == [1, 2]
    assert entry["curve"][1]["step"] > first["step"]
    assert entry["best_test_nll"] == min(p["test_nll"] for p in entry["curve"])
    # finished: resuming again trains nothing and leaves the record as it is
    assert ff.main(["pilot", *_args_list(tmp_path, data, "--cap-epochs", "2", "--resume")]) == 0
    assert json.loads(record_path.read_text())["pilot"]["models"]["transformer"] == entry


def test_model_entry_schema():
    entry = records.model_entry([{"epoch": 1, "step": 4, "tokens_seen": 8, "test_nll": 2.0,
                                  "train_loss": 2.1, "seconds": 1.0}],
                                stopped_by="in progress", tokens_seen=8, seconds=2.0,
                                tokens_per_note=3.0, machine="cpu")
    assert entry["tokens_per_s"] == 4.0 and entry["epochs_run"] == 1
    assert entry["bits_per_note"] == pytest.approx(2.0 * 3.0 / math.log(2))
    with pytest.raises(ValueError):
        records.model_entry([], stopped_by="done", tokens_seen=0, seconds=0,
                            tokens_per_note=None)


def test_ordering_and_section_say_only_what_the_runs_support(tmp_path):
    def entry(nll, stopped):
        return records.model_entry([{"epoch": 1, "step": 1, "tokens_seen": 1, "test_nll": nll,
                                     "train_loss": None, "seconds": 1}], stopped_by=stopped,
                                   tokens_seen=10, seconds=1.0, tokens_per_note=3.0,
                                   cap_epochs=12)
    assert records.ordering({"transformer": entry(1.3, "cap")}) is None
    models = {"transformer": entry(1.3, "in progress"), "lstm": entry(1.5, "patience")}
    assert records.ordering(models) == "transformer < lstm (so far)"
    models["transformer"] = entry(1.3, "cap")
    assert records.ordering(models) == "transformer < lstm"
    page = tmp_path / "RESULTS.md"
    page.write_text("# Results\n\nthe study\n")
    record = {"train_windows": 639_000, "test_windows": 70_000,
              "window_difference": {"train": -0.0007, "test": -0.0035}, "models": models}
    text.insert_section(page, text.section(record, None))
    text.insert_section(page, text.section(record, None))   # replaced in place, not appended
    written = page.read_text()
    assert written.startswith("# Results\n\nthe study\n")
    assert written.count(text.START) == 1 and "transformer < lstm" in written
    assert "| 639,470 | 639,000 | -0.07% |" in written


def test_the_study_keeps_the_section_when_it_rewrites_the_page(tmp_path):
    record_path = tmp_path / "results" / "ff-piano.json"
    page = tmp_path / "RESULTS.md"
    page.write_text("# Results (regenerated)\n")
    text.keep_section(page, record_path)   # no record yet: the page is left alone
    assert page.read_text() == "# Results (regenerated)\n"
    records.update_record(record_path, {"train_windows": 644_393, "test_windows": 70_486,
                                        "window_difference": {"train": 0.0077, "test": 0.0034}})
    text.keep_section(page, record_path)
    written = page.read_text()
    assert written.startswith("# Results (regenerated)\n") and text.END in written
    assert "| train | 639,470 | 644,393 | +0.77% |" in written
    assert "not run yet" in written and "Ordering: not yet" in written


def test_prepare_reuses_a_carried_dataset_where_the_raw_files_are_absent(tmp_path, data):
    # a GPU machine gets the prepared tokens (carried), not ../shared: the same dataset is used
    first = ff.prepare(data, tmp_path / "work")
    again = ff.prepare(tmp_path / "not-here", tmp_path / "work")
    assert again.directory == first.directory and again.reused
    assert again.manifest["splits"] == first.manifest["splits"]
    with pytest.raises(ff.FfPianoError, match="the paper's data is not there"):
        ff.prepare(tmp_path / "not-here", tmp_path / "empty-work")


def test_composer_train_prepare_takes_a_given_validation_split(tmp_path, data, capsys):
    from training_cli.__main__ import main as composer_train

    out = tmp_path / "dataset"
    assert composer_train(["prepare", str(data / "train"), "--val-source", str(data / "test"),
                           "--tokenizer", "bar_offset", "--out", str(out),
                           "--workers", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["split"]["by"] == "given"
    assert manifest["splits"]["train"]["files"] == 3 and manifest["splits"]["val"]["files"] == 1
    assert Path(manifest["splits"]["val"]["file_list"][0]).parent.name == "test"
    assert "validation 1 files" in capsys.readouterr().out


def test_the_pilot_hint_names_the_model_lower_at_every_shared_epoch():
    def entry(*values):
        curve = [{"epoch": i + 1, "step": i + 1, "tokens_seen": 100 * (i + 1), "test_nll": v,
                  "train_loss": None, "seconds": 1} for i, v in enumerate(values)]
        return records.model_entry(curve, stopped_by="cap", tokens_seen=300, seconds=1.0,
                                   tokens_per_note=3.0, cap_epochs=3)
    pilot = {"transformer": entry(2.6, 2.5, 2.4), "lstm": entry(3.4, 3.1)}
    assert "the transformer's test NLL was the lower at each of the 2 epochs" in " ".join(
        text.pilot_ordering(pilot))
    pilot["lstm"] = entry(2.5, 2.6)
    assert "neither model" in " ".join(text.pilot_ordering(pilot))
    assert text.pilot_ordering({"transformer": entry(2.0)}) == []


def test_demise_measures_the_truth_the_paper_samples_and_our_trained_runs(tmp_path, data):
    # the paper's conditioning piece (here a random 24-bar one under its name) and one
    # sample of the paper's, continued by our tiny trained run; each row names its source
    from bench.train_throughput import synthetic_sources

    long = synthetic_sources(tmp_path / "long", pieces=1, bars=24) / "piece0.mid"
    (data / "test" / "piece0.mid").rename(data / "test" / "FF10-2PC_09_Demise.mid")
    (data / "test" / "FF10-2PC_09_Demise.mid").write_bytes(long.read_bytes())
    (data / "paper-outputs").mkdir()
    (data / "paper-outputs" / "transformer-cond-1.mid").write_bytes(long.read_bytes())
    args = _args_list(tmp_path, data, "--cap-epochs", "1")
    assert ff.main(["train", *args]) == 0
    assert ff.main(["demise", *args, "--seeds", "2"]) == 0
    demise = json.loads((tmp_path / "ff-piano.json").read_text())["demise"]
    assert demise["source"] == "our models from the runs' best epochs"
    rows = demise["rows"]
    assert set(rows) == {"truth (the piece)", "paper's transformer (mean of 1 samples)",
                         "ours: transformer (epoch 1) (mean of 2 samples)"}
    # the paper's "sample" is the piece itself: it repeats the truth's figures exactly
    truth = rows["truth (the piece)"]
    paper = rows["paper's transformer (mean of 1 samples)"]
    assert paper["rhythm_reuse"] == truth["rhythm_reuse"]
    assert paper["new_notes"] == truth["new_notes"] > 0
    ours = rows["ours: transformer (epoch 1) (mean of 2 samples)"]
    assert ours["samples"] == 2 and ours["new_notes"] > 0
    assert 0.0 <= ours["rhythm_reuse"] <= 1.0

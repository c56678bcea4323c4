"""Model bundles: round trip, refusing bad bundles with clear errors, atomic saves,
finding and resolving bundles."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from ml_core import bundle as bundles
from ml_core import files
from ml_core.bundle import BundleError, find_bundles, load, read_config, resolve, save
from ml_core.models import build_model
from ml_core.tokenizers import get_tokenizer
from ml_core.tokenizers.frames import get_representation

MARKER_NAME = "pickle-was-executed"


@pytest.fixture
def tokenizer():
    return get_tokenizer("remi")


def small_transformer(vocab_size: int, **overrides):
    torch.manual_seed(0)
    hparams = dict(vocab_size=vocab_size, d_model=16, num_layers=2, num_heads=2, ff_size=24,
                   context=32, positions="relative", realformer=True)
    hparams.update(overrides)
    return build_model("transformer", **hparams).eval()


@pytest.fixture
def saved(tmp_path: Path, tokenizer) -> tuple[Path, torch.nn.Module]:
    model = small_transformer(tokenizer.vocab_size)
    folder = save(tmp_path / "tiny", model, tokenizer.to_dict(), name="tiny",
                  description="a test model", training={"files": 3, "recipe": {"lr": 1e-3}},
                  metrics={"test_nll": 1.25})
    return folder, model


def test_round_trip_gives_identical_logits(saved, tokenizer) -> None:
    folder, model = saved
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load(folder)
    tokens = torch.randint(0, tokenizer.vocab_size, (2, 12))
    with torch.no_grad():
        expected, _ = model(tokens)
        actual, _ = loaded.model(tokens)
    assert torch.equal(actual, expected)
    assert not loaded.model.training
    assert loaded.name == "tiny" and loaded.arch == "transformer"
    assert loaded.metrics == {"test_nll": 1.25}
    assert loaded.tokenizer.vocab_size == tokenizer.vocab_size
    config = read_config(folder)
    assert config["format_version"] == 1 and config["description"] == "a test model"
    assert config["parameter_count"] == model.parameter_count()
    assert config["training"] == {"files": 3, "recipe": {"lr": 1e-3}}
    assert config["tokenizer"]["name"] == "remi" and config["created"]


def test_tied_weights_and_frame_models_round_trip(tmp_path: Path, tokenizer) -> None:
    tied = small_transformer(tokenizer.vocab_size, tie_embeddings=True, positions="rope")
    loaded = load(save(tmp_path / "tied", tied, tokenizer.to_dict(), name="tied")).model
    assert loaded.head.weight is loaded.embedding.weight
    assert torch.equal(loaded.head.weight, tied.head.weight)

    torch.manual_seed(0)
    roll = build_model("gru_seq2seq", hidden_size=8, classifier_size=4).eval()
    representation = get_representation("pianoroll")
    folder = save(tmp_path / "roll", roll, representation.to_dict(), name="roll")
    frames = (torch.rand(1, 5, 88) < 0.2).float()
    with torch.no_grad():
        assert torch.equal(load(folder).model(frames)[0], roll(frames)[0])


def test_pickle_payload_is_refused_and_never_run(saved, tmp_path: Path) -> None:
    folder, _ = saved
    marker = tmp_path / MARKER_NAME

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (folder / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(BundleError, match="not a valid safetensors file"):
        load(folder)
    assert not marker.exists()
    torch_style = folder / "model.safetensors"
    torch.save({"weights": Payload()}, torch_style)  # a torch.save zip holding a pickle
    with pytest.raises(BundleError, match="not a valid safetensors file"):
        load(folder)
    assert not marker.exists()


def test_truncated_weights_are_refused(saved) -> None:
    folder, _ = saved
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    for size in (len(data) - 100, 40, 0):
        weights.write_bytes(data[:size])
        with pytest.raises(BundleError, match="truncated or corrupt") as caught:
            load(folder)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("change, message", [
    (lambda c: "{not json", "not valid JSON"),
    (lambda c: {k: v for k, v in c.items() if k != "arch"}, "has no 'arch' field"),
    (lambda c: {**c, "hparams": [1, 2]}, "'hparams' must be an object"),
    (lambda c: {**c, "format_version": 99}, "format_version 99 is not supported"),
    (lambda c: {**c, "format_version": True}, "'format_version' must be an integer"),
    (lambda c: {**c, "arch": "gpt5"}, "unknown model architecture 'gpt5'"),
    (lambda c: {**c, "hparams": {**c["hparams"], "d_model": "wide"}}, "d_model must be an integer"),
    (lambda c: {**c, "hparams": {**c["hparams"], "colour": 3}}, "unknown hyper-parameter"),
    (lambda c: {**c, "tokenizer": {"name": "nope"}}, "cannot rebuild its tokenizer"),
    (lambda c: {**c, "parameter_count": 5}, "config says 5 parameters"),
    (lambda c: [1, 2], "must hold a JSON object"),
])
def test_bad_config_is_refused_clearly(saved, change, message: str) -> None:
    folder, _ = saved
    config_path = folder / "config.json"
    changed = change(json.loads(config_path.read_text()))
    config_path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    with pytest.raises(BundleError, match=message) as caught:
        load(folder)
    assert "\n" not in str(caught.value)


def test_weights_that_do_not_fit_the_config_are_refused(saved, tmp_path: Path, tokenizer) -> None:
    folder, _ = saved
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    wider = {**config, "hparams": {**config["hparams"], "ff_size": 32}}
    config_path.write_text(json.dumps(wider))
    with pytest.raises(BundleError, match=r"'blocks.0.feed_forward_in.bias' has shape \(24,\), "
                                          r"the model needs \(32,\)"):
        load(folder)
    deeper = {**config, "hparams": {**config["hparams"], "num_layers": 3}}
    config_path.write_text(json.dumps(deeper))
    with pytest.raises(BundleError, match="missing weights blocks.2"):
        load(folder)
    shallower = {**config, "hparams": {**config["hparams"], "num_layers": 1}}
    config_path.write_text(json.dumps(shallower))
    with pytest.raises(BundleError, match="unexpected weights blocks.1"):
        load(folder)
    other_vocab = {**config, "hparams": {**config["hparams"], "vocab_size": 10}}
    config_path.write_text(json.dumps(other_vocab))
    with pytest.raises(BundleError, match="shape"):
        load(folder)


def test_model_and_tokenizer_vocabularies_must_agree(tmp_path: Path, tokenizer) -> None:
    model = small_transformer(tokenizer.vocab_size + 1)
    folder = save(tmp_path / "mismatch", model, tokenizer.to_dict(), name="mismatch")
    with pytest.raises(BundleError, match="tokens, its tokenizer"):
        load(folder)


def test_missing_pieces_are_refused(tmp_path: Path, saved) -> None:
    folder, _ = saved
    with pytest.raises(BundleError, match="not a folder"):
        load(tmp_path / "absent")
    (folder / "model.safetensors").unlink()
    assert read_config(folder)["name"] == "tiny"  # the model list needs no weights
    with pytest.raises(BundleError, match="model.safetensors is missing"):
        load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(BundleError, match="config.json is missing"):
        read_config(folder)


def test_save_is_atomic_when_writing_fails(saved, tokenizer, monkeypatch) -> None:
    folder, model = saved
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def failing_save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(bundles, "save_file", failing_save_file)
    other = small_transformer(tokenizer.vocab_size, ff_size=32)
    with pytest.raises(BundleError, match="could not save the bundle.*disk full"):
        save(folder, other, tokenizer.to_dict(), name="tiny")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny"]  # no temp folders left
    assert load(folder).config["hparams"]["ff_size"] == 24


def test_save_is_atomic_when_the_swap_fails(saved, tokenizer, monkeypatch) -> None:
    folder, _ = saved
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_replace = os.replace
    calls = []

    def flaky_replace(source, destination):
        calls.append(source)
        if Path(destination) == folder and Path(source).name.startswith(".tiny.saving"):
            raise OSError("interrupted")   # the new folder moving into place
        return real_replace(source, destination)

    monkeypatch.setattr(files.os, "replace", flaky_replace)
    with pytest.raises(BundleError, match="interrupted"):
        save(folder, small_transformer(tokenizer.vocab_size), tokenizer.to_dict(), name="tiny")
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert any(Path(source).name.startswith(".tiny.saving") for source in calls)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny"]


def test_save_refuses_bad_arguments_before_writing(tmp_path: Path, tokenizer) -> None:
    model = small_transformer(tokenizer.vocab_size)
    with pytest.raises(BundleError, match="plain JSON"):
        save(tmp_path / "x", model, tokenizer.to_dict(), name="x", metrics={"nll": object()})
    with pytest.raises(BundleError, match="non-empty name"):
        save(tmp_path / "x", model, tokenizer.to_dict(), name=" ")
    with pytest.raises(BundleError, match="build_model"):
        save(tmp_path / "x", torch.nn.Linear(2, 2), tokenizer.to_dict(), name="x")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def model_folders(tmp_path: Path, monkeypatch, tokenizer):
    bundled = tmp_path / "bundled"
    user = tmp_path / "user"
    monkeypatch.setattr(bundles.paths, "bundled_models_dir", lambda: bundled)
    monkeypatch.setattr(bundles.paths, "user_models_dir", lambda: user)
    model = small_transformer(tokenizer.vocab_size)
    save(bundled / "default", model, tokenizer.to_dict(), name="default")
    save(bundled / "shared", model, tokenizer.to_dict(), name="shared (bundled)")
    save(user / "mine", model, tokenizer.to_dict(), name="mine")
    save(user / "shared", model, tokenizer.to_dict(), name="shared (user)")
    broken = user / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{")
    return bundled, user


def test_find_bundles_lists_both_folders_and_reports_problems(model_folders) -> None:
    problems: list[str] = []
    found = find_bundles(problems)
    assert [(info.name, info.source) for info in found] == [
        ("default", "bundled"), ("shared (bundled)", "bundled"),
        ("mine", "user"), ("shared (user)", "user")]
    assert found[0].arch == "transformer" and found[0].parameter_count > 0
    assert len(problems) == 1 and "broken" in problems[0] and "not valid JSON" in problems[0]


def test_resolve_names_and_paths(model_folders, tmp_path: Path) -> None:
    bundled, user = model_folders
    assert resolve("default") == bundled / "default"
    assert resolve("mine") == user / "mine"
    assert resolve("shared") == user / "shared"  # the user's own model first
    assert resolve(str(bundled / "shared")) == bundled / "shared"
    with pytest.raises(BundleError, match="no model named 'absent' .*default, mine, shared"):
        resolve("absent")
    with pytest.raises(BundleError, match="config.json is missing"):
        resolve(str(user / "broken" / ".."))


def test_the_app_default_is_the_bundled_default_next_where_installed(model_folders,
                                                                     tokenizer) -> None:
    bundled, user = model_folders
    assert bundles.app_default() == "default"                  # not installed: the older one
    model = small_transformer(tokenizer.vocab_size)
    save(user / "default-next", model, tokenizer.to_dict(), name="default-next")
    assert bundles.app_default() == "default"                  # a user's model of that name
    save(bundled / "default-next", model, tokenizer.to_dict(), name="default-next")
    assert bundles.app_default() == bundles.APP_DEFAULT_NAME == "default-next"
    # the bundled one, as for `default`, even where the user folder has one of that name
    assert resolve("default-next") == bundled / "default-next"

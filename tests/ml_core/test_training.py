"""The training loop: recipes, checkpoints, the saved bundle, exact resume."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ml_core import checkpoint
from ml_core.bundle import load as load_bundle
from ml_core.data import Augmentation, PrepareOptions, prepare_dataset
from ml_core.losses import IGNORE_INDEX
from ml_core.midi_io import write_midi
from ml_core.models import build_model
from ml_core.models.base import window_logits
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import from_dict
from ml_core.training import (
    Recipe,
    Trainer,
    TrainOptions,
    last_windows,
    learning_rate,
    output_folder,
    resolve_recipe,
    train,
)

TINY_LSTM = {"embedding_dim": 16, "hidden_size": 32, "num_layers": 1, "fc_sizes": [32]}


def _song(seed: int) -> Score:
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = [Note(int(rng.choice(scale)), i * 240, 240, 90) for i in range(48)]
    return Score([Track("melody", 0, False, notes)], tempo_bpm=110)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    for index in range(4):
        write_midi(_song(index), root / f"song{index}.mid")
    prepare_dataset([str(root)], root / "data",
                    PrepareOptions("remi", val_fraction=0.25,
                                   augmentation=Augmentation(transpose=False),
                                   # the step counts below assume plain REMI
                                   tokenizer_config={"use_controls": False}))
    return root / "data"


@pytest.fixture(scope="module")
def frame_dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    for index in range(3):
        write_midi(_song(index + 10), root / f"song{index}.mid")
    prepare_dataset([str(root)], root / "data", PrepareOptions("pianoroll", val_fraction=0.34))
    return root / "data"


def _options(data, out, **changes):
    values = dict(data=data, out=str(out), arch="lstm", hparams=TINY_LSTM, window=16, batch_size=4,
                  epoch_fraction=0.05, epochs=50, max_steps=8, checkpoint_every=3, log_every=2,
                  lr=3e-3)
    values.update(changes)
    return TrainOptions(**values)


def test_recipe_takes_the_preset_then_the_command_line():
    recipe = resolve_recipe(TrainOptions(data=".", out="x", preset="lstm-symbolic-4.4m"))
    assert (recipe.arch, recipe.optimizer, recipe.lr, recipe.schedule) == ("lstm", "adamax", 5e-4,
                                                                           "exp-decay")
    assert recipe.window == 256 and recipe.batch_size == 8 and recipe.epoch_fraction == 0.02
    assert recipe.min_lr == 5e-5 and recipe.hparams["hidden_size"] == 512
    changed = resolve_recipe(TrainOptions(data=".", out="x", preset="lstm-symbolic-4.4m", lr=1e-3,
                                          window=64, hparams={"hidden_size": 128}))
    assert changed.lr == 1e-3 and changed.window == 64 and changed.hparams["hidden_size"] == 128
    assert changed.hparams["embedding_dim"] == 64
    with pytest.raises(ValueError, match="--model ARCH or --preset"):
        resolve_recipe(TrainOptions(data=".", out="x"))
    with pytest.raises(ValueError, match="window"):
        resolve_recipe(TrainOptions(data=".", out="x", arch="lstm", window=0))
    with pytest.raises(ValueError, match="--threads"):
        resolve_recipe(TrainOptions(data=".", out="x", arch="lstm", threads=0))


def test_another_architecture_keeps_the_presets_recipe_but_not_its_sizes():
    # the sequential-models report's plain LSTM: the rnn preset's recipe on an LSTM
    options = TrainOptions(data=".", out="x", preset="rnn", arch="lstm",
                           hparams={"hidden_size": 64, "num_layers": 1})
    recipe = resolve_recipe(options)
    assert recipe.arch == "lstm" and recipe.hparams == {"hidden_size": 64, "num_layers": 1}
    assert (recipe.optimizer, recipe.lr, recipe.window, recipe.batch_size) == ("adam", 1e-3, 128,
                                                                               64)
    model = build_model(recipe.arch, vocab_size=20, **recipe.hparams)   # no 'dropout' of the RNN's
    assert model.config.hidden_size == 64
    same = resolve_recipe(TrainOptions(data=".", out="x", preset="rnn", arch="rnn"))
    assert same.hparams["hidden_size"] == 512 and same.hparams["dropout"] == 0.0


def test_threads_caps_the_trainers_cpu_threads(dataset_dir, tmp_path):
    before = torch.get_num_threads()
    try:
        train(_options(dataset_dir, tmp_path / "model", threads=1, max_steps=2),
              log=lambda message: None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_exponential_decay_stops_at_the_floor():
    recipe = Recipe(arch="lstm", hparams={}, lr=5e-4, schedule="exp-decay", decay=0.8, min_lr=5e-5)
    assert learning_rate(recipe, 0) == pytest.approx(5e-4)
    assert learning_rate(recipe, 2) == pytest.approx(5e-4 * 0.64)
    assert learning_rate(recipe, 40) == pytest.approx(5e-5)
    assert learning_rate(Recipe(arch="lstm", hparams={}, lr=1e-3), 30) == 1e-3


def test_output_folder_name_or_path(tmp_path):
    from ml_core.paths import user_models_dir

    assert output_folder("my-model") == user_models_dir() / "my-model"
    assert output_folder(str(tmp_path / "models" / "m")) == tmp_path / "models" / "m"


def test_checkpoint_round_trip_restores_model_and_optimizer(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.Adamax(model.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 4)).pow(2).sum().backward()
        optimizer.step()
    checkpoint.save_checkpoint(tmp_path, model=model, optimizer=optimizer,
                               state={"step": 3, "note": "x"})
    checkpoint.save_checkpoint(tmp_path, model=model, optimizer=optimizer,
                               state={"step": 7, "note": "y"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-000000007.safetensors",
                                                          "checkpoint.json"]
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    fresh_optimizer = torch.optim.Adamax(fresh.parameters(), lr=0.5)
    state = checkpoint.load_checkpoint(tmp_path, model=fresh, optimizer=fresh_optimizer)
    assert state == {"step": 7, "note": "y"}
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name])
    assert fresh_optimizer.param_groups[0]["lr"] == 0.01
    for key, values in optimizer.state_dict()["state"].items():
        for name, value in values.items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(fresh_optimizer.state_dict()["state"][key][name]))
    other = torch.nn.Linear(4, 3)
    with pytest.raises(checkpoint.CheckpointError, match="does not fit"):
        checkpoint.load_checkpoint(tmp_path, model=other,
                                   optimizer=torch.optim.Adam(other.parameters()))
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "none", model=fresh, optimizer=fresh_optimizer)


def test_training_saves_the_best_bundle_and_a_log(dataset_dir, tmp_path):
    from ml_core import bundle

    result = train(_options(dataset_dir, tmp_path / "model"), log=lambda message: None)
    assert result.steps == 8 and result.epochs >= 2
    loaded = bundle.load(tmp_path / "model", "cpu")
    assert loaded.model.arch == "lstm"
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert json.loads(json.dumps(loaded.tokenizer.to_dict())) == manifest["tokenizer"]
    records = [json.loads(line)
               for line in (tmp_path / "model" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["type"] == "epoch"]
    assert [r["step"] for r in records if r["type"] == "step"] == [2, 4, 6, 8]
    assert epochs[-1]["step"] == 8
    best = min(r["val_nll"] for r in epochs)
    assert result.best_val_nll == pytest.approx(best)
    assert loaded.config["metrics"]["test_nll"] == pytest.approx(best)
    assert 0 < best < math.log(loaded.tokenizer.vocab_size) + 1
    assert (tmp_path / "model" / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_continues_exactly_where_an_interrupted_run_stopped(dataset_dir, tmp_path):
    quiet = lambda message: None  # noqa: E731
    straight = train(_options(dataset_dir, tmp_path / "straight", max_steps=10), log=quiet)
    first = train(_options(dataset_dir, tmp_path / "split", max_steps=4), log=quiet)
    assert first.steps == 4
    resumed = train(_options(dataset_dir, tmp_path / "split", max_steps=10, resume=True), log=quiet)
    assert resumed.resumed_from == 4 and resumed.steps == 10
    assert resumed.tokens_seen == straight.tokens_seen
    weights = [load_file(next(checkpoint.run_folder(tmp_path / name).glob("*.safetensors")))
               for name in ("straight", "split")]
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def test_weighted_loss_trains(dataset_dir, tmp_path):
    weighted = train(_options(dataset_dir, tmp_path / "weighted", loss="weighted-ce", max_steps=3),
                     log=lambda message: None)
    assert weighted.steps == 3 and weighted.best_val_nll > 0


def test_frame_model_trains_with_focal_loss_and_evaluates(frame_dataset_dir, tmp_path):
    from ml_core import bundle
    from ml_core.data import load_dataset
    from ml_core.evaluation import evaluate

    train(_options(frame_dataset_dir, tmp_path / "roll", arch="pianoroll_lstm",
                   hparams={"embedding_dim": 8, "hidden_size": 8, "num_layers": 1, "fc_sizes": []},
                   loss="focal", max_steps=3), log=lambda message: None)
    report = evaluate(bundle.load(tmp_path / "roll", "cpu"), load_dataset(frame_dataset_dir),
                      samples=2, sample_tokens=8, window=32)
    assert report["kind"] == "frame" and 0 < report["bce"] < 1.0
    assert 0 < report["density_real"] < 10          # a melody: about one key down per step
    assert report["density_predicted"] >= 0 and report["sample_density"] >= 0
    assert report["sample_steps"] == 8


def test_ctrl_c_saves_a_checkpoint_and_exits_130(dataset_dir, tmp_path, monkeypatch, capsys):
    from ml_core import training
    from training_cli.__main__ import main

    original, calls = training.Trainer._loss, []

    def interrupted_on_the_fourth_step(self, *tensors):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, *tensors)

    monkeypatch.setattr(training.Trainer, "_loss", interrupted_on_the_fourth_step)
    out = tmp_path / "model"
    code = main(["train", "--data", str(dataset_dir), "--model", "lstm", "--out", str(out),
                 "--hparam", "embedding_dim=8", "--hparam", "hidden_size=8", "--hparam",
                 "num_layers=1",
                 "--window", "16", "--batch-size", "2", "--max-steps", "20",
                 "--checkpoint-every", "100"])
    assert code == 130
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: interrupted at step 3")
    saved = checkpoint.run_folder(out) / checkpoint.CHECKPOINT_JSON
    state = json.loads(saved.read_text())["state"]
    assert state["step"] == 3


def test_sigterm_stops_training_like_ctrl_c(dataset_dir, tmp_path, monkeypatch, capsys):
    """A `kill` (SIGTERM) on the fourth step: the checkpoint is saved at step 3, exit 130,
    one line; the process's own SIGTERM handler is back afterwards."""
    import os
    import signal

    from ml_core import training
    from training_cli.__main__ import main

    original, calls = training.Trainer._loss, []

    def killed_on_the_fourth_step(self, *tensors):
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, *tensors)

    monkeypatch.setattr(training.Trainer, "_loss", killed_on_the_fourth_step)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "model"
    code = main(["train", "--data", str(dataset_dir), "--model", "lstm", "--out", str(out),
                 "--hparam", "embedding_dim=8", "--hparam", "hidden_size=8", "--hparam",
                 "num_layers=1",
                 "--window", "16", "--batch-size", "2", "--max-steps", "20",
                 "--checkpoint-every", "100"])
    assert code == 130 and signal.getsignal(signal.SIGTERM) is before
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: interrupted at step")
    saved = checkpoint.run_folder(out) / checkpoint.CHECKPOINT_JSON
    state = json.loads(saved.read_text())["state"]
    assert 3 <= state["step"] <= 4


TINY_TRANSFORMER = {"d_model": 16, "num_layers": 1, "num_heads": 2, "ff_size": 32, "context": 32}


def test_a_failing_compile_falls_back_to_eager_and_training_finishes(dataset_dir, tmp_path,
                                                                     monkeypatch):
    def broken_compile(function, **kwargs):
        def compiled(*args):
            raise RuntimeError("inductor: no C++ compiler\nlong traceback")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    messages: list[str] = []
    result = train(_options(dataset_dir, tmp_path / "compiled", arch="transformer",
                            hparams=TINY_TRANSFORMER,
                            compile="on", precision="fp32"), log=messages.append)
    assert result.steps == 8 and math.isfinite(result.best_val_nll)
    assert any("torch.compile failed (inductor: no C++ compiler); training in eager mode" in m
               for m in messages)
    started = next(m for m in messages if m.startswith("training transformer"))
    assert "precision fp32" in started and "compiled" in started
    assert any("tokens/s" in m for m in messages if m.startswith("epoch"))
    card = json.loads((result.bundle_path / "config.json").read_text())
    assert card["training"]["precision"] == "fp32"


def test_precision_auto_is_recorded_as_what_ran(dataset_dir, tmp_path, monkeypatch):
    from ml_core import acceleration

    monkeypatch.setattr(acceleration, "has_bf16_matrix_units", lambda device: True)
    messages: list[str] = []
    # timed steps: fp32 3 s, bf16 1 s -> bf16 (measured faster)
    readings = iter([0.0, 3.0, 3.0, 4.0])
    result = train(_options(dataset_dir, tmp_path / "auto", arch="transformer",
                            hparams=TINY_TRANSFORMER,
                            max_steps=2), log=messages.append, timer=lambda: next(readings))
    card = json.loads((result.bundle_path / "config.json").read_text())
    assert card["training"]["precision"] == "bf16" and card["training"]["compiled"] is False
    assert any("precision bf16 (auto)" in m for m in messages)
    lstm = train(_options(dataset_dir, tmp_path / "lstm", max_steps=2), log=messages.append)
    config = json.loads((lstm.bundle_path / "config.json").read_text())
    assert config["training"]["precision"] == "fp32"


def _window_model(window=5, vocab=12):
    torch.manual_seed(0)
    return build_model("bilstm_attention", vocab_size=vocab, window=window, embedding_dim=8,
                       bilstm_size=8,
                       attention_size=4, lstm_size=8, dense_size=8, dropout=0.0).eval()


def test_a_fixed_window_model_trains_on_each_windows_last_target_with_its_true_context():
    model = _window_model()
    piece = torch.randint(0, 12, (1, 30))
    # every position from the piece's start
    whole, _ = model(piece)
    # two training windows of 6 inputs: one mid-piece (start 17), one at a short piece's start
    inputs = torch.stack([piece[0, 17:23],
                          torch.cat([piece[0, :3], torch.zeros(3, dtype=torch.long)])])
    targets = torch.stack([piece[0, 18:24],
                           torch.cat([piece[0, 1:4], torch.full((3,), IGNORE_INDEX)])])
    valid = targets != IGNORE_INDEX
    preceding = np.stack([piece[0, 13:17].numpy(), np.full(4, -1)])
    last, target, has, state = last_windows(model, inputs, targets, valid, preceding)
    assert last.tolist() == [[int(piece[0, 22])], [int(piece[0, 2])]]
    assert target.tolist() == [[int(piece[0, 23])], [int(piece[0, 3])]] and has.all()
    logits, _ = model(last, state)
    # the same prediction as in the piece
    assert torch.allclose(logits[0, 0], whole[0, 22], atol=1e-5)
    assert torch.allclose(logits[1, 0], whole[0, 2], atol=1e-5)
    # scoring every position of a window mid-piece: the ids before it make it the piece's own
    tile = window_logits(model, piece[:, 17:23], piece[:, 13:17].numpy())
    assert torch.allclose(tile, whole[:, 17:23], atol=1e-5)
    # without: a fake start
    assert not torch.allclose(model(piece[:, 17:23])[0], whole[:, 17:23], atol=1e-3)


def test_training_a_fixed_window_model_counts_one_target_per_window(dataset_dir, tmp_path):
    options = _options(dataset_dir, tmp_path / "bilstm", arch="bilstm_attention",
                       hparams={"window": 16, "embedding_dim": 8, "bilstm_size": 8,
                                "attention_size": 4,
                                "lstm_size": 8, "dense_size": 8}, window=16,
                                batch_size=4, max_steps=3)
    trainer = Trainer(options, log=lambda message: None)
    trainer.run()
    assert trainer.state.step == 3 and trainer.state.tokens_seen == 3 * 4
    assert math.isfinite(trainer.state.best_val_nll)


def test_a_transformer_trained_on_short_windows_is_said_and_generates_from_them(dataset_dir,
                                                                                tmp_path):
    """Windows shorter than the context: the trainer says the bundle will generate from at
    most the window, and the bundle it writes does (its card's recipe window)."""
    context = TINY_TRANSFORMER["context"]
    messages: list[str] = []
    short = train(_options(dataset_dir, tmp_path / "short", arch="transformer",
                           hparams=TINY_TRANSFORMER, window=context // 2, max_steps=2),
                  log=messages.append)
    assert any(f"generate from at most {context // 2}" in m for m in messages)
    assert load_bundle(short.bundle_path).model.max_context == context // 2
    messages.clear()
    whole = train(_options(dataset_dir, tmp_path / "whole", arch="transformer",
                           hparams=TINY_TRANSFORMER, window=context, max_steps=2),
                  log=messages.append)
    assert not any("generate from at most" in m for m in messages)
    assert load_bundle(whole.bundle_path).model.max_context == context


def test_dropped_controls_are_read_but_never_targets(tmp_path):
    """Control dropout shows some controls as "any": the model reads them, but the loss
    never asks it to predict "any" (a piece never holds it); real controls stay targets."""
    root = tmp_path / "songs"
    root.mkdir()
    for index in range(3):
        write_midi(_song(index + 20), root / f"song{index}.mid")
    data = root / "data"
    prepare_dataset([str(root)], data, PrepareOptions("remi", val_fraction=0.34,
                                                      augmentation=Augmentation(transpose=False)))
    trainer = Trainer(_options(data, tmp_path / "run", arch="transformer",
                               hparams=TINY_TRANSFORMER, window=32, batch_size=8),
                      log=lambda message: None)
    tokenizer = from_dict(trainer.dataset.manifest["tokenizer"])
    any_ids = [ids[-1] for ids in tokenizer.control_ids.values()]
    real_ids = [t for ids in tokenizer.control_ids.values() for k, t in ids.items() if k != -1]
    dropped = scored_controls = 0
    for step in range(4):
        batch = trainer._batch(step)
        _, targets, valid = trainer._tensors(batch)
        items = torch.from_numpy(batch.items)[:, 1:]
        shown_any = torch.isin(items, torch.tensor(any_ids)) & valid
        assert (targets[shown_any] == IGNORE_INDEX).all()
        dropped += int(shown_any.sum())
        real = torch.isin(items, torch.tensor(real_ids)) & valid
        assert (targets[real] == items[real]).all()
        scored_controls += int(real.sum())
    assert dropped > 0 and scored_controls > dropped     # dropout 0.3 of them

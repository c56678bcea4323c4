"""Issue 43: `--precision auto` by measurement, `--init-from` with growth, the chain's card."""

import json

import numpy as np
import pytest
import torch

from ml_core import acceleration, bundle, chain
from ml_core.data import Augmentation, PrepareOptions, prepare_dataset
from ml_core.midi_io import write_midi
from ml_core.models import build_model
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import get_tokenizer
from ml_core.training import TrainOptions, learning_rate, resolve_recipe, train

SMALL = {"d_model": 16, "num_layers": 1, "num_heads": 2, "ff_size": 32, "context": 32,
         "dropout": 0.0}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    rng = np.random.default_rng(0)
    for index in range(4):
        notes = [Note(int(rng.choice([60, 62, 64, 65, 67])), i * 240, 240, 90) for i in range(40)]
        write_midi(Score([Track("melody", 0, False, notes)], tempo_bpm=100),
                   root / f"song{index}.mid")
    prepare_dataset([str(root)], root / "data", PrepareOptions(
        "remi", val_fraction=0.25, augmentation=Augmentation(transpose=False),
        tokenizer_config={"use_controls": False}))
    return root / "data"


def _options(data, out, **changes):
    values = dict(data=data, out=str(out), arch="transformer", hparams=dict(SMALL),
                  window=16, batch_size=4,
                  epoch_fraction=0.05, epochs=50, max_steps=4, checkpoint_every=2,
                  log_every=2, lr=3e-3,
                  precision="fp32", compile="off")
    values.update(changes)
    return TrainOptions(**values)


# ---------------------------------------------------------------- precision by measurement


class FakeClock:
    """A timer whose readings are given in advance (one per call)."""

    def __init__(self, readings):
        self.readings = list(readings)

    def __call__(self):
        return self.readings.pop(0)


@pytest.mark.parametrize(("seconds", "expected"), [({"fp32": 1.0, "bf16": 2.5}, "fp32"),
                                                   ({"fp32": 2.0, "bf16": 0.5}, "bf16")])
def test_measure_precisions_keeps_the_measured_faster(seconds, expected):
    now = [0.0]
    ran = []

    def run_step(precision):   # each step "takes" its precision's seconds on the fake clock
        ran.append(precision)
        now[0] += seconds[precision]

    rates = acceleration.measure_precisions(["fp32", "bf16"], run_step, steps=3, warmup=1,
                                            timer=lambda: now[0])
    assert rates == pytest.approx({name: 1 / value for name, value in seconds.items()})
    assert acceleration.fastest(rates) == expected
    assert ran == ["fp32"] * 4 + ["bf16"] * 4      # one warm-up step each, untimed


def test_a_tie_keeps_fp32():
    assert acceleration.fastest({"fp32": 2.0, "bf16": 2.0}) == "fp32"
    assert acceleration.fastest({"bf16": 2.0, "fp32": 2.0}) == "fp32"


@pytest.mark.parametrize(("readings", "expected"), [([0.0, 3.0, 3.0, 4.0], "bf16"),
                                                    ([0.0, 1.0, 1.0, 4.0], "fp32")])
def test_train_precision_auto_trains_in_the_measured_faster(dataset_dir, tmp_path,
                                                            monkeypatch, readings,
                                                            expected):
    monkeypatch.setattr(acceleration, "has_bf16_matrix_units", lambda device: True)
    messages = []
    # the timer is read at the start and end of the fp32 steps, then of the bf16 steps
    result = train(_options(dataset_dir, tmp_path / "auto", precision="auto", max_steps=2),
                   log=messages.append, timer=FakeClock(readings))
    card = json.loads((result.bundle_path / "config.json").read_text())
    assert card["training"]["precision"] == expected
    fp32, bf16 = 3 / (readings[1] - readings[0]), 3 / (readings[3] - readings[2])
    assert (card["training"]["precision_measured_steps_per_s"] == pytest.approx({"fp32": fp32,
                                                                                 "bf16": bf16}))
    assert any(m.startswith("precision auto: fp32") and m.endswith(f"-> {expected}")
               for m in messages)
    assert any(f"precision {expected} (auto)" in m for m in messages)


def test_without_bf16_units_auto_is_fp32_without_measuring(dataset_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(acceleration, "has_bf16_matrix_units", lambda device: False)

    def no_timer():
        raise AssertionError("nothing to compare: no step should be timed")

    result = train(_options(dataset_dir, tmp_path / "fp32", precision="auto", max_steps=2),
                   timer=no_timer)
    card = json.loads((result.bundle_path / "config.json").read_text())
    assert (card["training"]["precision"] == "fp32"
            and "precision_measured_steps_per_s" not in card["training"])


# ---------------------------------------------------------------- init from a bundle


def _saved(tmp_path, name, hparams, seed=0):
    torch.manual_seed(seed)
    model = build_model("transformer", **hparams)
    tokenizer = get_tokenizer("remi", use_controls=False)
    return bundle.save(tmp_path / name, model, tokenizer.to_dict(), name=name), model.eval()


def test_a_grown_vocabulary_keeps_the_old_rows_and_their_logits(tmp_path):
    old_hparams = {**SMALL, "vocab_size": 20, "num_layers": 2}
    folder, old = _saved(tmp_path, "old", old_hparams)
    torch.manual_seed(1)
    grown = build_model("transformer",
                        **{**old_hparams, "vocab_size": 26, "ff_size": 48, "num_layers": 3})
    counts = chain.init_weights(grown, folder)
    grown.eval()
    # embedding, head, ff in/out grew; block 2 new
    assert counts["grown"] >= 4 and counts["new"] > 0
    assert torch.equal(grown.embedding.weight[:20], old.embedding.weight)
    ids = torch.randint(0, 20, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        old_logits, _ = old(ids)
        new_logits, _ = grown(ids)
    assert new_logits.shape[-1] == 26
    assert torch.allclose(new_logits[..., :20], old_logits, atol=1e-5)
    # the new rows are live: their logits are not all equal to a constant
    assert new_logits[..., 20:].std() > 0


def test_init_refuses_a_model_it_cannot_grow_into(tmp_path):
    folder, _ = _saved(tmp_path, "old", {**SMALL, "vocab_size": 20})
    for change, words in (({"d_model": 32}, "d_model differs"),
                          ({"vocab_size": 10}, "grow but not shrink"),
                          ({"positions": "absolute"}, "positions differs")):
        model = build_model("transformer", **{**SMALL, "vocab_size": 20, **change})
        with pytest.raises(chain.InitError, match=words):
            chain.init_weights(model, folder)


def test_an_lstm_bundle_starts_its_preset_whose_sizes_are_tuples(tmp_path):
    # the card stores fc_sizes as [512], the lstm-default preset as (512,): the same model;
    # its dropouts only shape training; a different hidden size is still refused
    from ml_core.models.presets import get_preset

    preset = get_preset("lstm-default")
    small = {**preset.hparams, "hidden_size": 16, "embedding_dim": 8, "fc_sizes": (16,)}
    old = build_model("lstm", vocab_size=20, **small)
    folder = bundle.save(tmp_path / "lstm", old, get_tokenizer("remi").to_dict(), name="lstm")
    assert bundle.read_config(folder)["hparams"]["fc_sizes"] == [16]      # JSON: a list
    grown = build_model("lstm", vocab_size=24, **{**small, "lstm_dropout": 0.1})
    chain.init_weights(grown, folder)
    with pytest.raises(chain.InitError, match="hidden_size differs"):
        chain.init_weights(build_model("lstm", vocab_size=24, **{**small, "hidden_size": 32}),
                           folder)


def test_init_from_trains_on_with_a_warm_up_and_the_card_adds_up_the_chain(dataset_dir, tmp_path):
    first = train(_options(dataset_dir, tmp_path / "first", max_steps=4))
    first_card = json.loads((first.bundle_path / "config.json").read_text())
    links = first_card["training"]["chain"]["links"]
    assert len(links) == 1 and links[0]["tokens_seen"] == first.tokens_seen and links[0]["machine"]

    messages = []
    options = _options(dataset_dir, tmp_path / "second",
                       init_from=str(first.bundle_path), arch=None,
                       hparams={"ff_size": 48}, max_steps=3, warmup_steps=10)
    recipe = resolve_recipe(options)
    assert (recipe.arch == "transformer" and recipe.hparams["ff_size"] == 48
            and recipe.hparams["d_model"] == 16)
    assert learning_rate(recipe, 0, 0) == pytest.approx(3e-3 / 10)
    assert learning_rate(recipe, 0, 9) == pytest.approx(3e-3) == learning_rate(recipe, 0, 50)
    second = train(options, log=messages.append)
    assert any("tensors copied" in m and "grown" in m for m in messages)
    card = json.loads((second.bundle_path / "config.json").read_text())
    record = card["training"]["chain"]
    assert [link["steps"] for link in record["links"]] == [4, 3]
    assert record["totals"]["tokens_seen"] == first.tokens_seen + second.tokens_seen
    assert record["totals"]["steps"] == 7 and record["totals"]["links"] == 2
    assert record["links"][1]["init_from"] == str(first.bundle_path)
    assert card["training"]["recipe"]["warmup"] == 10 and card["hparams"]["ff_size"] == 48
    # resuming the link keeps its chain and does not reload the first link's weights
    resumed = train(_options(dataset_dir, tmp_path / "second",
                             init_from=str(first.bundle_path), arch=None,
                             hparams={"ff_size": 48}, max_steps=5, warmup_steps=10, resume=True),
                    log=messages.append)
    assert resumed.resumed_from == 3
    card = json.loads((resumed.bundle_path / "config.json").read_text())
    assert card["training"]["chain"]["totals"]["steps"] == 4 + 5


def test_a_card_from_before_chains_counts_as_one_link(tmp_path):
    folder, _ = _saved(tmp_path, "old", {**SMALL, "vocab_size": 20})
    bundle.record_metrics(folder, "tokens_seen", 1234)
    bundle.record_metrics(folder, "steps", 10)
    links = chain.earlier_links(folder)
    assert (len(links) == 1 and links[0]["tokens_seen"] == 1234
            and links[0]["machine"] == "not recorded")


# ---------------------------------------------------------------- export at half size


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_export_stores_half_size_weights_that_load_as_fp32(tmp_path, dtype):
    from training_cli.__main__ import main

    vocab = get_tokenizer("remi", use_controls=False).vocab_size
    folder, model = _saved(tmp_path, "full", {**SMALL, "vocab_size": vocab})
    (folder / "metrics.jsonl").write_text('{"type": "epoch", "epoch": 1, "step": 2, "val_nll": '
                                          '1.0}\n')
    assert main(["export", str(folder), "--out", str(tmp_path / "half"), "--weights", dtype,
                 "--description", "smaller"]) == 0
    half = bundle.load(tmp_path / "half")
    assert half.name == "half" and half.config["description"] == "smaller"
    assert half.config["weights_dtype"] == dtype and (tmp_path / "half" / "metrics.jsonl").is_file()
    assert all(p.dtype == torch.float32 for p in half.model.parameters())
    full_size = (folder / bundle.WEIGHTS_FILE).stat().st_size
    assert (tmp_path / "half" / bundle.WEIGHTS_FILE).stat().st_size < 0.6 * full_size
    ids = torch.randint(0, vocab, (1, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(half.model(ids)[0], model(ids)[0], atol=0.05)
    with pytest.raises(bundle.BundleError, match="unknown weights dtype"):
        bundle.save(tmp_path / "x", model, half.config["tokenizer"], name="x", weights_dtype="int4")


def test_init_moves_rows_by_token_name_when_options_insert_tokens(tmp_path):
    """REMI with 16-quarter bars inserts time signatures, positions and durations in the
    middle of the vocabulary: each old token's row must follow its name, not its index."""
    eight = get_tokenizer("remi", max_bar_quarters=8)
    sixteen = get_tokenizer("remi", max_bar_quarters=16)
    old_tokens, new_tokens = eight.vocab.tokens, sixteen.vocab.tokens
    assert new_tokens[:len(old_tokens)] != old_tokens   # inserted, not appended
    torch.manual_seed(0)
    old = build_model("transformer", **{**SMALL, "vocab_size": len(old_tokens)}).eval()
    folder = bundle.save(tmp_path / "eight", old, eight.to_dict(), name="eight")
    torch.manual_seed(1)
    grown = build_model("transformer", **{**SMALL, "vocab_size": len(new_tokens)})
    chain.init_weights(grown, folder, list(new_tokens))
    grown.eval()
    new_ids, old_ids = chain.token_rows(list(old_tokens), list(new_tokens))
    assert torch.equal(grown.embedding.weight[new_ids], old.embedding.weight[old_ids])
    sequence = [eight.vocab[t] for t in ("Bar", "TimeSig_3_4", "Position_0", "Pitch_60")]
    with torch.no_grad():
        old_logits, _ = old(torch.tensor([sequence]))
        new_logits, _ = grown(torch.tensor([[sixteen.vocab[old_tokens[i]] for i in sequence]]))
    assert torch.allclose(new_logits[0][:, new_ids], old_logits[0][:, old_ids], atol=1e-5)


def test_init_refuses_a_vocabulary_that_drops_old_tokens():
    with pytest.raises(chain.InitError, match="lacks 1"):
        chain.token_rows(["Bar", "Pitch_60", "Pitch_61"], ["Bar", "Pitch_60", "Extra"])


def test_a_link_records_the_parts_its_data_held_and_the_chain_adds_them_up(tmp_path):
    # a remi_tracks dataset of duets: the card says which parts (Track tokens) the model
    # was taught, how many bar sections each, so that generation can keep to them
    root = tmp_path / "duets"
    root.mkdir()
    rng = np.random.default_rng(1)
    for index in range(4):
        top = [Note(int(rng.choice([67, 69, 71, 72])), i * 480, 480, 90) for i in range(24)]
        low = [Note(int(rng.choice([43, 45, 47, 48])), i * 960, 960, 90) for i in range(12)]
        write_midi(Score([Track("violin", 40, False, top), Track("cello", 42, False, low)],
                         tempo_bpm=100), root / f"duet{index}.mid")
    prepare_dataset([str(root)], root / "data", PrepareOptions(
        "remi_tracks", val_fraction=0.25, augmentation=Augmentation(transpose=False),
        tokenizer_config={"use_controls": False, "merge_share": 0.0}))
    first = train(_options(root / "data", tmp_path / "one", max_steps=2))
    card = json.loads((first.bundle_path / "config.json").read_text())
    parts = card["training"]["chain"]["links"][0]["parts"]
    assert set(parts) == {"Track_strings_0", "Track_strings_1"}
    assert parts["Track_strings_0"] == parts["Track_strings_1"] >= 3 * 6   # a section a bar
    second = train(_options(root / "data", tmp_path / "two", max_steps=2, arch=None,
                            init_from=str(first.bundle_path)))
    totals = json.loads((second.bundle_path / "config.json").read_text())[
        "training"]["chain"]["totals"]
    assert totals["parts"] == {name: 2 * count for name, count in parts.items()}

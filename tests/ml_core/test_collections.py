"""Collections: music21 corpus folders and user folders recorded per piece, mixed in one
dataset, cached per file, and balanced when windows are sampled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml_core import data as data_module
from ml_core.data import (
    DataError,
    PrepareOptions,
    Split,
    WindowSampler,
    collection_weights,
    load_dataset,
    parse_collection_weights,
    prepare_dataset,
    resolve_collections,
)
from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track

# three small collections of the corpus (five MusicXML files, a second to read)
SMALL_COLLECTIONS = ["music21:leadSheet", "music21:theoryExercises", "music21:liliuokalani"]
BOOK = "".join(f"X:{i}\nT:Tune {i}\nM:4/4\nL:1/8\nK:G\n{'GABc dedB cBAG FGAB' * 4}|]\n\n"
               for i in range(1, 4))
BOOK += "X:4\nT:Too long a bar for REMI\nM:17/4\nL:1/4\nK:G\nGABcdedBcGABcdedB|]\n"


def write_tune(path, seed: int, bars: int = 8) -> None:
    rng = np.random.default_rng(seed)
    notes = [Note(int(rng.integers(60, 72)), i * 240, 240, 90) for i in range(bars * 8)]
    write_midi(Score([Track("tune", 0, False, notes)]), path)


@pytest.fixture(scope="module")
def corpus_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mine") / "my_tunes"
    folder.mkdir()
    for index in range(3):
        write_tune(folder / f"tune{index}.mid", index)
    (folder / "book.abc").write_text(BOOK)   # three tunes in one file
    out = tmp_path_factory.mktemp("dataset")
    options = PrepareOptions(tokenizer="remi", val_fraction=0.0, workers=1)
    result = prepare_dataset([*SMALL_COLLECTIONS, str(folder)], out, options)
    return result, folder, options


def test_music21_collections_and_a_user_folder_are_recorded_per_file_and_piece(corpus_dataset):
    result, folder, _ = corpus_dataset
    manifest = result.manifest
    assert manifest["collections"] == ["leadSheet", "liliuokalani", "my_tunes", "theoryExercises"]
    train = manifest["splits"]["train"]
    assert len(train["file_collections"]) == len(train["file_list"])
    for path, collection in zip(train["file_list"], train["file_collections"], strict=True):
        expected = ("my_tunes" if path.startswith(str(folder.resolve()))
                    else path.split("/corpus/")[1].split("/")[0])
        assert collection == expected
    assert train["collections"].keys() == {"leadSheet", "liliuokalani", "my_tunes",
                                           "theoryExercises"}
    assert train["collections"]["leadSheet"]["pieces"] == 2
    # the ABC book's tunes are pieces of their own: 3 MIDI files + 3 tunes from 4 files; its
    # fourth tune, in a meter REMI refuses, is left out without losing the other three
    assert train["collections"]["my_tunes"]["pieces"] == 6
    assert [(Path(entry["path"]).name, entry["reason"][:40])
            for entry in manifest["pieces_left_out"]] == \
        [("book.abc", "1 of 4 pieces left out: time signature 1")]
    assert train["file_collections"].count("my_tunes") == 4
    dataset = load_dataset(result.directory)
    labels = dataset.train.collections
    assert len(labels) == dataset.train.pieces
    tokens = {name: int(dataset.train.lengths[labels == number].sum())
              for number, name in enumerate(dataset.collection_names)}
    assert tokens == {name: entry["tokens"] for name, entry in train["collections"].items()}
    assert sum(tokens.values()) == len(dataset.train.data)


def test_rerun_reuses_the_dataset_and_a_new_tokenizer_reuses_the_parsed_files(corpus_dataset,
                                                                              monkeypatch):
    result, folder, options = corpus_dataset
    again = prepare_dataset([*SMALL_COLLECTIONS, str(folder)], result.directory, options)
    assert again.reused and again.manifest["cache_key"] == result.manifest["cache_key"]
    assert again.manifest["splits"] == result.manifest["splits"]
    parsed = []
    monkeypatch.setattr("ml_core.midi_io.read_scores", lambda path: parsed.append(path) or [])
    other = prepare_dataset([*SMALL_COLLECTIONS, str(folder)], result.directory,
                            PrepareOptions(tokenizer="midi_like", val_fraction=0.0, workers=1))
    assert not other.reused and parsed == []   # every file came from the score cache
    ours, theirs = other.manifest["splits"]["train"], result.manifest["splits"]["train"]
    assert ours["collections"].keys() == theirs["collections"].keys()


def test_resolve_collections_names_corpus_folders_and_rejects_unknown_queries():
    found = resolve_collections(["music21:miscFolk", "music21:leadSheet"])
    assert sorted(found.values()) == ["leadSheet", "leadSheet", "miscFolk", "miscFolk"]
    assert all(path.suffix in (".abc", ".mxl") for path in found)
    with pytest.raises(DataError, match="no pieces for 'no_such_collection'"):
        resolve_collections(["music21:no_such_collection"])


def test_unreadable_file_is_cached_as_skipped(tmp_path):
    folder = tmp_path / "box"
    folder.mkdir()
    write_tune(folder / "good.mid", 1)
    (folder / "bad.mid").write_bytes(b"not music at all")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="not a MIDI file"):
        data_module.read_pieces(str(folder / "bad.mid"), cache)
    stored = [json.loads(p.read_text()) for p in cache.iterdir()]
    assert len(stored) == 1 and "not a MIDI file" in stored[0]["error"]
    with pytest.raises(DataError, match="not a MIDI file"):   # answered from the cache
        data_module.read_pieces(str(folder / "bad.mid"), cache)
    first = data_module.read_pieces(str(folder / "good.mid"), cache)
    assert data_module.read_pieces(str(folder / "good.mid"), cache) == first


# ---------------------------------------------------------------- balancing
def _split(lengths: list[int], collections: list[int]) -> Split:
    data = np.concatenate([np.full(n, i, dtype=np.int32) for i, n in enumerate(lengths)])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Split(data, offsets, np.asarray(collections, dtype=np.int32))


class _Dataset:
    def __init__(self, names):
        self.collection_names = names


def _shares(sampler: WindowSampler, split: Split, collections: int) -> np.ndarray:
    pieces, starts = sampler.positions(np.random.default_rng(0), 40_000)
    assert (starts >= 0).all() and (starts < sampler.counts[pieces]).all()
    return np.bincount(split.collections[pieces], minlength=collections) / len(pieces)


def test_balancing_gives_each_collection_its_share_of_windows():
    # a big collection (two long pieces) and a small one (three short pieces): 97 % vs 3 %
    split = _split([2000, 1800, 30, 40, 50], [0, 0, 1, 1, 1])
    window = 8
    plain = _shares(WindowSampler(split, window), split, 2)
    assert plain == pytest.approx([3776 / 3869, 93 / 3869], abs=0.01)
    names = ["chorales", "folk"]
    equal = collection_weights(_Dataset(names), "collections")
    balanced = _shares(WindowSampler(split, window, collection_weights=equal), split, 2)
    assert balanced == pytest.approx([0.5, 0.5], abs=0.01)
    weighted = collection_weights(_Dataset(names), "none", parse_collection_weights("folk=3"))
    assert _shares(WindowSampler(split, window, collection_weights=weighted), split, 2) == \
        pytest.approx([0.25, 0.75], abs=0.01)
    # inside a collection windows stay uniform: piece 2 (22 windows) vs piece 4 (42)
    pieces, _ = (WindowSampler(split, window,
                               collection_weights=equal).positions(np.random.default_rng(1),
                                                                   40_000))
    folk = np.bincount(pieces, minlength=5)[2:]
    assert folk / folk.sum() == pytest.approx(np.array([22, 32, 42]) / 96, abs=0.015)


def test_balance_options_are_checked():
    names = ["bach", "folk"]
    assert collection_weights(_Dataset(names)) is None
    with pytest.raises(DataError, match="no collection jazz"):
        collection_weights(_Dataset(names), "collections", {"jazz": 2})
    with pytest.raises(DataError, match="unknown --balance"):
        collection_weights(_Dataset(names), "pieces")
    with pytest.raises(DataError, match="not all 0"):
        collection_weights(_Dataset(names), "collections", {"bach": 0, "folk": 0})
    with pytest.raises(DataError, match="name=weight"):
        parse_collection_weights("bach")
    assert parse_collection_weights("bach=0, folk=2.5") == {"bach": 0.0, "folk": 2.5}
    split = _split([100, 100], [0, 1])
    left_out = _shares(WindowSampler(split, 8, collection_weights=np.array([0.0, 1.0])), split, 2)
    assert left_out.tolist() == [0.0, 1.0]


# three Trainers (a minute on a busy 2-core CPU); the sampler tests above and the
@pytest.mark.slow
# CLI test (a bad --balance-weights is refused from inside the Trainer) cover the same path
def test_trainer_batches_follow_the_balance_option(tmp_path):
    from ml_core.training import Trainer, TrainOptions

    for name, count, bars in (("big", 4, 32), ("small", 2, 4)):
        (tmp_path / name).mkdir()
        for index in range(count):
            write_tune(tmp_path / name / f"{index}.mid", index + 10 * bars, bars)
    data = tmp_path / "data"
    prepare_dataset([str(tmp_path / "big"), str(tmp_path / "small")], data,
                    PrepareOptions(tokenizer="remi", val_fraction=0.0, workers=1))
    dataset = load_dataset(data)
    small = dataset.collection_names.index("small")

    def small_share(**balance) -> float:
        trainer = Trainer(TrainOptions(data=data, out=str(tmp_path / "m"), arch="lstm", window=16,
                                       batch_size=8, hparams={"embedding_dim": 8, "hidden_size": 8,
                                                              "num_layers": 1, "fc_sizes": [8]},
                                       **balance), log=lambda message: None)
        pieces, _ = trainer.sampler.positions(np.random.default_rng(0), 20_000)
        return float((dataset.train.collections[pieces] == small).mean())

    assert small_share() < 0.15                       # by size, the small collection is rare
    assert small_share(balance="collections") == pytest.approx(0.5, abs=0.02)
    assert small_share(balance_weights={"small": 3.0}) == pytest.approx(0.75, abs=0.02)

"""Dataset preparation (split by file, augmentation, cache, skipped files) and windows."""

import json
import os

import numpy as np
import pytest

from ml_core.data import (
    Augmentation,
    DataError,
    PrepareOptions,
    Split,
    WindowSampler,
    load_dataset,
    prepare_dataset,
    resolve_sources,
    split_files,
    window_counts,
)
from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track
from ml_core.tokenizers import get_tokenizer


def write_song(path, seed: int, bars: int = 4) -> Score:
    """A small two-voice piece in C major, different for each seed."""
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    melody = [Note(int(rng.choice(scale)), i * 240, 240, 90) for i in range(bars * 8)]
    bass = [Note(int(rng.choice(scale)) - 24, i * 960, 960, 70) for i in range(bars)]
    score = Score([Track("melody", 0, False, melody), Track("bass", 32, False, bass)],
                  tempo_bpm=100)
    write_midi(score, path)
    return score


@pytest.fixture()
def music_folder(tmp_path):
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    for index in range(4):
        write_song(folder / f"song{index}.mid", index)
    write_song(folder / "sub" / "deep.mid", 10)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (folder / "notes.txt").write_text("not music")
    return folder


# ---------------------------------------------------------------- sources and split


def test_resolve_sources_searches_folders_and_rejects_missing(music_folder, tmp_path):
    found = resolve_sources([str(music_folder)])
    assert [p.name for p in found] == ["broken.mid", "song0.mid", "song1.mid", "song2.mid",
                                       "song3.mid", "deep.mid"]
    assert len(resolve_sources([str(music_folder)], limit=2)) == 2
    with pytest.raises(DataError, match="no such file"):
        resolve_sources([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no music files"):
        resolve_sources([str(tmp_path / "empty")])


def test_resolve_music21_corpus_offline():
    bach = resolve_sources(["music21:bach"], limit=3)
    assert len(bach) == 3 and all("bach" in str(p) for p in bach)
    with pytest.raises(DataError, match="no pieces"):
        resolve_sources(["music21:no-such-composer-xyz"])


def test_split_is_by_file_seeded_and_disjoint(tmp_path):
    files = [tmp_path / f"f{i}.mid" for i in range(20)]
    train, val = split_files(files, 0.25, seed=3)
    assert len(val) == 5 and len(train) == 15
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(files)
    assert split_files(files, 0.25, seed=3) == (train, val)
    assert split_files(files, 0.25, seed=4)[1] != val
    # at least one file each side once there are two files
    assert [len(part) for part in split_files(files[:2], 0.1, seed=0)] == [1, 1]
    assert [len(part) for part in split_files(files[:1], 0.5, seed=0)] == [1, 0]


# ---------------------------------------------------------------- prepare


def _prepare(sources, out, **options):
    options = {"tokenizer": "remi", "val_fraction": 0.25, "seed": 0, **options}
    return prepare_dataset([str(s) for s in sources], out, PrepareOptions(**options))


def test_prepare_writes_shards_and_lists_skipped_files(music_folder, tmp_path):
    result = _prepare([music_folder], tmp_path / "data")
    manifest = result.manifest
    assert not result.reused
    assert [entry["path"].endswith("broken.mid") for entry in manifest["skipped"]] == [True]
    assert manifest["skipped"][0]["reason"]
    train_files = set(manifest["splits"]["train"]["file_list"])
    val_files = set(manifest["splits"]["val"]["file_list"])
    assert not train_files & val_files
    assert len(train_files) + len(val_files) == 5
    dataset = load_dataset(tmp_path / "data")
    tokenizer = get_tokenizer("remi")
    assert dataset.vocab_size == tokenizer.vocab_size and dataset.kind == "token"
    # the shards hold exactly each file's tokens, piece by piece
    from ml_core.midi_io import read_score

    first_train = sorted(train_files)[0]
    expected = tokenizer.encode(read_score(first_train))
    index = manifest["splits"]["train"]["file_list"].index(first_train)
    assert dataset.train.piece(index).tolist() == expected
    assert dataset.train.data.dtype == np.int32
    assert manifest["splits"]["train"]["tokens"] == len(dataset.train.data)


def test_transposition_augments_the_training_split_only(music_folder, tmp_path):
    plain = _prepare([music_folder], tmp_path / "plain").manifest["splits"]
    augmented = _prepare([music_folder], tmp_path / "augmented",
                         augmentation=Augmentation(transpose=True)).manifest["splits"]
    assert augmented["train"]["files"] == plain["train"]["files"]
    assert augmented["train"]["pieces"] == 12 * plain["train"]["pieces"]
    assert augmented["val"] == plain["val"]


def test_rerun_reuses_the_cache_until_inputs_change(music_folder, tmp_path):
    out = tmp_path / "data"
    first = _prepare([music_folder], out)
    shard_time = os.stat(out / "train_data.npy").st_mtime_ns
    again = _prepare([music_folder], out, workers=2)
    assert again.reused
    assert again.manifest == json.loads(json.dumps(first.manifest))
    assert os.stat(out / "train_data.npy").st_mtime_ns == shard_time
    assert not _prepare([music_folder], out, seed=1).reused          # other options
    write_song(music_folder / "song0.mid", 99, bars=6)                 # a changed file
    assert not _prepare([music_folder], out, seed=1).reused


def test_parallel_workers_give_the_same_shards(music_folder, tmp_path):
    _prepare([music_folder], tmp_path / "one", workers=1)
    _prepare([music_folder], tmp_path / "two", workers=2)
    for name in ("train_data.npy", "train_offsets.npy", "val_data.npy", "val_offsets.npy"):
        assert np.array_equal(np.load(tmp_path / "one" / name), np.load(tmp_path / "two" / name))


def test_learned_vocabulary_is_fitted_on_the_training_split_only(music_folder, tmp_path,
                                                                 monkeypatch):
    from ml_core.tokenizers.chord_words import ChordWordsTokenizer

    seen = []
    original = ChordWordsTokenizer.fit

    def recording_fit(self, scores, *args, **kwargs):
        scores = list(scores)
        seen.append(len(scores))
        return original(self, scores, *args, **kwargs)

    monkeypatch.setattr(ChordWordsTokenizer, "fit", recording_fit)
    manifest = (_prepare([music_folder], tmp_path / "chords", tokenizer="chord_words",
                         workers=1).manifest)
    readable_train = manifest["splits"]["train"]["files"]
    assert seen == [readable_train]
    assert manifest["tokenizer"]["name"] == "chord_words"
    assert manifest["vocab_size"] == len(load_dataset(tmp_path / "chords").encoder().vocab)


def test_prepare_errors_are_clear(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.mid").write_bytes(b"not a midi file at all")
    with pytest.raises(DataError, match="none of the 1 file"):
        _prepare([tmp_path / "junk"], tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(DataError, match="unknown tokenizer"):
        _prepare([tmp_path / "junk"], tmp_path / "out", tokenizer="nope")
    with pytest.raises(DataError, match="not a prepared dataset"):
        load_dataset(tmp_path / "junk")


def test_frame_representation_shards(music_folder, tmp_path):
    manifest = _prepare([music_folder], tmp_path / "roll", tokenizer="pianoroll").manifest
    dataset = load_dataset(tmp_path / "roll")
    assert manifest["kind"] == "frame" and dataset.kind == "frame"
    assert dataset.train.data.shape[1:] == (88,)
    assert json.loads((tmp_path / "roll" / "manifest.json").read_text())["feature_shape"] == [88]


# ---------------------------------------------------------------- windows


def _labelled_split(lengths):
    """Piece i is filled with the value i + 1, so a window shows which pieces it touched."""
    data = np.concatenate([np.full(n, i + 1, np.int32) for i, n in enumerate(lengths)])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Split(data, offsets)


def test_windows_never_cross_piece_boundaries():
    split = _labelled_split([50, 3, 20, 1, 9])
    sampler = WindowSampler(split, window=8, pad_value=0)
    batch = sampler.sample(np.random.default_rng(0), 500)
    assert batch.items.shape == (500, 9)
    for row, valid in zip(batch.items, batch.valid, strict=True):
        assert len(set(row[valid].tolist())) == 1          # one piece per window
        assert (row[~valid] == 0).all()                     # the rest is padding
        # padding only at the end
        assert valid[:2].all() and (np.diff(valid.astype(int)) <= 0).all()
    pieces_seen = {int(row[0]) for row in batch.items}
    assert pieces_seen == {1, 2, 3, 5}                      # the 1-token piece offers no window
    short = batch.items[batch.items[:, 0] == 2]
    assert (short[:, :3] == 2).all() and (short[:, 3:] == 0).all()


def test_window_sampling_is_deterministic_and_uniform():
    split = _labelled_split([40, 12, 100])
    sampler = WindowSampler(split, window=10)
    first = sampler.sample(np.random.default_rng(7), 64).items
    assert np.array_equal(first, sampler.sample(np.random.default_rng(7), 64).items)
    assert not np.array_equal(first, sampler.sample(np.random.default_rng(8), 64).items)
    assert window_counts(np.array([40, 12, 100, 5, 1]), 10).tolist() == [30, 2, 90, 1, 0]
    pieces, _ = sampler.positions(np.random.default_rng(0), 20000)
    shares = np.bincount(pieces, minlength=3) / 20000
    assert shares == pytest.approx(np.array([30, 2, 90]) / 122, abs=0.02)


def test_validation_windows_are_fixed_and_cover_each_piece():
    split = _labelled_split([25, 5])
    sampler = WindowSampler(split, window=8)
    pieces, starts = sampler.validation_positions()
    assert list(zip(pieces.tolist(), starts.tolist(), strict=True)) == [(0, 0), (0, 8), (0, 16),
                                                                        (1, 0)]
    fewer = sampler.validation_positions(max_windows=2)
    assert len(fewer[0]) == 2
    assert np.array_equal(fewer[0], sampler.validation_positions(max_windows=2)[0])


def test_a_sampler_asked_for_them_returns_the_ids_before_each_window():
    # piece 0: 100..119, piece 1: 120..129
    data = np.arange(100, 130, dtype=np.int32)
    split = Split(data, np.array([0, 20, 30], np.int64))
    sampler = WindowSampler(split, window=4, preceding=3)
    batch = sampler.gather(np.array([0, 0, 1, 0]), np.array([10, 1, 0, 0]))
    assert batch.preceding.tolist() == [[107, 108, 109], [-1, -1, 100], [-1, -1, -1], [-1, -1, -1]]
    assert batch.items[0].tolist() == [110, 111, 112, 113, 114]   # the window itself is unchanged
    assert WindowSampler(split, window=4).gather(np.array([0]), np.array([5])).preceding is None


def test_prepare_counts_the_pieces_that_open_with_a_pickup(tmp_path):
    folder = tmp_path / "tunes"
    folder.mkdir()
    with_pickup = "X:1\nT:Up\nM:3/4\nL:1/4\nK:G\nD|G2 A|B2 c|d3|]\n"
    without = "X:1\nT:Down\nM:3/4\nL:1/4\nK:G\nG2 A|B2 c|d3|]\n"
    for index in range(3):
        (folder / f"up{index}.abc").write_text(with_pickup)
    (folder / "down.abc").write_text(without)
    manifest = _prepare([folder], tmp_path / "data", val_fraction=0.25).manifest
    splits = manifest["splits"]
    assert splits["train"]["pieces_with_pickup"] + splits["val"]["pieces_with_pickup"] == 3

"""`prepare --tokenizer remi_tracks` keeps the parts of multi-track files; `--score-cache`
re-tokenizes from another dataset's parsed files (issue 42)."""

from __future__ import annotations

import numpy as np

from ml_core.data import load_dataset
from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track
from training_cli.__main__ import main

Q = 480


def _duet(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    melody = [Note(int(p), i * Q, Q) for i, p in enumerate(rng.integers(67, 79, 32))]
    bass = [Note(int(p), i * 2 * Q, 2 * Q) for i, p in enumerate(rng.integers(36, 48, 16))]
    write_midi(Score([Track("Melody", 0, False, melody), Track("Bass", 33, False, bass)]),
               path)


def test_prepare_keeps_parts_and_reads_a_given_score_cache(tmp_path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    for seed in range(3):
        _duet(songs / f"{seed}.mid", seed)
    cache = tmp_path / "cache"
    first, second = tmp_path / "remi", tmp_path / "tracks"
    assert main(["prepare", str(songs), "--tokenizer", "remi", "--workers", "1",
                 "--val-fraction", "0", "--score-cache", str(cache), "--out", str(first)]) == 0
    cached = sorted(cache.iterdir())
    assert len(cached) == 3 and not (first / "score_cache").exists()
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert main(["prepare", str(songs), "--tokenizer", "remi_tracks", "--opt",
                 "use_velocity=false", "--opt", "merge_share=0", "--workers", "1",
                 "--val-fraction", "0",
                 "--score-cache", str(cache), "--out", str(second)]) == 0
    assert [p.stat().st_mtime_ns for p in sorted(cache.iterdir())] == stamps   # only read
    dataset = load_dataset(second)
    tokenizer = dataset.encoder()
    piece = list(dataset.train.piece(0))
    names = set(tokenizer.tokens_to_strings(piece))
    assert {"Track_piano_0", "Track_bass_0"} <= names
    decoded = tokenizer.decode(piece)
    assert sorted(t.program for t in decoded.tracks) == [0, 33]

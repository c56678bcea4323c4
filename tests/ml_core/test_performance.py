"""Performance-like augmentation (ml_core.tokenizers.performance) and its prepare hook."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ml_core.data import Augmentation, DataError, PrepareOptions, load_dataset, prepare_dataset
from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track
from ml_core.tokenizers.performance import DEFAULT_OPTIONS, perform, performed_variants
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer


def chorale(bars: int = 8, shift: int = 0) -> Score:
    """Four voices in quarter notes at velocity 80 (what the notation corpus looks like)."""
    notes = [Note(base + shift + (beat * 2) % 5, (bar * 4 + beat) * 480, 480, 80)
             for bar in range(bars) for beat in range(4) for base in (48, 55, 64, 72)]
    return Score([Track("choir", 0, False, notes)], 100.0, (4, 4))


def test_a_rendition_is_deterministic_and_keeps_pitches_meter_and_chords_together() -> None:
    score = chorale()
    first, again, other = perform(score, 7), perform(score, 7), perform(score, 8)
    rows = [(n.pitch, n.start, n.duration, n.velocity) for n in first.notes()]
    assert rows == [(n.pitch, n.start, n.duration, n.velocity) for n in again.notes()]
    assert rows != [(n.pitch, n.start, n.duration, n.velocity) for n in other.notes()]
    assert Counter(n.pitch for n in first.notes()) == Counter(n.pitch for n in score.notes())
    assert first.time_signature == score.time_signature
    max_shift = DEFAULT_OPTIONS.max_jitter * 480
    starts_by_onset: dict[int, set[int]] = {}
    for original, played in zip(sorted(score.notes(), key=lambda n: (n.start, n.pitch)),
                                sorted(first.notes(), key=lambda n: (n.start, n.pitch)),
                                strict=True):
        assert abs(played.start - original.start) <= max_shift + 1
        starts_by_onset.setdefault(original.start, set()).add(played.start)
    assert all(len(starts) == 1 for starts in starts_by_onset.values())  # chords move together
    velocities = [n.velocity for n in first.notes()]
    assert len(set(velocities)) > 5 and velocities != [80] * len(velocities)
    assert {n.duration for n in first.notes()} != {480}


def _phrase_articulation(played: Score, bars_per_phrase: int) -> list[float]:
    """The median length factor (played / notated, notated = 480) of each phrase."""
    by_phrase: dict[int, list[float]] = {}
    for note in played.notes():
        by_phrase.setdefault(note.start // (4 * 480 * bars_per_phrase), []).append(
            note.duration / 480)
    return [float(np.median(by_phrase[p])) for p in sorted(by_phrase)]


def test_articulation_changes_by_phrase_in_a_share_of_pieces() -> None:
    from dataclasses import replace
    score = chorale(bars=16)
    by_phrase = replace(DEFAULT_OPTIONS, phrase_share=1.0, phrase_bars=(2, 2), jitter=0.0)
    whole = replace(DEFAULT_OPTIONS, phrase_share=0.0, jitter=0.0)
    spreads_phrase, spreads_whole = [], []
    for seed in range(6):
        medians = _phrase_articulation(perform(score, seed, by_phrase), 2)
        assert all(0.3 < m < 1.35 for m in medians)            # within staccato .. legato
        spreads_phrase.append(max(medians) - min(medians))
        medians = _phrase_articulation(perform(score, seed, whole), 2)
        spreads_whole.append(max(medians) - min(medians))
    # one factor a piece: the phrases differ only by the per-note wobble
    assert max(spreads_whole) < 0.15
    # a factor a phrase: eight phrases drawn over 0.45 .. 1.15 spread far wider
    assert min(spreads_phrase) > 0.3
    # the default mixes both kinds of piece
    spreads = [np.ptp(_phrase_articulation(perform(score, seed,
                                                   replace(DEFAULT_OPTIONS, jitter=0.0)), 1))
               for seed in range(24)]
    assert sum(s > 0.3 for s in spreads) >= 4 and sum(s < 0.2 for s in spreads) >= 4


def test_renditions_quantise_back_near_the_notation() -> None:
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    score = chorale()
    clean = tokenizer.decode(tokenizer.encode(score))
    played = tokenizer.decode(tokenizer.encode(perform(score, 3)))
    clean_onsets = {(n.pitch, n.start) for n in clean.notes()}
    same = sum((n.pitch, n.start) in clean_onsets for n in played.notes())
    assert same >= 0.7 * clean.note_count  # most onsets land on their own position


def test_performed_variants_replace_a_share_deterministically() -> None:
    variants = [chorale(shift=s) for s in range(12)]
    assert performed_variants(variants, 0.0, 1) == variants
    all_played = performed_variants(variants, 1.0, 1)
    assert all(a is not b for a, b in zip(all_played, variants, strict=True))
    half = performed_variants(variants, 0.5, 1)
    replaced = [a is not b for a, b in zip(half, variants, strict=True)]
    assert 0 < sum(replaced) < 12
    performed = performed_variants(variants, 0.5, 1)
    assert replaced == [a is not b for a, b in zip(performed, variants, strict=True)]


def test_prepare_with_performance_augmentation(tmp_path) -> None:
    for index in range(3):
        write_midi(chorale(shift=index), tmp_path / f"piece{index}.mid")
    config = {"use_velocity": True}
    plain = prepare_dataset([str(tmp_path)], tmp_path / "plain",
                            PrepareOptions("remi", config, val_fraction=0.34))
    played = prepare_dataset([str(tmp_path)], tmp_path / "played", PrepareOptions(
        "remi", config, val_fraction=0.34, augmentation=Augmentation(performance=1.0, seed=2)))
    assert played.manifest["augmentation"]["performance"] == 1.0
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=True))
    velocity_kinds = {i for i in range(tokenizer.vocab_size)
                      if tokenizer.vocab.string(i).startswith("Velocity_")}

    def velocities(folder, split):
        data = np.asarray(getattr(load_dataset(folder), split).data)
        return {int(t) for t in data if int(t) in velocity_kinds}

    assert len(velocities(tmp_path / "plain", "train")) == 1        # notation: one level
    assert len(velocities(tmp_path / "played", "train")) > 4        # played in
    # val stays clean
    assert velocities(tmp_path / "played", "val") == velocities(tmp_path / "plain", "val")
    assert plain.manifest["augmentation"]["performance"] == 0.0
    with pytest.raises(DataError):
        Augmentation(performance=1.5)

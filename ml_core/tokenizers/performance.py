"""Performance-like augmentation: notation made to look as if someone played it in.

Corpora of notation have every note on the grid, one velocity (80 in music21's corpus),
notated lengths and one tempo; a musician's MIDI has dynamics, detached or overlapping
notes, onsets a little off the grid and tempo changes. `perform(score, seed)` makes one
such rendition of a score, before the tokenizer quantises it, so that performed MIDI
quantises to sequences a model has seen (issue 19; the why is in docs/DYNAMICS.md):

- dynamics: a level per piece, slow crescendo/diminuendo curves, accents on bar lines,
  a little noise per note (they only matter to tokenizers that encode velocity);
- articulation: each note's length scaled by a factor (staccato .. legato) and a
  per-note wobble; the factor is one for the piece, or, in a share of pieces, one per
  phrase of 1-4 bars (players change articulation by phrase: a legato line, then a
  detached answer), so that a model does not learn to copy a prompt's articulation
  blindly into the next phrase;
- onset jitter: a small normal offset per onset (chord notes move together, as a
  played chord does), clipped so that a note rarely leaves its neighbourhood;
- tempo: the piece's tempo scaled, and in some pieces a drifting tempo map (a tempo
  change every bar), as a sequencer recording with a conductor track would have.

Everything is drawn from `seed`: the same score and seed give the same rendition.
`performed_variants(scores, share, seed)` replaces a share of a piece's training variants
(its transpositions) by renditions, which `composer-train prepare --augment performance`
uses, so the dataset does not grow.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml_core.music import Score, TempoChange


@dataclass(frozen=True)
class PerformanceOptions:
    level: tuple[int, int] = (40, 112)          # per-piece velocity level range
    swell: float = 18.0                          # largest crescendo/diminuendo amplitude
    accent: float = 10.0                         # largest extra velocity on a bar line
    velocity_noise: float = 5.0                  # std of per-note velocity noise
    articulation: tuple[float, float] = (0.45, 1.15)  # length factor: staccato .. legato
    phrase_share: float = 0.5                    # share of pieces articulated phrase by phrase
    phrase_bars: tuple[int, int] = (1, 4)        # a phrase's length in bars (drawn per piece)
    length_wobble: float = 0.12                  # std of the per-note length factor
    jitter: float = 0.045                        # std of onset jitter, in quarters (~22 ticks)
    max_jitter: float = 0.2                      # clip, in quarters (under a sixteenth's span)
    tempo_scale: tuple[float, float] = (0.7, 1.4)  # the piece's tempo times this
    drift_share: float = 0.5                     # share of pieces with a drifting tempo map
    drift_step: float = 0.03                     # std of the per-bar tempo change (ratio)


DEFAULT_OPTIONS = PerformanceOptions()


def content_seed(score: Score, seed: int) -> int:
    """A seed for one score: `seed` mixed with the score's notes (stable across runs)."""
    notes = score.note_array()
    payload = (np.stack([notes["pitch"], notes["start"],
                         notes["duration"]]).astype(np.int64).tobytes())
    return zlib.crc32(payload, seed & 0xFFFFFFFF)


def perform(score: Score, seed: int, options: PerformanceOptions = DEFAULT_OPTIONS) -> Score:
    """One performed rendition of `score` (same tracks, meter and pitches)."""
    rng = np.random.default_rng(seed)
    tpq = score.ticks_per_quarter
    level = rng.uniform(*options.level)
    swell = rng.uniform(0, options.swell)
    swell_bars = rng.uniform(2, 8)                    # period of the dynamic curve, in bars
    swell_phase = rng.uniform(0, 2 * np.pi)
    accent = rng.uniform(0, options.accent)
    factor = rng.uniform(*options.articulation)
    # Vectorised over the notes of all tracks (prepare performs thousands of pieces).
    notes = score.note_array()                                   # sorted by (start, pitch)
    bar_lines = np.asarray(score.bar_starts(int(notes["start"].max()) + 1 if notes.size else 0))
    bars = np.searchsorted(bar_lines, notes["start"], side="right") - 1
    on_bar_line = bar_lines[bars] == notes["start"]
    loudness = (level + swell * np.sin(2 * np.pi * bars / swell_bars + swell_phase)
                + accent * on_bar_line + rng.normal(0, options.velocity_noise, notes.size))
    if notes.size and rng.random() < options.phrase_share:
        phrase = bars // rng.integers(options.phrase_bars[0], options.phrase_bars[1] + 1)
        factor = rng.uniform(*options.articulation, int(phrase.max()) + 1)[phrase]
    lengths = notes["duration"] * factor * (1 + rng.normal(0, options.length_wobble, notes.size))
    # One jitter per distinct onset tick (a chord's notes move together).
    onsets, onset_index = np.unique(notes["start"], return_inverse=True)
    jitter = np.clip(rng.normal(0, options.jitter, onsets.size), -options.max_jitter,
                     options.max_jitter)
    starts = np.maximum(0, notes["start"] + np.rint(jitter * tpq).astype(np.int64)[onset_index])
    performed = notes.copy()
    performed["start"] = starts
    performed["duration"] = np.maximum(tpq // 16, np.rint(lengths)).astype(np.int64)
    performed["velocity"] = np.clip(np.rint(loudness), 1, 127).astype(np.int64)
    tracks = Score.tracks_from_note_array(performed, score.tracks)

    scale = rng.uniform(*options.tempo_scale)
    tempo_changes = [TempoChange(c.tick, c.bpm * scale) for c in score.tempo_changes]
    if rng.random() < options.drift_share and not score.tempo_changes:
        ratio, tick, bar = 1.0, 0, 0
        end = score.end_tick
        while True:
            bar += 1
            tick = score.bar_start(bar)
            if tick >= end:
                break
            ratio = float(np.clip(ratio * (1 + rng.normal(0, options.drift_step)), 0.8, 1.25))
            tempo_changes.append(TempoChange(tick, score.tempo_bpm * scale * ratio))
    return Score(tracks, score.tempo_bpm * scale, score.time_signature, tpq, tempo_changes,
                 list(score.time_signature_changes))


def performed_variants(variants: Sequence[Score], share: float, seed: int,
                       options: PerformanceOptions = DEFAULT_OPTIONS) -> list[Score]:
    """`variants` of one piece with each replaced, with probability `share`, by a
    rendition (perform); which ones and how are drawn from `seed` and the notes."""
    if share <= 0:
        return list(variants)
    result = []
    for index, variant in enumerate(variants):
        rng = np.random.default_rng([content_seed(variant, seed), index])
        result.append(perform(variant, int(rng.integers(2**31)), options)
                      if rng.random() < share else variant)
    return result

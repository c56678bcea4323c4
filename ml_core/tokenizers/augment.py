"""Data helpers shared by every scheme: transposition, key finding, key normalisation.

- `transpositions(score)` yields the score shifted by each of -6..+5 semitones (the
  augmentation the research suggests), skipping shifts that leave the pitch range.
- `estimate_key(score)` is the Krumhansl-Schmuckler key finder: the duration-weighted
  pitch-class histogram is correlated with the 24 rotated Krumhansl-Kessler profiles,
  in pure numpy (microseconds), so the generator can call it for "stay in key".
- `normalize_key(score)` transposes to C major / A minor ("Making Music with LSTMs").
- `scale_pitch_classes(tonic, mode)` gives the pitch classes stay-in-key allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ml_core.music import Score, Track

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)


def _standardised(rows: np.ndarray) -> np.ndarray:
    centred = rows - rows.mean(axis=-1, keepdims=True)
    return centred / np.linalg.norm(centred, axis=-1, keepdims=True)


# Row k < 12: major key with tonic k; row 12 + k: minor key with tonic k.
_KEY_PROFILES = _standardised(np.stack(
    [np.roll(MAJOR_PROFILE, tonic) for tonic in range(12)]
    + [np.roll(MINOR_PROFILE, tonic) for tonic in range(12)]))


def key_correlations(histogram: np.ndarray) -> np.ndarray:
    """Pearson correlation (24,) of a 12-bin pitch-class histogram with every key profile
    (rows 0-11 major on C..B, 12-23 minor on C..B); zeros for a flat/empty histogram."""
    histogram = np.asarray(histogram, dtype=float)
    if histogram.shape != (12,):
        raise ValueError(f"a pitch-class histogram has 12 bins, got shape {histogram.shape}")
    centred = histogram - histogram.mean()
    norm = np.linalg.norm(centred)
    if norm == 0:
        return np.zeros(24)
    return _KEY_PROFILES @ (centred / norm)


def estimate_key(score: Score) -> tuple[int, str]:
    """(tonic pitch class 0-11, "major" | "minor") of the score's pitched notes; C major
    for a score with no pitched notes."""
    correlations = key_correlations(score.pitch_class_histogram())
    if not correlations.any():
        return 0, "major"
    best = int(correlations.argmax())
    return best % 12, "major" if best < 12 else "minor"


def scale_pitch_classes(tonic: int, mode: str, *, leading_tone: bool = False) -> frozenset[int]:
    """Pitch classes of the major or natural-minor scale on `tonic` (with `leading_tone`,
    minor also gets the raised seventh of the harmonic minor)."""
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    steps = MAJOR_SCALE if mode == "major" else NATURAL_MINOR_SCALE
    classes = {(int(tonic) + step) % 12 for step in steps}
    if leading_tone and mode == "minor":
        classes.add((int(tonic) + 11) % 12)
    return frozenset(classes)


def _pitch_span(score: Score) -> tuple[int, int] | None:
    pitches = [n.pitch for track in score.tracks if not track.is_drum for n in track.notes]
    return (min(pitches), max(pitches)) if pitches else None


def transpositions(score: Score, shifts: Iterable[int] = range(-6, 6),
                   pitch_range: tuple[int, int] = (21, 108)) -> Iterator[tuple[int, Score]]:
    """(shift, transposed score) for each shift that keeps every pitched note inside
    `pitch_range` (inclusive); drums are never transposed."""
    span = _pitch_span(score)
    low, high = pitch_range
    for shift in shifts:
        if span is not None and (span[0] + shift < low or span[1] + shift > high):
            continue
        yield shift, score if shift == 0 else score.transposed(shift)


def normalize_key(score: Score, pitch_range: tuple[int, int] = (0, 127)) -> tuple[Score, int]:
    """(score transposed to C major or A minor, the shift applied). The smallest shift
    (-6..+5) is used, or the same an octave away if that keeps the notes inside
    `pitch_range`; a score that fits neither way is returned unshifted (shift 0)."""
    tonic, mode = estimate_key(score)
    target = 0 if mode == "major" else 9
    shift = (target - tonic + 6) % 12 - 6
    span = _pitch_span(score)
    if span is None:
        return score.copy(), 0
    for candidate in (shift, shift + 12, shift - 12):
        if pitch_range[0] <= span[0] + candidate and span[1] + candidate <= pitch_range[1]:
            return (score.copy() if candidate == 0 else score.transposed(candidate)), candidate
    return score.copy(), 0


def merge_tracks(score: Score, *, keep_drums: bool = False) -> Score:
    """All pitched tracks as one track ordered by time (what every scheme encodes); drum
    tracks follow it when `keep_drums`, else they are left out."""
    merged = score.merged()
    tracks: list[Track] = [t for t in merged.tracks if not t.is_drum]
    if keep_drums:
        tracks += [t for t in merged.tracks if t.is_drum]
    return merged.with_tracks(tracks)

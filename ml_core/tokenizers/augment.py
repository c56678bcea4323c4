"""Data helpers shared by every scheme: transposition, key finding, key normalisation.

- `transpositions(score)` yields the score shifted by each of -6..+5 semitones (the
  augmentation the research suggests), skipping shifts that leave the pitch range.
- `estimate_key(score)`: the one key estimator, from ml_core.keys (re-exported here).
- `normalize_key(score)` transposes to C major / A minor ("Making Music with LSTMs").
- `scale_pitch_classes(tonic, mode)` gives the pitch classes stay-in-key allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ml_core.keys import estimate_key, key_correlations, scale_pitch_classes
from ml_core.music import Score, Track

__all__ = ["estimate_key", "key_correlations", "merge_tracks", "normalize_key",
           "scale_pitch_classes", "transpositions"]

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

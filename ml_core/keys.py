"""The one key estimator: generation ("stay in key"), evaluation and the app all call it.

`estimate_key(score)` defers to the key the score has written (`written_key`: its opening
key signature, and where the source gives no mode, the relative major or minor that fits
the notes better); only a score without one is estimated (`estimated_key`), correlating its
duration-weighted pitch-class histogram with the 24 rotations of a major and a minor key
profile (the Krumhansl-Schmuckler method). Both give (tonic pitch class, "major" | "minor").

The profiles are Albrecht & Shanahan's (2013), "The Use of Large Corpora to Train a New
Type of Key-Finding Algorithm", Music Perception 31(1): pitch-class distributions counted
in a corpus of 490 common-practice pieces. Compared with Krumhansl & Kessler's (1982)
probe-tone ratings they weigh the dominant less against the tonic, which is what made
the older estimator call the bundled E-minor chorale B minor; on the first ten Bach
chorales of music21's Riemenschneider analyses they get all ten keys the analysts wrote
down (tests/ml_core/test_keys.py). `scale_pitch_classes` gives the scale stay-in-key allows.

`prompt_key(score)` is the estimate for a prompt that may hold no pitched notes (None
then: the app shows no key, generation masks nothing), and `in_scale_share(notes, key)`
the one measure of how many notes lie in a key's scale (evaluation and the quality bench).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ml_core.music import Note, Score
from ml_core.pitch import PITCH_CLASS_NAMES

# Albrecht & Shanahan (2013), tonic first.
MAJOR_PROFILE = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080,
                          0.008, 0.081])
MINOR_PROFILE = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022,
                          0.061, 0.052])
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


def estimated_key(score: Score) -> tuple[int, str]:
    """(tonic pitch class 0-11, "major" | "minor") of the score's pitched notes, each note
    weighted by its duration, whatever key is written; C major for no pitched notes."""
    correlations = key_correlations(score.pitch_class_histogram())
    if not correlations.any():
        return 0, "major"
    best = int(correlations.argmax())
    return best % 12, "major" if best < 12 else "minor"


def key_of_signature(fifths: int, mode: str,
                     histogram: np.ndarray | None = None) -> tuple[int, str]:
    """The key a signature of `fifths` writes: its major or its relative minor as `mode`
    says; with no mode, whichever of the two fits `histogram` better (major when unknown)."""
    major_tonic = (7 * fifths) % 12
    minor_tonic = (major_tonic + 9) % 12
    if not mode and histogram is not None:
        correlations = key_correlations(histogram)
        mode = "minor" if correlations[12 + minor_tonic] > correlations[major_tonic] else "major"
    return (minor_tonic, "minor") if mode == "minor" else (major_tonic, "major")


def written_key(score: Score) -> tuple[int, str] | None:
    """The key the score's opening key signature writes (see `key_of_signature`), or None
    when it has none."""
    signature = score.key_signature_at(score.music_start)
    if signature is None:
        return None
    return key_of_signature(signature.fifths, signature.mode, score.pitch_class_histogram())


def estimate_key(score: Score) -> tuple[int, str]:
    """The score's key: the written one when it has a key signature, else `estimated_key`."""
    return written_key(score) or estimated_key(score)


def key_source(score: Score) -> str:
    """"written" when `estimate_key` takes the score's key from its key signature, else
    "estimated"."""
    return "written" if written_key(score) is not None else "estimated"


def fifths_of_key(key: tuple[int, str]) -> int:
    """The signature of a key: sharps (negative: flats), at most six flats or five sharps
    (F-sharp major and D-sharp minor are written as G-flat and E-flat)."""
    tonic, mode = key
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    return (7 * major_tonic + 6) % 12 - 6
def prompt_key(score: Score) -> tuple[int, str] | None:
    """The key of a prompt, or None when it holds no pitched notes."""
    if score.pitch_class_histogram().sum() == 0:
        return None
    return estimate_key(score)


def in_scale_share(notes: Iterable[Note], key: tuple[int, str] | None) -> float:
    """The share of `notes` whose pitch class lies in `key`'s scale (natural minor for a
    minor key): NaN for no notes, 1.0 when there is no key to be out of."""
    pitches = [note.pitch for note in notes]
    if not pitches:
        return float("nan")
    if key is None:
        return 1.0
    scale = scale_pitch_classes(*key)
    return sum(pitch % 12 in scale for pitch in pitches) / len(pitches)


def key_name(key: tuple[int, str]) -> str:
    """"E minor", "Bb major" ..."""
    return f"{PITCH_CLASS_NAMES[key[0] % 12]} {key[1]}"


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

"""The one key estimator, on real music: the bundled E-minor example and the first ten
Bach chorales of music21's Riemenschneider analyses, whose keys the analysts wrote down."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from ml_core.keys import estimate_key, key_name, scale_pitch_classes
from ml_core.midi_io import read_midi
from ml_core.music import Note, Score, Track

EXAMPLES = resources.files("resources") / "examples"
KEY_LINE = re.compile(r"^m\d+\s.*?\b([A-Ga-g][#b-]?):", re.MULTILINE)
NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def analysed_key(text: str) -> tuple[int, str]:
    """The first key an analysis (.rntxt) names: 'G:' is G major, 'a:' A minor."""
    name = KEY_LINE.search(text).group(1)
    tonic = NAMES[name[0].lower()] + sum({"#": 1, "b": -1, "-": -1}[c] for c in name[1:])
    return tonic % 12, "major" if name[0].isupper() else "minor"


def corpus_name(bwv: str) -> str:
    """'86.6' -> 'bach/bwv86.6'; '248(2).12' -> 'bach/bwv248.12-2' (music21's spelling)."""
    match = re.fullmatch(r"(\d+)\((\d+)\)\.(\d+)", bwv)
    return f"bach/bwv{match[1]}.{match[3]}-{match[2]}" if match else f"bach/bwv{bwv}"


def test_the_e_minor_chorale_example_is_e_minor() -> None:
    score = read_midi(Path(str(EXAMPLES / "e_minor_chorale_4-4.mid")))
    assert key_name(estimate_key(score)) == "E minor"


@pytest.mark.parametrize("name", ["c_major_4-4", "a_minor_3-4", "d_major_6-8", "g_major_7-8"])
def test_the_other_examples_keep_their_keys(name: str) -> None:
    tonic, mode = name.split("_")[:2]
    score = read_midi(Path(str(EXAMPLES / f"{name}.mid")))
    assert key_name(estimate_key(score)).lower() == f"{tonic} {mode}"


def test_duration_weighting_decides_between_relative_keys() -> None:
    # The same pitch set, C major or A minor depending on which notes are held.
    def melody(long_pitches: set[int]) -> Score:
        pitches = [60, 62, 64, 65, 67, 69, 71, 72, 57, 64, 69, 60]
        notes, tick = [], 0
        for pitch in pitches:
            length = 1920 if pitch in long_pitches else 240
            notes.append(Note(pitch, tick, length))
            tick += length
        return Score([Track("m", 0, False, notes)])
    assert estimate_key(melody({60, 72, 67})) == (0, "major")
    assert estimate_key(melody({57, 69, 64})) == (9, "minor")


def test_scale_of_a_key() -> None:
    assert scale_pitch_classes(4, "minor") == frozenset({4, 6, 7, 9, 11, 0, 2})


def test_at_least_eight_of_ten_analysed_chorales() -> None:
    corpus = pytest.importorskip("music21.corpus")
    from ml_core.notation_io import score_from_music21

    folder = Path(corpus.getComposer("bach")[0]).parent / "choraleAnalyses"
    analyses = sorted(folder.glob("riemenschneider*.rntxt"))[:10]
    assert len(analyses) == 10
    results = []
    for path in analyses:
        text = Path(path).read_text(encoding="utf-8")
        bwv = re.search(r"^BWV:\s*(\S+)", text, re.MULTILINE).group(1)
        score = score_from_music21(corpus.parse(corpus_name(bwv)))
        results.append((bwv, key_name(analysed_key(text)), key_name(estimate_key(score))))
    right = sum(expected == found for _, expected, found in results)
    assert right >= 8, results

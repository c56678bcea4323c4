"""Names of pitches and pitch classes: the one table, both directions.

Pitch classes are named with the spelling most common in keys (C#, Eb, F#, Ab, Bb), as
the app's key menu, the REMI chord tokens and the key estimator print them; MIDI note 60
is C4 (scientific pitch notation, as in most DAWs).

    pitch_class_name(3) == "Eb"      pitch_name(61) == "C#4"
    parse_pitch_class("bb") == 10    parse_pitch("F#3") == 54

Notation spells a pitch in its key (`spelling`): the letter and alteration nearest the
key on the line of fifths, so notes of the key need no accidental, sharp keys raise and
flat keys lower, and a minor key's raised sixth and seventh are spelled as such
(E-sharp in F-sharp minor, G-sharp in A minor).
"""

from __future__ import annotations

import re

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SHARP_PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
NATURAL_PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
ACCIDENTALS = {"": 0, "#": 1, "b": -1}

_PITCH_CLASS = re.compile(r"([a-gA-G])(#|b)?")
_PITCH = re.compile(r"([a-gA-G])(#|b)?(-?\d+)")


def pitch_class_name(pitch_class: int) -> str:
    return PITCH_CLASS_NAMES[pitch_class % 12]


def pitch_name(pitch: int, *, sharps: bool = False) -> str:
    """A MIDI note number as a name with its octave: 60 -> "C4", 61 -> "C#4", 63 -> "Eb4";
    with `sharps` every black key is a sharp (63 -> "D#4"): a list of ranges reads best in
    one spelling."""
    names = SHARP_PITCH_CLASS_NAMES if sharps else PITCH_CLASS_NAMES
    return f"{names[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch_class(text: str) -> int:
    """"C", "c#", "Bb"... -> 0..11; ValueError for anything else."""
    match = _PITCH_CLASS.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a pitch class name: '{text}'")
    return (NATURAL_PITCH_CLASSES[match[1].lower()] + ACCIDENTALS[match[2] or ""]) % 12


def parse_pitch(text: str) -> int:
    """"C4" -> 60, "f#3" -> 54, "Bb-1" -> 10; ValueError for anything else."""
    match = _PITCH.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a pitch name: '{text}'")
    natural = NATURAL_PITCH_CLASSES[match[1].lower()]
    return natural + ACCIDENTALS[match[2] or ""] + 12 * (int(match[3]) + 1)


_LINE_OF_FIFTHS_LETTERS = "FCGDAEB"     # positions -1..5 on the line of fifths


def spelling(pitch: int, fifths: int = 0, mode: str = "major") -> tuple[str, int, int]:
    """(letter, alteration in semitones, octave) of MIDI `pitch` written in the key whose
    signature has `fifths` sharps (negative: flats); `mode` "minor" favours the raised
    sixth and seventh. 61 in D major -> ("C", 1, 4); 70 in F major -> ("B", -1, 4)."""
    position = (pitch % 12) * 7 % 12            # C 0, G 1 ... F 11 on the line of fifths
    # the key's notes lie at fifths-1 .. fifths+5; a minor key reaches two steps further sharp
    centre = fifths + (3.0 if mode == "minor" else 2.0)
    candidates = (position - 12, position, position + 12)
    lean = 0.01 if fifths >= 0 or mode == "minor" else -0.01   # a tie goes the key's way
    best = min(candidates, key=lambda p: abs(p - centre - lean))
    letter = _LINE_OF_FIFTHS_LETTERS[(best + 1) % 7]
    alteration = (best + 1) // 7
    natural = NATURAL_PITCH_CLASSES[letter.lower()]
    octave = (pitch - natural - alteration) // 12 - 1
    return letter, alteration, octave

"""The one pitch-name table, read both ways."""

from __future__ import annotations

import pytest

from ml_core.keys import key_name
from ml_core.pitch import (
    PITCH_CLASS_NAMES,
    parse_pitch,
    parse_pitch_class,
    pitch_class_name,
    pitch_name,
)


def test_names_and_back():
    assert pitch_name(60) == "C4" and pitch_name(61) == "C#4" and pitch_name(21) == "A0"
    assert pitch_name(0) == "C-1" and pitch_name(127) == "G9"
    assert pitch_class_name(15) == "Eb" and key_name((10, "minor")) == "Bb minor"
    for pitch in range(128):
        assert parse_pitch(pitch_name(pitch)) == pitch
    for pitch_class, name in enumerate(PITCH_CLASS_NAMES):
        assert parse_pitch_class(name) == pitch_class == parse_pitch_class(name.lower())
    assert parse_pitch_class("Cb") == 11 and parse_pitch("f#3") == 54


@pytest.mark.parametrize("text", ["H", "C##", "", "C4x", "do"])
def test_bad_names_are_refused(text):
    with pytest.raises(ValueError):
        parse_pitch(text) if any(ch.isdigit() for ch in text) else parse_pitch_class(text)

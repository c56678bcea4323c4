"""The sampling panel's register choices are spelled one way (sharps throughout)."""

from composer_app.continuation.controls import REGISTERS
from ml_core.pitch import pitch_name


def test_register_labels_use_one_spelling():
    labels = " ".join(label for _value, label in REGISTERS)
    assert "#" in labels and not any(f"{letter}b" in labels for letter in "ABCDEFG"), labels
    assert [label for _v, label in REGISTERS][1:5] == ["C3-F#3", "G3-C#4", "D4-G#4", "A4-D#5"]
    assert pitch_name(63) == "Eb4" and pitch_name(63, sharps=True) == "D#4"

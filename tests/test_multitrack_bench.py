"""bench/multitrack_continue.py's figures on hand-made parts (the bench itself needs data)."""

from __future__ import annotations

from bench.multitrack_continue import _active, figures
from ml_core.music import Note, Score, Track

Q = 480
BAR = 4 * Q


def piece() -> Score:
    """12 bars: a melody in quarters around C5 (rests in bar 3) over a bass in halves."""
    melody = [Note(72 + i % 3, i * Q, Q, 80) for i in range(48) if not 12 <= i < 16]
    bass = [Note(40 + i % 2, i * 2 * Q, 2 * Q, 70) for i in range(24)]
    return Score([Track("Bass", 33, False, bass), Track("Melody", 0, False, melody)],
                 120.0, (4, 4), Q)


def test_the_active_part_is_the_highest_or_the_named_one() -> None:
    assert _active(piece(), None) == 1
    assert _active(piece(), "MELODY") == 1
    assert _active(piece(), "VOCALS") is None


def test_figures_compare_the_new_notes_with_the_true_part() -> None:
    like_the_truth = [Note(72 + i % 3, 4 * BAR + i * Q, Q, 80) for i in range(32)]
    good = figures(piece(), 1, like_the_truth)
    assert good["register_ok"] == 1.0 and good["density_ok"] == 1.0
    assert good["start_beats"] == 4.0     # the melody rests through the prompt's last bar
    assert good["below"] == 0.0
    in_the_bass = [Note(41, 4 * BAR + Q + i * 2 * Q, 2 * Q, 70) for i in range(15)]
    bad = figures(piece(), 1, in_the_bass)
    assert bad["register_ok"] == 0.0 and bad["density_ok"] == 0.0
    assert bad["start_beats"] == 5.0 and bad["below"] == 1.0
    assert figures(piece(), 1, [])["register_ok"] == 0.0

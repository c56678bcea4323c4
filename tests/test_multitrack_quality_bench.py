"""bench/multitrack_quality.py's figures on hand-made parts (the bench itself needs data)."""

from __future__ import annotations

import math

from bench.multitrack_quality import (
    below_share,
    consonance,
    crossings,
    onbeat_share,
    part_bounds,
    summarise,
)
from ml_core.music import Note

Q = 480


def line(pitches: list[int], length: int = Q) -> list[Note]:
    return [Note(p, i * length, length) for i, p in enumerate(pitches)]


def test_consonance_counts_pairs_of_different_parts_on_beats() -> None:
    upper, lower = line([67, 67, 66, 67]), line([60, 60, 60, 60])
    beats = [0, Q, 2 * Q, 3 * Q]
    assert consonance([upper, lower], beats) == 0.75          # the tritone on beat 3
    assert consonance([upper, upper], beats) == 1.0
    assert math.isnan(consonance([upper], beats))
    third = line([64] * 4)
    assert consonance([upper, lower, third], beats, with_part=2) == 7 / 8   # E against F#


def test_crossings_find_an_upper_part_below_the_lower() -> None:
    upper, lower = line([72, 59, 72, 72]), line([60, 60, 60, 60])
    assert crossings([upper, lower], [0, Q, 2 * Q, 3 * Q]) == 0.25
    assert math.isnan(crossings([upper, []], [0]))


def test_bounds_below_and_onbeat() -> None:
    truth = line([48, 50, 52, 53])
    assert part_bounds(line([50, 50, 50, 50]), truth) == {"register_ok": 1.0, "density_ok": 1.0}
    assert part_bounds(line([70] * 12, Q // 3), truth) == {"register_ok": 0.0,
                                                           "density_ok": 0.0}
    melody = line([72, 71, 69, 67])
    assert below_share(line([48, 74, 45, 43]), melody) == 0.75
    assert onbeat_share(line([60, 62], Q // 2), Q) == 0.5


def test_the_summary_adds_up_leaks_and_averages_the_rest() -> None:
    summary = summarise([{"leaks": 1.0, "consonance": 0.5}, {"leaks": 2.0,
                                                              "consonance": float("nan")}])
    assert summary == {"consonance": 0.5, "leaks": 3.0}

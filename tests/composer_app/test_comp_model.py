"""`model.comp` alone: which notes of which variation a per-bar comp keeps (no Qt)."""

from __future__ import annotations

from composer_app.model.comp import Comp, bar_of, comp_span
from ml_core.music import Note, Score

METER = Score([])          # 4/4 at 480 ticks a quarter: 1920 ticks a bar
BAR = 1920


def take(pitch: int, bars: range, across: bool = False) -> list[Note]:
    """Two notes a bar; with `across` the second sounds over the next bar line."""
    return [Note(pitch + i, bar * BAR + i * 960, 1440 if across and i else 480, 80)
            for bar in bars for i in range(2)]


def test_a_note_belongs_to_the_bar_of_its_onset_and_the_span_holds_every_onset():
    first, second = take(60, range(4, 8), across=True), take(70, range(4, 6))
    assert bar_of(Note(60, 4 * BAR + 1900, 960, 80), METER) == 4   # sounds into bar 5
    assert comp_span([first, second], METER) == (4, 8)
    assert comp_span([[], second], METER, bars=(3, 7)) == (3, 7)   # a Fill's bars
    assert comp_span([[], []], METER) == (0, 0)


def test_one_variation_everywhere_is_that_variation_exactly():
    variations = [take(60, range(4, 8), across=True), take(70, range(4, 8))]
    comp = Comp.uniform((4, 8), 1)
    assert comp.notes(variations, METER) == variations[1]
    assert comp.single() == 1 and list(comp.bars()) == [4, 5, 6, 7]


def test_a_comp_keeps_each_bars_notes_from_its_variation_crossing_notes_by_onset():
    variations = [take(60, range(4, 8), across=True), take(70, range(4, 8)),
                  take(80, range(4, 8))]
    comp = Comp.uniform((4, 8), 0).with_bars([6, 7, 12], 1).with_bars([7], 2)
    assert comp.choices == (0, 0, 1, 2) and comp.single() is None
    notes = comp.notes(variations, METER)
    assert [(bar_of(n, METER), n.pitch // 10) for n in notes] == [
        (4, 6), (4, 6), (5, 6), (5, 6), (6, 7), (6, 7), (7, 8), (7, 8)]
    crossing = [n for n in notes if n.end > (bar_of(n, METER) + 1) * BAR]
    assert crossing and all(n.duration == 1440 for n in crossing)   # kept whole
    assert comp.runs() == [(4, 6, 0), (6, 7, 1), (7, 8, 2)]
    assert comp.describe(METER) == "bars 5-6: 1, bar 7: 2, bar 8: 3"


def test_only_some_bars_drops_the_others_and_bars_outside_the_span_are_ignored():
    variations = [take(60, range(4, 8)), take(70, range(4, 8))]
    comp = Comp.uniform((4, 8), 1).only([5, 6, 20])
    assert comp.choices == (None, 1, 1, None)
    assert {bar_of(n, METER) for n in comp.notes(variations, METER)} == {5, 6}
    assert comp.inside([2, 5, 9, 7]) == [5, 7] and comp.choice(9) is None
    assert comp.describe(METER) == "bar 5: none, bars 6-7: 2, bar 8: none"

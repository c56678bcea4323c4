"""Comping: a continuation's bars taken from different variations, as plain data.

With several variations of a continuation, a musician may like bar 1 of one and bars 2-3
of another. A `Comp` is that per-bar choice over the continuation's span (`comp_span`):
for each bar, the variation whose notes it keeps, or None for no notes there. A note
belongs to the bar of its onset, even when it sounds across a bar line, so each note of a
variation falls in exactly one bar, and a comp of one variation in every bar is exactly
that variation. Qt-free: `ContinueSession` keeps the comp and puts its notes in the
document as its one pending step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ml_core.music import Note, Score


def bar_of(note: Note, meter: Score) -> int:
    """The bar (from 0) a note belongs to: the bar of its onset."""
    return meter.bar_at(note.start)[0]


def comp_span(variations: Sequence[Sequence[Note]], meter: Score,
              bars: tuple[int, int] | None = None) -> tuple[int, int]:
    """(first, end) bars from 0 that hold every variation's onsets, and `bars` too when
    given (a Fill's span); (0, 0) when there is nothing at all."""
    found = {bar_of(note, meter) for notes in variations for note in notes}
    if bars is not None and bars[1] > bars[0]:
        found.update((bars[0], bars[1] - 1))
    return (min(found), max(found) + 1) if found else (0, 0)


@dataclass(frozen=True)
class Comp:
    """For each bar from `first_bar` on, the variation it keeps (None: no notes)."""

    first_bar: int
    choices: tuple[int | None, ...]

    @classmethod
    def uniform(cls, span: tuple[int, int], variation: int) -> Comp:
        """Every bar of `span` from one variation: that variation as it is."""
        return cls(span[0], (variation,) * max(0, span[1] - span[0]))

    @property
    def end_bar(self) -> int:
        return self.first_bar + len(self.choices)

    def bars(self) -> range:
        return range(self.first_bar, self.end_bar)

    def choice(self, bar: int) -> int | None:
        """The variation bar `bar` keeps (None: none, or the bar is outside the span)."""
        return self.choices[bar - self.first_bar] if bar in self.bars() else None

    def inside(self, bars: Iterable[int]) -> list[int]:
        """Those of `bars` that lie in the span, in order."""
        return sorted(set(bars) & set(self.bars()))

    def with_bars(self, bars: Iterable[int], variation: int | None) -> Comp:
        """The same comp with `bars` (those in the span) taken from `variation`."""
        chosen = set(bars)
        return Comp(self.first_bar, tuple(variation if bar in chosen else old
                                          for bar, old in zip(self.bars(), self.choices,
                                                              strict=True)))

    def only(self, bars: Iterable[int]) -> Comp:
        """The same comp keeping only `bars`: every other bar has no notes."""
        kept = set(bars)
        return Comp(self.first_bar, tuple(old if bar in kept else None
                                          for bar, old in zip(self.bars(), self.choices,
                                                              strict=True)))

    def single(self) -> int | None:
        """The one variation every bar keeps, or None for a real comp (or no bars)."""
        used = set(self.choices)
        return next(iter(used)) if len(used) == 1 else None

    def notes(self, variations: Sequence[Sequence[Note]], meter: Score) -> list[Note]:
        """The comp's notes: each variation's notes whose onset bar keeps that variation,
        in the variations' own order (so a one-variation comp is that variation)."""
        return [note for index, notes in enumerate(variations) for note in notes
                if self.choice(bar_of(note, meter)) == index]

    def runs(self) -> list[tuple[int, int, int | None]]:
        """(first, end, variation) for each run of neighbouring bars keeping the same one."""
        runs: list[tuple[int, int, int | None]] = []
        for bar, choice in zip(self.bars(), self.choices, strict=True):
            if runs and runs[-1][2] == choice and runs[-1][1] == bar:
                runs[-1] = (runs[-1][0], bar + 1, choice)
            else:
                runs.append((bar, bar + 1, choice))
        return runs

    def describe(self, meter: Score) -> str:
        """"bars 3-4: 1, bar 5: 2, bar 6: none" (variations numbered from 1)."""
        return ", ".join(f"{meter.bars_label(first, end)}: "
                         f"{'none' if choice is None else choice + 1}"
                         for first, end, choice in self.runs())

"""Voice leading while a part is written given the others (`ml_core.multitrack`).

When the sampling loop is about to draw a pitch for a written part, the notes the other
parts sound at that onset are known: the parts it does not write (forced from the score,
held over from earlier bars), and the written parts whose sections came earlier in the
bar or held notes into it. `PartVoicing` (a logit hook of the loop, the `motif` slot,
after `ExitMerge`) leans the part's pitches on them, within the pitches only (the pitches
keep the probability the model gave them together, so whether the onset gets a note, the
texture, stays the model's):

- order: a pitch above the lowest note of a part that sounds above this one, or below the
  highest note of a part below it (a voice crossing), ends up `order` below every pitch
  that keeps the order, whatever the other terms give them (on the nearest note of such a
  part, a unison, it loses `unison`). A part silent for less than ORDER_MEMORY keeps its
  place with the notes it played last. Parts are ordered by the median pitch of their
  known notes; a part with none (a new part) by its role: the melody above the
  counter-melody above the harmony above the bass;
- consonance: a pitch loses `dissonance` for each note of another part it forms a
  dissonant interval with (a minor or major second, a tritone, a minor or major seventh,
  by interval class, as `bench/multitrack_quality.py` counts), up to two; on a quarter-note
  beat in full, between beats OFFBEAT_WEIGHT of it: passing notes stay possible;
- register: once the part's new notes (REGISTER_MIN_NOTES of them) have a median more
  than REGISTER_SLACK semitones from the median of its own last bars, the pitches beyond
  that median on the side they drifted to lose up to `register` per octave from it (at
  most `register`).

And one term outside the pitches, on the tokens that end the part's section in a bar
(a density keeper): once a bar of its own is complete, they gain `density` x log(its new
onsets per bar / its rate in its own last bars), within +-DENSITY_CAP, so a part that
writes fewer onsets than its music had ends its bars later (where in the bar the next
onset comes stays the model's).

All of it is a bias, never a mask. `VOICING` holds the strengths chosen on the bench;
`PartVoicing.build(..., scale)` multiplies them (0 turns it off).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

import numpy as np

from ml_core.motif import add_within
from ml_core.music import TICKS_PER_QUARTER, Note, Score
from ml_core.tokenizers.remi import K_BAR, K_DURATION, K_PITCH
from ml_core.tokenizers.remi_tracks import DRUMS, SLOTS

DISSONANT = (1, 2, 6, 10, 11)   # interval classes (semitones mod 12) counted as dissonant
_DISSONANT_CLASS = np.isin(np.arange(12), DISSONANT)   # by (a - b) % 12 (symmetric)
OFFBEAT_WEIGHT = 0.35           # share of the consonance bias between quarter-note beats
MAX_DISSONANCES = 2             # notes a pitch is penalised for clashing with, at most
ORDER_MEMORY = 2 * TICKS_PER_QUARTER   # a part silent for less than this keeps its place
REGISTER_BARS = 2               # a part's register: the median of its last bars with notes
REGISTER_SLACK = 2.0            # semitones the new notes' median may drift before the tilt
REGISTER_RAMP = 6.0             # ... and beyond it, the drift at which the tilt is full
REGISTER_MIN_NOTES = 4          # new notes needed before the drift is trusted
DENSITY_CAP = 2.0               # the most the density keeper adds to (or takes from) an end


@dataclass(frozen=True)
class VoicingStrength:
    """Logit penalties (0 = off)."""

    order: float = 6.0         # a pitch crossing a part above or below
    unison: float = 3.0        # a pitch on the nearest note of a part above or below
    dissonance: float = 2.0    # per dissonant interval with a sounding note, on a beat
    register: float = 6.0      # per octave beyond the part's register, once it drifts
    density: float = 2.0       # x log(onsets per bar / the part's rate), on ending a section


VOICING = VoicingStrength()


@dataclass
class _Row:
    """What one sampled row has written: new notes per slot (`sounding`: those that may
    still sound, pruned at each bar line), their pitches (for the register) and the pitch
    waiting for its duration."""

    sounding: dict[int, list[Note]] = field(default_factory=dict)
    pitches: dict[int, list[int]] = field(default_factory=dict)
    onsets: dict[int, dict[int, set[int]]] = field(default_factory=dict)   # slot, bar: ticks
    pending: int | None = None


class _Known:
    """A part's notes from the score, as arrays for 'what sounds at tick t'."""

    def __init__(self, notes: Sequence[Note]) -> None:
        self.starts = np.array([n.start for n in notes], dtype=np.int64)
        self.ends = np.array([n.end for n in notes], dtype=np.int64)
        self.pitches = np.array([n.pitch for n in notes], dtype=np.int64)

    def at(self, tick: int) -> np.ndarray:
        return self.pitches[(self.starts <= tick) & (self.ends > tick)]

    def last_before(self, tick: int, memory: int) -> tuple[int, np.ndarray]:
        """(onset, pitches) of the last onset before `tick` whose notes ended less than
        `memory` ticks before it ((-1, none) without one)."""
        recent = (self.starts <= tick) & (self.ends > tick - memory)
        if not recent.any():
            return -1, self.pitches[:0]
        onset = int(self.starts[recent].max())
        return onset, self.pitches[recent & (self.starts == onset)]


class PartVoicing:
    """The loop's hook (see the module docstring). `known`: the notes of every slot the
    schedule knows from the score (a written part's notes before its start); `starts`: each
    written slot's first tick (its notes from there are sampled)."""

    def __init__(self, tokenizer: Any, grammar: Any, known: dict[int, list[Note]],
                 starts: dict[int, int], registers: dict[int, float],
                 strength: VoicingStrength, rows: int,
                 rates: dict[int, float] | None = None) -> None:
        self._grammar = grammar            # a ScheduleGrammar: FREE steps are where it acts
        self._inner = tokenizer.grammar()
        self._kinds = tokenizer.kinds
        self._values = tokenizer.values
        self._step = tokenizer.ticks_per_position
        kinds = tokenizer.kind_array
        self._pitch_ids = np.flatnonzero(kinds == K_PITCH)
        self._pitch_values = np.asarray(tokenizer.values)[self._pitch_ids].astype(np.int64)
        self._known = {slot: _Known(notes) for slot, notes in known.items()
                       if slot // SLOTS != DRUMS}
        self._starts = starts
        self._registers = registers
        self._rates = rates or {}
        self._strength = strength
        self._height = {slot: float(statistics.median(n.pitch for n in notes))
                        for slot, notes in known.items() if notes}
        self.rows = [_Row() for _ in range(rows)]

    @classmethod
    def build(cls, tokenizer: Any, grammar: Any, kept: Score, slots: Sequence[int | None],
              starts: dict[int, int], rows: int, scale: float = 1.0) -> PartVoicing | None:
        """The hook for a schedule over `kept` (the score as the schedule forces it, 480
        ticks per quarter; `slots` per track), or None when `scale` is 0 or only drums are
        written."""
        starts = {slot: tick for slot, tick in starts.items() if slot // SLOTS != DRUMS}
        if scale <= 0 or not starts:   # drums have no pitches to lean
            return None
        known: dict[int, list[Note]] = {}
        for track, slot in zip(kept.tracks, slots, strict=True):
            if slot is not None and not track.is_drum:
                known.setdefault(slot, []).extend(track.notes)
        recent = {slot: _recent(kept, known[slot]) for slot in starts if known.get(slot)}
        registers = {slot: float(statistics.median(n.pitch for n in notes))
                     for slot, (_, notes) in recent.items()}
        rates = {slot: len({n.start for n in notes}) / bars
                 for slot, (bars, notes) in recent.items()}
        strength = VoicingStrength(*(value * scale for value in astuple(VOICING)))
        return cls(tokenizer, grammar, known, starts, registers, strength, rows, rates)

    # -------------------------------------------------------------- order of the parts
    def above(self, slot: int, other: int) -> bool | None:
        """Whether part `other` sounds above part `slot` (None: no order between them)."""
        mine, theirs = self._height.get(slot), self._height.get(other)
        if mine is not None and theirs is not None:
            return None if mine == theirs else theirs > mine
        rank, other_rank = slot % SLOTS, other % SLOTS   # a new part: by role
        return None if rank == other_rank else other_rank < rank

    def sounding(self, row: int, slot: int, tick: int, memory: int = 0
                 ) -> dict[int, np.ndarray]:
        """The pitches each other part sounds at `tick` in `row` (parts with none left out);
        with `memory`, a part silent at `tick` gives those of its last onset that ended less
        than `memory` ticks before."""
        return {other: pitches for other, _, pitches in self._voices(row, slot, tick, memory)
                if pitches.size}

    def _voices(self, row: int, slot: int, tick: int, memory: int
                ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(part, the pitches it sounds at `tick`, those with `memory` as in `sounding`) of
        each other part in `row`, in one pass for both."""
        new = self.rows[row].sounding
        for other in set(self._known) | set(new):
            if other == slot or other // SLOTS == DRUMS:
                continue
            parts = [_Known(new.get(other, ()))] + (
                [self._known[other]] if other in self._known else [])
            pitches = np.concatenate([part.at(tick) for part in parts])
            recalled = pitches
            if not pitches.size and memory:
                recalled = max((part.last_before(tick, memory) for part in parts),
                               key=lambda last: last[0])[1]
            yield other, pitches, recalled

    def pitch_bias(self, row: int, slot: int, tick: int, bar_start: int) -> np.ndarray:
        """(pitch tokens,) additions for the next pitch of `slot` at `tick` in `row`."""
        s = self._strength
        pitches = self._pitch_values
        bias = np.zeros(pitches.shape, dtype=np.float32)
        weight = 1.0 if (tick - bar_start) % TICKS_PER_QUARTER == 0 else OFFBEAT_WEIGHT
        crossing = np.zeros(pitches.shape, dtype=bool)
        clashes = np.zeros(pitches.shape, dtype=np.int64)
        for other, now, recalled in self._voices(row, slot, tick, ORDER_MEMORY):
            side = self.above(slot, other) if recalled.size else None
            if side is True:
                crossing |= pitches > recalled.min()
                bias[pitches == recalled.min()] -= s.unison
            elif side is False:
                crossing |= pitches < recalled.max()
                bias[pitches == recalled.max()] -= s.unison
            for pitch in now.tolist():
                clashes += _DISSONANT_CLASS[(pitches - pitch) % 12]
        bias -= s.dissonance * weight * np.minimum(clashes, MAX_DISSONANCES)
        target = self._registers.get(slot)
        made = self.rows[row].pitches.get(slot, [])
        if target is not None and s.register and len(made) >= REGISTER_MIN_NOTES:
            drift = float(statistics.median(made)) - target
            tilt = min(1.0, (abs(drift) - REGISTER_SLACK) / REGISTER_RAMP)
            if tilt > 0:   # the side it drifted to loses, up to an octave's worth
                away = np.clip(np.sign(drift) * (pitches - target) / 12.0, 0.0, 1.0)
                bias -= (tilt * s.register * away).astype(np.float32)
        if crossing.any() and s.order:   # below every pitch that keeps the order, by `order`
            floor = float(bias[~crossing].min()) if not crossing.all() else 0.0
            bias[crossing] = np.minimum(bias[crossing], floor) - s.order
        return bias

    # -------------------------------------------------------------- the loop's calls
    def adjust(self, logits: np.ndarray, states: Sequence[Any], finished: Sequence[bool],
               masks: np.ndarray) -> np.ndarray:
        out = None
        for row, state in enumerate(states):
            exit_token = None if finished[row] else self._grammar.exit_of(state)
            if exit_token is None:
                continue   # only FREE steps (a written part's own notes) are leaned on
            inner = state.inner
            slot = inner.section
            if slot not in self._starts:
                continue
            keep = self.density_bias(row, slot, inner.bar_start)
            ends = [token for token in [exit_token] + self._grammar.rests_of(state)
                    if masks[row, token]] if keep else []
            if ends:
                out = np.array(logits, dtype=np.float32) if out is None else out
                out[row, ends] += keep
            members = self._pitch_ids[masks[row, self._pitch_ids]]   # ids: not the vocabulary
            if not members.size:
                continue
            bias = self.pitch_bias(row, slot, self._inner.time_of(inner), inner.bar_start)
            if not bias.any():
                continue
            out = np.array(logits, dtype=np.float32) if out is None else out
            full = np.zeros(out.shape[1], dtype=np.float32)
            full[self._pitch_ids] = bias
            add_within(out, row, members, full)
        return logits if out is None else out

    def density_bias(self, row: int, slot: int, bar_start: int) -> float:
        """The addition to the tokens that end `slot`'s section in `row` (0 until a bar
        of its own is complete): `density` x log(its onsets per bar so far / its rate)."""
        target = self._rates.get(slot)
        bars = [len(ticks) for bar, ticks in self.rows[row].onsets.get(slot, {}).items()
                if bar < bar_start]
        if not target or not bars or not self._strength.density:
            return 0.0
        ratio = sum(bars) / len(bars) / target
        return float(np.clip(self._strength.density * np.log(ratio), -DENSITY_CAP, DENSITY_CAP))

    def advance(self, tokens: Sequence[int], states: Sequence[Any], skip: Sequence[bool]) -> None:
        """Follow each row's new notes (a Pitch, then its Duration)."""
        for row, (token, state, skipped) in enumerate(zip(tokens, states, skip, strict=True)):
            if skipped:
                continue
            kind, data = self._kinds[token], self.rows[row]
            if kind == K_PITCH:
                data.pending = self._values[token]
            elif kind == K_DURATION and data.pending is not None:
                inner = state.inner
                slot, start = inner.section, self._inner.time_of(inner)
                if slot in self._starts and start >= self._starts[slot]:
                    note = Note(data.pending, start, self._values[token] * self._step)
                    data.sounding.setdefault(slot, []).append(note)
                    data.pitches.setdefault(slot, []).append(note.pitch)
                    data.onsets.setdefault(slot, {}).setdefault(inner.bar_start, set()).add(start)
                data.pending = None
            elif kind == K_BAR:
                bar = state.inner.bar_start
                data.sounding = {s: [n for n in notes if n.end > bar - ORDER_MEMORY]
                                 for s, notes in data.sounding.items()}


def _recent(score: Score, notes: Sequence[Note]) -> tuple[int, list[Note]]:
    """(how many, the notes of) the last REGISTER_BARS bars of `notes` with notes: a part's
    register is their median pitch, its rate their onsets per bar."""
    bar_of = [score.bar_at(n.start)[0] for n in notes]
    bars = sorted(set(bar_of))[-REGISTER_BARS:]
    return len(bars), [n for n, bar in zip(notes, bar_of, strict=True) if bar in bars]

"""The schedule `ml_core.multitrack` samples under: other parts forced, written parts free.

`written_plan` turns a score, the parts to write (each from a tick) and an end bar line
into the tokens the model reads first and a schedule of steps: per bar, its bar line,
meter, "any" bar controls and tempo, the sections of the parts not written (their tokens,
forced one by one), then each written part's Track token and controls followed by a FREE
step. `ScheduleGrammar` walks it over the tokenizer's grammar: a forced step allows its
token only; a FREE step allows the part's notes and the next step's token, which ends it
(`ExitMerge` gives that token the probability of every way the model would end the
section). A written part with notes before its start has them forced too, and no onset
before its own last notes end (`OwnEnd`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ml_core.generation import _controls
from ml_core.music import Note, Score
from ml_core.options import GenerationError, GenerationOptions
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.remi import (
    K_BAR,
    K_BOS,
    K_EOS,
    K_FILL_END,
    K_FILL_START,
    K_HOLE,
    K_PAD,
    K_TIMESIG,
    BarControls,
)
from ml_core.tokenizers.remi_tracks import K_TRACK, TracksState, canonical_rank

FREE = -1   # a schedule step where the model samples until it writes the next step's token


class ScheduleState(NamedTuple):
    inner: TracksState
    index: int       # the schedule step the next token answers

    @property
    def tick(self) -> int:
        return self.inner.tick

    @property
    def bar_start(self) -> int:
        return self.inner.bar_start


@dataclass(frozen=True)
class OwnEnd:
    """Where a written part's own notes end: no onset before `earliest`, none on a pitch
    of `notes` while it sounds (until `latest`)."""

    earliest: int
    latest: int
    notes: tuple[Note, ...]


class ScheduleGrammar:
    """The tokenizer's grammar walking a schedule: forced steps allow their token only;
    a FREE step allows what the grammar allows except structure (bar lines, sections,
    meters, EOS), plus the next step's token, which ends it."""

    def __init__(self, tokenizer: Any, steps: Sequence[int], own_ends: dict[int, OwnEnd]) -> None:
        self._t = tokenizer
        self._inner = tokenizer.grammar()
        self.steps = list(steps)
        self._own_ends = own_ends
        structure = (K_BAR, K_TIMESIG, K_TRACK, K_BOS, K_EOS, K_PAD, K_HOLE, K_FILL_START,
                     K_FILL_END)
        self._body = ~np.isin(tokenizer.kind_array, structure)
        self._forced: dict[int, np.ndarray] = {}

    def start_from(self, inner: TracksState) -> ScheduleState:
        return ScheduleState(inner, 0)

    def allowed(self, state: ScheduleState) -> np.ndarray:
        steps, index = self.steps, state.index
        if index >= len(steps):
            return self._inner.allowed(state.inner)
        if steps[index] != FREE:
            return self._one_hot(steps[index])
        inner = self._inner.allowed(state.inner)
        mask = inner & self._body
        if index + 1 < len(steps) and inner[steps[index + 1]]:
            mask[steps[index + 1]] = True
        own = self._own_ends.get(state.inner.section)
        if own is not None:
            section = self._inner.section_state(state.inner)
            if section.tick < own.latest:
                sounding = [n.pitch for n in own.notes if n.start <= section.tick < n.end]
                narrowed = mask & self._t.onset_mask(section, own.earliest, sounding)
                if narrowed.any():
                    mask = narrowed
        return mask if mask.any() else inner

    def exit_of(self, state: ScheduleState) -> int | None:
        """In a FREE step, the token that ends it (None elsewhere)."""
        index = state.index
        if index + 1 < len(self.steps) and self.steps[index] == FREE:
            return self.steps[index + 1]
        return None

    def closing(self, state: ScheduleState) -> np.ndarray:
        """The structural tokens the grammar allows at `state` (a section's end: a bar line,
        another section, EOS)."""
        return self._inner.allowed(state.inner) & ~self._body

    def _one_hot(self, token: int) -> np.ndarray:
        mask = self._forced.get(token)
        if mask is None:
            mask = np.zeros(self._t.vocab_size, dtype=bool)
            mask[token] = True
            mask.setflags(write=False)
            self._forced[token] = mask
        return mask

    def advance(self, state: ScheduleState, token: int) -> ScheduleState:
        inner = self._inner.advance(state.inner, token)
        steps, index = self.steps, state.index
        if index < len(steps):
            if steps[index] != FREE:
                index += 1
            elif index + 1 < len(steps) and token == steps[index + 1]:
                index += 2
        return ScheduleState(inner, index)


class ExitMerge:
    """A logit adjustment (the sampling loop's `motif` hook): in a FREE step the token that
    ends it takes the probability of every way the model would end the section there (a
    bar line, any other part's section, EOS). A part the model rarely saw last in a bar,
    or a next section token it never learned, then ends when the model means to end the
    part, instead of the part running on to the token cap."""

    def __init__(self, grammar: ScheduleGrammar) -> None:
        self._grammar = grammar

    def adjust(self, logits: np.ndarray, states: Sequence[ScheduleState],
               finished: Sequence[bool], masks: np.ndarray) -> np.ndarray:
        out = None
        for row, state in enumerate(states):
            exit_token = None if finished[row] else self._grammar.exit_of(state)
            if exit_token is None or not masks[row, exit_token]:
                continue
            closing = self._grammar.closing(state)
            if not closing.any():
                continue
            out = np.array(logits, dtype=np.float32) if out is None else out
            values = out[row, closing]
            top = float(values.max())
            out[row, exit_token] = top + float(np.log(np.exp(values - top).sum()))
        return logits if out is None else out

    def advance(self, tokens: Sequence[int], states: Sequence[Any], skip: Sequence[bool]) -> None:
        """Nothing to follow (the grammar's state holds the schedule)."""


# ----------------------------------------------------------------------- the plan
@dataclass
class Write:
    index: int        # track index in the score
    slot: int
    start: int        # tick (480 per quarter) from which the part is written
    new_from: int     # decoded notes of the slot from this tick on are new


def checked_slots(tokenizer: Any, score: Score, chosen: dict[int, int]) -> list[int | None]:
    slots = tokenizer.slots_of(score)
    for index, slot in chosen.items():
        slots[index] = slot
    for index, slot in chosen.items():
        if any(s == slot for i, s in enumerate(slots) if i != index):
            name = tokenizer.vocab.string(tokenizer.slot_token(slot))
            raise GenerationError(f"track {index} shares its part ({name}) with another track")
    return slots


def _bars(tokenizer: Any, source: Score, end_tick: int) -> list[tuple[int, int, tuple[int, int]]]:
    try:
        return tokenizer._bar_plan(source, end_tick - 1, end_tick)
    except TokenizerError as error:
        raise GenerationError(str(error)) from None


def forced_score(tokenizer: Any, source: Score, writes: list[Write], end_tick: int
                 ) -> tuple[list[int | None], Score]:
    """(each track's slot, the score as the schedule forces it: written parts cut at their
    start, every part at `end_tick`)."""
    slots = checked_slots(tokenizer, source, {w.index: w.slot for w in writes})
    written = {w.slot: w for w in writes}
    return slots, source.with_tracks([
        t.emptied([n for n in t.notes if n.start < end_tick
                   and (slots[i] not in written or n.start < written[slots[i]].start)])
        for i, t in enumerate(source.tracks)])


def written_plan(tokenizer: Any, source: Score, writes: list[Write], end_tick: int,
                  options: GenerationOptions):
    """(context ids, schedule steps, own ends) writing `writes` up to `end_tick`."""
    slots, kept = forced_score(tokenizer, source, writes, end_tick)
    bars = _bars(tokenizer, source, end_tick)
    starts = [bar_start for bar_start, _, _ in bars]
    first = max(0, int(np.searchsorted(starts, min(w.start for w in writes), side="right")) - 1)
    context_end = starts[first]
    before = kept.sliced(0, context_end, shift=False, clip=False)
    before.tempo_changes = [c for c in before.tempo_changes if c.tick < context_end]
    last = writes[0].slot if len(writes) == 1 else None
    context = (tokenizer.encode(before, end_tick=context_end, tracked=True, slots=slots,
                                last=last) if context_end else [tokenizer.bos_id])
    sections = tokenizer.bar_sections(kept, slots, bars)
    tempo_at = tokenizer._tempo_tokens(kept)
    controls = {}
    own_ends = {}
    for w in writes:
        own = kept.with_tracks([kept.tracks[w.index]])
        controls[w.slot] = tokenizer.control_tokens(_controls(tokenizer, options, own, w.start)
                                                    or BarControls())
        notes = own.tracks[0].notes
        if notes:
            last_onset = max(n.start for n in notes)
            own_ends[w.slot] = OwnEnd(max(n.end for n in notes if n.start == last_onset),
                                      max(n.end for n in notes), tuple(notes))
    steps: list[int] = []
    for b in range(first, len(bars)):
        bar_start, length, meter = bars[b]
        steps += tokenizer.bar_header(kept, bar_start, length, meter,
                                      b == 0 or bars[b - 1][2] != meter, tempo_at, BarControls())
        active = sorted((w for w in writes if w.start < bar_start + length),
                        key=lambda w: canonical_rank(w.slot))
        active_slots = {w.slot for w in active}
        by_slot = {s.slot: s for s in sections[b]}
        for section in sorted(sections[b], key=lambda s: canonical_rank(s.slot)):
            if section.slot not in active_slots:
                steps += section.tokens(tokenizer.track_first)
        for w in active:
            steps += [tokenizer.slot_token(w.slot)] + controls[w.slot]
            if w.slot in by_slot and w.start > bar_start:
                steps += by_slot[w.slot].tokens(tokenizer.track_first, before=w.start)[
                    1 + len(by_slot[w.slot].controls):]
            steps.append(FREE)
    steps.append(tokenizer.bar_id)
    return context, steps, own_ends

"""The schedule `ml_core.multitrack` samples under: other parts forced, written parts free.

`written_plan` turns a score, the parts to write (each from a tick) and an end bar line
into the tokens the model reads first and a schedule of steps: per bar, its bar line,
meter, "any" bar controls and tempo, the sections of the parts not written (their tokens,
forced one by one), then each written part's Track token and controls (a new part's
chosen by the model: `CHOSEN` steps) followed by a FREE step. `ScheduleGrammar` walks it
over the tokenizer's grammar: a forced step allows its token only; a CHOSEN step any
value of its control kind; a FREE step allows the part's notes and the next step's token,
which ends it (`ExitMerge` gives that token the probability of every way the model would
end the section). A written part with notes before its start has them forced too, and no
onset before its own last notes end (`OwnEnd`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ml_core.motif import _logsumexp
from ml_core.music import Note, Score
from ml_core.options import GenerationError, GenerationOptions
from ml_core.sampling_rules import chosen_controls
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.remi import (
    K_BAR,
    K_BOS,
    K_DENSITY,
    K_EOS,
    K_FILL_END,
    K_FILL_START,
    K_HOLE,
    K_PAD,
    K_REGISTER,
    K_TEXTURE,
    K_TIMESIG,
)
from ml_core.tokenizers.remi_controls import ANY, BarControls
from ml_core.tokenizers.remi_tracks import (
    FAMILIES,
    K_TRACK,
    ROLES,
    SLOTS,
    TracksState,
    canonical_rank,
)

FREE = -1   # a schedule step where the model samples until it writes the next step's token
CHOSEN = -2  # a written part's control the model chooses (a value, never "any"): step
             # CHOSEN - kind for the control kind `kind` (see `chosen_step`)
LOW = 64     # chosen_step(K_REGISTER, low=True): a bass's register, BASS_REGISTERS only
BASS_REGISTERS = (0, 1)   # Register values a new bass part may choose: median below G3
# families whose fourth part is the bass of the ensemble (a choir, a quartet...)
ENSEMBLE_FAMILIES = tuple(FAMILIES.index(f) for f in ("strings", "ensemble", "brass", "reed",
                                                      "pipe", "organ"))
PLAY_SHARE_BOUNDS = (0.1, 0.9)   # a resting part's share of bars playing, as ExitMerge uses it
PLAY_LEAN = 0.5                  # how far (log-odds) whether it plays leans from the model's
                                 # odds to that share


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
    meters, EOS), plus the next step's token, which ends it. `optional` maps the step of
    a written part's Track token that may be left out (a part that rests whole bars) to
    (the step after its section, the share of bars the part plays in its own music):
    there, the token of the step after is allowed too (the part rests in this bar), and so
    on down a run of such parts."""

    def __init__(self, tokenizer: Any, steps: Sequence[int], own_ends: dict[int, OwnEnd],
                 optional: dict[int, tuple[int, float]] | None = None) -> None:
        self._t = tokenizer
        self._inner = tokenizer.grammar()
        self.steps = list(steps)
        self._own_ends = own_ends
        self._optional = {step: after for step, (after, _) in (optional or {}).items()}
        self._plays = {step: share for step, (_, share) in (optional or {}).items()}
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
        if steps[index] < FREE:
            return self._chosen_mask(CHOSEN - steps[index])
        if steps[index] != FREE:
            if index not in self._optional:
                return self._one_hot(steps[index])
            inner = self._inner.allowed(state.inner)
            mask = self._one_hot(steps[index]).copy()
            for token, _ in self._exits(index)[1:]:
                mask[token] |= inner[token]
            return mask
        inner = self._inner.allowed(state.inner)
        mask = inner & self._body
        for token, _ in self._exits(index + 1):
            mask[token] |= inner[token]
        own = self._own_ends.get(state.inner.section)
        if own is not None:
            section = self._inner.section_state(state.inner)
            if section.tick < own.latest:
                sounding = [n.pitch for n in own.notes if n.start <= section.tick < n.end]
                narrowed = mask & self._t.onset_mask(section, own.earliest, sounding)
                if narrowed.any():
                    mask = narrowed
        return mask if mask.any() else inner

    def _exits(self, index: int) -> list[tuple[int, int]]:
        """(token, step after it) of the ways on from step `index`: its own token, and
        where its part may rest, the tokens after its section (and after theirs)."""
        exits = []
        while index < len(self.steps):
            exits.append((self.steps[index], index + 1))
            if index not in self._optional:
                break
            index = self._optional[index]
        return exits

    def exit_of(self, state: ScheduleState) -> int | None:
        """In a FREE step, the token that ends it (None elsewhere)."""
        index = state.index
        if index + 1 < len(self.steps) and self.steps[index] == FREE:
            return self.steps[index + 1]
        return None

    def rest_choice(self, state: ScheduleState) -> tuple[int, list[int], float] | None:
        """Where the next part may rest (at its Track step, or ending the FREE step before
        it): (its Track token, the tokens that leave it out, the share of bars it plays)."""
        index = state.index
        if index < len(self.steps) and self.steps[index] == FREE:
            index += 1
        if index not in self._optional:
            return None
        exits = self._exits(index)
        return exits[0][0], [token for token, _ in exits[1:]], self._plays[index]

    def rests_of(self, state: ScheduleState) -> list[int]:
        """In a FREE step, the tokens that end it leaving the next parts out (they rest)."""
        index = state.index
        if index + 1 < len(self.steps) and self.steps[index] == FREE:
            return [token for token, _ in self._exits(index + 1)[1:]]
        return []

    def closing(self, state: ScheduleState) -> np.ndarray:
        """The structural tokens the grammar allows at `state` (a section's end: a bar line,
        another section, EOS)."""
        return self._inner.allowed(state.inner) & ~self._body

    def _chosen_mask(self, code: int) -> np.ndarray:
        """The values (not "any") of the control kind `code` names (`chosen_step`)."""
        key = -1 - code
        mask = self._forced.get(key)
        if mask is None:
            kind, low = code % LOW, code >= LOW
            ids = self._t.control_ids[kind]
            mask = np.zeros(self._t.vocab_size, dtype=bool)
            mask[[token for value, token in ids.items()
                  if value != ANY and (not low or value in BASS_REGISTERS)]] = True
            mask.setflags(write=False)
            self._forced[key] = mask
        return mask

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
            if steps[index] < FREE:
                index += 1
            elif steps[index] != FREE:
                index = dict(self._exits(index)).get(token, index + 1)
            elif index + 1 < len(steps):
                index = dict(self._exits(index + 1)).get(token, index)
        return ScheduleState(inner, index)


class ExitMerge:
    """A logit adjustment (the sampling loop's `motif` hook): in a FREE step the token that
    ends it takes the probability of every way the model would end the section there (a
    bar line, any other part's section, EOS). A part the model rarely saw last in a bar,
    or a next section token it never learned, then ends when the model means to end the
    part, instead of the part running on to the token cap. Where the next part may rest,
    whether it plays leans halfway (in log-odds) from the model's odds to the share of
    bars it plays in its own music: a part that joins in now and then keeps doing so."""

    def __init__(self, grammar: ScheduleGrammar) -> None:
        self._grammar = grammar

    def adjust(self, logits: np.ndarray, states: Sequence[ScheduleState],
               finished: Sequence[bool], masks: np.ndarray) -> np.ndarray:
        out = None
        for row, state in enumerate(states):
            if finished[row]:
                continue
            exit_token = self._grammar.exit_of(state)
            if exit_token is not None and masks[row, exit_token]:
                closing = self._grammar.closing(state)
                for rest in self._grammar.rests_of(state):   # a part left out keeps its own
                    closing[rest] = False
                if closing.any():
                    out = np.array(logits, dtype=np.float32) if out is None else out
                    out[row, exit_token] = _logsumexp(out[row, closing])
            choice = self._grammar.rest_choice(state)
            if choice is not None:
                out = np.array(logits, dtype=np.float32) if out is None else out
                _lean_to_share(out[row], masks[row], *choice)
        return logits if out is None else out

    def advance(self, tokens: Sequence[int], states: Sequence[Any], skip: Sequence[bool]) -> None:
        """Nothing to follow (the grammar's state holds the schedule)."""


def _lean_to_share(row: np.ndarray, allowed: np.ndarray, play: int, rests: list[int],
                   share: float) -> bool:
    """Set the odds of `play` against the (allowed) `rests` halfway, in log-odds, to `share`
    (their total probability kept); whether anything changed."""
    rests = [token for token in rests if allowed[token]]
    if not allowed[play] or not rests:
        return False
    share = min(max(share, PLAY_SHARE_BOUNDS[0]), PLAY_SHARE_BOUNDS[1])
    rest = _logsumexp(row[rests])
    total = _logsumexp(np.array([row[play], rest]))
    odds = (1.0 - PLAY_LEAN) * (float(row[play]) - rest) \
        + PLAY_LEAN * float(np.log(share / (1.0 - share)))
    plays = 1.0 / (1.0 + float(np.exp(-odds)))
    row[rests] += total + float(np.log(1.0 - plays)) - rest
    row[play] = total + float(np.log(plays))
    return True


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
    """(context ids, schedule steps, own ends, optional steps: see `ScheduleGrammar`)
    writing `writes` up to `end_tick`. A written part that rests a whole bar somewhere in
    its own music before its start (from where the piece's music begins) may rest in the
    bars it writes too (its section is
    left out when the model means it to be); the others play in every bar."""
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
    since = min((n.start for t in kept.tracks for n in t.notes), default=0)
    plays = {w.slot: share for w in writes
             if (share := _playing_share(kept.tracks[w.index].notes, since, bars)) < 1.0}
    optional: dict[int, tuple[int, float]] = {}
    for w in writes:
        own = kept.with_tracks([kept.tracks[w.index]])
        controls[w.slot] = _written_controls(tokenizer, options, own, w.start,
                                             is_bass_slot(w.slot))
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
            at = len(steps)
            steps += [tokenizer.slot_token(w.slot)] + controls[w.slot]
            own = w.slot in by_slot and w.start > bar_start
            if own:
                steps += by_slot[w.slot].tokens(tokenizer.track_first, before=w.start)[
                    1 + len(by_slot[w.slot].controls):]
            steps.append(FREE)
            if w.slot in plays and not own:
                optional[at] = (len(steps), plays[w.slot])
    steps.append(tokenizer.bar_id)
    return context, steps, own_ends, optional


def chosen_step(kind: int, low: bool = False) -> int:
    """The schedule step where the model chooses a value of control kind `kind` (`low`: of
    the register, one of BASS_REGISTERS)."""
    return CHOSEN - kind - (LOW if low else 0)


def is_bass_slot(slot: int) -> bool:
    """Whether `slot` is a bass: a bass instrument's, or an ensemble's fourth part."""
    family, rank = divmod(slot, SLOTS)
    return family == FAMILIES.index("bass") or (family in ENSEMBLE_FAMILIES
                                                and rank == ROLES.index("bass"))


def _written_controls(tokenizer: Any, options: GenerationOptions, own: Score,
                      start: int, bass: bool = False) -> list[int]:
    """A written part's section controls: what the musician set, else those of the part's
    own music before `start`. A new part (no notes of its own) has nothing to follow: the
    model chooses each control the musician left to it, bar by bar, after reading the other
    parts' sections, as every section of its training data had them measured (forcing "any"
    on all three, which training shows in only 2.7% of sections, left added chorale basses
    a sixth sparser than the true ones, a bar at a time empty: docs/PRESETS.md). A new
    `bass` chooses its register among BASS_REGISTERS: under a piano melody alone the model
    chose registers 2-3 for it (medians G3-C4, up to A4: a tenor, not a bass)."""
    forced = tokenizer.control_tokens(chosen_controls(tokenizer, options, own, start)
                                      or BarControls())
    if any(t.notes for t in own.tracks):
        return forced
    given = {K_TEXTURE: options.texture, K_DENSITY: options.density,
             K_REGISTER: options.register}
    return [chosen_step(tokenizer.kinds[token], bass and tokenizer.kinds[token] == K_REGISTER)
            if given.get(tokenizer.kinds[token]) is None else token for token in forced]


def _playing_share(notes: Sequence[Note], since: int,
                   bars: Sequence[tuple[int, int, tuple[int, int]]]) -> float:
    """The share of the bars of `bars` from tick `since` (where the piece's music begins)
    to the last onset of `notes` in which they sound (1 without notes)."""
    if not notes:
        return 1.0
    last = max(n.start for n in notes)
    spanned = [(start, length) for start, length, _ in bars if since <= start <= last]
    sounding = sum(any(n.start < start + length and n.end > start for n in notes)
                   for start, length in spanned)
    return sounding / len(spanned) if spanned else 1.0

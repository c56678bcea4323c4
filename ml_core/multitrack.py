"""Generation with a tokenizer that knows tracks (`remi_tracks`): parts written given the others.

Every function here writes some tracks ("written" parts) of a score over a span of bars
while every other track stays as it is and is read as context. The model reads the piece
up to the first bar it writes in, then goes bar by bar through a schedule of tokens
(`ml_core.part_schedule`): the bar line, its meter, "any" bar controls and tempo, the sections
of the parts it does not write (forced, token by token, from the score), then each
written part's section (its Track token and controls forced, then its notes sampled until
the model closes the section by the next forced token). The written parts' sections come
last in each bar, so the model writes them knowing what the others play in that bar;
training shuffles the order of sections (`section_shuffle`), so it has seen that order.
A written part that has notes before the span continues from its own end: its notes of
that bar are forced too, no new note starts before its last notes end, and none strikes a
pitch it still holds.

- `continue_active`: one track from its own end, the others as accompaniment (their bars
  beyond its end are forced; after theirs end, only the active track plays);
- `continue_all`: every pitched track (or the chosen ones), each from its own end;
- `fill_track`: one track's bars `start..end-1`, given everything else;
- `add_part`: a new track (role bass / harmony / counter / melody, or a GM program) over
  bars `first..end-1`, given the others.

Each returns a GenerationResult whose scores are the whole piece with the new notes in
their own tracks, `extra["per_track"]` the new notes per track index; with `on_update`,
results of the same form with the notes so far come while it runs (streaming). While a
part is sampled, `ml_core.part_voicing` leans its pitches on what the other parts sound
(`voicing`), and a part that rests whole bars in its own music may rest in the bars it
writes (`ml_core.part_schedule`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ml_core.generation import (
    TOKENS_PER_BAR_CAP,
    UPDATE_INTERVAL_S,
    GenerationResult,
    GenerationUpdate,
    _cpu_threads,
    _dynamics,
    _generate_tokens,
    _ready,
    _resolve_key,
    _start_state,
    _TokenPlan,
    at_resolution,
    target_tick,
)
from ml_core.music import TICKS_PER_QUARTER, Note, Score, Track
from ml_core.options import GenerationError, GenerationOptions
from ml_core.part_schedule import (
    ENSEMBLE_FAMILIES,
    FREE,
    ExitMerge,
    ScheduleGrammar,
    Write,
    forced_score,
    written_plan,
)
from ml_core.part_voicing import PartVoicing
from ml_core.sampling_rules import Hooks, OnsetTokens
from ml_core.tokenizers.remi_tracks import (
    DRUMS,
    FAMILIES,
    ROLES,
    SLOTS,
    slot_id,
    slot_program,
    track_family,
)

PART_ROLES = ROLES + ("drums",)
_ROLE_FAMILIES = {"melody": "piano", "counter": "strings", "harmony": "piano",
                  "bass": "ensemble"}
BASS_PROGRAM = 33   # an electric bass (finger)


def knows_tracks(tokenizer: Any) -> bool:
    """Whether the tokenizer writes track sections (a remi_tracks bundle)."""
    return hasattr(tokenizer, "bar_sections")


def _generate_parts(bundle: Any, score: Score, writes: list[Write], end_tick: int,
                    options: GenerationOptions, cancel: threading.Event | None,
                    voicing: float = 1.0, streaming: bool = False,
                    ) -> tuple[Iterator[GenerationUpdate],
                               Callable[[list[int]], dict[int, list[Note]]]]:
    """Write `writes` (ticks at 480 per quarter) up to `end_tick` (a bar line): (updates whose
    scores are `score` with the new notes in their tracks, a row's sampled tokens -> its new
    notes per track index at the score's resolution). `voicing` scales the voice-leading
    bias (`ml_core.part_voicing`; 0 = off); `streaming`: an update every UPDATE_INTERVAL_S
    (else only the last)."""
    tokenizer = bundle.tokenizer
    options = options.validated()
    if not voicing >= 0:
        raise GenerationError(f"voicing must be 0 (off) or more, got {voicing}")
    cancel = cancel or threading.Event()
    device, seed = _ready(bundle, options)
    source = score if score.ticks_per_quarter == TICKS_PER_QUARTER else \
        score.resampled(TICKS_PER_QUARTER)
    context, steps, own_ends, optional = written_plan(tokenizer, source, writes, end_tick,
                                                     options)
    grammar = ScheduleGrammar(tokenizer, steps, own_ends, optional)
    inner = _start_state(tokenizer.grammar(), context)
    dynamics = {w.slot: _dynamics(tokenizer, source, seed, w.index) for w in writes}
    split: dict[int, dict[int, list[Note]]] = {}

    def per_track(tokens: list[int]) -> dict[int, list[Note]]:
        decoded, _, _ = tokenizer.decode_sections(context + tokens)
        result = {}
        for w in writes:
            made, struck = [], set()
            for n in sorted(decoded.get(w.slot, [])):
                if w.new_from <= n.start < end_tick and (n.pitch, n.start) not in struck:
                    struck.add((n.pitch, n.start))
                    made.append(n.moved(duration=max(1, min(n.duration, end_tick - n.start))))
            extra = dynamics[w.slot]
            result[w.index] = made if extra is None else extra.apply(made)
        return result

    def notes(tokens: list[int]) -> list[Note]:
        parts = per_track(tokens)
        flat = sorted(n for made in parts.values() for n in made)
        split[id(flat)] = parts
        return flat

    def assemble(flat: list[Note]) -> Score:
        parts = split.pop(id(flat), None) or {}
        result = score.copy()
        for index, made in parts.items():
            track = result.tracks[index]
            track.notes = sorted(track.notes + at_resolution(made, score.ticks_per_quarter))
        return result

    slots, kept = forced_score(tokenizer, source, writes, end_tick)
    voices = PartVoicing.build(tokenizer, grammar, kept, slots,
                               {w.slot: w.start for w in writes}, options.variations, voicing)
    plan = _TokenPlan(context=context, state=grammar.start_from(inner), target=end_tick,
                      notes=notes, assemble=assemble, grammar=grammar,
                      onsets=OnsetTokens.for_tokenizer(tokenizer),
                      motif=Hooks([ExitMerge(grammar), voices]))  # type: ignore[arg-type]
    free = steps.count(FREE)
    options = replace(options, max_tokens=options.max_tokens
                      or len(steps) + free * TOKENS_PER_BAR_CAP)
    key = _resolve_key(score, options) if options.stay_in_key else None

    def updates() -> Iterator[GenerationUpdate]:
        with _cpu_threads(device, 1):
            yield from _generate_tokens(bundle.model, tokenizer, plan, options, cancel, device,
                                        seed, key,
                                        UPDATE_INTERVAL_S if streaming else float("inf"))

    def new_notes(tokens: list[int]) -> dict[int, list[Note]]:
        return {i: at_resolution(n, score.ticks_per_quarter)
                for i, n in per_track(tokens).items()}
    return updates(), new_notes


OnUpdate = Callable[[GenerationResult], None]


def _result(generated: tuple[Iterator[GenerationUpdate], Callable], started: float,
            on_update: OnUpdate | None = None) -> GenerationResult:
    updates, new_notes = generated
    last = None
    for update in updates:
        last = update
        if on_update is not None and not update.done:
            on_update(_as_result(update, new_notes, started))
    assert last is not None   # the sampling loop always ends with a done update
    return _as_result(last, new_notes, started)


def _as_result(update: GenerationUpdate, new_notes: Callable, started: float
               ) -> GenerationResult:
    """An update as a GenerationResult: its notes per track (`extra["per_track"]`) and how
    far it has come (`extra["fraction"]`)."""
    rows = [new_notes(tokens) for tokens in update.tokens]
    per_track: dict[int, list[list[Note]]] = {}
    for row in rows:
        for index, made in row.items():
            per_track.setdefault(index, []).append(made)
    new = [sorted(n for made in row.values() for n in made) for row in rows]
    return GenerationResult(update.scores, new, update.confidences, update.tokens_generated,
                            time.perf_counter() - started, update.cancelled, update.seed,
                            update.key, {"per_track": per_track, "fraction": update.fraction})


def _own_end(score: Score, index: int) -> tuple[int, int]:
    """(tick from which track `index` continues, the last onset + 1) at 480 per quarter."""
    notes = score.tracks[index].notes
    if not notes:
        raise GenerationError(f"track {index} has no notes to continue")
    last = max(n.start for n in notes)
    return max(n.end for n in notes if n.start == last), last + 1


def _at_480(score: Score) -> Score:
    return score if score.ticks_per_quarter == TICKS_PER_QUARTER else \
        score.resampled(TICKS_PER_QUARTER)


def _need_tracks(bundle: Any, what: str) -> None:
    if not knows_tracks(bundle.tokenizer):
        raise GenerationError(f"model '{getattr(bundle, 'name', '?')}' cannot {what}: it reads "
                              "one stream of notes (a model with the remi_tracks tokenizer can)")


def _check_track(score: Score, index: int) -> None:
    if not 0 <= index < len(score.tracks):
        raise GenerationError(f"there is no track {index} (the score has {len(score.tracks)})")


# ----------------------------------------------------------------------- public
def continue_parts(bundle: Any, score: Score, tracks: Sequence[int],
                   options: GenerationOptions | None = None,
                   cancel: threading.Event | None = None, *,
                   end_tick: int | None = None, voicing: float = 1.0,
                   on_update: OnUpdate | None = None) -> GenerationResult:
    """Continue each of `tracks` from its own end to `end_tick` (480 per quarter; default
    `options.bars` bars after the end of those tracks), the other tracks as context.
    Here and below: `voicing`, the strength of the voice-leading bias, 1 by default, 0 off
    (`ml_core.part_voicing`); `on_update`, called on the generating thread with the notes
    so far (a GenerationResult, `extra["fraction"]` of the way) every UPDATE_INTERVAL_S
    before the finished result is returned."""
    started = time.perf_counter()
    options = (options or GenerationOptions()).validated()
    source = _at_480(score)
    _need_tracks(bundle, "continue a part given the others")
    slots = bundle.tokenizer.slots_of(source)
    writes = []
    for index in tracks:
        _check_track(source, index)
        start, new_from = _own_end(source, index)
        if slots[index] is None:
            raise GenerationError(f"track {index} has no notes in the model's pitch range")
        writes.append(Write(index, slots[index], start, new_from))
    if not writes:
        raise GenerationError("the score has no pitched track with notes to continue")
    if end_tick is None:
        end_tick = target_tick(source.with_tracks([source.tracks[w.index] for w in writes]),
                               options.bars)
    return _result(_generate_parts(bundle, score, writes, end_tick, options, cancel, voicing,
                                   on_update is not None), started, on_update)


def continue_active(bundle: Any, score: Score, index: int,
                    options: GenerationOptions | None = None,
                    cancel: threading.Event | None = None, *, voicing: float = 1.0,
                    on_update: OnUpdate | None = None) -> GenerationResult:
    """Continue track `index` from its own end for `options.bars` bars, the others as
    accompaniment (their notes in those bars are read, not imitated)."""
    return continue_parts(bundle, score, [index], options, cancel, voicing=voicing,
                          on_update=on_update)


def continue_all(bundle: Any, score: Score, tracks: Sequence[int] | None = None,
                 options: GenerationOptions | None = None,
                 cancel: threading.Event | None = None, *, voicing: float = 1.0,
                 on_update: OnUpdate | None = None) -> GenerationResult:
    """Continue every track with notes (or `tracks`), each from its own end to the bar
    `options.bars` bars after the piece's end."""
    options = (options or GenerationOptions()).validated()
    chosen = [i for i, t in enumerate(score.tracks) if t.notes] if tracks is None else tracks
    source = _at_480(score)
    end = target_tick(source.with_tracks([source.tracks[i] for i in chosen]), options.bars) \
        if chosen else 0
    return continue_parts(bundle, score, chosen, options, cancel, end_tick=end,
                          voicing=voicing, on_update=on_update)


def _span(source: Score, bars: tuple[int, int] | None) -> tuple[int, int]:
    if bars is None:
        end_bar = source.bar_at(source.next_bar_start(source.end_tick))[0] if source.end_tick \
            else 1
        bars = (0, max(1, end_bar))
    first, end = bars
    if not 0 <= first < end:
        raise GenerationError(f"bars must satisfy 0 <= first < end, got {first}:{end}")
    return source.bar_start(first), source.bar_start(end)


def fill_track(bundle: Any, score: Score, index: int, start_bar: int, end_bar: int,
               options: GenerationOptions | None = None,
               cancel: threading.Event | None = None, *, voicing: float = 1.0,
               on_update: OnUpdate | None = None) -> GenerationResult:
    """Rewrite track `index` in bars `start_bar..end_bar-1` given every other track (and
    its own bars before); its notes starting in those bars are replaced."""
    started = time.perf_counter()
    options = (options or GenerationOptions()).validated()
    _check_track(score, index)
    source = _at_480(score)
    start, end = _span(source, (start_bar, end_bar))
    factor = score.ticks_per_quarter / TICKS_PER_QUARTER
    low, high = round(start * factor), round(end * factor)
    cleared = score.copy()
    cleared.tracks[index].notes = [n for n in cleared.tracks[index].notes
                                   if not low <= n.start < high]
    _need_tracks(bundle, "fill one part given the others")
    slots = bundle.tokenizer.slots_of(source)
    slot = slots[index] if slots[index] is not None else part_slot(
        bundle.tokenizer, source, "melody", source.tracks[index].program)
    own = [n for n in source.tracks[index].notes if n.start < start]
    writes = [Write(index, slot, start, max([n.start + 1 for n in own], default=0))]
    return _result(_generate_parts(bundle, cleared, writes, end, options, cancel, voicing,
                                   on_update is not None), started, on_update)


def known_parts(bundle: Any) -> set[int] | None:
    """The slots a bundle's training data taught it (at least KNOWN_PART_SECTIONS bar
    sections, over every link of its chain), or None where its card does not say."""
    taught = getattr(bundle.tokenizer, "taught", None)   # read from the card at load
    return None if taught is None else set(taught)


def part_slot(tokenizer: Any, score: Score, role: str, program: int | None = None,
              known: set[int] | None = None) -> int:
    """The slot a new part takes. With `program`: that program's family. Else, when every
    pitched track shares a family of like instruments (a choir, a quartet, POP909's three
    pianos), that family; a bass outside such an ensemble takes the ensemble family's
    fourth part, the lowest voice the corpus teaches best (its track plays a bass
    program). The rank is the role's (melody 0, counter 1, harmony 2, bass 3) where free in
    that family, else the next free one. With `known` (the slots the model was taught), a
    program's family the model never learned (an electric bass: no bass-family part in the
    music21 corpus or POP909) gives way to the slot the role would take without a program:
    the track still plays the program, and the model writes a part it knows."""
    if role not in PART_ROLES:
        raise GenerationError(f"unknown part role {role!r} (choose from {', '.join(PART_ROLES)})")
    used = {s for s in tokenizer.slots_of(score) if s is not None}
    families = {s // SLOTS for s in used if s // SLOTS != DRUMS}   # as the model reads them
    shared = families.pop() if len(families) == 1 else None
    if role == "drums":
        family = DRUMS
        if known is not None and not any(slot_id(DRUMS, rank) in known for rank in range(SLOTS)):
            raise GenerationError("this model was never taught drums (its training data had "
                                  "no drum parts): choose a model trained with drums")
    elif program is not None:
        if not 0 <= program <= 127:
            raise GenerationError(f"a GM program is 0..127, got {program}")
        family = program // 8
        if known is not None and not any(slot_id(family, rank) in known
                                         for rank in range(SLOTS)):
            return part_slot(tokenizer, score, role, None, known)
    elif (shared in ENSEMBLE_FAMILIES or (shared == 0 and role != "bass")) and (
            known is None or any(slot_id(shared, rank) in known for rank in range(SLOTS))):
        family = shared
    else:
        family = FAMILIES.index(_ROLE_FAMILIES[role])
    preferred = ROLES.index(role) if role in ROLES and family in ENSEMBLE_FAMILIES + (0,) \
        else 0
    for rank in [preferred] + list(range(SLOTS)):
        if slot_id(family, rank) not in used:
            return slot_id(family, rank)
    raise GenerationError(f"the piece already has {SLOTS} {FAMILIES[family]} parts")


def add_part(bundle: Any, score: Score, role: str, *, program: int | None = None,
             bars: tuple[int, int] | None = None, options: GenerationOptions | None = None,
             cancel: threading.Event | None = None, voicing: float = 1.0,
             on_update: OnUpdate | None = None) -> GenerationResult:
    """A new track (the last one of the result's scores) playing `role` over bars
    `bars` = (first, end) (default: the whole piece), written given the other tracks."""
    started = time.perf_counter()
    options = (options or GenerationOptions()).validated()
    _need_tracks(bundle, "add a part")
    source = _at_480(score)
    slot = part_slot(bundle.tokenizer, source, role, program, known_parts(bundle))
    if program is None:   # a bass under other instruments plays a bass, not a choir's voice
        shared = {track_family(t) for t in score.tracks if t.notes and not t.is_drum}
        program = BASS_PROGRAM if role == "bass" and shared != {slot // SLOTS} \
            else slot_program(slot)
    track = Track(role.title(), program, role == "drums", [])
    grown = score.with_tracks([t.emptied(list(t.notes)) for t in score.tracks] + [track])
    start, end = _span(source, bars)
    writes = [Write(len(grown.tracks) - 1, slot, start, start)]
    return _result(_generate_parts(bundle, grown, writes, end, options, cancel, voicing,
                                   on_update is not None), started, on_update)

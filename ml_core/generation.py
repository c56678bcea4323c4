"""Continue a prompt Score with a model bundle, or regenerate some of its bars.

The prompt is encoded, run through the model once, then the model steps one token at a
time (LSTM hidden state / Transformer KV cache), sampling under the tokenizer's grammar
mask (so every sequence decodes) and, with stay-in-key, a mask of the prompt's scale.
Variations are rows of one batch. `generate()` yields updates with the notes made so far
and honours a cancel event between steps (a step takes milliseconds); `continue_score()`
runs it to the end. The prompt comes back unchanged (same notes, tempo, meter), followed
by the continuation, which starts where the prompt ends: no new onset before the notes of
the prompt's last onset have ended, and no new note on a pitch the prompt still holds
(`allow_overlap` lifts both).

With a tokenizer that has attribute controls (REMI `use_controls`), every new bar is
forced to chosen Texture/Density/Register values: the prompt's last bars' by default,
or the options' own. Texture 1 is also a limit (`SingleLine`): one pitch per onset (two
after a melody with double stops).

With a tokenizer that carries no velocity (REMI without `use_velocity`, and the schemes
that never had it), new notes take the prompt's dynamics (`PromptDynamics`): the level of
the last bars of the track they join, slightly humanised, the same under the same seed.

`fill()` / `fill_score()` regenerate bars `start_bar..end_bar-1` of a score from the music
before and after them, for a model trained with the infilling objective: the model reads
`<bars before> Hole <bars after> FillStart` and samples the missing bars in the span's
meter; every note starting outside the span comes back unchanged. A fill follows the bar
on each side (controls) and keeps its pitches within the range of the two
bars on each side, widened by FILL_RANGE_MARGIN semitones.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ml_core.keys import prompt_key, scale_pitch_classes
from ml_core.models.stepping import SteppingError, make_stepper
from ml_core.motif import MotifBias
from ml_core.music import TICKS_PER_QUARTER, Note, Score, Track, bar_ticks
from ml_core.options import GenerationError, GenerationOptions
from ml_core.sampling import sample_numpy
from ml_core.sampling_rules import (
    DensityKeeper,
    Hooks,
    OnsetTokens,
    RegisterKeeper,
    SingleLine,
    chosen_controls,
    no_end_mask,
    onset_timing,
    with_bar_controls,
)

UPDATE_INTERVAL_S = 0.03     # how often streaming updates are yielded
TOKENS_PER_BAR_CAP = 160     # default max_tokens = bars x this: a model that never moves on stops
FILL_CONTEXT_BARS = 4        # bars before and after a span that `fill` shows the model
FILL_RANGE_BARS = 2          # a fill's pitches stay within the range of this many bars each side,
FILL_RANGE_MARGIN = 4        # widened by this many semitones
CPU_THREADS = 1              # intra-op threads while stepping on a CPU (see _cpu_threads)
DYNAMICS_BARS = 2            # new notes follow the velocities of the prompt's last bars
HUMANISE = 4                 # +-velocity steps of deterministic per-note variation
DOWNBEAT_ACCENT = 3          # extra velocity for a note on a bar's first beat
DEFAULT_DYNAMICS = 80        # level when the prompt has no notes (the corpus's velocity)


@dataclass
class GenerationUpdate:
    scores: list[Score]                     # prompt + continuation so far, per variation
    new_notes: list[list[Note]]             # continuation notes so far, per variation
    confidences: list[list[float]]          # probability of each sampled token, per variation
    tokens_generated: int                   # tokens (or frames) generated per variation
    fraction: float                         # 0..1 of the way to the target
    done: bool = False
    cancelled: bool = False
    seed: int = 0
    key: tuple[int, str] | None = None
    tokens: list[list[int]] = field(default_factory=list)   # token models: each row's new ids


@dataclass
class GenerationResult:
    scores: list[Score]
    new_notes: list[list[Note]]
    confidences: list[list[float]]
    tokens_generated: int
    seconds: float
    cancelled: bool
    seed: int
    key: tuple[int, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_generated * len(self.scores) / self.seconds if self.seconds > 0 else 0.0


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GenerationError("CUDA was requested but no CUDA device is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()):
        raise GenerationError("MPS was requested but is not available")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise GenerationError(f"unknown device '{name}' (auto, cpu, cuda or mps)")
    return torch.device(name)


def target_tick(prompt: Score, bars: int) -> int:
    """Where a continuation of `bars` bars ends: that many bar lines after the prompt's end."""
    end = prompt.end_tick
    if end == 0:
        return prompt.bar_start(bars)
    first_free_bar, offset = prompt.bar_at(prompt.next_bar_start(end))
    return prompt.bar_start(first_free_bar + bars)


def _prompt_at_model_resolution(prompt: Score) -> Score:
    if prompt.ticks_per_quarter == TICKS_PER_QUARTER:
        return prompt
    return prompt.resampled(TICKS_PER_QUARTER)


def _continuation_track_index(prompt: Score) -> int:
    for index, track in enumerate(prompt.tracks):
        if not track.is_drum:
            return index
    return len(prompt.tracks)


def at_resolution(notes: list[Note], ticks_per_quarter: int) -> list[Note]:
    """New notes (made at the model's 480 ticks per quarter) at a score's resolution."""
    if ticks_per_quarter == TICKS_PER_QUARTER:
        return notes
    factor = ticks_per_quarter / TICKS_PER_QUARTER
    return [Note(n.pitch, round(n.start * factor), max(1, round(n.duration * factor)),
                 n.velocity) for n in notes]


def _assemble(prompt: Score, notes: list[Note]) -> Score:
    """The prompt unchanged, plus `notes` (at 480 tpq) in its first pitched track."""
    result = prompt.copy()
    notes = at_resolution(notes, prompt.ticks_per_quarter)
    index = _continuation_track_index(prompt)
    if index == len(result.tracks):
        result.tracks.append(Track("Continuation", 0, False, []))
    track = result.tracks[index]
    track.notes = sorted(track.notes + notes)
    return result


def _new_notes(decoded: Score, prompt_notes: Counter, target: int) -> list[Note]:
    """Decoded notes that the prompt's own tokens did not make, cut at the target."""
    remaining = Counter(prompt_notes)
    struck = {(n.pitch, n.start) for n in prompt_notes}
    notes = []
    for note in sorted(n for t in decoded.tracks if not t.is_drum for n in t.notes):
        if remaining[note] > 0:
            remaining[note] -= 1
            continue
        if note.start >= target or (note.pitch, note.start) in struck:
            continue  # past the end, or a key already struck at that instant
        struck.add((note.pitch, note.start))
        notes.append(note.moved(duration=max(1, min(note.duration, target - note.start))))
    return sorted(notes)


@dataclass(frozen=True)
class PromptDynamics:
    """Velocities for new notes from a model that writes none: the median velocity of the
    last DYNAMICS_BARS bars of the track they join (all pitched tracks if it has no notes
    there), an accent on each bar's first beat, and a per-note variation drawn from
    (seed, pitch, start): deterministic, and the same note keeps its velocity while a
    take streams in."""

    level: int
    score: Score      # for bar lines (the prompt, 480 ticks per quarter)
    seed: int

    @staticmethod
    def of(context: Score, seed: int, track_index: int | None = None) -> PromptDynamics:
        tracks = [t for t in context.tracks if not t.is_drum]
        if (track_index is not None and track_index < len(context.tracks)
            and context.tracks[track_index].notes):
            tracks = [context.tracks[track_index]]
        notes = [n for t in tracks for n in t.notes]
        if not notes:
            return PromptDynamics(DEFAULT_DYNAMICS, context, seed)
        last_bar = context.bar_at(max(n.start for n in notes))[0]
        since = context.bar_start(max(0, last_bar - DYNAMICS_BARS + 1))
        recent = [n.velocity for n in notes if n.start >= since]
        return PromptDynamics(int(round(float(np.median(recent)))), context, seed)

    def velocity(self, note: Note) -> int:
        mixed = (self.seed * 0x9E3779B1 + note.pitch * 0x85EBCA77
                 + note.start * 0xC2B2AE3D) & 0xFFFFFFFF
        mixed ^= mixed >> 15
        mixed = (mixed * 0x2C1B3C6D) & 0xFFFFFFFF
        mixed ^= mixed >> 12
        variation = mixed % (2 * HUMANISE + 1) - HUMANISE
        accent = DOWNBEAT_ACCENT if self.score.bar_at(note.start)[1] == 0 else 0
        return min(127, max(1, self.level + accent + variation))

    def apply(self, notes: list[Note]) -> list[Note]:
        return [n.moved(velocity=self.velocity(n)) for n in notes]


def _dynamics(tokenizer, context: Score, seed: int,
              track_index: int | None) -> PromptDynamics | None:
    """PromptDynamics when the tokenizer writes no velocities, else None."""
    return (None if getattr(tokenizer, "keeps_velocity", False)
            else PromptDynamics.of(context, seed, track_index))


def _resolve_key(prompt: Score, options: GenerationOptions) -> tuple[int, str] | None:
    if options.key is not None:
        return options.key
    return prompt_key(prompt)


def generate(bundle: Any, prompt: Score, options: GenerationOptions | None = None,
             cancel: threading.Event | None = None, *,
             update_interval: float | None = UPDATE_INTERVAL_S,
             focus: Score | None = None) -> Iterator[GenerationUpdate]:
    """Continue `prompt` with `bundle` (from ml_core.bundle.load), yielding updates.

    An update with the notes so far comes every `update_interval` seconds (None: only the
    final one). The last update has done=True (and cancelled=True if the cancel event
    stopped it). `focus` (token models; `ml_core.tracks`): the part of the prompt being
    continued, whose controls, start, Motif material and dynamics the new notes follow
    while the model reads the whole prompt."""
    options = (options or GenerationOptions()).validated()
    cancel = cancel or threading.Event()
    device, seed = _ready(bundle, options)
    model, tokenizer = bundle.model, bundle.tokenizer
    key = _resolve_key(prompt, options) if options.stay_in_key else None
    with _cpu_threads(device, CPU_THREADS):
        interval = float("inf") if update_interval is None else update_interval
        if getattr(model, "kind", "token") == "frame":
            yield from _generate_frames(model, tokenizer, prompt, options, cancel, device, seed,
                                        key, interval)
        else:
            plan = _continue_plan(tokenizer, prompt, options, seed, focus)
            yield from _generate_tokens(model, tokenizer, plan, options, cancel, device, seed,
                                        key, interval)


def _ready(bundle: Any, options: GenerationOptions) -> tuple[torch.device, int]:
    """The device the bundle's model now sits on (in eval mode) and the run's seed."""
    device = resolve_device(options.device)
    if next(bundle.model.parameters()).device != device:
        bundle.model.to(device)
    bundle.model.eval()
    seed = options.seed if options.seed is not None else int.from_bytes(os.urandom(4), "little")
    return device, seed


@contextmanager
def _cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """One-token steps are tiny: on a CPU, extra intra-op threads (torch's and NumPy's BLAS)
    only add synchronisation (and collapse when another process holds a core), so
    generation runs on one thread. torch's count is only changed when it differs: setting
    it while another thread runs torch code is best avoided (the app sets it once)."""
    if device.type != "cpu":
        yield
        return
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        if previous != threads:
            torch.set_num_threads(previous)


def continue_score(bundle: Any, prompt: Score, options: GenerationOptions | None = None,
                   cancel: threading.Event | None = None, *,
                   focus: Score | None = None) -> GenerationResult:
    """Run `generate` to the end and return the finished variations."""
    started = time.perf_counter()
    last = None
    for update in generate(bundle, prompt, options, cancel, update_interval=None, focus=focus):
        last = update
    assert last is not None  # generate always ends with a done update
    return GenerationResult(last.scores, last.new_notes, last.confidences, last.tokens_generated,
                            time.perf_counter() - started, last.cancelled, last.seed, last.key)


# ----------------------------------------------------------------------- token models
@dataclass
class _TokenPlan:
    """What one token-sampling run needs; Continue, Fill and evaluation each build one."""

    context: list[int]                        # tokens the model reads first (every row)
    state: Any                                # grammar state the sampling starts from
    target: int                               # a row stops when its state reaches this tick
    notes: Callable[[list[int]], list[Note]]  # new notes (480 tpq) of a row's sampled tokens
    assemble: Callable[[list[Note]], Score]   # the finished score around those notes
    fixed_mask: np.ndarray | None = None      # always applied (controls, what a fill may use)
    timing: Callable[[Any], np.ndarray | None] | None = None  # per-state mask (where to start)
    single_line: SingleLine | None = None     # pitches per onset limited (texture 1)
    onsets: OnsetTokens | None = None         # no pitch struck twice at one onset
    row_contexts: list[list[int]] | None = None   # per row instead (equal lengths), and
    row_states: list[Any] | None = None           # their grammar states (evaluation)
    grammar_mask: bool = True                 # False: sample unmasked (grammar-error counts)
    motif: MotifBias | None = None            # logit bias toward the prompt's material
    grammar: Any = None                       # the grammar to sample under (default: the
                                              # tokenizer's; ml_core.multitrack forces parts)


def one_stream(tokenizer, score: Score, **encode: Any) -> list[int]:
    """`score` as the one stream Continue and Fill write: a tokenizer that can write parts
    in sections (remi_tracks) reads the prompt merged too, as its training merged a share
    of its multi-track pieces. Read in sections and continued merged, a four-part chorale
    switched form mid-piece, which no training piece does: the first new bar often began
    three beats late and bars of one chord followed (default-next: density in bounds 0.42
    on chorale prompts, docs/PRESETS.md)."""
    if hasattr(tokenizer, "one_stream_mask"):
        return list(tokenizer.encode(score, tracked=False, **encode))
    return list(tokenizer.encode(score, **encode))


def _start_state(grammar, ids: Sequence[int]):
    state = grammar.start()
    for token in ids:  # tokens the grammar refuses are skipped, as validate() does
        if grammar.allowed(state)[token]:
            state = grammar.advance(state, token)
    return state


def _continue_plan(tokenizer, prompt: Score, options: GenerationOptions,
                   seed: int = 0, focus: Score | None = None) -> _TokenPlan:
    source = _prompt_at_model_resolution(prompt)
    own = source if focus is None else _prompt_at_model_resolution(focus)
    prompt_ids = list(one_stream(tokenizer, source))
    if not prompt_ids:
        if "BOS" not in tokenizer.vocab:
            raise GenerationError("the prompt encodes to no tokens and the tokenizer has no BOS "
                                  "token")
        prompt_ids = [tokenizer.vocab["BOS"]]
    prompt_notes = Counter(n for t in tokenizer.decode(prompt_ids).tracks if not t.is_drum
                           for n in t.notes)
    target = target_tick(source, options.bars) if options.bars >= 1 else 2**62
    controls = chosen_controls(tokenizer, options, own, None)
    fixed = no_end_mask(tokenizer)
    if controls is not None:
        fixed &= tokenizer.control_mask(controls)
    dynamics = _dynamics(tokenizer, own, seed, _continuation_track_index(own))

    def notes(tokens: list[int]) -> list[Note]:
        made = _new_notes(tokenizer.decode(prompt_ids + tokens), prompt_notes, target)
        return made if dynamics is None else dynamics.apply(made)

    return _TokenPlan(
        context=prompt_ids, state=_start_state(tokenizer.grammar(), prompt_ids), target=target,
        notes=notes,
        assemble=lambda notes: _assemble(prompt, notes),
        fixed_mask=fixed,
        timing=with_bar_controls(tokenizer, own, target,
                                  None if options.allow_overlap else onset_timing(tokenizer, own)),
        onsets=OnsetTokens.for_tokenizer(tokenizer),
        single_line=SingleLine.for_tokenizer(tokenizer, controls,
                                             None if options.texture == 1 else own),
        motif=Hooks([MotifBias.for_prompt(tokenizer, own, options.motif,
                                          options.variations, options.key),
                     RegisterKeeper.for_prompt(tokenizer, own, options.variations,
                                               options.register)]))


def _generate_tokens(model, tokenizer, plan: _TokenPlan, options: GenerationOptions,
                     cancel: threading.Event, device: torch.device, seed: int,
                     key: tuple[int, str] | None, interval: float) -> Iterator[GenerationUpdate]:
    grammar = plan.grammar or tokenizer.grammar()
    state, target = plan.state, plan.target
    max_tokens = options.max_tokens or max(1, options.bars) * TOKENS_PER_BAR_CAP
    start_tick = state.tick
    span = max(1, target - start_tick)

    rows = options.variations
    key_mask = tokenizer.key_mask(scale_pitch_classes(*key)) if key is not None else None
    rng = np.random.default_rng(seed)
    contexts = plan.row_contexts or [plan.context] * rows
    states = list(plan.row_states) if plan.row_states else [state] * rows
    sequences = [list(context) for context in contexts]
    read = len(contexts[0])
    confidences: list[list[float]] = [[] for _ in range(rows)]
    finished = [state.tick >= target for _ in range(rows)]
    struck = [0] * rows       # single line: the pitches the row has at its current onset
    held: list[list[int]] = [[] for _ in range(rows)]   # pitch tokens at the current onset

    generated = 0
    last_update = time.perf_counter()

    def snapshot(done: bool, cancelled: bool) -> GenerationUpdate:
        new_notes = [plan.notes(seq[read:]) for seq in sequences]
        reached = min(states[r].tick for r in range(rows))
        fraction = 1.0 if done else min(1.0,
                                        max(generated / max_tokens, (reached - start_tick) / span))
        return GenerationUpdate([plan.assemble(notes) for notes in new_notes], new_notes,
                                [list(c) for c in confidences], generated, fraction, done,
                                cancelled, seed, key, [seq[read:] for seq in sequences])

    def soft(masks: np.ndarray, extra: np.ndarray) -> np.ndarray:
        """masks & extra, except in rows where that allows nothing (they keep `masks`)."""
        narrowed = masks & extra
        return np.where(narrowed.any(axis=1, keepdims=True), narrowed, masks)

    with torch.inference_mode():
        try:
            stepper = make_stepper(model, device, options.engine)
        except SteppingError as error:
            raise GenerationError(str(error)) from None
        # Read the context once; every variation (row) starts from its state.
        logits = stepper.start(contexts)
        unread: list[list[int]] = [[] for _ in range(rows)]   # chosen, not yet fed
        while not all(finished) and generated < max_tokens:
            if cancel.is_set():
                yield snapshot(True, True)
                return
            if not plan.grammar_mask:
                masks = np.ones((rows, tokenizer.vocab_size), dtype=bool)
            elif rows == 1:
                masks = grammar.allowed(states[0])[None]
            else:
                masks = np.stack([grammar.allowed(s) for s in states])
            if plan.fixed_mask is not None:
                masks = soft(masks, plan.fixed_mask)
            if plan.timing is not None:
                timings = [plan.timing(s) for s in states]
                if any(t is not None for t in timings):
                    masks = soft(masks, np.stack([np.ones_like(masks[0]) if t is None else t
                                                  for t in timings]))
            line = plan.single_line
            if line is not None and max(struck) >= line.limit:
                no_pitch = ~line.pitches
                masks = soft(masks, np.stack([no_pitch if hits >= line.limit
                                              else np.ones_like(no_pitch) for hits in struck]))
            if plan.onsets is not None and any(held):
                again = np.ones_like(masks)
                for row, pitches in enumerate(held):
                    again[row, pitches] = False
                masks = soft(masks, again)
            if key_mask is not None:  # a row whose allowed tokens are all out of key keeps them
                masks = soft(masks, key_mask)
            counts = masks.sum(axis=1)
            if all(finished[row] or counts[row] == 1 for row in range(rows)):
                # The grammar leaves one token in every row (a bar's controls): it needs no
                # prediction, so no step; it is fed with the next one that does.
                chosen_list, probability_list = masks.argmax(axis=1).tolist(), [1.0] * rows
            else:
                if unread[0]:
                    logits = stepper.extend(unread, sequences)
                if plan.motif is not None:
                    logits = plan.motif.adjust(logits, states, finished, masks)
                chosen, probabilities = sample_numpy(
                    logits, temperature=options.temperature, top_k=options.top_k,
                    top_p=options.top_p, mask=masks, rng=rng)
                chosen_list, probability_list = chosen.tolist(), probabilities.tolist()
                unread = [[] for _ in range(rows)]
            for row, token in enumerate(chosen_list):
                unread[row].append(token)
            skipped = list(finished)
            for row in range(rows):
                if finished[row]:
                    continue
                token = chosen_list[row]
                if plan.grammar_mask:   # unmasked rows may leave the grammar: not followed
                    states[row] = grammar.advance(states[row], token)
                if line is not None:
                    if line.pitches[token]:
                        struck[row] += 1
                    elif line.onsets[token]:
                        struck[row] = 0
                if plan.onsets is not None:
                    if plan.onsets.pitches[token]:
                        held[row].append(token)
                    elif plan.onsets.starts[token]:
                        held[row] = []
                if states[row].tick >= target:
                    finished[row] = True
                    continue  # the token that crosses the target (a bar line) is not kept
                sequences[row].append(token)
                confidences[row].append(probability_list[row])
            if plan.motif is not None:
                plan.motif.advance(chosen_list, states, skipped)
            generated += 1
            now = time.perf_counter()
            if now - last_update >= interval:
                last_update = now
                yield snapshot(False, False)
    yield snapshot(True, False)


def sample_continuations(model, tokenizer, prompts: Sequence[Sequence[int]], count: int, *,
                         masked: bool = True, seed: int = 0, device: Any = "cpu",
                         engine: str = "auto") -> list[list[int]]:
    """`count` tokens after each prompt (one row each, prompts of equal length), sampled at
    temperature 1 with no top-k/top-p, under the grammar mask or (`masked=False`) without
    it: the sampling loop of Continue, as evaluation measures it."""
    grammar = tokenizer.grammar()
    contexts = [[int(token) for token in prompt] for prompt in prompts]
    states = [_start_state(grammar, context) for context in contexts]
    plan = _TokenPlan(context=contexts[0], state=states[0], target=2**62, notes=lambda _: [],
                      assemble=lambda _: Score(), row_contexts=contexts, row_states=states,
                      grammar_mask=masked)
    options = GenerationOptions(max_tokens=count, temperature=1.0, top_k=0, top_p=1.0,
                                variations=len(contexts), engine=engine)
    *_, last = _generate_tokens(model, tokenizer, plan, options, threading.Event(),
                                torch.device(device), seed, None, float("inf"))
    return last.tokens   # the loop always ends with a done update


# ----------------------------------------------------------------------- fill (infilling)
def trained_with_infilling(bundle: Any) -> bool:
    """Whether the bundle's model learned the infilling objective (its config says so)."""
    config = getattr(bundle, "config", None) or {}
    objectives = (config.get("training") or {}).get("objectives") or {}
    return bool(objectives.get("infill_rate")) and bool(getattr(bundle.tokenizer, "infill_ids", ()))


def _fill_plan(tokenizer, score: Score, start_bar: int, end_bar: int,
               options: GenerationOptions, seed: int = 0) -> _TokenPlan:
    source = _prompt_at_model_resolution(score)
    if not 0 <= start_bar < end_bar:
        raise GenerationError(f"bars to fill must satisfy 0 <= start < end, got "
                              f"{start_bar}..{end_bar}")
    span_start, span_end = source.bar_start(start_bar), source.bar_start(end_bar)
    meter = source.time_signature_at(span_start)
    for bar in range(start_bar, end_bar):
        if source.bar_start(bar + 1) - source.bar_start(bar) != bar_ticks(meter):
            raise GenerationError("the bars to fill cross a time-signature change; fill each "
                                  "meter's bars separately")
    # What the model reads: a few bars before, Hole, a few bars after, FillStart.
    before = source.bar_start(max(0, start_bar - FILL_CONTEXT_BARS))
    prefix = [tokenizer.bos_id] if start_bar == 0 else one_stream(
        tokenizer, source.sliced(before, span_start, clip=False), end_tick=span_start - before)
    after_end = source.bar_start(end_bar + FILL_CONTEXT_BARS)
    suffix_score = source.sliced(span_end, after_end, clip=False)
    suffix = one_stream(tokenizer, suffix_score)[1:] if not suffix_score.is_empty else []
    hole, fill_start, _ = tokenizer.infill_ids
    context = list(prefix) + [hole] + list(suffix) + [fill_start]

    # The span's bars alone, as a sequence of their own, decode to notes from the span start.
    header = [tokenizer.bos_id, tokenizer.bar_id, tokenizer.vocab[f"TimeSig_{meter[0]}_{meter[1]}"]]

    around = source.sliced(0, span_start, shift=False) if any(
        n.start < span_start for n in source.notes()) else source.sliced(span_end, after_end,
                                                                         shift=False)
    dynamics = _dynamics(tokenizer, around, seed, _continuation_track_index(source))

    def notes(tokens: list[int]) -> list[Note]:
        decoded = ([n for t in tokenizer.decode(header + tokens[1:]).tracks for n in t.notes]
                   if tokens else [])
        result = []
        for note in sorted(decoded):
            start = span_start + note.start
            if start < span_end:
                result.append(Note(note.pitch, start, max(1, min(note.duration, span_end - start)),
                                   note.velocity))
        return result if dynamics is None else dynamics.apply(result)

    def assemble(new_notes: list[Note]) -> Score:
        kept = score.copy()
        factor = score.ticks_per_quarter / TICKS_PER_QUARTER
        low, high = round(span_start * factor), round(span_end * factor)
        for track in kept.tracks:
            if not track.is_drum:
                track.notes = [n for n in track.notes if not low <= n.start < high]
        return _assemble(kept, new_notes)

    neighbours = _fill_neighbours(source, start_bar, end_bar)
    controls = chosen_controls(tokenizer, options, neighbours, None)
    fixed = tokenizer.fill_mask()
    if controls is not None:
        fixed &= tokenizer.control_mask(controls)
    around = [n.pitch for t in _fill_neighbours(source, start_bar, end_bar, FILL_RANGE_BARS).tracks
              if not t.is_drum for n in t.notes]
    if around:
        fixed &= tokenizer.range_mask(min(around) - FILL_RANGE_MARGIN,
                                      max(around) + FILL_RANGE_MARGIN)
    state = tokenizer.grammar().fill_start(meter)
    onsets = OnsetTokens.for_tokenizer(tokenizer)
    # the pace of the bars around, where the musician left density and texture to follow
    keeper = (DensityKeeper.for_fill(tokenizer, source, start_bar, end_bar, options.variations,
                                     state.tick, onsets)
              if options.density is None and options.texture is None else None)
    return _TokenPlan(context=context, state=state,
                      target=span_end - span_start, notes=notes, assemble=assemble,
                      fixed_mask=fixed,
                      motif=Hooks([keeper]),
                      single_line=SingleLine.for_tokenizer(
                          tokenizer, controls, None if options.texture == 1 else neighbours),
                      onsets=onsets)


def _fill_neighbours(source: Score, start_bar: int, end_bar: int, bars: int = 1) -> Score:
    """The `bars` bars before and after a span, in place (the span's own notes left out):
    what "follow" measures the controls of a fill on (one bar each side), so that the new
    bars join both sides (a fill between a low and a high phrase sits between them)."""
    low, high = source.bar_start(max(0, start_bar - bars)), source.bar_start(end_bar + bars)
    span_start, span_end = source.bar_start(start_bar), source.bar_start(end_bar)
    near = source.sliced(low, high, shift=False, clip=False)
    return near.with_tracks(
        [
            replace(t, notes=[n for n in t.notes if not span_start <= n.start < span_end])
            for t in near.tracks
        ]
    )


def fill(bundle: Any, score: Score, start_bar: int, end_bar: int,
         options: GenerationOptions | None = None, cancel: threading.Event | None = None, *,
         update_interval: float | None = UPDATE_INTERVAL_S) -> Iterator[GenerationUpdate]:
    """Regenerate bars `start_bar` .. `end_bar - 1` (from 0) of `score` with `bundle`,
    yielding updates like `generate`. Each update's scores are the whole piece: every note
    starting outside those bars unchanged, the bars refilled in the piece's meter (the new
    notes go to the first pitched track). `options.bars` is not used."""
    options = (options or GenerationOptions()).validated()
    if not trained_with_infilling(bundle):
        raise GenerationError(f"model '{getattr(bundle, 'name', '?')}' was not trained to fill "
                              f"bars "
                              "(train one with `composer-train train --infill-rate R` on a REMI "
                              "dataset)")
    cancel = cancel or threading.Event()
    device, seed = _ready(bundle, options)
    model, tokenizer = bundle.model, bundle.tokenizer
    plan = _fill_plan(tokenizer, score, start_bar, end_bar, options, seed)
    key = _resolve_key(score, options) if options.stay_in_key else None
    span_bars = end_bar - start_bar
    options = replace(options, bars=span_bars,
                      max_tokens=options.max_tokens or span_bars * TOKENS_PER_BAR_CAP)
    with _cpu_threads(device, CPU_THREADS):
        interval = float("inf") if update_interval is None else update_interval
        yield from _generate_tokens(model, tokenizer, plan, options, cancel, device, seed,
                                    key, interval)


def fill_score(bundle: Any, score: Score, start_bar: int, end_bar: int,
               options: GenerationOptions | None = None,
               cancel: threading.Event | None = None) -> GenerationResult:
    """Run `fill` to the end and return the finished variations."""
    started = time.perf_counter()
    last = None
    for update in fill(bundle, score, start_bar, end_bar, options, cancel, update_interval=None):
        last = update
    assert last is not None
    return GenerationResult(last.scores, last.new_notes, last.confidences, last.tokens_generated,
                            time.perf_counter() - started, last.cancelled, last.seed, last.key)


# ----------------------------------------------------------------------- frame models
def _generate_frames(model, representation, prompt: Score, options: GenerationOptions,
                     cancel: threading.Event, device: torch.device, seed: int,
                     key: tuple[int, str] | None, interval: float) -> Iterator[GenerationUpdate]:
    source = _prompt_at_model_resolution(prompt)
    step = representation.step_ticks
    prompt_frames = np.asarray(representation.encode(source), dtype=np.float32)
    prompt_steps = max(1, -(-source.end_tick // step))
    if prompt_frames.shape[0] < prompt_steps:
        pad = np.zeros((prompt_steps - prompt_frames.shape[0],)
                       + prompt_frames.shape[1:], np.float32)
        prompt_frames = np.concatenate([prompt_frames, pad])
    prompt_frames = prompt_frames[:prompt_steps]
    target = target_tick(source, options.bars)
    total_steps = max(1, (target - prompt_steps * step) // step)
    if options.max_tokens:
        total_steps = min(total_steps, options.max_tokens)

    rows = options.variations
    generator = torch.Generator().manual_seed(seed)
    key_filter = None
    if key is not None:  # the first feature axis runs over keys from pitch_range[0] upwards
        in_scale = scale_pitch_classes(*key)
        low = representation.pitch_range[0]
        keys = representation.feature_shape[0]
        key_filter = torch.tensor([float((low + i) % 12 in in_scale) for i in range(keys)])

    frames = [prompt_frames.copy() for _ in range(rows)]
    generated = 0
    last_update = time.perf_counter()

    offset = prompt_steps * step

    def continuation(rows_frames: np.ndarray) -> list[Note]:
        # Decode only the generated frames: a key held across the boundary starts anew there.
        if rows_frames.shape[0] == prompt_steps:
            return []
        decoded = representation.decode(rows_frames[prompt_steps:])
        return _new_notes(decoded.with_tracks(
            [Track(t.name, t.program, t.is_drum, [n.moved(start=n.start + offset) for n in t.notes])
             for t in decoded.tracks]), Counter(), target)

    def snapshot(done: bool, cancelled: bool) -> GenerationUpdate:
        new_notes = [continuation(f) for f in frames]
        # Frame models draw every key independently: there is no single token probability,
        # so no confidence curve (the app shows note density for them instead).
        return GenerationUpdate([_assemble(prompt, notes) for notes in new_notes], new_notes,
                                [[] for _ in range(rows)], generated,
                                1.0 if done else generated / total_steps, done,
                                cancelled, seed, key)

    with torch.inference_mode():
        _, state = model(torch.from_numpy(prompt_frames).unsqueeze(0).to(device), None)
        state = model.select_state(state, torch.zeros(rows, dtype=torch.long, device=device))
        for _ in range(total_steps):
            if cancel.is_set():
                yield snapshot(True, True)
                return
            # The state holds the prediction for the next frame; draw it, filter it, read it.
            frame = model._sample_from_state(state, options.temperature, generator)
            if key_filter is not None:
                frame = frame * key_filter.to(frame.device).view((1, -1) + (1,) * (frame.dim() - 2))
            _, state = model(frame.unsqueeze(1), state)
            frame_rows = frame.float().cpu().numpy()
            for row in range(rows):
                frames[row] = np.concatenate([frames[row], frame_rows[row][None]])
            generated += 1
            now = time.perf_counter()
            if now - last_update >= interval:
                last_update = now
                yield snapshot(False, False)
    yield snapshot(True, False)


def prompt_until(score: Score, tick: int) -> Score:
    """The part of `score` before `tick` (notes starting earlier, cut at `tick`)."""
    return score.sliced(0, tick, shift=False, clip=True)


def prompt_from_notes(score: Score, notes: Sequence[Note]) -> Score:
    """A prompt made of some notes of `score` (e.g. the selection), keeping its tempo and meter."""
    return score.with_tracks([Track("Prompt", score.tracks[0].program if score.tracks else 0,
                                    False, sorted(notes))])

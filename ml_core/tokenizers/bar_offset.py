"""Bar/offset: the 153-token scheme of "Symbolic Music Generation with Deep Learning
Techniques" (ffsgfy, 2023), with its grammar.

Two kinds of musical object, timed in sixteenth notes from the previous bar line:
- a note is the triple `Offset_o Pitch_p Duration_d` (o in 0..31, p in 21..108, d in 1..32);
- a bar line is the pair `Offset_o Bar`, o being the length of the bar that ends there, so
  bars may have any length; a bar longer than 31 sixteenths is split (40 -> 31 + 9).
The vocabulary is exactly the paper's: 1 Bar + 32 Offset + 88 Pitch + 32 Duration = 153
tokens, with no PAD/BOS/EOS. As in the paper (which conditioned on a single bar token), a
sequence starts with a lone `Bar`, the opening bar line at tick 0; `encode` writes it and
the grammar requires it. Offsets never go back within a bar, and a closing bar line is at
least one sixteenth after the bar's start and not before its last onset.
`state.tick` is the bar's start + offset * 120 ticks.

Documented limits (what does not survive encode -> decode):
- all pitched tracks are merged; drum tracks are dropped; pitches outside 21..108 dropped;
- times round to the nearest sixteenth; a note shorter than half a sixteenth is dropped
  (the paper drops notes shorter than a sixteenth; we round instead so a slightly short
  sixteenth survives);
- a note longer than 32 sixteenths comes back as repeated notes of at most 32 (tied
  repeats: 36 -> 32 + 4);
- no velocity (decoded notes get `velocity`, 80 by default) and no tempo (120 BPM);
- no time signature token: decode names each bar's meter from its length (16 -> 4/4,
  12 -> 3/4, 14 -> 7/8, odd -> n/16), so 6/8 comes back as 3/4 and a split long bar as
  two short ones, with the notes at the same ticks;
- the vocabulary has no PAD token (`has_pad` is False, `pad_id` raises): windows must be
  cut from long sequences, as the paper does, or built with `pad_token=True`, which adds
  PAD as a 154th token.
Decode skips tokens the grammar forbids where they stand (so a window that does not start
with the opening Bar is read from its first bar line) and drops an unfinished note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ml_core.music import TICKS_PER_QUARTER, Note, Score, bar_ticks
from ml_core.tokenizers import register
from ml_core.tokenizers.base import (
    Tokenizer,
    TokenizerConfig,
    TokenizerError,
    Vocab,
    at_standard_resolution,
    check_ids,
    pitched_notes,
)
from ml_core.tokenizers.remi import build_score

SIXTEENTH = TICKS_PER_QUARTER // 4
MAX_OFFSET = 31    # offsets 0..31
MAX_DURATION = 32  # durations 1..32
PITCH_LOW, PITCH_HIGH = 21, 108


@dataclass(frozen=True)
class BarOffsetConfig(TokenizerConfig):
    velocity: int = 80       # velocity of decoded notes (the scheme carries none)
    pad_token: bool = False  # True adds PAD (154 tokens); the paper's vocabulary has 153

    def __post_init__(self) -> None:
        if not 1 <= self.velocity <= 127:
            raise TokenizerError(f"velocity must be 1..127, got {self.velocity}")


class BarOffsetState(NamedTuple):
    phase: int
    last_offset: int  # offset of the last note in this bar (0 at the bar's start)
    offset: int       # offset just read (phase AFTER_OFFSET/AFTER_PITCH), else last_offset
    bar_start: int    # tick of the current bar's start
    tick: int         # bar_start + offset * 120


START, IDLE, AFTER_OFFSET, AFTER_PITCH = range(4)
K_BAR, K_OFFSET, K_PITCH, K_DURATION, K_PAD = range(5)


class BarOffsetGrammar:
    """All masks are precomputed: allowed() is one or two list lookups."""

    def __init__(self, tokenizer: BarOffsetTokenizer) -> None:
        size, vocab = tokenizer.vocab_size, tokenizer.vocab
        self._kinds, self._values = tokenizer.kinds, tokenizer.values
        first_offset = vocab["Offset_0"]

        def mask_of(ids: Sequence[int]) -> np.ndarray:
            mask = np.zeros(size, dtype=bool)
            mask[list(ids)] = True
            mask.setflags(write=False)
            return mask

        pitches = range(vocab[f"Pitch_{PITCH_LOW}"], vocab[f"Pitch_{PITCH_HIGH}"] + 1)
        self._start = mask_of([vocab["Bar"]])
        self._idle = [mask_of(range(first_offset + last, first_offset + MAX_OFFSET + 1))
                      for last in range(MAX_OFFSET + 1)]
        # After an offset: a note's pitch, or the bar line if the bar would not be empty
        # and the offset is not before the last onset (guaranteed by _idle).
        self._after_offset = [mask_of(pitches), mask_of([*pitches, vocab["Bar"]])]
        self._after_pitch = mask_of(range(vocab["Duration_1"],
                                          vocab[f"Duration_{MAX_DURATION}"] + 1))

    def start(self) -> BarOffsetState:
        return BarOffsetState(START, 0, 0, 0, 0)

    def allowed(self, state: BarOffsetState) -> np.ndarray:
        phase = state.phase
        if phase == IDLE:
            return self._idle[state.last_offset]
        if phase == AFTER_OFFSET:
            return self._after_offset[state.offset > 0]
        if phase == AFTER_PITCH:
            return self._after_pitch
        return self._start

    def advance(self, state: BarOffsetState, token: int) -> BarOffsetState:
        kind = self._kinds[token]
        phase, last_offset, offset, bar_start, tick = state
        if kind == K_OFFSET:
            offset = self._values[token]
            return BarOffsetState(AFTER_OFFSET, last_offset, offset, bar_start,
                                  bar_start + offset * SIXTEENTH)
        if kind == K_PITCH:
            return BarOffsetState(AFTER_PITCH, last_offset, offset, bar_start, tick)
        if kind == K_DURATION:
            return BarOffsetState(IDLE, offset, offset, bar_start, tick)
        if kind == K_BAR:
            if phase == START:
                return BarOffsetState(IDLE, 0, 0, 0, 0)
            bar_start += offset * SIXTEENTH
            return BarOffsetState(IDLE, 0, 0, bar_start, bar_start)
        return state


def meter_of_length(sixteenths: int) -> tuple[int, int]:
    """The plainest meter of a bar `sixteenths` long: 16 -> 4/4, 14 -> 7/8, 9 -> 9/16."""
    if sixteenths % 4 == 0:
        return sixteenths // 4, 4
    if sixteenths % 2 == 0:
        return sixteenths // 2, 8
    return sixteenths, 16


@register
class BarOffsetTokenizer(Tokenizer):
    name = "bar_offset"
    config_class = BarOffsetConfig
    config: BarOffsetConfig

    def __init__(self, config: BarOffsetConfig | None = None) -> None:
        super().__init__(config)
        self.bar_id = self.vocab["Bar"]
        self._grammar = BarOffsetGrammar(self)

    def _build_vocab(self) -> Vocab:
        entries: list[tuple[str, int, int]] = [("Bar", K_BAR, 0)]
        entries += [(f"Offset_{o}", K_OFFSET, o) for o in range(MAX_OFFSET + 1)]
        entries += [(f"Pitch_{p}", K_PITCH, p) for p in range(PITCH_LOW, PITCH_HIGH + 1)]
        entries += [(f"Duration_{d}", K_DURATION, d) for d in range(1, MAX_DURATION + 1)]
        if self.config.pad_token:
            entries.append(("PAD", K_PAD, 0))
        return self._vocab_from_entries(entries)

    def grammar(self) -> BarOffsetGrammar:
        return self._grammar

    def pitches_of(self, token: int) -> tuple[int, ...]:
        return (self.values[token],) if self.kinds[token] == K_PITCH else ()

    # ------------------------------------------------------------------ encode
    def _segments(self, score: Score, last_sixteenth: int,
                  end_tick: int | None) -> list[tuple[int, int]]:
        """(start, length) in sixteenths of each bar piece to write: the score's bars (a
        meter change inside a bar waits for the next bar line), split into pieces of at
        most 31 sixteenths."""
        changes = [(c.tick, (c.numerator, c.denominator)) for c in score.time_signature_changes]
        meter, change_index = score.time_signature, 0
        end = None if end_tick is None else -(-end_tick // SIXTEENTH)
        segments: list[tuple[int, int]] = []
        tick = start = 0
        while not segments or start <= last_sixteenth or (end is not None and start < end):
            while change_index < len(changes) and changes[change_index][0] <= tick:
                meter = changes[change_index][1]
                change_index += 1
            bar_length = max(1, round(bar_ticks(meter) / SIXTEENTH))
            tick += bar_ticks(meter)
            remaining = bar_length
            while remaining > 0:
                piece = min(remaining, MAX_OFFSET)
                segments.append((start, piece))
                start += piece
                remaining -= piece
        # The last bar was added whole; keep only the pieces the music (or end_tick) reaches.
        while (len(segments) > 1 and segments[-1][0] > last_sixteenth
               and (end is None or segments[-1][0] >= end)):
            segments.pop()
        return segments

    def encode(self, score: Score, *, end_tick: int | None = None) -> list[int]:
        """Token ids: the opening `Bar`, then each bar's notes and its closing `Offset Bar`;
        the last bar (the one holding the last onset, or the last one starting before
        `end_tick`) is left open so a continuation can fill it."""
        score = at_standard_resolution(score)
        pieces: list[tuple[int, int, int]] = []  # (start, pitch, duration) in sixteenths
        for note in pitched_notes(score, (PITCH_LOW, PITCH_HIGH)):
            start = (note.start + SIXTEENTH // 2) // SIXTEENTH
            duration = (note.duration + SIXTEENTH // 2) // SIXTEENTH
            while duration > 0:  # long notes become tied repeats of at most 32
                pieces.append((start, note.pitch, min(duration, MAX_DURATION)))
                start += MAX_DURATION
                duration -= MAX_DURATION
        pieces.sort()
        last = pieces[-1][0] if pieces else 0
        segments = self._segments(score, last, end_tick)
        vocab = self.vocab
        offset_0, pitch_low, duration_1 = (vocab["Offset_0"], vocab[f"Pitch_{PITCH_LOW}"],
                                           vocab["Duration_1"])
        ids = [self.bar_id]
        index = 0
        for number, (start, length) in enumerate(segments):
            while index < len(pieces) and pieces[index][0] < start + length:
                onset, pitch, duration = pieces[index]
                index += 1
                ids += (offset_0 + onset - start, pitch_low + pitch - PITCH_LOW,
                        duration_1 + duration - 1)
            if number < len(segments) - 1:
                ids += (offset_0 + length, self.bar_id)
        return ids

    # ------------------------------------------------------------------ decode
    def decode(self, ids: Sequence[int]) -> Score:
        ids = check_ids(ids, self.vocab_size, self.name)
        grammar, kinds, values = self._grammar, self.kinds, self.values
        state = grammar.start()
        notes: list[Note] = []
        meters: list[tuple[int, tuple[int, int]]] = []
        pitch = 0
        for token in ids:
            if not grammar.allowed(state)[token]:
                continue
            previous = state
            state = grammar.advance(state, token)
            kind = kinds[token]
            if kind == K_PITCH:
                pitch = values[token]
            elif kind == K_DURATION:
                notes.append(Note(pitch, state.tick, values[token] * SIXTEENTH,
                                  self.config.velocity))
            elif kind == K_BAR and previous.phase != START:
                meter = meter_of_length(previous.offset)
                if not meters or meters[-1][1] != meter:
                    meters.append((previous.bar_start, meter))
        return build_score(notes, meters, [], "bar_offset")

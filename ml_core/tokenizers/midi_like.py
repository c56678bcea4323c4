"""MIDI-like: a performance-style event stream of NoteOn / NoteOff / TimeShift / Velocity.

    BOS TimeSig_4_4 Tempo_120 Velocity_79 NoteOn_60 NoteOn_64 TimeShift_4
        NoteOff_60 NoteOff_64 Velocity_103 NoteOn_67 TimeShift_8 NoteOff_67

`TimeShift_k` moves time forward k steps of 1/beat_resolution quarter (longer gaps take
several shifts). `Velocity_v` sets the velocity of the following NoteOns (it persists;
before the first one it is the level nearest 80) and must be followed by a NoteOn.
`TimeSig_n_d` and `Tempo_bpm` mark a meter / tempo change at the current time (at most
one of each per time step). The grammar allows NoteOn only for a pitch that is not
sounding, NoteOff only for a pitch that sounds and started before the current time (no
zero-length notes), and EOS only when nothing sounds. `state.tick` is steps * ticks per step.

Documented limits (what does not survive encode -> decode):
- all pitched tracks are merged; drum tracks are dropped; pitches outside `pitch_range`
  are dropped;
- times round to the step grid (notes last at least one step);
- overlapping notes of one pitch are cut where the next one starts (of two with the
  same onset, the longer is kept);
- velocities and tempi come back as the nearest bin level;
- meters whose bar is longer than `max_bar_quarters` are refused with TokenizerError.
Decode skips tokens the grammar forbids where they stand; a note still sounding at the
end of the sequence ends there (or lasts one step if it started there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ml_core.music import TICKS_PER_QUARTER, Note, Score
from ml_core.tokenizers import register
from ml_core.tokenizers.base import (
    Tokenizer,
    TokenizerConfig,
    TokenizerError,
    Vocab,
    at_standard_resolution,
    check_event_config,
    check_ids,
    nearest_level_table,
    pitched_notes,
    tempo_events,
    tempo_levels_for,
    time_signatures_for,
    velocity_levels_for,
)
from ml_core.tokenizers.remi import build_score

DEFAULT_VELOCITY = 80


@dataclass(frozen=True)
class MidiLikeConfig(TokenizerConfig):
    beat_resolution: int = 4        # time steps per quarter (4 = sixteenths)
    max_shift_quarters: int = 2     # longest single TimeShift; longer gaps use several
    velocity_bins: int = 16
    use_tempo: bool = True
    tempo_bins: int = 32            # log-spaced 40..250 BPM
    use_time_signature: bool = True
    max_bar_quarters: int = 8       # longest meter a TimeSig token can name
    pitch_range: tuple[int, int] = (21, 108)

    def __post_init__(self) -> None:
        check_event_config(self)
        if not 1 <= self.max_shift_quarters <= 16:
            raise TokenizerError(f"max_shift_quarters must be 1..16, got {self.max_shift_quarters}")


class MidiLikeState(NamedTuple):
    phase: int
    sounding: int  # bit i set: pitch_range[0] + i is sounding
    fresh: int     # bit i set: that pitch started at the current step (cannot end yet)
    marks: int     # bit 0: a TimeSig at this step, bit 1: a Tempo at this step
    step: int
    tick: int


START, EVENT, AFTER_VELOCITY, AFTER_EOS = range(4)
K_PAD, K_BOS, K_EOS, K_TIMESIG, K_TEMPO, K_VELOCITY, K_NOTE_ON, K_NOTE_OFF, K_SHIFT = range(9)
_CACHE_LIMIT = 65536  # masks kept per grammar; cleared when full


def _bit_indices(bits: int) -> list[int]:
    indices = []
    while bits:
        low = bits & -bits
        indices.append(low.bit_length() - 1)
        bits ^= low
    return indices


class MidiLikeGrammar:
    """Masks are cached per (phase, sounding, fresh, marks); a new one costs a few µs."""

    def __init__(self, tokenizer: MidiLikeTokenizer) -> None:
        t = tokenizer
        self._kinds, self._values = t.kinds, t.values
        self._low = t.config.pitch_range[0]
        self._pitch_count = t.config.pitch_range[1] - self._low + 1
        self._step_ticks = t.step_ticks
        self._on_first, self._off_first = (t.vocab[f"NoteOn_{self._low}"],
                                           t.vocab[f"NoteOff_{self._low}"])
        self._eos = t.vocab["EOS"]
        kinds = np.array(t.kinds)
        size = t.vocab_size
        self._start = np.zeros(size, dtype=bool)
        self._start[t.vocab["BOS"]] = True
        self._end = np.zeros(size, dtype=bool)
        self._end[self._eos] = True
        # Event-point masks without the note part, per `marks`.
        self._event_base = []
        for marks in range(4):
            mask = np.isin(kinds, (K_SHIFT, K_VELOCITY, K_EOS))
            if not marks & 1:
                mask |= kinds == K_TIMESIG
            if not marks & 2:
                mask |= kinds == K_TEMPO
            mask[self._on_first:self._on_first + self._pitch_count] = True
            self._event_base.append(mask)
        self._velocity_ids = np.flatnonzero(kinds == K_VELOCITY)
        self._after_velocity = np.zeros(size, dtype=bool)
        self._after_velocity[self._on_first:self._on_first + self._pitch_count] = True
        self._masks: dict[tuple[int, int, int, int], np.ndarray] = {}
        for mask in (self._start, self._end):
            mask.setflags(write=False)

    def start(self) -> MidiLikeState:
        return MidiLikeState(START, 0, 0, 0, 0, 0)

    def allowed(self, state: MidiLikeState) -> np.ndarray:
        phase = state.phase
        if phase == START:
            return self._start
        if phase == AFTER_EOS:
            return self._end
        key = (phase, state.sounding, state.fresh, state.marks)
        mask = self._masks.get(key)
        if mask is None:
            if len(self._masks) >= _CACHE_LIMIT:
                self._masks.clear()
            mask = self._masks[key] = self._build(*key)
        return mask

    def _build(self, phase: int, sounding: int, fresh: int, marks: int) -> np.ndarray:
        sounding_indices = np.array(_bit_indices(sounding), dtype=np.int64)
        if phase == AFTER_VELOCITY:
            mask = self._after_velocity.copy()
        else:
            mask = self._event_base[marks].copy()
            if sounding:
                mask[self._eos] = False
                released = np.array(_bit_indices(sounding & ~fresh), dtype=np.int64)
                mask[self._off_first + released] = True
            if bin(sounding).count("1") == self._pitch_count:
                mask[self._velocity_ids] = False
        mask[self._on_first + sounding_indices] = False
        mask.setflags(write=False)
        return mask

    def advance(self, state: MidiLikeState, token: int) -> MidiLikeState:
        kind = self._kinds[token]
        phase, sounding, fresh, marks, step, tick = state
        if kind == K_NOTE_ON:
            bit = 1 << (self._values[token] - self._low)
            return MidiLikeState(EVENT, sounding | bit, fresh | bit, marks, step, tick)
        if kind == K_NOTE_OFF:
            bit = 1 << (self._values[token] - self._low)
            return MidiLikeState(EVENT, sounding & ~bit, fresh, marks, step, tick)
        if kind == K_SHIFT:
            step += self._values[token]
            return MidiLikeState(EVENT, sounding, 0, 0, step, step * self._step_ticks)
        if kind == K_VELOCITY:
            return MidiLikeState(AFTER_VELOCITY, sounding, fresh, marks, step, tick)
        if kind == K_TIMESIG:
            return MidiLikeState(EVENT, sounding, fresh, marks | 1, step, tick)
        if kind == K_TEMPO:
            return MidiLikeState(EVENT, sounding, fresh, marks | 2, step, tick)
        if kind == K_BOS:
            return MidiLikeState(EVENT, 0, 0, 0, 0, 0)
        if kind == K_EOS:
            return MidiLikeState(AFTER_EOS, sounding, fresh, marks, step, tick)
        return state


@register
class MidiLikeTokenizer(Tokenizer):
    name = "midi_like"
    config_class = MidiLikeConfig
    config: MidiLikeConfig
    keeps_velocity = True

    def __init__(self, config: MidiLikeConfig | None = None) -> None:
        super().__init__(config)
        self.step_ticks = TICKS_PER_QUARTER // self.config.beat_resolution
        self._velocity_index = nearest_level_table(self._velocities)
        self.default_velocity = self._velocities[self._velocity_index[DEFAULT_VELOCITY]]
        self._meter_of_token = {self.vocab[f"TimeSig_{n}_{d}"]: (n, d) for n, d in self._signatures}
        self._grammar = MidiLikeGrammar(self)

    @property
    def keeps_time_signature(self) -> bool:  # type: ignore[override]
        return self.config.use_time_signature

    @property
    def keeps_tempo(self) -> bool:  # type: ignore[override]
        return self.config.use_tempo

    def velocity_levels(self) -> tuple[int, ...]:
        return self._velocities

    def tempo_levels(self) -> tuple[float, ...]:
        return tuple(float(t) for t in self._tempi)

    def _build_vocab(self) -> Vocab:
        c = self.config
        self._signatures = time_signatures_for(c.max_bar_quarters) if c.use_time_signature else ()
        self._velocities = velocity_levels_for(c.velocity_bins)
        self._tempi = tempo_levels_for(c.tempo_bins) if c.use_tempo else ()
        low, high = c.pitch_range
        entries: list[tuple[str, int, int]] = [("PAD", K_PAD, 0), ("BOS", K_BOS, 0),
                                               ("EOS", K_EOS, 0)]
        entries += [(f"TimeSig_{n}_{d}", K_TIMESIG, 0) for n, d in self._signatures]
        entries += [(f"Tempo_{bpm}", K_TEMPO, bpm) for bpm in self._tempi]
        entries += [(f"Velocity_{v}", K_VELOCITY, v) for v in self._velocities]
        entries += [(f"NoteOn_{p}", K_NOTE_ON, p) for p in range(low, high + 1)]
        entries += [(f"NoteOff_{p}", K_NOTE_OFF, p) for p in range(low, high + 1)]
        max_shift = c.max_shift_quarters * c.beat_resolution
        entries += [(f"TimeShift_{k}", K_SHIFT, k) for k in range(1, max_shift + 1)]
        return self._vocab_from_entries(entries)

    def grammar(self) -> MidiLikeGrammar:
        return self._grammar

    def pitches_of(self, token: int) -> tuple[int, ...]:
        return (self.values[token],) if self.kinds[token] == K_NOTE_ON else ()

    # ------------------------------------------------------------------ encode
    def _note_spans(self, score: Score) -> list[tuple[int, int, int, int]]:
        """(start step, end step, pitch, velocity level) per note, same-pitch overlaps cut."""
        step = self.step_ticks
        by_pitch: dict[int, list[tuple[int, int, int]]] = {}
        for note in pitched_notes(score, self.config.pitch_range):
            start = (note.start + step // 2) // step
            end = max((note.end + step // 2) // step, start + 1)
            velocity = self._velocities[self._velocity_index[min(max(note.velocity, 0), 127)]]
            by_pitch.setdefault(note.pitch, []).append((start, -end, velocity))
        spans = []
        for pitch, notes in by_pitch.items():
            notes.sort()  # by start, longest first
            kept = []
            for start, negative_end, velocity in notes:
                if kept and kept[-1][0] == start:
                    continue  # same onset: the longer one is already kept
                if kept and kept[-1][1] > start:
                    kept[-1] = (kept[-1][0], start, kept[-1][2])
                kept.append((start, -negative_end, velocity))
            spans += [(start, end, pitch, velocity) for start, end, velocity in kept]
        return spans

    def encode(self, score: Score, *, eos: bool = False, end_tick: int | None = None) -> list[int]:
        """Token ids of `score` (BOS first; EOS last only if `eos`); with `end_tick`, time
        shifts run on to that tick after the last note ends."""
        score = at_standard_resolution(score)
        c, vocab, step = self.config, self.vocab, self.step_ticks
        # Per step: (NoteOff pitches, meta token ids, [(pitch, velocity)] NoteOns).
        events: dict[int, tuple[list[int], list[int], list[tuple[int, int]]]] = {}

        def at(step_index: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
            return events.setdefault(step_index, ([], [], []))

        if c.use_time_signature:
            meters = [(0, score.time_signature)] + [
                (m.tick, (m.numerator, m.denominator)) for m in score.time_signature_changes]
            previous = None
            for tick, meter in meters:
                if meter not in self._signatures:
                    raise TokenizerError(
                        f"time signature {meter[0]}/{meter[1]} is not supported by this midi_like "
                        f"tokenizer (bars up to {c.max_bar_quarters} quarters)")
                if meter != previous:
                    at((tick
                        + step // 2) // step)[1].append(vocab[f"TimeSig_{meter[0]}_{meter[1]}"])
                    previous = meter
        if c.use_tempo:
            for tick, level in tempo_events(self._tempi, score.tempo_bpm, score.tempo_changes):
                at((tick + step // 2) // step)[1].append(vocab[f"Tempo_{level}"])
        for start, end, pitch, velocity in self._note_spans(score):
            at(start)[2].append((pitch, velocity))
            at(end)[0].append(pitch)

        ids = [vocab["BOS"]]
        max_shift = c.max_shift_quarters * c.beat_resolution
        shift_first = vocab["TimeShift_1"]
        current_step, velocity = 0, self.default_velocity
        last_step = max(events, default=0)
        if end_tick is not None:
            last_step = max(last_step, -(-end_tick // step))
        for step_index in sorted(events) + ([last_step] if last_step not in events else []):
            gap = step_index - current_step
            while gap > 0:
                shift = min(gap, max_shift)
                ids.append(shift_first + shift - 1)
                gap -= shift
            current_step = step_index
            offs, metas, ons = events.get(step_index, ([], [], []))
            ids += [vocab[f"NoteOff_{p}"] for p in sorted(offs)]
            ids += _last_of_each_kind(metas, self.kinds)  # one TimeSig / Tempo per step
            for pitch, note_velocity in sorted(ons):
                if note_velocity != velocity:
                    ids.append(vocab[f"Velocity_{note_velocity}"])
                    velocity = note_velocity
                ids.append(vocab[f"NoteOn_{pitch}"])
        if eos:
            ids.append(vocab["EOS"])
        return ids

    # ------------------------------------------------------------------ decode
    def decode(self, ids: Sequence[int]) -> Score:
        ids = check_ids(ids, self.vocab_size, self.name)
        grammar, kinds, values = self._grammar, self.kinds, self.values
        state = grammar.start()
        sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start tick, velocity)
        notes: list[Note] = []
        meters: list[tuple[int, tuple[int, int]]] = []
        tempi: list[tuple[int, float]] = []
        velocity = self.default_velocity
        for token in ids:
            if not grammar.allowed(state)[token]:
                continue
            state = grammar.advance(state, token)
            kind = kinds[token]
            if kind == K_NOTE_ON:
                sounding[values[token]] = (state.tick, velocity)
            elif kind == K_NOTE_OFF:
                start, note_velocity = sounding.pop(values[token])
                notes.append(Note(values[token], start, state.tick - start, note_velocity))
            elif kind == K_VELOCITY:
                velocity = values[token]
            elif kind == K_TIMESIG:
                meter = self._meter_of_token[token]
                if not meters or meters[-1][1] != meter:
                    meters.append((state.tick, meter))
            elif kind == K_TEMPO:
                if not tempi or tempi[-1][1] != values[token]:
                    tempi.append((state.tick, float(values[token])))
        for pitch, (start, note_velocity) in sounding.items():
            notes.append(Note(pitch, start, max(state.tick - start, self.step_ticks),
                              note_velocity))
        return build_score(notes, meters, tempi, "midi_like")


def _last_of_each_kind(tokens: list[int], kinds: list[int]) -> list[int]:
    """The last token of each kind, in their original order."""
    last = {kinds[token]: index for index, token in enumerate(tokens)}
    return [token for index, token in enumerate(tokens) if last[kinds[token]] == index]

"""REMI: bars and positions on a metrical grid, then pitch / velocity / duration per note.

A sequence reads

    BOS Bar TimeSig_4_4 Position_0 Tempo_120 Pitch_60 Velocity_79 Duration_4
        Position_4 Pitch_64 Velocity_79 Duration_4 Bar Bar Position_0 ...

`Bar` opens a bar; `TimeSig_n_d` follows the first Bar and any Bar where the meter
changes, so the grammar knows how many positions the bar has (beat_resolution per
quarter: a 3/4 bar has 12 at 4 per quarter, 6/8 has 12, 7/8 has 14, 5/4 has 20). Inside a
bar, `Position_p` tokens move strictly forward; each is followed by an optional
`Tempo_bpm`, an optional `Chord_root_quality` and one or more notes, each note being
`Pitch`, `Velocity`, `Duration` (in positions). An empty bar is just `Bar`.

Documented limits (what does not survive encode -> decode):
- all pitched tracks are merged into one (Score.merged); drum tracks are dropped;
- pitches outside `pitch_range` are dropped;
- onsets snap to the nearest position; durations round to whole positions, at least 1
  and at most `max_duration_quarters` (longer notes are cut);
- velocities come back as the nearest of `velocity_bins` levels, tempi as the nearest of
  `tempo_bins` levels (log-spaced 40..250 BPM), placed on the position grid;
- a meter change that falls inside a bar takes effect at the next bar line; meters whose
  bar is longer than `max_bar_quarters` (or not a whole number of positions) are refused
  with TokenizerError;
- Chord tokens (use_chords) are hints for the model; decode ignores them.
Decode skips tokens the grammar forbids where they stand and drops a note cut short by
the end of the sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ml_core.music import (
    TICKS_PER_QUARTER,
    Note,
    Score,
    TempoChange,
    TimeSignatureChange,
    Track,
    bar_ticks,
)
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
    nearest_tempo_index,
    tempo_levels_for,
    time_signatures_for,
    velocity_levels_for,
)

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Interval sets (from the root) of the chords Chord tokens can name.
CHORD_QUALITIES: dict[str, frozenset[int]] = {
    "maj": frozenset({0, 4, 7}), "min": frozenset({0, 3, 7}), "dim": frozenset({0, 3, 6}),
    "aug": frozenset({0, 4, 8}), "sus2": frozenset({0, 2, 7}), "sus4": frozenset({0, 5, 7}),
    "7": frozenset({0, 4, 7, 10}), "maj7": frozenset({0, 4, 7, 11}),
    "min7": frozenset({0, 3, 7, 10}), "dim7": frozenset({0, 3, 6, 9}),
    "hdim7": frozenset({0, 3, 6, 10}),
}


@dataclass(frozen=True)
class RemiConfig(TokenizerConfig):
    beat_resolution: int = 4          # positions per quarter: 4 = sixteenths, 12 adds triplets
    velocity_bins: int = 16           # MidiTok uses 32; 16 is enough for a sketching tool
    max_duration_quarters: int = 8    # two 4/4 bars; longer notes are cut
    max_bar_quarters: int = 8         # longest bar (8/4, 16/8, 12/8 fits); sets Position tokens
    use_tempo: bool = True            # Tempo tokens at position 0 and where the tempo changes
    tempo_bins: int = 32              # log-spaced 40..250 BPM, ~5.5% apart
    use_chords: bool = False          # Chord tokens from simultaneous onsets (decode ignores)
    pitch_range: tuple[int, int] = (21, 108)  # the 88 piano keys

    def __post_init__(self) -> None:
        check_event_config(self)
        if not 1 <= self.max_duration_quarters <= 64:
            raise TokenizerError(f"max_duration_quarters must be 1..64, got {self.max_duration_quarters}")


class RemiState(NamedTuple):
    phase: int
    bar_positions: int  # positions in the current bar (0 until the first TimeSig)
    position: int       # current position in the bar, -1 before the bar's first Position
    bar_start: int      # tick at which the current bar starts
    tick: int           # bar_start + position * ticks per position


# Phases: what the last token was.
START, AFTER_BOS, AFTER_BAR, AFTER_TIMESIG, AFTER_POSITION, AFTER_TEMPO, AFTER_CHORD, \
    AFTER_PITCH, AFTER_VELOCITY, AFTER_NOTE, AFTER_EOS = range(11)
# Token kinds.
K_PAD, K_BOS, K_EOS, K_BAR, K_TIMESIG, K_POSITION, K_TEMPO, K_CHORD, K_PITCH, K_VELOCITY, \
    K_DURATION = range(11)


class RemiGrammar:
    """The REMI state machine; masks are built once per (phase, bar length, position)."""

    def __init__(self, tokenizer: RemiTokenizer) -> None:
        self._t = tokenizer
        self._masks: dict[tuple[int, int, int], np.ndarray] = {}

    def start(self) -> RemiState:
        return RemiState(START, 0, -1, 0, 0)

    def allowed(self, state: RemiState) -> np.ndarray:
        key = (state[0], state[1], state[2])
        mask = self._masks.get(key)
        if mask is None:
            mask = self._masks[key] = self._build_mask(*key)
        return mask

    def _build_mask(self, phase: int, bar_positions: int, position: int) -> np.ndarray:
        t = self._t
        mask = np.zeros(t.vocab_size, dtype=bool)
        kinds = t.kind_array

        def allow(kind: int) -> None:
            mask[kinds == kind] = True

        def allow_bar_level(after_position: int) -> None:
            mask[t.bar_id] = mask[t.eos_id] = True
            first = t.position_first + after_position + 1
            mask[first:t.position_first + bar_positions] = True

        if phase == START:
            mask[t.bos_id] = True
        elif phase == AFTER_BOS:
            mask[t.bar_id] = True
        elif phase == AFTER_BAR:
            allow(K_TIMESIG)
            if bar_positions:
                allow_bar_level(-1)
        elif phase == AFTER_TIMESIG:
            allow_bar_level(-1)
        elif phase == AFTER_POSITION:
            allow(K_TEMPO)
            allow(K_CHORD)
            allow(K_PITCH)
        elif phase == AFTER_TEMPO:
            allow(K_CHORD)
            allow(K_PITCH)
            allow_bar_level(position)
        elif phase == AFTER_CHORD:
            allow(K_PITCH)
        elif phase == AFTER_PITCH:
            allow(K_VELOCITY)
        elif phase == AFTER_VELOCITY:
            allow(K_DURATION)
        elif phase == AFTER_NOTE:
            allow(K_PITCH)
            allow_bar_level(position)
        elif phase == AFTER_EOS:
            mask[t.eos_id] = True
        mask.setflags(write=False)
        return mask

    def advance(self, state: RemiState, token: int) -> RemiState:
        t = self._t
        kind = t.kinds[token]
        phase, bar_positions, position, bar_start, tick = state
        if kind == K_BAR:
            if phase != AFTER_BOS:
                bar_start += bar_positions * t.ticks_per_position
            return RemiState(AFTER_BAR, bar_positions, -1, bar_start, bar_start)
        if kind == K_POSITION:
            position = t.values[token]
            return RemiState(AFTER_POSITION, bar_positions, position, bar_start,
                             bar_start + position * t.ticks_per_position)
        if kind == K_TIMESIG:
            return RemiState(AFTER_TIMESIG, t.values[token], position, bar_start, tick)
        return RemiState(_NEXT_PHASE[kind], bar_positions, position, bar_start, tick)


_NEXT_PHASE = {K_PAD: START, K_BOS: AFTER_BOS, K_EOS: AFTER_EOS, K_TEMPO: AFTER_TEMPO,
               K_CHORD: AFTER_CHORD, K_PITCH: AFTER_PITCH, K_VELOCITY: AFTER_VELOCITY,
               K_DURATION: AFTER_NOTE}


@register
class RemiTokenizer(Tokenizer):
    name = "remi"
    config_class = RemiConfig
    config: RemiConfig
    keeps_velocity = True
    keeps_time_signature = True

    def __init__(self, config: RemiConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.ticks_per_position = TICKS_PER_QUARTER // c.beat_resolution
        self.bos_id, self.eos_id, self.bar_id = self.vocab["BOS"], self.vocab["EOS"], self.vocab["Bar"]
        self.position_first = self.vocab["Position_0"]
        self.kind_array = np.array(self.kinds, dtype=np.int8)
        self._velocity_index = nearest_level_table(self._velocities)
        self._velocity_token = np.array([self.vocab[f"Velocity_{self._velocities[i]}"]
                                         for i in self._velocity_index], dtype=np.int64)
        self._pitch_first = self.vocab[f"Pitch_{self.config.pitch_range[0]}"]
        self._duration_first = self.vocab["Duration_1"]
        self._meter_of_token = {token: meter for meter, token in self._signature_ids.items()}
        self._grammar = RemiGrammar(self)

    @property
    def keeps_tempo(self) -> bool:  # type: ignore[override]
        return self.config.use_tempo

    def velocity_levels(self) -> tuple[int, ...]:
        return self._velocities

    def tempo_levels(self) -> tuple[float, ...]:
        return tuple(float(t) for t in self._tempi) if self.config.use_tempo else ()

    # ------------------------------------------------------------------ vocabulary
    def _build_vocab(self) -> Vocab:
        c = self.config
        ticks_per_position = TICKS_PER_QUARTER // c.beat_resolution
        self._signatures = time_signatures_for(c.max_bar_quarters, ticks_per_position)
        self._velocities = velocity_levels_for(c.velocity_bins)
        self._tempi = tempo_levels_for(c.tempo_bins) if c.use_tempo else ()
        self._chords = [(root, quality) for root in range(12) for quality in CHORD_QUALITIES] \
            if c.use_chords else []
        max_positions = c.max_bar_quarters * c.beat_resolution
        entries: list[tuple[str, int, int]] = [("PAD", K_PAD, 0), ("BOS", K_BOS, 0),
                                               ("EOS", K_EOS, 0), ("Bar", K_BAR, 0)]
        entries += [(f"TimeSig_{n}_{d}", K_TIMESIG, bar_ticks((n, d)) // ticks_per_position)
                    for n, d in self._signatures]
        entries += [(f"Position_{p}", K_POSITION, p) for p in range(max_positions)]
        entries += [(f"Tempo_{bpm}", K_TEMPO, bpm) for bpm in self._tempi]
        entries += [(f"Chord_{PITCH_CLASS_NAMES[root]}_{quality}", K_CHORD, root)
                    for root, quality in self._chords]
        low, high = c.pitch_range
        entries += [(f"Pitch_{p}", K_PITCH, p) for p in range(low, high + 1)]
        entries += [(f"Velocity_{v}", K_VELOCITY, v) for v in self._velocities]
        max_duration = c.max_duration_quarters * c.beat_resolution
        entries += [(f"Duration_{d}", K_DURATION, d) for d in range(1, max_duration + 1)]
        return self._vocab_from_entries(entries)

    def grammar(self) -> RemiGrammar:
        return self._grammar

    def pitches_of(self, token: int) -> tuple[int, ...]:
        return (self.values[token],) if self.kinds[token] == K_PITCH else ()

    # ------------------------------------------------------------------ encode
    def _bar_plan(self, score: Score, last_tick: int, end_tick: int | None) -> list[tuple[int, int, tuple[int, int]]]:
        """(start tick, length in ticks, meter) of each bar to write. A meter change inside
        a bar takes effect at the next bar line."""
        changes = [(c.tick, (c.numerator, c.denominator)) for c in score.time_signature_changes]
        meter = score.time_signature
        bars: list[tuple[int, int, tuple[int, int]]] = []
        start, change_index = 0, 0
        while not bars or start <= last_tick or (end_tick is not None and start < end_tick):
            while change_index < len(changes) and changes[change_index][0] <= start:
                meter = changes[change_index][1]
                change_index += 1
            if meter not in self._signature_ids:
                raise TokenizerError(
                    f"time signature {meter[0]}/{meter[1]} is not supported by this remi "
                    f"tokenizer (bars up to {self.config.max_bar_quarters} quarters)")
            length = bar_ticks(meter)
            bars.append((start, length, meter))
            start += length
        return bars

    @property
    def _signature_ids(self) -> dict[tuple[int, int], int]:
        table = self.__dict__.get("_signature_table")
        if table is None:
            table = {sig: self.vocab[f"TimeSig_{sig[0]}_{sig[1]}"] for sig in self._signatures}
            self.__dict__["_signature_table"] = table
        return table

    def _chord_token(self, pitches: list[int]) -> int | None:
        classes = {p % 12 for p in pitches}
        if len(classes) < 3:
            return None
        bass = min(pitches) % 12
        for root in [bass] + sorted(classes - {bass}):
            intervals = frozenset((p - root) % 12 for p in classes)
            for quality, template in CHORD_QUALITIES.items():
                if intervals == template:
                    return self.vocab[f"Chord_{PITCH_CLASS_NAMES[root]}_{quality}"]
        return None

    def encode(self, score: Score, *, eos: bool = False, end_tick: int | None = None) -> list[int]:
        """Token ids of `score` (BOS first; EOS last only if `eos`). Bars are written up to
        the one holding the last onset, or every bar starting before `end_tick` if later."""
        score = at_standard_resolution(score)
        c = self.config
        step = self.ticks_per_position
        # Notes as flat token triples (Pitch, Velocity, Duration) sorted by position then
        # pitch, computed with numpy: encoding a folder is dominated by this part.
        positions, pitches, triples = self._note_tokens(score)
        notes_at: dict[int, tuple[int, int]] = {}  # position -> [first, last) note index
        if positions:
            unique, first = np.unique(np.asarray(positions), return_index=True)
            bounds = np.append(first, len(positions)).tolist()
            notes_at = {p: (bounds[i], bounds[i + 1]) for i, p in enumerate(unique.tolist())}
        tempo_at: dict[int, int] = {}
        if c.use_tempo:
            levels: dict[int, int] = {}  # position -> tempo level; the last change on a position wins
            for tick, bpm in [(0, score.tempo_bpm)] + [(t.tick, t.bpm) for t in score.tempo_changes]:
                levels[(tick + step // 2) // step] = self._tempi[nearest_tempo_index(self._tempi, bpm)]
            previous = None
            for position in sorted(levels):
                if levels[position] != previous:
                    tempo_at[position] = self.vocab[f"Tempo_{levels[position]}"]
                    previous = levels[position]
        event_positions = sorted(set(notes_at) | set(tempo_at))
        last_tick = event_positions[-1] * step if event_positions else 0

        ids = [self.bos_id]
        meter = None
        index = 0
        for bar_start, length, bar_meter in self._bar_plan(score, last_tick, end_tick):
            ids.append(self.bar_id)
            if bar_meter != meter:
                ids.append(self._signature_ids[bar_meter])
                meter = bar_meter
            first_position, end_position = bar_start // step, (bar_start + length) // step
            while index < len(event_positions) and event_positions[index] < end_position:
                position = event_positions[index]
                index += 1
                ids.append(self.position_first + position - first_position)
                if position in tempo_at:
                    ids.append(tempo_at[position])
                if position in notes_at:
                    first_note, end_note = notes_at[position]
                    if c.use_chords:
                        chord = self._chord_token(pitches[first_note:end_note])
                        if chord is not None:
                            ids.append(chord)
                    ids += triples[3 * first_note:3 * end_note]
        if eos:
            ids.append(self.eos_id)
        return ids

    def _note_tokens(self, score: Score) -> tuple[list[int], list[int], list[int]]:
        """(position, pitch) of each pitched note in range, sorted by position, pitch,
        velocity, duration; and their Pitch/Velocity/Duration ids as one flat list."""
        c = self.config
        rows = [(n.start, n.duration, n.pitch, n.velocity)
                for track in score.tracks if not track.is_drum for n in track.notes]
        if not rows:
            return [], [], []
        table = np.asarray(rows, dtype=np.int64)
        low, high = c.pitch_range
        table = table[(table[:, 2] >= low) & (table[:, 2] <= high)]
        step = self.ticks_per_position
        max_duration = c.max_duration_quarters * c.beat_resolution
        positions = (table[:, 0] + step // 2) // step
        durations = np.clip((table[:, 1] + step // 2) // step, 1, max_duration)
        pitch_ids = self._pitch_first + table[:, 2] - low
        velocity_ids = self._velocity_token[np.clip(table[:, 3], 0, 127)]
        duration_ids = self._duration_first + durations - 1
        order = np.lexsort((duration_ids, velocity_ids, pitch_ids, positions))
        triples = np.stack([pitch_ids[order], velocity_ids[order], duration_ids[order]], axis=1)
        return positions[order].tolist(), table[order, 2].tolist(), triples.ravel().tolist()

    # ------------------------------------------------------------------ decode
    def decode(self, ids: Sequence[int]) -> Score:
        """The Score of a token sequence (any prefix of a valid one decodes)."""
        ids = check_ids(ids, self.vocab_size, self.name)
        grammar = self._grammar
        kinds, values = self.kinds, self.values
        step = self.ticks_per_position
        state = grammar.start()
        notes: list[Note] = []
        meters: list[tuple[int, tuple[int, int]]] = []
        tempi: list[tuple[int, float]] = []
        pitch = velocity = 0
        for token in ids:
            if not grammar.allowed(state)[token]:
                continue
            state = grammar.advance(state, token)
            kind = kinds[token]
            if kind == K_PITCH:
                pitch = values[token]
            elif kind == K_VELOCITY:
                velocity = values[token]
            elif kind == K_DURATION:
                notes.append(Note(pitch, state.tick, values[token] * step, velocity))
            elif kind == K_TIMESIG:
                meter = self._meter_of_token[token]
                if not meters or meters[-1][1] != meter:
                    meters.append((state.bar_start, meter))
            elif kind == K_TEMPO:
                if not tempi or tempi[-1][1] != values[token]:
                    tempi.append((state.tick, float(values[token])))
        return build_score(notes, meters, tempi, "remi")


def build_score(notes: list[Note], meters: list[tuple[int, tuple[int, int]]],
                tempi: list[tuple[int, float]], track_name: str) -> Score:
    """A one-track Score from decoded notes plus (tick, meter) and (tick, bpm) events; the
    first event of each kind at tick 0 is the initial value (4/4 and 120 BPM otherwise)."""
    meter, bpm = (4, 4), 120.0
    if meters and meters[0][0] == 0:
        meter = meters.pop(0)[1]
    if tempi and tempi[0][0] == 0:
        bpm = tempi.pop(0)[1]
    notes.sort()
    return Score([Track(track_name, 0, False, notes)], bpm, meter, TICKS_PER_QUARTER,
                 [TempoChange(tick, value) for tick, value in tempi],
                 [TimeSignatureChange(tick, n, d) for tick, (n, d) in meters])

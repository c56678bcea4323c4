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

Without velocity (`use_velocity` off) a note is `Pitch`, `Duration`: the scheme then
carries no dynamics (decoded notes get velocity 80) and generation gives new notes the
prompt's dynamics (ml_core.generation). Notation corpora have one velocity for every note,
so velocity tokens there teach nothing and make performed MIDI look alien (docs/DYNAMICS.md).
Stored configs without the key keep velocity tokens.

Attribute controls (`use_controls`, on for new tokenizers): every Bar (and its TimeSig)
is followed by three tokens describing the bar, in this order:

    Bar [TimeSig_n_d] Texture_t Density_d Register_r Position_0 ...

- `Texture_1..4`: mean notes per onset, rounded (1 = a single line, 4 = four or more);
- `Density_0..5`: onsets per beat (beat: music.beat_ticks, a dotted quarter in 6/8):
  0 = an empty bar, 1 under 0.75, 2 under 1.5, 3 under 2.5, 4 under 3.5, 5 above;
- `Register_0..5`: the median pitch of the bar's notes: below 48, 48-54, 55-61, 62-68,
  69-75, 76 and up;
and `Texture_any`, `Density_any`, `Register_any` where the value is not given (an empty
bar has no texture or register; training drops values to "any" at random, see
ml_core.objectives; generation forces chosen values through a mask, `control_mask`).

Per-bar controls of new configs (opt-in, each off unless set; they need `use_controls`),
written after Register in this order:

    ... Register_r [Rhythm_k Figure_f] [Bass_b] Position_0 ...

- `use_repeat_controls`: `Rhythm_k`, the bar's onset positions (and length) are those of
  the bar k back (the nearest, k = 1..4; `Rhythm_0`: none of them); `Figure_same_k`, its
  top line (the highest pitch of each onset) is that of the bar k back, else
  `Figure_moved_k`, the same intervals moved up or down (two or more onsets), else
  `Figure_none` (`repetition_controls`);
- `use_bass_control`: `Bass_b`, the bar's lowest pitch: below 36, 36-40, 41-45, 46-50,
  51-55, 56-60, 61-67, 68 and up (`bass_bin`);
- `extended_levels`: Texture up to 8 (eight or more notes per onset) and Density up to 7
  (3.5-5, 5-7 and 7 or more onsets per beat: 32nd-note runs, at a fine enough grid).
Each kind has its `_any` token too (an empty bar has no rhythm, figure or bass).

Bar infilling (`use_infill`): three more tokens let one sequence ask for missing bars:

    <bars before> Hole <bars after> FillStart Bar ... <the missing bars> ... FillEnd

`Hole` stands where the missing bars were, `FillStart` restarts time at the hole's first
bar, `FillEnd` closes the fill. Training builds such sequences (ml_core.objectives); the
plain grammar never allows the three tokens: generation feeds the context to the model
and samples the fill from `grammar.fill_start(meter)`, a state that reads the fill as a
sequence of its own in the hole's meter.

Documented limits (what does not survive encode -> decode):
- all pitched tracks are merged into one (Score.merged); drum tracks are dropped;
- pitches outside `pitch_range` are dropped;
- onsets snap to the nearest position; durations round to whole positions, at least 1
  and at most `max_duration_quarters` (longer notes are cut);
- velocities come back as the nearest of `velocity_bins` levels (velocity 80 without
  `use_velocity`), tempi as the nearest of
  `tempo_bins` levels (log-spaced 40..250 BPM), placed on the position grid; a tempo
  change within `tempo_tolerance` (10%) of the tempo last written is not written, so a
  performance's drifting tempo map reads as its tempo;
- a meter change that falls inside a bar takes effect at the next bar line; meters whose
  bar is longer than `max_bar_quarters` (or not a whole number of positions) are refused
  with TokenizerError;
- Chord tokens (use_chords) and control tokens are hints for the model; decode ignores
  them (and decodes an infilling sequence only up to its Hole, see `decode`).
Decode skips tokens the grammar forbids where they stand and drops a note cut short by
the end of the sequence.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from ml_core.music import (
    TICKS_PER_QUARTER,
    Note,
    Score,
    TempoChange,
    TimeSignatureChange,
    Track,
    bar_ticks,
    beat_ticks,
)
from ml_core.pitch import PITCH_CLASS_NAMES
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
    tempo_events,
    tempo_levels_for,
    time_signatures_for,
    velocity_levels_for,
)
from ml_core.tokenizers.remi_controls import (
    ANY,
    BASS_EDGES,
    DENSITY_LEVELS,
    DENSITY_LEVELS_EXTENDED,
    FIGURE_MOVED,
    FIGURE_NONE,
    REGISTER_LEVELS,
    REPEAT_BACK,
    TEXTURE_LEVELS,
    TEXTURE_LEVELS_EXTENDED,
    BarControls,
    BarShape,
    bass_bin,
    density_bin,
    repetition_controls,
    struck_onsets,
    texture_bin,
)

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
    max_bar_quarters: int = 16        # longest bar (9/4, 5/2, 4/1 fit); sets Position tokens
                                      # (stored configs without the key: 8)
    use_tempo: bool = True            # Tempo tokens at position 0 and where the tempo changes
    tempo_bins: int = 32              # log-spaced 40..250 BPM, ~5.5% apart
    use_chords: bool = False          # Chord tokens from simultaneous onsets (decode ignores)
    pitch_range: tuple[int, int] = (21, 108)  # the 88 piano keys
    # Texture/Density/Register after each bar (off for old configs)
    use_controls: bool = True
    use_infill: bool = True           # Hole/FillStart/FillEnd tokens (off for old configs)
    # Velocity tokens; off: notes are Pitch, Duration (docs/DYNAMICS.md)
    use_velocity: bool = True
    # a tempo change is written only beyond 10% from the last tempo
    tempo_tolerance: float = 0.1
                                      # written (0 for old configs; docs/DYNAMICS.md)
    # Per-bar controls after Register (need use_controls; off unless set, see the docstring)
    use_repeat_controls: bool = False  # Rhythm_k, Figure_{same,moved}_k: a bar repeats k back
    use_bass_control: bool = False     # Bass_b: the bar's lowest pitch, coarse bins
    extended_levels: bool = False      # Texture up to 8, Density up to 7

    def __post_init__(self) -> None:
        check_event_config(self)
        if not 1 <= self.max_duration_quarters <= 64:
            raise TokenizerError(f"max_duration_quarters must be 1..64, got "
                                 f"{self.max_duration_quarters}")
        if not 0.0 <= self.tempo_tolerance < 1.0:
            raise TokenizerError(f"tempo_tolerance must be at least 0 and below 1, got "
                                 f"{self.tempo_tolerance}")
        if not self.use_controls and (self.use_repeat_controls or self.use_bass_control
                                      or self.extended_levels):
            raise TokenizerError("use_repeat_controls, use_bass_control and extended_levels "
                                 "need use_controls")


UNENCODED_VELOCITY = 80                        # decoded velocity without Velocity tokens


class RemiState(NamedTuple):
    phase: int
    bar_positions: int  # positions in the current bar (0 until the first TimeSig)
    position: int       # current position in the bar, -1 before the bar's first Position
    bar_start: int      # tick at which the current bar starts
    tick: int           # bar_start + position * ticks per position


# Phases: what the last token was.
START, AFTER_BOS, AFTER_BAR, AFTER_TIMESIG, AFTER_POSITION, AFTER_TEMPO, AFTER_CHORD, \
    AFTER_PITCH, AFTER_VELOCITY, AFTER_NOTE, AFTER_EOS, AFTER_TEXTURE, AFTER_DENSITY, \
    AFTER_REGISTER, AFTER_HOLE, AFTER_FILL_START, AFTER_FILL_END = range(17)
# Token kinds.
K_PAD, K_BOS, K_EOS, K_BAR, K_TIMESIG, K_POSITION, K_TEMPO, K_CHORD, K_PITCH, K_VELOCITY, \
    K_DURATION, K_TEXTURE, K_DENSITY, K_REGISTER, K_HOLE, K_FILL_START, K_FILL_END = range(17)
CONTROL_KINDS = (K_TEXTURE, K_DENSITY, K_REGISTER)
# The per-bar controls of new configs, after the kinds and phases above.
K_RHYTHM, K_FIGURE, K_BASS = 17, 18, 19
AFTER_RHYTHM, AFTER_FIGURE, AFTER_BASS = 17, 18, 19


class RemiGrammar:
    """The REMI state machine; masks are built once per (phase, bar length, position)."""

    def __init__(self, tokenizer: RemiTokenizer) -> None:
        self._t = tokenizer
        self._masks: dict[tuple[int, int, int], np.ndarray] = {}

    def start(self) -> RemiState:
        return RemiState(START, 0, -1, 0, 0)

    def fill_start(self, meter: tuple[int, int]) -> RemiState:
        """The state after `FillStart` when the hole's bars are in `meter`: the fill reads
        like a sequence of its own (time 0 = the hole's first bar), so the plain grammar
        never needs to allow Hole / FillStart / FillEnd."""
        positions = bar_ticks(meter) // self._t.ticks_per_position
        return RemiState(AFTER_FILL_START, positions, -1, 0, 0)

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

        controls = t.config.use_controls

        def allow_bar_level(after_position: int) -> None:
            mask[t.bar_id] = mask[t.eos_id] = True
            first = t.position_first + after_position + 1
            mask[first:t.position_first + bar_positions] = True

        def after_figure() -> None:   # what follows the repetition controls
            if t.config.use_bass_control:
                allow(K_BASS)
            else:
                allow_bar_level(-1)

        def allow_bar_body() -> None:  # what follows a bar line and its meter
            if controls:
                allow(K_TEXTURE)
            else:
                allow_bar_level(-1)

        if phase == START:
            mask[t.bos_id] = True
        elif phase == AFTER_BOS:
            mask[t.bar_id] = True
        elif phase == AFTER_BAR:
            allow(K_TIMESIG)
            if bar_positions:
                allow_bar_body()
        elif phase == AFTER_TIMESIG:
            allow_bar_body()
        elif phase == AFTER_TEXTURE:
            allow(K_DENSITY)
        elif phase == AFTER_DENSITY:
            allow(K_REGISTER)
        elif phase == AFTER_REGISTER:
            if t.config.use_repeat_controls:
                allow(K_RHYTHM)
            else:
                after_figure()
        elif phase == AFTER_RHYTHM:
            allow(K_FIGURE)
        elif phase == AFTER_FIGURE:
            after_figure()
        elif phase == AFTER_BASS:
            allow_bar_level(-1)
        elif phase == AFTER_FILL_START:
            mask[t.bar_id] = True
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
            allow(K_VELOCITY if t.config.use_velocity else K_DURATION)
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
            if phase != AFTER_BOS and phase != AFTER_FILL_START:
                bar_start += bar_positions * t.ticks_per_position
            return RemiState(AFTER_BAR, bar_positions, -1, bar_start, bar_start)
        if kind == K_POSITION:
            position = t.values[token]
            return RemiState(AFTER_POSITION, bar_positions, position, bar_start,
                             bar_start + position * t.ticks_per_position)
        if kind == K_TIMESIG:
            return RemiState(AFTER_TIMESIG, t.values[token], position, bar_start, tick)
        if kind == K_FILL_START:  # time restarts at the hole's first bar, in the meter in force
            return RemiState(AFTER_FILL_START, bar_positions, -1, 0, 0)
        return RemiState(_NEXT_PHASE[kind], bar_positions, position, bar_start, tick)


_NEXT_PHASE = {K_PAD: START, K_BOS: AFTER_BOS, K_EOS: AFTER_EOS, K_TEMPO: AFTER_TEMPO,
               K_CHORD: AFTER_CHORD, K_PITCH: AFTER_PITCH, K_VELOCITY: AFTER_VELOCITY,
               K_DURATION: AFTER_NOTE, K_TEXTURE: AFTER_TEXTURE, K_DENSITY: AFTER_DENSITY,
               K_REGISTER: AFTER_REGISTER, K_HOLE: AFTER_HOLE, K_FILL_END: AFTER_FILL_END,
               K_RHYTHM: AFTER_RHYTHM, K_FIGURE: AFTER_FIGURE, K_BASS: AFTER_BASS}


@register
class RemiTokenizer(Tokenizer):
    name = "remi"
    config_class = RemiConfig
    config: RemiConfig
    keeps_time_signature = True

    def __init__(self, config: RemiConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.ticks_per_position = TICKS_PER_QUARTER // c.beat_resolution
        self.bos_id, self.eos_id, self.bar_id = (self.vocab["BOS"], self.vocab["EOS"],
                                                 self.vocab["Bar"])
        self.position_first = self.vocab["Position_0"]
        self.kind_array = np.array(self.kinds, dtype=np.int8)
        self._velocity_token = np.array([self.vocab[f"Velocity_{self._velocities[i]}"] for i in
                                         nearest_level_table(self._velocities)], dtype=np.int64) \
            if c.use_velocity else None
        self._pitch_first = self.vocab[f"Pitch_{self.config.pitch_range[0]}"]
        self._duration_first = self.vocab["Duration_1"]
        self._meter_of_token = {token: meter for meter, token in self._signature_ids.items()}
        # control kind -> {value: token id} (ANY included); empty without controls
        self.control_ids: dict[int, dict[int, int]] = {kind: {} for kind in CONTROL_KINDS} \
            if c.use_controls else {}
        if c.use_repeat_controls:
            self.control_ids.update({K_RHYTHM: {}, K_FIGURE: {}})
        if c.use_bass_control:
            self.control_ids[K_BASS] = {}
        for token, kind in enumerate(self.kinds):
            if kind in self.control_ids:
                self.control_ids[kind][self.values[token]] = token
        self.infill_ids: tuple[int, ...] = tuple(self.vocab[n]
                                                 for n in ("Hole", "FillStart", "FillEnd")) \
            if c.use_infill else ()
        self._grammar = RemiGrammar(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemiTokenizer:
        """A stored tokenizer. Configs written before controls, infilling and the tempo
        tolerance existed lack those keys: they mean off (their models never saw the
        tokens, and their tempo maps were written change by change); before bars of up to 16
        quarters, bars were up to 8."""
        config = data.get("config", {})
        if isinstance(config, dict):
            config = {"use_controls": False, "use_infill": False, "tempo_tolerance": 0.0,
                      "max_bar_quarters": 8, **config}
        return cls.from_config_dict(config)  # type: ignore[return-value]

    @property
    def keeps_tempo(self) -> bool:  # type: ignore[override]
        return self.config.use_tempo

    @property
    def keeps_velocity(self) -> bool:  # type: ignore[override]
        return self.config.use_velocity

    def velocity_levels(self) -> tuple[int, ...]:
        return self._velocities if self.config.use_velocity else ()

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
        if c.use_velocity:
            entries += [(f"Velocity_{v}", K_VELOCITY, v) for v in self._velocities]
        max_duration = c.max_duration_quarters * c.beat_resolution
        entries += [(f"Duration_{d}", K_DURATION, d) for d in range(1, max_duration + 1)]
        if c.use_controls:
            extended = c.extended_levels
            for name, kind, levels in (
                    ("Texture", K_TEXTURE, TEXTURE_LEVELS_EXTENDED if extended else TEXTURE_LEVELS),
                    ("Density", K_DENSITY, DENSITY_LEVELS_EXTENDED if extended else DENSITY_LEVELS),
                    ("Register", K_REGISTER, REGISTER_LEVELS)):
                entries += [(f"{name}_{v}", kind, v) for v in levels] + [(f"{name}_any", kind, ANY)]
        if c.use_repeat_controls:
            back = range(1, REPEAT_BACK + 1)
            entries += [(f"Rhythm_{k}", K_RHYTHM, k) for k in range(REPEAT_BACK + 1)]
            entries += [("Rhythm_any", K_RHYTHM, ANY), ("Figure_none", K_FIGURE, FIGURE_NONE)]
            entries += [(f"Figure_same_{k}", K_FIGURE, k) for k in back]
            entries += [(f"Figure_moved_{k}", K_FIGURE, FIGURE_MOVED + k) for k in back]
            entries += [("Figure_any", K_FIGURE, ANY)]
        if c.use_bass_control:
            entries += [(f"Bass_{b}", K_BASS, b) for b in range(len(BASS_EDGES) + 1)]
            entries += [("Bass_any", K_BASS, ANY)]
        if c.use_infill:
            entries += [("Hole", K_HOLE, 0), ("FillStart", K_FILL_START, 0),
                        ("FillEnd", K_FILL_END, 0)]
        return self._vocab_from_entries(entries)

    def grammar(self) -> RemiGrammar:
        return self._grammar

    def pitches_of(self, token: int) -> tuple[int, ...]:
        return (self.values[token],) if self.kinds[token] == K_PITCH else ()

    # ------------------------------------------------------------------ controls
    def _control_values(self, controls: BarControls) -> list[tuple[int, int | None]]:
        """(kind, value) of each control kind this tokenizer writes, in the written order."""
        values = [(K_TEXTURE, controls.texture), (K_DENSITY, controls.density),
                  (K_REGISTER, controls.register), (K_RHYTHM, controls.rhythm),
                  (K_FIGURE, controls.figure), (K_BASS, controls.bass)]
        return [(kind, value) for kind, value in values if kind in self.control_ids]

    def control_tokens(self, controls: BarControls) -> list[int]:
        """The control ids of `controls` (Texture, Density, Register, then the per-bar
        controls the config has; empty without use_controls). A per-bar control not set
        (None) is written as its "any" token."""
        return [self.control_ids[kind][ANY if value is None else value]
                for kind, value in self._control_values(controls)]

    def control_mask(self, controls: BarControls) -> np.ndarray:
        """Mask (vocab_size,) allowing every non-control token and, of the control tokens,
        only those of `controls` (a value ANY forces the "any" token; None leaves the kind
        free)."""
        mask = np.ones(self.vocab_size, dtype=bool)
        for kind, value in self._control_values(controls):
            if value is None:
                continue
            ids = self.control_ids[kind]
            if value not in ids:
                raise TokenizerError(f"no control token for value {value} of "
                                     f"{self.vocab.string(ids[ANY])}")
            mask[list(ids.values())] = False
            mask[ids[value]] = True
        return mask

    def controls_of(self, score: Score, *, bars: int = 2,
                    end_tick: int | None = None) -> BarControls:
        """The controls of the last `bars` bars that have notes (before `end_tick` if
        given), measured together: what "follow the prompt" asks of new bars. All ANY for
        a score without notes."""
        score = at_standard_resolution(score)
        step = self.ticks_per_position
        low, high = self.config.pitch_range
        notes = [n for t in score.tracks if not t.is_drum for n in t.notes
                 if low <= n.pitch <= high and (end_tick is None or n.start < end_tick)]
        if not notes:
            return BarControls()
        last = max(n.start for n in notes)
        plan = self._bar_plan(score, last + step, None)
        by_bar: dict[int, list[Note]] = {}
        starts = [bar_start for bar_start, _, _ in plan]
        for note in notes:
            # The bar a note is played in: one a little ahead of a bar line (a pickup, a
            # chord rolled into the downbeat) snaps onto the line but belongs before it.
            by_bar.setdefault(bisect_right(starts, note.start) - 1, []).append(note)
        chosen = sorted(by_bar)
        if len(chosen) > bars and struck_onsets(by_bar[chosen[-1]], step) == 1:
            chosen = chosen[:-1]   # a last bar of one held note or chord ends a phrase
        chosen = chosen[-bars:]
        chosen_notes = [n for bar in chosen for n in by_bar[bar]]
        beats = sum(plan[bar][1] / beat_ticks(plan[bar][2]) for bar in chosen)
        onsets = len({(n.start + step // 2) // step for n in chosen_notes})
        extended = self.config.extended_levels
        measured = BarControls.measure(onsets, [n.pitch for n in chosen_notes], beats, extended)
        # Texture from the notes' own onsets, not the grid's: a dotted figure whose short
        # note shares a grid position with the next one is still one line (a chord's
        # notes, a little apart when played in, still count as one onset).
        # Density likewise: a chord spread over two grid positions is one onset.
        struck = struck_onsets(chosen_notes, step)
        return replace(measured, texture=texture_bin(len(chosen_notes) / struck, extended),
                       density=density_bin(min(onsets, struck) / beats, extended))

    def _per_bar(self, controls: BarControls, shapes: Sequence[BarShape],
                 bar_pitches: Sequence[int]) -> BarControls:
        """`controls` with the per-bar controls of the last of `shapes` (the bar sounding
        `bar_pitches`) filled in, for the kinds the config has."""
        if self.config.use_repeat_controls:
            rhythm, figure = repetition_controls(shapes, len(shapes) - 1)
            controls = replace(controls, rhythm=rhythm, figure=figure)
        if self.config.use_bass_control:
            controls = replace(controls,
                               bass=bass_bin(min(bar_pitches)) if len(bar_pitches) else ANY)
        return controls

    def bar_controls_of(self, score: Score) -> list[BarControls]:
        """The per-bar controls (rhythm, figure, bass; the others ANY) of each bar `encode`
        writes for `score`, as it writes them."""
        ids = self.encode(score)
        kinds = self.kinds
        bars: list[dict[str, int]] = []
        names = {K_RHYTHM: "rhythm", K_FIGURE: "figure", K_BASS: "bass"}
        for token in ids:
            if token == self.bar_id:
                bars.append({})
            elif kinds[token] in names and bars:
                bars[-1][names[kinds[token]]] = self.values[token]
        return [BarControls(**bar) for bar in bars]

    def followed_bar_controls(self, score: Score, end_tick: int) -> dict[int, BarControls]:
        """What "follow the prompt" asks of the per-bar controls of the new bars after
        `score` up to `end_tick` (ticks at 480 per quarter), by the tick each bar starts
        at: the values of the prompt's last bars, up to REPEAT_BACK, in turn (new bar j
        takes those of the prompt's bar a period earlier), so the new bars repeat (or
        not) the way the prompt's do and walk its bass line. A repetition the prompt could
        not show (none, in a bar with fewer than REPEAT_BACK bars before it) is left to
        the model; so is a bar without notes. Empty without per-bar controls."""
        if not (self.config.use_repeat_controls or self.config.use_bass_control):
            return {}
        score = at_standard_resolution(score)
        bars = self.bar_controls_of(score)

        def given(value: int | None, unseen: bool, none: int) -> int | None:
            return None if value is None or value == ANY or (unseen and value == none) \
                else value

        period = [BarControls(None, None, None,
                              given(bar.rhythm, index < REPEAT_BACK, 0),
                              given(bar.figure, index < REPEAT_BACK, FIGURE_NONE),
                              given(bar.bass, False, ANY))
                  for index, bar in enumerate(bars)][-REPEAT_BACK:]
        new_bars = self._bar_plan(score, 0, end_tick)[len(bars):]
        return {start: period[j % len(period)] for j, (start, _, _) in enumerate(new_bars)}

    def fill_mask(self) -> np.ndarray:
        """Mask (vocab_size,) of the tokens a fill may use: no meter change (the hole's
        bars keep the piece's meter), no EOS, no infilling tokens."""
        mask = self.kind_array != K_TIMESIG
        mask[self.eos_id] = False
        mask[list(self.infill_ids)] = False
        return mask

    def onset_mask(self, state: RemiState, earliest: int, sounding: Sequence[int]) -> np.ndarray:
        """Mask (vocab_size,) of tokens that start no note before tick `earliest` and no
        note on a pitch in `sounding` (pitches still ringing at the state's tick). Positions
        before `earliest` are refused too, so the grammar never reaches a dead end."""
        mask = np.ones(self.vocab_size, dtype=bool)
        tick = state.tick
        low = self.config.pitch_range[0]
        pitch_ids = slice(self._pitch_first,
                          self._pitch_first + self.config.pitch_range[1] - low + 1)
        if tick < earliest:
            mask[pitch_ids] = False
            mask[self.kind_array == K_CHORD] = False
        else:
            for pitch in sounding:
                if low <= pitch <= self.config.pitch_range[1]:
                    mask[self._pitch_first + pitch - low] = False
        # positions before earliest
        before = -(-(earliest - state.bar_start) // self.ticks_per_position)
        if before > 0:
            max_positions = self.config.max_bar_quarters * self.config.beat_resolution
            mask[self.position_first:self.position_first + min(before, max_positions)] = False
        return mask

    # ------------------------------------------------------------------ encode
    def _bar_plan(self, score: Score, last_tick: int,
                  end_tick: int | None) -> list[tuple[int, int, tuple[int, int]]]:
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
                    f"tokenizer (bars up to {self.config.max_bar_quarters} quarters"
                    + ("; models trained since bars of up to 16 quarters read longer bars)"
                       if self.config.max_bar_quarters < 16 else ")"))
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
        # Notes as flat token groups (Pitch, [Velocity,] Duration) sorted by position then
        # pitch, computed with numpy: encoding a folder is dominated by this part.
        positions, pitches, groups = self._note_tokens(score)
        width = 3 if c.use_velocity else 2
        notes_at: dict[int, tuple[int, int]] = {}  # position -> [first, last) note index
        onset_positions: list[int] = []
        if positions:
            unique, first = np.unique(np.asarray(positions), return_index=True)
            bounds = np.append(first, len(positions)).tolist()
            onset_positions = unique.tolist()
            notes_at = {p: (bounds[i], bounds[i + 1]) for i, p in enumerate(onset_positions)}
        tempo_at = self._tempo_tokens(score)
        event_positions = sorted(set(notes_at) | set(tempo_at))
        last_tick = event_positions[-1] * step if event_positions else 0

        ids = [self.bos_id]
        meter = None
        index = 0
        shapes: list[BarShape] = []   # the bars so far, for the repetition controls
        for bar_start, length, bar_meter in self._bar_plan(score, last_tick, end_tick):
            ids.append(self.bar_id)
            if bar_meter != meter:
                ids.append(self._signature_ids[bar_meter])
                meter = bar_meter
            first_position, end_position = bar_start // step, (bar_start + length) // step
            if self.control_ids:
                first_onset = bisect_right(onset_positions, first_position - 1)
                end_onset = bisect_right(onset_positions, end_position - 1)
                bar_pitches = (
                    pitches[
                        notes_at[onset_positions[first_onset]][0] : notes_at[
                            onset_positions[end_onset - 1]
                        ][1]
                    ]
                    if end_onset > first_onset
                    else []
                )
                controls = BarControls.measure(end_onset - first_onset, bar_pitches,
                                               length / beat_ticks(bar_meter),
                                               c.extended_levels)
                if c.use_repeat_controls or c.use_bass_control:
                    bar_onsets = onset_positions[first_onset:end_onset]
                    shapes.append(BarShape(
                        end_position - first_position,
                        tuple(p - first_position for p in bar_onsets),
                        tuple(max(pitches[slice(*notes_at[p])]) for p in bar_onsets)))
                    controls = self._per_bar(controls, shapes, bar_pitches)
                ids += self.control_tokens(controls)
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
                    ids += groups[width * first_note:width * end_note]
        if eos:
            ids.append(self.eos_id)
        return ids

    def _tempo_tokens(self, score: Score) -> dict[int, int]:
        """Grid position -> Tempo token id of each tempo written (empty without use_tempo)."""
        c, step = self.config, self.ticks_per_position
        tempo_at: dict[int, int] = {}
        if c.use_tempo:
            # position -> tempo level; the last change on a position wins
            levels: dict[int, int] = {}
            for tick, level in tempo_events(self._tempi, score.tempo_bpm, score.tempo_changes,
                                            c.tempo_tolerance):
                levels[(tick + step // 2) // step] = level
            previous = None
            for position in sorted(levels):
                if levels[position] != previous:
                    tempo_at[position] = self.vocab[f"Tempo_{levels[position]}"]
                    previous = levels[position]
        return tempo_at

    def _note_tokens(self, score: Score) -> tuple[list[int], list[int], list[int]]:
        """(position, pitch) of each pitched note in range, sorted by position, pitch,
        velocity, duration; and their Pitch/[Velocity/]Duration ids as one flat list."""
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
        duration_ids = self._duration_first + durations - 1
        if self._velocity_token is None:
            order = np.lexsort((duration_ids, pitch_ids, positions))
            columns = [pitch_ids[order], duration_ids[order]]
        else:
            velocity_ids = self._velocity_token[np.clip(table[:, 3], 0, 127)]
            order = np.lexsort((duration_ids, velocity_ids, pitch_ids, positions))
            columns = [pitch_ids[order], velocity_ids[order], duration_ids[order]]
        groups = np.stack(columns, axis=1)
        return positions[order].tolist(), table[order, 2].tolist(), groups.ravel().tolist()

    # ------------------------------------------------------------------ decode
    def decode(self, ids: Sequence[int]) -> Score:
        """The Score of a token sequence (any prefix of a valid one decodes). An infilling
        sequence decodes up to its Hole (generation.fill decodes the fill itself)."""
        ids = check_ids(ids, self.vocab_size, self.name)
        grammar = self._grammar
        kinds, values = self.kinds, self.values
        step = self.ticks_per_position
        state = grammar.start()
        notes: list[Note] = []
        meters: list[tuple[int, tuple[int, int]]] = []
        tempi: list[tuple[int, float]] = []
        pitch, velocity = 0, UNENCODED_VELOCITY
        for token in ids:
            kind = kinds[token]
            if kind == K_HOLE:  # an infilling sequence: what follows is not in time order
                break
            if not grammar.allowed(state)[token]:
                continue
            state = grammar.advance(state, token)
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

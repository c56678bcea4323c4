"""Does a continuation pick up the prompt's motif? Figures, and a sampling-time bias.

Figures (issue 41), on notes of one score (ticks at any resolution, bar lines from the
score's meter); `new` is music after the prompt (a model's, or the piece's true bars):
- `rhythm_reuse`: share of the new bars (with notes) whose onset pattern on the 16th grid
  equals the pattern of one of the prompt's bars of the same length;
- `figure_reuse`: share of the new top line's 3-interval figures (top line: the highest
  pitch of each onset) that occur in the prompt's top line;
- `bass_kept`: 1 when the median over bars of each bar's lowest pitch is within
  BASS_BOUND semitones of the prompt's (polyphonic prompts only, else NaN);
- `verbatim_share`: share of the new bars that repeat a prompt bar note for note
  (the same pitches on the same grid positions): looping the prompt is as wrong as
  ignoring it.
Onsets a few milliseconds apart (ONSET_WINDOW_S: a chord played in) count as one onset.

`MotifBias` is the sampling-time side ("Motif: repeat / develop / free"): for REMI
tokenizers it adds to the logits of the tokens that continue the prompt's own material,
bar by bar: each new bar takes a prompt bar as its model (the bar a period earlier), the
Position tokens of that bar's onsets are favoured (its rhythm); the bar's first note is
favoured where the whole model bar, moved there, stays in the prompt's scale (a sequence;
unmoved among the choices only in "repeat", and there only until one new bar has copied a
prompt bar note for note: a bar that starts unmoved after that keeps its model's rhythm but
not its pitches, so "repeat" restates the motif without looping the prompt bar after bar;
in a polyphonic prompt only moves that keep the bar's bass near the prompt's), and once it
is struck, at each onset the model onset's pitches moved by as much, kept in the scale (its
figure and voicing); and for a polyphonic prompt the first pitch of a bar near the
prompt's bass. The boosts move probability within the pitches and within the tokens that
move on; between the two only `voicing` does (an onset gets as many notes as the model
bar's onset has). The generation loop calls `adjust()` on the logits before each draw and
`advance()` after it; nothing else of the loop changes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml_core.music import Note, Score
from ml_core.options import DEFAULT_MOTIF

ONSET_WINDOW_S = 0.035       # onsets closer than this are one onset (a chord played in)
FIGURE_INTERVALS = 3         # a figure: this many successive intervals of the top line
BASS_BOUND = 5               # semitones: the bass is "kept" within this
POLYPHONIC_NPO = 1.2         # a prompt with more notes per onset than this has a bass line
MAX_SHIFT = 7                # semitones a bar's figure may move (a sequence) in MotifBias
MAX_LEAP = 9                 # ... and no further than this from the note before


# ----------------------------------------------------------------------- onsets and bars
def onset_groups(notes: Sequence[Note], score: Score,
                 window_s: float = ONSET_WINDOW_S) -> list[list[Note]]:
    """Notes grouped by onset: a note starting within `window_s` seconds of the group's
    first note joins it (at the score's tempo there), so a chord played in is one onset."""
    groups: list[list[Note]] = []
    first_tick = None
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        if groups and first_tick is not None and \
                note.start - first_tick <= _window_ticks(score, first_tick, window_s):
            groups[-1].append(note)
            continue
        groups.append([note])
        first_tick = note.start
    return groups


def _window_ticks(score: Score, tick: int, window_s: float) -> float:
    return window_s * score.tempo_at(tick) / 60.0 * score.ticks_per_quarter


def merged_notes_per_onset(notes: Sequence[Note], score: Score) -> float:
    """Notes per onset, onsets within ONSET_WINDOW_S counting as one."""
    groups = onset_groups(notes, score)
    return len(notes) / len(groups) if groups else 0.0


@dataclass(frozen=True)
class BarContent:
    """One bar's notes on the 16th grid: its length (16ths), the onset positions, and
    each onset's pitches (sorted)."""

    length: int
    onsets: tuple[tuple[int, tuple[int, ...]], ...]

    @property
    def rhythm(self) -> tuple[int, tuple[int, ...]]:
        return self.length, tuple(p for p, _ in self.onsets)

    @property
    def notes(self) -> tuple[int, tuple[tuple[int, tuple[int, ...]], ...]]:
        return self.length, self.onsets

    @property
    def lowest(self) -> int | None:
        return min((min(p) for _, p in self.onsets), default=None)


def bars_of(notes: Sequence[Note], score: Score, start: int, end: int) -> list[BarContent]:
    """The bars of `score` from the one holding tick `start` up to `end`, with the notes
    of `notes` that start in each (onset groups at their first note's 16th)."""
    sixteenth = score.ticks_per_quarter / 4
    bar_lines = [t for t in score.bar_starts(end) if t < end]
    first = max((i for i, t in enumerate(bar_lines) if t <= start), default=0)
    bar_lines = bar_lines[first:] + [end]
    contents: dict[int, dict[int, set[int]]] = {i: {} for i in range(len(bar_lines) - 1)}
    for group in onset_groups([n for n in notes if bar_lines[0] <= n.start < end], score):
        tick = group[0].start
        index = max(i for i in range(len(bar_lines) - 1) if bar_lines[i] <= tick)
        position = int(round((tick - bar_lines[index]) / sixteenth))
        contents[index].setdefault(position, set()).update(n.pitch for n in group)
    return [BarContent(int(round((bar_lines[i + 1] - bar_lines[i]) / sixteenth)),
                       tuple((p, tuple(sorted(contents[i][p]))) for p in sorted(contents[i])))
            for i in range(len(bar_lines) - 1)]


def top_line(notes: Sequence[Note], score: Score) -> list[int]:
    """The highest pitch of each onset, in time order."""
    return [max(n.pitch for n in group) for group in onset_groups(notes, score)]


def figures(line: Sequence[int], length: int = FIGURE_INTERVALS) -> list[tuple[int, ...]]:
    """Every run of `length` successive intervals of a line of pitches."""
    steps = np.diff(np.asarray(line, dtype=int)).tolist()
    return [tuple(steps[i:i + length]) for i in range(len(steps) - length + 1)]


def _median_bass(bars: Sequence[BarContent]) -> float | None:
    lows = [b.lowest for b in bars if b.lowest is not None]
    return float(statistics.median(lows)) if lows else None


def motif_figures(prompt_notes: Sequence[Note], new_notes: Sequence[Note], score: Score,
                  prompt_end_tick: int, end_tick: int) -> dict[str, float]:
    """rhythm_reuse, figure_reuse, bass_kept, verbatim_share of `new_notes` (after
    `prompt_end_tick`, up to `end_tick`) against `prompt_notes` (see the module
    docstring); NaN where a figure cannot be had (no new bar with notes, a line too short
    for a figure, a single-line prompt's bass)."""
    nan = float("nan")
    prompt_bars = [b for b in bars_of(prompt_notes, score, 0, prompt_end_tick) if b.onsets]
    new_bars = [b for b in bars_of(new_notes, score, prompt_end_tick, end_tick) if b.onsets]
    rhythms = {b.rhythm for b in prompt_bars}
    verbatim = {b.notes for b in prompt_bars}
    result = {"rhythm_reuse": float(np.mean([b.rhythm in rhythms for b in new_bars]))
              if new_bars else nan,
              "verbatim_share": float(np.mean([b.notes in verbatim for b in new_bars]))
              if new_bars else nan}
    known = set(figures(top_line(prompt_notes, score)))
    new_figures = figures(top_line(new_notes, score))
    result["figure_reuse"] = (float(np.mean([f in known for f in new_figures])) if new_figures
                              and known else nan)
    result["bass_kept"] = nan
    if prompt_notes and merged_notes_per_onset(prompt_notes, score) > POLYPHONIC_NPO:
        prompt_bass, new_bass = _median_bass(prompt_bars), _median_bass(new_bars)
        if prompt_bass is not None and new_bass is not None:
            result["bass_kept"] = float(abs(new_bass - prompt_bass) <= BASS_BOUND)
    return result


# ----------------------------------------------------------------------- sampling bias
def _logsumexp(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0
    top = float(finite.max())
    return top + float(np.log(np.exp(finite - top).sum()))


def add_within(out: np.ndarray, row: int, members: np.ndarray, bias: np.ndarray) -> None:
    """Add `bias` to `out[row]` over the tokens `members` (a boolean mask or token ids),
    keeping the probability the group of those tokens had: which member is drawn leans,
    whether the group is drawn does not."""
    if members.dtype == bool:
        members = np.flatnonzero(members)
    if not members.size:
        return
    before = _logsumexp(out[row, members])
    out[row, members] += bias[members]
    out[row, members] -= _logsumexp(out[row, members]) - before


@dataclass(frozen=True)
class MotifStrength:
    """Logit boosts of one Motif mode (0 = off)."""

    rhythm: float = 0.0      # the model bar's next onset position (or the bar line after its last)
    figure: float = 0.0      # the pitch continuing the model bar's top-line interval
    bass: float = 0.0        # a polyphonic prompt's bass: the bar's first pitch near it
    below_bass: float = 0.0  # penalty for pitches well below the prompt's bass
    voicing: float = 0.0     # after a note: move on once the model onset's pitch count is reached,
                             # else add another (the only boost between pitches and moving on)
    unmoved: bool = True     # the bar's model unmoved among its first note's choices (a repeat)
    verbatim_bars: int | None = None   # after this many new bars copied note for note from the
                             # prompt, no more unmoved bars: a bar that starts unmoved all the
                             # same keeps its model's rhythm, not its pitches (None: no limit)


# Chosen on bench/continuation_quality.py (docs/QUALITY.md, "Motif").
MOTIF_STRENGTHS: dict[str, MotifStrength] = {
    "free": MotifStrength(),
    "develop": MotifStrength(rhythm=5.0, figure=8.0, bass=3.0, below_bass=3.0, voicing=5.0,
                             unmoved=False),
    "repeat": MotifStrength(rhythm=8.0, figure=10.0, bass=4.0, below_bass=4.0, voicing=4.0,
                            unmoved=True, verbatim_bars=1),
}


@dataclass
class _Row:
    """Where one sampled row stands in the music: the bar, its model, the onset."""

    bar: int = -1                       # bars opened since generation began
    position: int = -1                  # the current onset's position (grid of the tokenizer)
    onset_pitches: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)   # top line so far (the prompt's first)
    model: int | None = None            # index of the prompt bar this bar follows
    shift: int | None = None            # semitones this bar moves its model by (once known)
    first_pitch_of_bar: bool = True
    bar_onsets: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # this bar's so far
    copies: int = 0                     # new bars so far that copy a prompt bar note for note


# REMI and its track-aware form (whose one-stream continuations are plain REMI)
MOTIF_TOKENIZERS = ("remi", "remi_tracks")


class MotifBias:
    """Additive logit bias toward the prompt's own material (see the module docstring).

    Built by `for_prompt`; None there when the tokenizer is not REMI-like, the mode is
    "free" or the prompt has no bar with notes."""

    def __init__(self, tokenizer: Any, bars: list[BarContent], line: list[int], bass: float | None,
                 scale: frozenset[int] | None, strength: MotifStrength, first_bar: int,
                 rows: int) -> None:
        self.t = tokenizer
        self.bars = bars                  # the prompt's bars on the tokenizer's grid
        self.scale = scale
        self.strength = strength
        self.bass = bass
        self.first_bar = first_bar        # index (in `bars`) the first new bar would have
        kinds = tokenizer.kind_array
        from ml_core.tokenizers.remi import K_BAR, K_PITCH, K_POSITION, K_TIMESIG

        self._k_bar, self._k_pitch, self._k_position, self._k_timesig = (K_BAR, K_PITCH, K_POSITION,
                                                                         K_TIMESIG)
        self.low, self.high = tokenizer.config.pitch_range
        self.pitch_first = int(np.flatnonzero(kinds == K_PITCH)[0])
        # the two groups below as ids: each draw reads a few dozen logits, not the vocabulary
        self._groups = (np.flatnonzero(kinds == K_PITCH),
                        np.flatnonzero((kinds == K_POSITION) | (kinds == K_BAR)))
        self.pitch_ids = kinds == K_PITCH
        self.move_ids = (kinds == K_POSITION) | (kinds == K_BAR)
        self.rows = [_Row(line=list(line)) for _ in range(rows)]
        self._verbatim = {b.onsets for b in bars if b.onsets}   # what a copied bar holds

    @classmethod
    def for_prompt(cls, tokenizer: Any, source: Score, mode: str | None, rows: int,
                   key: tuple[int, str] | None) -> MotifBias | None:
        strength = MOTIF_STRENGTHS.get(mode or DEFAULT_MOTIF, MotifStrength())
        if strength == MotifStrength() or getattr(tokenizer, "name", "") not in MOTIF_TOKENIZERS:
            return None
        notes = [n for t in source.tracks if not t.is_drum for n in t.notes]
        if not notes:
            return None
        last_onset_bar = source.bar_at(max(n.start for n in notes))[0]
        end = source.bar_start(last_onset_bar + 1)
        bars = bars_of(notes, source, 0, end)
        grid = tokenizer.ticks_per_position / (source.ticks_per_quarter / 4)
        if grid != 1:   # a tokenizer grid other than 16ths: positions in its own units
            bars = [BarContent(int(b.length / grid), tuple((int(p / grid), q) for p, q in b.onsets))
                    for b in bars]
        if not any(b.onsets for b in bars):
            return None
        bass = _median_bass([b for b in bars if b.onsets]) \
            if merged_notes_per_onset(notes, source) > POLYPHONIC_NPO else None
        from ml_core.keys import estimate_key, scale_pitch_classes

        key = key or estimate_key(source)
        scale = frozenset(scale_pitch_classes(*key)) if key else None
        return cls(tokenizer, bars, top_line(notes, source), bass, scale, strength, len(bars), rows)

    # -------------------------------------------------------------- the loop's calls
    def _model_bar(self, bar: int, length: int) -> int | None:
        """The prompt bar new bar `bar` (from 0) follows: the bar a period earlier (the
        prompt's bar count), else the nearest earlier prompt bar with notes and the same
        length."""
        count = len(self.bars)
        preferred = (self.first_bar + bar) % count
        for index in [(preferred - back) % count for back in range(count)]:
            if self.bars[index].onsets and self.bars[index].length == length:
                return index
        return None

    def _in_scale(self, pitch: int, previous: int) -> int:
        if self.scale is None or pitch % 12 in self.scale:
            return pitch
        towards = 1 if pitch < previous else -1   # move away from the previous note's side last
        for shift in (towards, -towards):
            if (pitch + shift) % 12 in self.scale:
                return pitch + shift
        return pitch

    def _pitch_id(self, pitch: int) -> int | None:
        return self.pitch_first + pitch - self.low if self.low <= pitch <= self.high else None

    def logits(self, states: Sequence[Any], finished: Sequence[bool]) -> np.ndarray:
        """(rows, vocab) additions to the next token's logits (zeros where nothing is added)."""
        from ml_core.tokenizers.remi import (
            AFTER_BASS,
            AFTER_FIGURE,
            AFTER_NOTE,
            AFTER_POSITION,
            AFTER_REGISTER,
            AFTER_TEMPO,
        )

        s = self.strength
        bias = np.zeros((len(self.rows), self.t.vocab_size), dtype=np.float32)
        self._move_on = np.zeros(len(self.rows), dtype=np.float32)
        for r, (row, state) in enumerate(zip(self.rows, states, strict=True)):
            if finished[r] or row.bar < 0:
                continue
            phase = state.phase
            model = self.bars[row.model] if row.model is not None else None
            if model is not None and s.rhythm and phase in (AFTER_NOTE,
                                                            AFTER_REGISTER, AFTER_TEMPO,
                                                            AFTER_FIGURE, AFTER_BASS):
                later = [p for p, _ in model.onsets if p > state.position]
                if later:
                    if later[0] < state.bar_positions:
                        bias[r, self.t.position_first + later[0]] += s.rhythm
                else:
                    bias[r, self.t.bar_id] += s.rhythm
            if phase in (AFTER_POSITION, AFTER_NOTE, AFTER_TEMPO):
                self._pitch_bias(bias[r], row, model, state)
            if phase == AFTER_NOTE and model is not None and s.voicing:
                voicing = dict(model.onsets).get(state.position)
                if voicing is not None:
                    self._move_on[r] = (s.voicing if len(row.onset_pitches) >= len(voicing)
                                        else -s.voicing)
        return bias

    def adjust(self, logits: np.ndarray, states: Sequence[Any], finished: Sequence[bool],
               masks: np.ndarray) -> np.ndarray:
        """`logits` (rows, vocab) with the bias added *within* each group of tokens: the
        pitches, and the tokens that move on (a Position, the bar line). Each group keeps
        the probability the model gave it (over the tokens `masks` allows), so whether an
        onset gets another note or the music moves on stays the model's choice (texture
        and density), while which pitch or which position leans to the prompt's; only
        `voicing` moves probability between the groups, toward the model onset's size."""
        bias = self.logits(states, finished)
        moving = self._move_on.any()
        if not moving and not bias.any():
            return logits
        out = np.array(logits, dtype=np.float32)
        if moving:
            out[:, self._groups[1]] += self._move_on[:, None]
        for group in self._groups:
            for r in np.flatnonzero(bias[:, group].any(axis=1)):
                add_within(out, r, group[masks[r, group]], bias[r])
        return out

    def _pitch_bias(self, out: np.ndarray, row: _Row, model: BarContent | None, state: Any) -> None:
        s = self.strength
        struck = row.onset_pitches
        if self.bass is not None:
            if s.below_bass:
                low_end = int(self.bass) - BASS_BOUND - 2
                if low_end >= self.low:
                    out[self.pitch_first:self.pitch_first + low_end - self.low + 1] -= s.below_bass
            if s.bass and row.first_pitch_of_bar and not struck:
                for pitch in range(int(round(self.bass)) - 3, int(round(self.bass)) + 4):
                    pitch_id = self._pitch_id(pitch)
                    if pitch_id is not None:
                        out[pitch_id] += s.bass
        if model is None or not s.figure or (row.shift == 0 and not self._may_copy(row)):
            return
        positions = [p for p, _ in model.onsets]
        if state.position not in positions:
            return
        voicing = model.onsets[positions.index(state.position)][1]
        if len(struck) >= len(voicing):
            return
        previous = row.line[-1] if row.line else voicing[0]
        if row.shift is None:
            if struck:
                return
            # The bar's first note: the model bar moved where all of it stays in the scale
            # (a sequence; unmoved among them where the mode allows), not too far from the
            # line so far nor, in a polyphonic prompt, its bass from the prompt's.
            whole = [p for _, q in model.onsets for p in q]
            unmoved = s.unmoved and self._may_copy(row)
            candidates = {voicing[0] + shift for shift in self._shifts(whole, unmoved)
                          if (shift or unmoved)
                          and (not row.line or abs(voicing[-1] + shift - row.line[-1]) <= MAX_LEAP)
                          and (self.bass is None
                               or abs(voicing[0] + shift - self.bass) <= BASS_BOUND)}
        else:
            candidates = {self._in_scale(voicing[len(struck)] + row.shift, previous)}
        for candidate in candidates:
            pitch_id = self._pitch_id(candidate)
            if pitch_id is not None and (not struck or candidate > max(struck)):
                out[pitch_id] += s.figure

    def _may_copy(self, row: _Row) -> bool:
        """Whether this row's bar may still restate its model unmoved (a verbatim copy)."""
        return self.strength.verbatim_bars is None or row.copies < self.strength.verbatim_bars

    def _shifts(self, pitches: Sequence[int], unmoved: bool = True) -> list[int]:
        """Transpositions (semitones, at most MAX_SHIFT) that keep the most of `pitches`
        in the scale; without `unmoved`, the moves that do (a bar on every degree of the
        scale, a chorale's, moves where the fewest notes leave it: the scale takes them
        back in)."""
        if self.scale is None:
            return [0]
        kept = {shift: sum((p + shift) % 12 in self.scale for p in pitches)
                for shift in range(-MAX_SHIFT, MAX_SHIFT + 1) if shift or unmoved}
        best = max(kept.values())
        return [shift for shift, count in kept.items() if count == best]

    def advance(self, tokens: Sequence[int], states: Sequence[Any], skip: Sequence[bool]) -> None:
        """Take the tokens just chosen (per row) and the states they led to (rows where
        `skip` is true did not take theirs)."""
        kinds = self.t.kinds
        for row, token, state, skipped in zip(self.rows, tokens, states, skip, strict=True):
            if skipped:
                continue
            kind = kinds[token]
            if kind == self._k_bar:
                self._close_onset(row)
                if row.bar >= 0 and row.bar_onsets and tuple(row.bar_onsets) in self._verbatim:
                    row.copies += 1
                row.bar_onsets = []
                row.bar += 1
                row.position = -1
                row.first_pitch_of_bar = True
                row.shift = None
            elif kind == self._k_position:
                self._close_onset(row)
                row.position = state.position
            elif kind == self._k_pitch:
                pitch = self.t.values[token]
                if row.shift is None and not row.onset_pitches and row.model is not None:
                    onsets = dict(self.bars[row.model].onsets)
                    if state.position in onsets:
                        row.shift = pitch - onsets[state.position][0]
                row.onset_pitches.append(pitch)
            if kind in (self._k_bar, self._k_timesig) and row.bar >= 0:
                row.model = (self._model_bar(row.bar, state.bar_positions)
                             if state.bar_positions else None)

    @staticmethod
    def _close_onset(row: _Row) -> None:
        if row.onset_pitches:
            row.line.append(max(row.onset_pitches))
            row.bar_onsets.append((row.position, tuple(sorted(set(row.onset_pitches)))))
            row.first_pitch_of_bar = False
        row.onset_pitches = []

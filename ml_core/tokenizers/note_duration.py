"""Note / duration / separator tokens ("Music generation with sequential models", MAESTRO).

A piece becomes `xxbos xxpad n72 d2 n52 d16 n48 d16 n45 d16 xxsep d2 n71 d2 ...`:
every note starting at the current time is its pitch `n<pitch>` followed by its length
`d<steps>`; `xxsep d<steps>` then waits before the next group. One step is a sixteenth
note by default (`steps_per_quarter=4`), so `d16` is a 4/4 bar. Like the paper (and the
musicautobot encoding it uses) a sequence opens with `xxbos xxpad`, and the notes of one
time step are listed from the highest pitch down.

The grammar is the paper's "output filter" made exact: a duration always follows a note
or a separator and nothing else does; within one time step pitches strictly descend (so
no note is doubled); `xxpad` may only stand right after `xxbos`.

Documented limits:
- pitched tracks are merged into one stream (`Score.merged()`); drum tracks are dropped;
- times snap to the step grid (a note keeps at least one step); notes longer than
  `max_duration` steps are cut to it; two notes of one pitch starting on the same step
  become one (the longer);
- velocity, tempo, meter and instruments are not carried: decoding gives velocity 80,
  120 bpm, 4/4 and one piano track, at 480 ticks per quarter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ml_core.music import TICKS_PER_QUARTER, Note, Score, Track
from ml_core.tokenizers import register
from ml_core.tokenizers.base import Tokenizer, TokenizerConfig, TokenizerError, Vocab

DEFAULT_VELOCITY = 80
MAX_SCORE_STEPS = 2_000_000  # refuse absurd lengths (about 69 hours of sixteenths at 120 bpm)
PITCH_COUNT = 128


def pitched_note_steps(score: Score, step_ticks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitch, start step, duration in steps) of every pitched note, snapped to a grid of
    `step_ticks` ticks at 480 per quarter (ties round up; every note keeps >= 1 step).

    Sorted by start, then pitch. Shared by the schemes of part B (note_duration,
    chord_words, frames)."""
    array = score.note_array()
    if score.ticks_per_quarter != TICKS_PER_QUARTER:
        factor = TICKS_PER_QUARTER / score.ticks_per_quarter
        starts = np.round(array["start"] * factor).astype(np.int64)
        ends = np.round((array["start"] + array["duration"]) * factor).astype(np.int64)
    else:
        starts = array["start"].astype(np.int64)
        ends = starts + array["duration"].astype(np.int64)
    drum_tracks = np.array([t.is_drum for t in score.tracks] or [False], dtype=bool)
    pitched = ~drum_tracks[array["track"]] if len(array) else np.zeros(0, dtype=bool)
    half = step_ticks // 2
    start_steps = (starts[pitched] + half) // step_ticks
    end_steps = (ends[pitched] + half) // step_ticks
    durations = np.maximum(end_steps - start_steps, 1)
    pitches = array["pitch"][pitched].astype(np.int64)
    if len(start_steps) and int(start_steps.max() + durations.max()) > MAX_SCORE_STEPS:
        raise TokenizerError(f"score is too long to tokenize (more than {MAX_SCORE_STEPS} steps)")
    order = np.lexsort((pitches, start_steps))
    return pitches[order], start_steps[order], durations[order]


def _steps_config_error(steps_per_quarter: int, max_duration: int, upper: int) -> str | None:
    if not isinstance(steps_per_quarter, int) or not 1 <= steps_per_quarter <= TICKS_PER_QUARTER \
            or TICKS_PER_QUARTER % steps_per_quarter:
        return f"steps_per_quarter must divide {TICKS_PER_QUARTER} (got {steps_per_quarter!r})"
    if not isinstance(max_duration, int) or not 1 <= max_duration <= upper:
        return f"max_duration must be 1..{upper} steps (got {max_duration!r})"
    return None


@dataclass(frozen=True)
class NoteDurationConfig(TokenizerConfig):
    steps_per_quarter: int = 4   # one step = a sixteenth note, as in the paper
    # longest note / wait in steps: 8 bars of 4/4 (musicautobot's limit)
    max_duration: int = 128

    def __post_init__(self) -> None:
        error = _steps_config_error(self.steps_per_quarter, self.max_duration, 4096)
        if error:
            raise TokenizerError(f"bad note_duration config: {error}")


# Grammar phases.
(_START, _AFTER_BOS, _AFTER_PAD, _NEED_NOTE_DURATION, _NEED_WAIT_DURATION, _IN_CHORD,
 _AFTER_WAIT) = range(7)
# Token kinds.
_BOS, _PAD, _SEP, _NOTE, _DURATION = range(5)


class NoteDurationState(NamedTuple):
    tick: int        # absolute time reached, in ticks at 480 per quarter
    phase: int       # one of the _START.._AFTER_WAIT phases
    last_pitch: int  # pitch of the last note in the current time step (128: none yet)


class NoteDurationGrammar:
    """The output filter as a state machine with precomputed masks."""

    def __init__(self, tokenizer: NoteDurationTokenizer) -> None:
        vocab_size = tokenizer.vocab_size
        self._kinds = tokenizer._kinds
        self._values = tokenizer._values
        self._step_ticks = tokenizer.step_ticks
        kinds = np.array(self._kinds)
        notes, durations = kinds == _NOTE, kinds == _DURATION
        sep = kinds == _SEP
        phase_masks = np.zeros((7, vocab_size), dtype=bool)
        phase_masks[_START, tokenizer.bos_id] = True
        phase_masks[_AFTER_BOS] = notes | sep
        phase_masks[_AFTER_BOS, tokenizer.pad_id] = True
        phase_masks[_AFTER_PAD] = notes | sep
        phase_masks[_NEED_NOTE_DURATION] = durations
        phase_masks[_NEED_WAIT_DURATION] = durations
        phase_masks[_AFTER_WAIT] = notes | sep
        # _IN_CHORD: a separator or a lower pitch than the last one; one row per last pitch.
        below = np.zeros((PITCH_COUNT + 1, vocab_size), dtype=bool)
        values = np.array(self._values)
        for last in range(PITCH_COUNT + 1):
            below[last] = sep | (notes & (values < last))
        phase_masks.setflags(write=False)
        below.setflags(write=False)
        self._phase_masks = phase_masks
        self._below = below

    def start(self) -> NoteDurationState:
        return NoteDurationState(0, _START, PITCH_COUNT)

    def allowed(self, state: NoteDurationState) -> np.ndarray:
        if state.phase == _IN_CHORD:
            return self._below[state.last_pitch]
        return self._phase_masks[state.phase]

    def advance(self, state: NoteDurationState, token: int) -> NoteDurationState:
        if not self.allowed(state)[token]:
            raise TokenizerError(f"token {token} is not allowed here by the note_duration grammar")
        kind = self._kinds[token]
        if kind == _NOTE:
            return NoteDurationState(state.tick, _NEED_NOTE_DURATION, self._values[token])
        if kind == _DURATION:
            if state.phase == _NEED_NOTE_DURATION:
                return NoteDurationState(state.tick, _IN_CHORD, state.last_pitch)
            return NoteDurationState(state.tick + self._values[token] * self._step_ticks,
                                     _AFTER_WAIT, PITCH_COUNT)
        if kind == _SEP:
            return NoteDurationState(state.tick, _NEED_WAIT_DURATION, PITCH_COUNT)
        if kind == _BOS:
            return NoteDurationState(state.tick, _AFTER_BOS, PITCH_COUNT)
        return NoteDurationState(state.tick, _AFTER_PAD, PITCH_COUNT)


@register
class NoteDurationTokenizer(Tokenizer):
    """`n<pitch> d<steps>` per note, `xxsep d<steps>` to move on in time."""

    name = "note_duration"
    kind = "token"
    config_class = NoteDurationConfig
    config: NoteDurationConfig

    def __init__(self, config: NoteDurationConfig | None = None) -> None:
        super().__init__(config)
        self.step_ticks = TICKS_PER_QUARTER // self.config.steps_per_quarter
        self.bos_id = self.vocab["xxbos"]
        self.sep_id = self.vocab["xxsep"]
        self._note_base = self.vocab["n0"]
        self._duration_base = self.vocab["d1"] - 1  # id of d<k> is _duration_base + k
        kinds, values = [], []
        for token in self.vocab.tokens:
            if token[0] == "n":
                kinds.append(_NOTE)
                values.append(int(token[1:]))
            elif token[0] == "d":
                kinds.append(_DURATION)
                values.append(int(token[1:]))
            else:
                kinds.append({"xxbos": _BOS, "xxpad": _PAD, "xxsep": _SEP}[token])
                values.append(0)
        self._kinds: list[int] = kinds
        self._values: list[int] = values
        self._grammar: NoteDurationGrammar | None = None

    def _build_vocab(self) -> Vocab:
        return Vocab(["xxbos", "xxpad", "xxsep"]
                     + [f"n{pitch}" for pitch in range(PITCH_COUNT)]
                     + [f"d{steps}" for steps in range(1, self.config.max_duration + 1)])

    @property
    def has_pad(self) -> bool:
        return True

    @property
    def pad_id(self) -> int:
        return self.vocab["xxpad"]  # the paper's padding token stands in for "PAD"

    def grammar(self) -> NoteDurationGrammar:
        if self._grammar is None:
            self._grammar = NoteDurationGrammar(self)
        return self._grammar

    def pitches_of(self, token: int) -> tuple[int, ...]:
        if 0 <= token < self.vocab_size and self._kinds[token] == _NOTE:
            return (self._values[token],)
        return ()

    def encode(self, score: Score) -> list[int]:
        pitches, starts, durations = pitched_note_steps(score, self.step_ticks)
        durations = np.minimum(durations, self.config.max_duration)
        ids = [self.bos_id, self.pad_id]
        note_base, duration_base, sep = self._note_base, self._duration_base, self.sep_id
        longest = self.config.max_duration
        now = 0
        index, count = 0, len(starts)
        pitch_list, start_list, duration_list = (pitches.tolist(), starts.tolist(),
                                                 durations.tolist())
        while index < count:
            step = start_list[index]
            wait = step - now
            while wait > 0:
                chunk = min(wait, longest)
                ids += (sep, duration_base + chunk)
                wait -= chunk
            now = step
            group_end = index
            while group_end < count and start_list[group_end] == step:
                group_end += 1
            # Highest pitch first; a doubled pitch keeps its longest duration.
            chosen: dict[int, int] = {}
            for position in range(index, group_end):
                pitch = pitch_list[position]
                chosen[pitch] = max(chosen.get(pitch, 0), duration_list[position])
            for pitch in sorted(chosen, reverse=True):
                ids += (note_base + pitch, duration_base + chosen[pitch])
            index = group_end
        return ids

    def decode(self, ids: Sequence[int]) -> Score:
        """Notes of a token sequence. Tokens out of place (a duration with nothing to
        measure, a note with no duration at the end of a cut prefix) are skipped."""
        step_ticks, kinds, values = self.step_ticks, self._kinds, self._values
        notes: list[Note] = []
        now = 0
        pending_pitch = -1
        waiting = False
        for token in ids:
            token = int(token)
            if not 0 <= token < self.vocab_size:
                raise TokenizerError(f"token id {token} is outside the note_duration vocabulary "
                                     f"(0..{self.vocab_size - 1})")
            kind = kinds[token]
            if kind == _NOTE:
                pending_pitch, waiting = values[token], False
            elif kind == _SEP:
                pending_pitch, waiting = -1, True
            elif kind == _DURATION:
                if pending_pitch >= 0:
                    notes.append(Note(pending_pitch, now * step_ticks, values[token] * step_ticks,
                                      DEFAULT_VELOCITY))
                elif waiting:
                    now += values[token]
                pending_pitch, waiting = -1, False
        notes.sort()
        return Score([Track("piano", 0, False, notes)])

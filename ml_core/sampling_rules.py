"""The rules Continue and Fill sample under, beside the tokenizer's grammar: the bar
controls forced on new bars (the prompt's, followed, or the musician's), where a
continuation may start (`onset_timing`), no EOS, tempo or meter change (`no_end_mask`), texture 1
kept exactly (`SingleLine`), a pitch struck once per onset (`OnsetTokens`), and the
hooks that lean the logits: the register (`RegisterKeeper`), a fill's pace (`DensityKeeper`).
`ml_core.generation` builds its plans from them; `ml_core.part_schedule` uses the controls.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml_core.motif import add_within, merged_notes_per_onset, onset_groups
from ml_core.music import TICKS_PER_QUARTER, Score
from ml_core.options import GenerationOptions


@dataclass(frozen=True)
class OnsetTokens:
    """The Pitch tokens and the tokens that start a new onset (Position, Bar) of a tokenizer
    that writes onsets on a grid, for the sampling loop's per-onset rules: a pitch struck
    twice at one onset is one note (decoding keeps the first), so a second strike is only a
    way to stall. Without this rule a row could loop on `Pitch_62 Duration_2` at one
    position until the token cap ended the generation bars early (a POP909 piano part, seed
    0: 2,200 strikes of one key, the last 4 of 8 bars empty in every part)."""

    pitches: np.ndarray      # (V,) True for the Pitch tokens
    starts: np.ndarray       # (V,) True for the tokens that start a new onset (Position, Bar)

    @classmethod
    def for_tokenizer(cls, tokenizer) -> OnsetTokens | None:
        tokens = tokenizer.vocab.tokens
        pitches = np.array([t.startswith("Pitch_") for t in tokens])
        starts = np.array([t.startswith("Position_") or t == "Bar" for t in tokens])
        return cls(pitches, starts) if pitches.any() and starts.any() else None


@dataclass(frozen=True)
class SingleLine:
    """Texture 1 kept: once an onset has `limit` pitches, no more at that onset.

    A texture control is a hint the model learned to follow; "a single line stays a single
    line" is a promise, so a row that has struck a pitch at the current position may only
    move on (a new position or bar). Texture 1 also names a melody with a few double stops
    (under 1.5 notes per onset): followed from such music, an onset may have two pitches,
    not more (without the limit the model wrote chords of three under Texture_1 in Fill:
    a Schubert song's fill at 2.9 notes an onset between bars of 1.75). Applied softly, like
    every other mask. (Limiting a followed texture of 2-4 voices to the prompt's fullest
    chord was measured too, and left out: it thinned continuations below the prompt's
    density, docs/QUALITY.md.)"""

    pitches: np.ndarray      # (V,) True for the Pitch tokens
    onsets: np.ndarray       # (V,) True for the tokens that start a new onset (Position, Bar)
    limit: int = 1           # pitches an onset may have

    DOUBLE_STOPS = 2         # the limit after a melody with double stops

    @classmethod
    def for_tokenizer(cls, tokenizer, controls, followed: Score | None = None
                      ) -> SingleLine | None:
        """The limit where `controls` ask for texture 1: one pitch an onset where it was
        asked for or followed from one line, two where it was followed from a melody with
        double stops (`followed` more than one note an onset)."""
        if controls is None or controls.texture != 1:
            return None
        limit = 1
        if followed is not None and merged_notes_per_onset(
                [n for t in followed.tracks if not t.is_drum for n in t.notes], followed) > 1.0:
            limit = cls.DOUBLE_STOPS
        tokens = tokenizer.vocab.tokens
        pitches = np.array([t.startswith("Pitch_") for t in tokens])
        onsets = np.array([t.startswith("Position_") or t == "Bar" for t in tokens])
        return cls(pitches, onsets, limit) if pitches.any() and onsets.any() else None


def followed_controls(tokenizer, prompt: Score, end_tick: int | None = None):
    """The control values "follow the prompt" forces on the new bars of a continuation of
    `prompt` (a REMI `BarControls` of bins; ANY where the prompt says nothing), or None when
    the tokenizer has no controls. The app shows these next to its "follow" choices."""
    if not getattr(tokenizer, "control_ids", None):
        return None
    return tokenizer.controls_of(prompt, end_tick=end_tick)


def chosen_controls(tokenizer, options: GenerationOptions, context: Score, end_tick: int | None):
    """The BarControls to force on new bars, or None when the tokenizer has none."""
    follow = followed_controls(tokenizer, context, end_tick)
    if follow is None:
        return None
    from functools import partial

    from ml_core.tokenizers.remi_controls import (
        ANY,
        BarControls,
        density_bin,
        register_bin,
        texture_bin,
    )

    extended = getattr(tokenizer.config, "extended_levels", False)
    chosen = {}
    for name, binning in (("texture", partial(texture_bin, extended=extended)),
                          ("density", partial(density_bin, extended=extended)),
                          ("register", register_bin)):
        value = getattr(options, name)
        chosen[name] = (getattr(follow, name) if value is None else ANY if value == "any"
                        else binning(value))
    return BarControls(**chosen)


def onset_timing(tokenizer, source: Score) -> Callable[[Any], np.ndarray | None] | None:
    """The per-state mask that makes Continue start where the prompt ends: no onset before
    the notes of the prompt's last onset stop sounding (a chord played in is one onset; the
    sustain pedal holds a released note on), no pitch struck while the prompt sounds it."""
    notes = [n for t in source.tracks if not t.is_drum for n in t.sounding_notes()]
    if not notes or not hasattr(tokenizer, "onset_mask"):
        return None
    earliest = max(n.end for n in onset_groups(notes, source)[-1])
    latest = max(n.end for n in notes)

    def timing(state) -> np.ndarray | None:
        if state.tick >= latest:
            return None  # nothing of the prompt sounds any more
        sounding = [n.pitch for n in notes if n.start <= state.tick < n.end]
        return tokenizer.onset_mask(state, earliest, sounding)
    return timing


def with_bar_controls(tokenizer, source: Score, target: int,
                       timing: Callable[[Any], np.ndarray | None] | None
                       ) -> Callable[[Any], np.ndarray | None] | None:
    """`timing` and the per-bar controls (REMI configs with repetition or bass controls)
    followed from `source` on each new bar up to `target`, as one per-state mask. Bars
    are found by the tick they start at in the prompt's meter (new bars keep it:
    `no_end_mask`)."""
    follow = getattr(tokenizer, "followed_bar_controls", None)
    by_bar = follow(source, target) if follow is not None else {}
    if not by_bar:
        return timing
    masks = {tick: tokenizer.control_mask(controls) for tick, controls in by_bar.items()}

    def combined(state) -> np.ndarray | None:
        own = masks.get(state.bar_start)
        other = timing(state) if timing is not None else None
        return other if own is None else own if other is None else own & other
    return combined


def no_end_mask(tokenizer) -> np.ndarray:
    """Everything but EOS, tempo and meter changes. EOS: the musician asked for a number of
    bars, and a row that ended its piece would only repeat EOS until the token cap. Tempo:
    new notes keep the prompt's tempo (only notes are added to the piece), yet a sampled
    tempo change takes an onset's place: models that learned ritardandos at phrase ends
    (the chorales' fermatas) spent a bar's first beats on `Position Tempo` and wrote nothing
    there (docs/PRESETS.md, link 5). Meter: the new bars keep the prompt's (a `TimeSig`
    token is written only where the meter changes); a sampled `TimeSig_8_2` made the next
    bar four times as long, so the notes fell across the piece's own bar lines and a
    Continue of 2 bars ended after one."""
    mask = np.ones(tokenizer.vocab_size, dtype=bool)
    if "EOS" in tokenizer.vocab:
        mask[tokenizer.vocab["EOS"]] = False
    mask[[index for index, name in enumerate(tokenizer.vocab.tokens)
          if name.startswith(("Tempo_", "TimeSig_"))]] = False
    if hasattr(tokenizer, "one_stream_mask"):   # remi_tracks: one stream stays one stream
        mask &= tokenizer.one_stream_mask()
    return mask


class RegisterKeeper:
    """A logit hook of the sampling loop for Continue: once a row's new notes (MIN_NOTES of
    them) have a median more than SLACK semitones from the median of the prompt's last
    bars, the pitches beyond that median on the side they drifted to lose up to
    `strength` per octave from it (the whole strength from RAMP semitones past the slack).
    The pitches keep the probability the model gave them together (whether the onset
    gets a note stays the model's). The Register control's bins are 7 semitones wide, so a
    melody could drift most of a bin and still obey it: on held-out folk tunes the
    default's continuations left the prompt's register (> 5 semitones) 25% of the time,
    `default-next`'s 42%, the tunes' own next bars 8% (docs/QUALITY.md)."""

    BARS = 2           # the prompt's register: the median pitch of its last bars with notes
    SLACK = 2.0        # semitones the new notes' median may drift before the tilt
    RAMP = 6.0         # ... and beyond it, the drift at which the tilt is full
    MIN_NOTES = 4      # new notes needed before the drift is trusted
    STRENGTH = 6.0     # logit per octave beyond the register, at full tilt

    def __init__(self, tokenizer, target: float, rows: int,
                 strength: float = STRENGTH) -> None:
        self.target = target
        names = tokenizer.vocab.tokens
        self._pitch_ids = np.array([i for i, n in enumerate(names) if n.startswith("Pitch_")])
        self._pitch_of = {int(i): int(names[i].split("_")[1]) for i in self._pitch_ids}
        pitches = np.array([self._pitch_of[int(i)] for i in self._pitch_ids], dtype=float)
        # per direction of drift (index 0 down, 1 up): the bias each pitch gets at full
        # tilt, by how far past the register it lies (in octaves, up to 1)
        away = [np.clip(side * (pitches - target) / 12.0, 0.0, 1.0) for side in (-1, 1)]
        self._full = [(-strength * a).astype(np.float32) if a.any() else None for a in away]
        self.made: list[list[int]] = [[] for _ in range(rows)]   # each row's pitches, sorted

    @classmethod
    def for_prompt(cls, tokenizer, prompt: Score, rows: int, register: Any
                   ) -> RegisterKeeper | None:
        """The keeper where the register follows the prompt (`register` None: no value
        chosen in the Sampling panel) and the prompt has pitched notes; else None."""
        if register is not None or not any(n.startswith("Pitch_")
                                           for n in tokenizer.vocab.tokens):
            return None
        pitched = [t for t in prompt.tracks if not t.is_drum and t.notes]
        if not pitched:
            return None
        end = max(n.start for t in pitched for n in t.notes)
        first_bar = max(0, prompt.bar_at(end)[0] - cls.BARS + 1)
        since = prompt.bar_start(first_bar)
        recent = [n.pitch for t in pitched for n in t.notes if n.start >= since]
        return cls(tokenizer, float(np.median(recent)), rows)

    def adjust(self, logits: np.ndarray, states, finished, masks: np.ndarray) -> np.ndarray:
        out = None
        for row, made in enumerate(self.made):
            count = len(made)
            if finished[row] or count < self.MIN_NOTES:
                continue
            median = made[count // 2] if count % 2 else 0.5 * (made[count // 2 - 1]
                                                               + made[count // 2])
            drift = median - self.target
            tilt = min(1.0, (abs(drift) - self.SLACK) / self.RAMP)
            if tilt <= 0:
                continue
            full = self._full[int(drift > 0)]
            if full is None:      # no pitch lies beyond the register on that side
                continue
            out = np.array(logits, dtype=np.float32) if out is None else out
            bias = np.zeros(out.shape[1], dtype=np.float32)
            bias[self._pitch_ids] = tilt * full
            allowed = self._pitch_ids[masks[row, self._pitch_ids]]
            add_within(out, row, allowed, bias)
        return logits if out is None else out

    def advance(self, tokens, states, skip) -> None:
        for row, token in enumerate(tokens):
            pitch = self._pitch_of.get(int(token))
            if pitch is not None and not skip[row]:
                bisect.insort(self.made[row], pitch)


class DensityKeeper:
    """A fill keeps the density of the bars around it. Where a row's notes so far (at the
    onsets before the current one) run more than `SLACK` below (above) the pace of the bar
    before and the bar after, every Pitch token leans up (down) by up to `STRENGTH` logits,
    and every onset token (Position, or Bar for the bar's end) down (up) by `GAP_WEIGHT`
    times that per beat it lies ahead: more notes at this onset and the next one sooner (or
    fewer and later), the lean full at `RAMP` beyond the slack. The bar controls Fill
    follows are bins: within them the model wrote dense polyphony thin (a Monteverdi
    madrigal filled at 2.1 notes a beat between bars of 2.75 and 3.0: fewer notes an onset
    and fewer onsets), and the pace of notes is what a listener hears as density. The
    pitches among themselves keep the model's odds. Fill uses it where density and texture
    follow the surroundings (not under a value the musician chose, nor "any").
    (docs/QUALITY.md, "Fill keeps its surroundings' pace".)"""

    SLACK = 0.1        # share of the pace below or above the surroundings' before leaning
    RAMP = 0.3         # ... and beyond it, the share at which the lean is full
    MIN_NOTES = 3.0    # notes the pace asks for before a row's own pace is trusted
    STRENGTH = 1.0     # logit added to (taken from) every Pitch token at full lean
    GAP_WEIGHT = 2.0   # ... and, times this, taken from (added to) an onset per beat away
    GAP_BEATS = 4.0    # gaps counted up to this many beats

    def __init__(self, onsets: OnsetTokens, tokenizer, notes_per_tick: float,
                 start_tick: int, rows: int, strength: float | None = None) -> None:
        names = tokenizer.vocab.tokens
        self.pitches, self.is_onset = onsets.pitches, onsets.starts
        # the grid's onset tokens and the position each names (the Bar token: its bar's end)
        self.step = getattr(tokenizer, "ticks_per_position", 0)
        self.onset_ids = np.flatnonzero(onsets.starts)
        self.onset_positions = np.array([int(names[i].split("_")[1]) if names[i] != "Bar"
                                         else -1 for i in self.onset_ids], dtype=np.int64)
        self.rate = notes_per_tick
        self.start_tick = start_tick
        self.strength = self.STRENGTH if strength is None else strength
        self.made = [0] * rows          # notes at the onsets before the current one
        self.current = [0] * rows       # ... and at the current one

    @classmethod
    def for_fill(cls, tokenizer, source: Score, start_bar: int, end_bar: int, rows: int,
                 start_tick: int, onsets: OnsetTokens | None = None) -> DensityKeeper | None:
        """The keeper of a fill of bars `start_bar` .. `end_bar - 1` of `source` (in the
        model's ticks): the pace of its bar before and bar after, those with pitched notes
        (None where neither has any, or the tokenizer has no Pitch and onset tokens).
        `onsets`: the tokenizer's OnsetTokens where the caller has them already."""
        onsets = onsets or OnsetTokens.for_tokenizer(tokenizer)
        sides = [(source.bar_start(max(0, start_bar - 1)), source.bar_start(start_bar)),
                 (source.bar_start(end_bar), source.bar_start(end_bar + 1))]
        notes = [n.start for t in source.tracks if not t.is_drum for n in t.notes]
        counts = [(sum(low <= start < high for start in notes), high - low)
                  for low, high in sides if high > low]
        counts = [(n, ticks) for n, ticks in counts if n]
        if onsets is None or not counts:
            return None
        return cls(onsets, tokenizer, sum(n for n, _ in counts) / sum(t for _, t in counts),
                   start_tick, rows)

    def adjust(self, logits: np.ndarray, states, finished, masks: np.ndarray) -> np.ndarray:
        out = None
        for row, made in enumerate(self.made):
            expected = self.rate * (states[row].tick - self.start_tick)
            if finished[row] or expected < self.MIN_NOTES:
                continue
            share = made / expected
            if abs(share - 1.0) <= self.SLACK:
                continue
            lean = min(1.0, (abs(share - 1.0) - self.SLACK) / self.RAMP)
            lean = (lean if share < 1.0 else -lean) * self.strength
            out = np.array(logits, dtype=np.float32) if out is None else out
            out[row, self.pitches] += lean
            state = states[row]
            if self.step and hasattr(state, "bar_positions"):
                # the next onset nearer (further) the more the row is behind (ahead)
                here = max(state.position, 0)
                targets = np.where(self.onset_positions < 0, state.bar_positions,
                                   self.onset_positions)
                beats = np.clip((targets - here) * self.step / TICKS_PER_QUARTER, 0.0,
                                self.GAP_BEATS)
                out[row, self.onset_ids] -= lean * self.GAP_WEIGHT * beats
        return logits if out is None else out

    def advance(self, tokens, states, skip) -> None:
        for row, token in enumerate(tokens):
            if skip[row]:
                continue
            if self.pitches[int(token)]:
                self.current[row] += 1
            elif self.is_onset[int(token)]:
                self.made[row] += self.current[row]
                self.current[row] = 0


class Hooks:
    """Several logit hooks of the sampling loop (its `motif` slot) as one, in order."""

    def __init__(self, hooks: Sequence[Any]) -> None:
        self.hooks = [h for h in hooks if h is not None]

    def adjust(self, logits: np.ndarray, states: Sequence[Any], finished: Sequence[bool],
               masks: np.ndarray) -> np.ndarray:
        for hook in self.hooks:
            logits = hook.adjust(logits, states, finished, masks)
        return logits

    def advance(self, tokens: Sequence[int], states: Sequence[Any], skip: Sequence[bool]) -> None:
        for hook in self.hooks:
            hook.advance(tokens, states, skip)

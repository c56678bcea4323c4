"""Note / chord / rest words with their durations ("Making Music with LSTMs", vocabulary approach).

Each onset of the piece is one word: `note_60_q1` (one pitch for one quarter),
`chord_60.64.67_q0.5` (a pitch set, lowest first, for an eighth) or `rest_q2`; time moves
on by the word's duration, given in quarter notes as music21 writes quarterLength
(`q0.25` is a sixteenth at the default 4 steps per quarter; off-decimal lengths read
`q1/3`). The vocabulary is learnt from training data: `fit(scores, min_count)` keeps the
note and chord words seen at least `min_count` times.

Unknown words: a note or chord word the vocabulary lacks becomes `unk_q<duration>`, an
unknown pitch set of that duration. It keeps the timing exact (the prompt of a
continuation stays aligned) and decodes to a rest of that duration. The vocabulary
always holds `PAD`, `BOS`, and a `rest_q*` and an `unk_q*` word for every duration from
one step to `max_duration` steps, so an unfitted tokenizer (`get_tokenizer('chord_words')`)
can already encode any timing. `class_weights()` gives loss weights inversely
proportional to each word's frequency in the fitted data, as the paper does.

Documented limits (the word view is a chordify-like reduction):
- pitched tracks are merged (`Score.merged()`); drum tracks are dropped;
- times snap to the step grid; all notes of an onset share one duration (the longest),
  and a note still sounding at the next onset is cut there (the gap after an onset whose
  notes end early becomes a rest word); words longer than `max_duration` are cut and the
  rest of the gap becomes rests;
- velocity, tempo, meter and instruments are not carried: decoding gives velocity 80,
  120 bpm, 4/4 and one piano track, at 480 ticks per quarter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from ml_core.music import TICKS_PER_QUARTER, Note, Score, Track
from ml_core.tokenizers import register
from ml_core.tokenizers.base import Tokenizer, TokenizerConfig, TokenizerError, Vocab
from ml_core.tokenizers.note_duration import (
    DEFAULT_VELOCITY,
    _steps_config_error,
    pitched_note_steps,
)

SPECIAL_WORDS = ("PAD", "BOS")


@dataclass(frozen=True)
class ChordWordsConfig(TokenizerConfig):
    steps_per_quarter: int = 4   # grid of a sixteenth: music21 quarterLengths 0.25, 0.5, ...
    max_duration: int = 32       # longest word in steps: two 4/4 bars; longer gaps split into rests

    def __post_init__(self) -> None:
        error = _steps_config_error(self.steps_per_quarter, self.max_duration, 1024)
        if error:
            raise TokenizerError(f"bad chord_words config: {error}")


def format_quarters(steps: int, steps_per_quarter: int) -> str:
    """A duration in quarter notes as text: `1`, `0.25`, `1.5`, `1/3`."""
    value = Fraction(steps, steps_per_quarter)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text if Fraction(text) == value else f"{value.numerator}/{value.denominator}"


def word_for(pitches: Sequence[int], steps: int, steps_per_quarter: int, length: str = "") -> str:
    """The word of a pitch set (empty: a rest) lasting `steps` grid steps (`length`: that
    duration's text when the caller has it already)."""
    length = length or format_quarters(steps, steps_per_quarter)
    if not pitches:
        return f"rest_q{length}"
    if len(pitches) == 1:
        return f"note_{pitches[0]}_q{length}"
    return f"chord_{'.'.join(str(p) for p in sorted(pitches))}_q{length}"


def parse_word(word: str, steps_per_quarter: int) -> tuple[tuple[int, ...], int]:
    """(pitches, steps) of a note/chord/rest/unk word; TokenizerError if it is not one."""
    try:
        head, _, length = word.rpartition("_q")
        steps_fraction = Fraction(length) * steps_per_quarter
        kind, _, pitch_text = head.partition("_")
        if kind in ("rest", "unk") and not pitch_text:
            pitches: tuple[int, ...] = ()
        elif kind == "note":
            pitches = (int(pitch_text),)
        elif kind == "chord":
            pitches = tuple(int(p) for p in pitch_text.split("."))
            if len(pitches) < 2 or list(pitches) != sorted(set(pitches)):
                raise ValueError("chord pitches must be two or more, rising")
        else:
            raise ValueError("unknown word kind")
    except (ValueError, ZeroDivisionError):
        raise TokenizerError(f"'{word}' is not a chord_words word") from None
    if (steps_fraction.denominator != 1 or steps_fraction <= 0
        or not all(0 <= p <= 127 for p in pitches)):
        raise TokenizerError(f"'{word}' is not a chord_words word on this grid")
    return pitches, int(steps_fraction)


class ChordWordsState(NamedTuple):
    tick: int      # absolute time reached, in ticks at 480 per quarter
    started: bool  # BOS seen


class ChordWordsGrammar:
    """BOS first; then any word after any word (PAD and BOS never again)."""

    def __init__(self, tokenizer: ChordWordsTokenizer) -> None:
        vocab_size = tokenizer.vocab_size
        self._durations = [steps * tokenizer.step_ticks for steps in tokenizer._steps]
        before = np.zeros(vocab_size, dtype=bool)
        before[tokenizer.bos_id] = True
        after = np.ones(vocab_size, dtype=bool)
        after[[tokenizer.pad_id, tokenizer.bos_id]] = False
        before.setflags(write=False)
        after.setflags(write=False)
        self._before, self._after = before, after

    def start(self) -> ChordWordsState:
        return ChordWordsState(0, False)

    def allowed(self, state: ChordWordsState) -> np.ndarray:
        return self._after if state.started else self._before

    def advance(self, state: ChordWordsState, token: int) -> ChordWordsState:
        if not self.allowed(state)[token]:
            raise TokenizerError(f"token {token} is not allowed here by the chord_words grammar")
        return ChordWordsState(state.tick + self._durations[token], True)


@register
class ChordWordsTokenizer(Tokenizer):
    """One word per onset: note, chord or rest with its duration; vocabulary fitted to data."""

    name = "chord_words"
    kind = "token"
    keeps_overlaps = False  # an onset's notes share one length, cut at the next onset
    config_class = ChordWordsConfig
    config: ChordWordsConfig

    def __init__(self, config: ChordWordsConfig | None = None,
                 learned_words: Sequence[str] = (), counts: Sequence[int] | None = None) -> None:
        self._learned_words = list(learned_words)
        super().__init__(config)
        self.step_ticks = TICKS_PER_QUARTER // self.config.steps_per_quarter
        self._length_texts = [""] + [format_quarters(steps, self.config.steps_per_quarter)
                                     for steps in range(1, self.config.max_duration + 1)]
        self._index_vocab()
        if counts is not None and len(counts) != self.vocab_size:
            raise TokenizerError("chord_words counts do not match its vocabulary")
        self._counts = None if counts is None else np.asarray(counts, dtype=np.int64)

    def _index_vocab(self) -> None:
        """Per-id pitch sets and durations of the current vocabulary (after build or fit)."""
        self.bos_id = self.vocab["BOS"]
        self._unk_base = self.vocab[self._unk_word(1)] - 1  # id of the unk word of k steps
        self._pitches: list[tuple[int, ...]] = []
        self._steps: list[int] = []
        for token in self.vocab.tokens:
            pitches, steps = ((), 0) if token in SPECIAL_WORDS else parse_word(
                token, self.config.steps_per_quarter)
            self._pitches.append(pitches)
            self._steps.append(steps)
        self._grammar: ChordWordsGrammar | None = None
        self.__dict__.pop("_pitch_table", None)  # the base class's key_mask cache

    def _unk_word(self, steps: int) -> str:
        return f"unk_q{format_quarters(steps, self.config.steps_per_quarter)}"

    def _build_vocab(self) -> Vocab:
        spq, longest = self.config.steps_per_quarter, self.config.max_duration
        base = list(SPECIAL_WORDS)
        base += [word_for((), steps, spq) for steps in range(1, longest + 1)]
        base += [self._unk_word(steps) for steps in range(1, longest + 1)]
        for word in self._learned_words:
            pitches, steps = parse_word(word, spq)
            if not pitches or steps > longest:
                raise TokenizerError(f"'{word}' cannot be a learned chord_words word")
        return Vocab(base + self._learned_words)

    # ------------------------------------------------------------ words
    def words(self, score: Score) -> list[str]:
        """The piece as words, before any vocabulary lookup (what `fit` counts)."""
        spq = self.config.steps_per_quarter
        texts = self._length_texts
        return [word_for(pitches, steps, spq, texts[steps])
                for pitches, steps in self._word_spans(score)]

    def _word_spans(self, score: Score) -> list[tuple[tuple[int, ...], int]]:
        """(pitch set, steps) per word, rests as empty pitch sets."""
        pitches, starts, durations = pitched_note_steps(score, self.step_ticks)
        longest = self.config.max_duration
        spans: list[tuple[tuple[int, ...], int]] = []

        def rest(steps: int) -> None:
            while steps > 0:
                spans.append(((), min(steps, longest)))
                steps -= longest

        if not len(starts):
            return spans
        onsets, first_index = np.unique(starts, return_index=True)
        # Per onset: its pitch set (already sorted by pitch) and the end of its longest note.
        group_ends = np.maximum.reduceat(starts + durations, first_index).tolist()
        bounds = first_index.tolist() + [len(starts)]
        pitch_list = pitches.tolist()
        onset_list = onsets.tolist()
        rest(onset_list[0])
        for number, onset in enumerate(onset_list):
            group = tuple(dict.fromkeys(pitch_list[bounds[number]:bounds[number + 1]]))
            length = group_ends[number] - onset
            length = min(length, longest)
            if number + 1 < len(onset_list):
                gap = onset_list[number + 1] - onset
                length = min(length, gap)
            else:
                gap = length  # no trailing rests after the last word
            spans.append((group, length))
            rest(gap - length)
        return spans

    def fit(self, scores: Iterable[Score], min_count: int = 1,
            max_words: int | None = None) -> ChordWordsTokenizer:
        """Learn the note/chord vocabulary from `scores` (words seen >= `min_count` times,
        the `max_words` most frequent if given) and the word counts behind `class_weights`."""
        if min_count < 1 or (max_words is not None and max_words < 0):
            raise TokenizerError("min_count must be >= 1 and max_words >= 0")
        counter: Counter[str] = Counter()
        for score in scores:
            counter.update(self.words(score))
        candidates = [(word, count) for word, count in counter.items()
                      if count >= min_count and not word.startswith("rest_")]
        candidates.sort(key=lambda item: (-item[1], item[0]))
        if max_words is not None:
            candidates = candidates[:max_words]
        self._learned_words = [word for word, _ in candidates]
        self.vocab = self._build_vocab()
        self._index_vocab()
        counts = np.zeros(self.vocab_size, dtype=np.int64)
        for word, count in counter.items():
            counts[self._word_id(word)] += count
        self._counts = counts
        return self

    @property
    def is_fitted(self) -> bool:
        return self._counts is not None

    def class_weights(self) -> np.ndarray:
        """(vocab_size,) float32 loss weights, inversely proportional to frequency:
        total / (words seen * count), so every seen word carries the same total weight;
        words never seen weigh as if seen once; PAD 0. Ones (PAD 0) before `fit`."""
        weights = np.ones(self.vocab_size, dtype=np.float64)
        if self._counts is not None and self._counts.sum() > 0:
            seen = int((self._counts > 0).sum())
            weights = self._counts.sum() / (seen * np.maximum(self._counts, 1))
        weights[self.pad_id] = 0.0
        return weights.astype(np.float32)

    def _word_id(self, word: str) -> int:
        token = self.vocab.ids.get(word)
        if token is not None:
            return token
        _, steps = parse_word(word, self.config.steps_per_quarter)
        return self._unk_base + steps

    # ------------------------------------------------------------ Tokenizer
    def grammar(self) -> ChordWordsGrammar:
        if self._grammar is None:
            self._grammar = ChordWordsGrammar(self)
        return self._grammar

    def pitches_of(self, token: int) -> tuple[int, ...]:
        return self._pitches[token] if 0 <= token < self.vocab_size else ()

    def encode(self, score: Score) -> list[int]:
        spq = self.config.steps_per_quarter
        ids = [self.bos_id]
        lookup, texts = self.vocab.ids, self._length_texts
        for pitches, steps in self._word_spans(score):
            word = word_for(pitches, steps, spq, texts[steps])
            token = lookup.get(word)
            ids.append(token if token is not None else self._unk_base + steps)
        return ids

    def decode(self, ids: Sequence[int]) -> Score:
        """Notes of a word sequence; PAD/BOS are skipped, `unk_*` and rests only move time."""
        notes: list[Note] = []
        now = 0
        step_ticks = self.step_ticks
        for token in ids:
            token = int(token)
            if not 0 <= token < self.vocab_size:
                raise TokenizerError(f"token id {token} is outside the chord_words vocabulary "
                                     f"(0..{self.vocab_size - 1})")
            steps = self._steps[token]
            for pitch in self._pitches[token]:
                notes.append(Note(pitch, now * step_ticks, steps * step_ticks, DEFAULT_VELOCITY))
            now += steps
        notes.sort()
        return Score([Track("piano", 0, False, notes)])

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["words"] = list(self._learned_words)
        data["counts"] = None if self._counts is None else self._counts.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChordWordsTokenizer:
        config_data = data.get("config", {})
        words = data.get("words", [])
        counts = data.get("counts")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise TokenizerError("chord_words 'words' must be a list of strings")
        if counts is not None and (not isinstance(counts, list)
                                   or not all(isinstance(c, int) and c >= 0 for c in counts)):
            raise TokenizerError("chord_words 'counts' must be a list of non-negative integers")
        try:
            config = cls.config_class(**config_data)
        except TypeError as error:
            raise TokenizerError(f"bad chord_words tokenizer config: {error}") from None
        return cls(config, words, counts)

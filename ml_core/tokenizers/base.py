"""The common base of every token scheme: vocabulary, encode/decode, grammar.

A tokenizer turns a Score into a list of token ids and back. Its grammar is a small
state machine: `grammar.start()` gives the state before any token, `grammar.allowed(state)`
the boolean mask (vocab_size,) of tokens that may come next, `grammar.advance(state, id)`
the state after a token. Generation samples under `allowed`, so every generated sequence
decodes; `validate(ids)` counts the tokens of an unmasked sequence the grammar forbids.

Every grammar state exposes `state.tick`: the time, in Score ticks (480 per quarter),
from the start of the sequence, that the sequence has reached, so generation can stop
after N bars whatever the scheme. States are small immutable values (one per batch row).

Each scheme also says what survives `decode(encode(score))` through a few class
attributes (`keeps_velocity`, `keeps_time_signature`, `keeps_tempo`, `keeps_drums`,
`keeps_overlaps`, `velocity_levels()`, `tempo_levels()`); the common round-trip tests in
tests/ml_core/test_tokenizers_common.py read them, so a scheme's documented limits are
checked, not just written down.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from ml_core.music import TICKS_PER_QUARTER, Note, Score


class TokenizerError(ValueError):
    """A token sequence or tokenizer config that cannot be used (clear, one-line message)."""


class GrammarState(Protocol):
    tick: int


class Grammar(Protocol):
    def start(self) -> GrammarState: ...
    def allowed(self, state: GrammarState) -> np.ndarray: ...
    def advance(self, state: GrammarState, token: int) -> GrammarState: ...


class Vocab:
    """Id <-> readable string (`Pitch_60`, `Bar`, `Position_4` ...)."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: list[str] = list(tokens)
        self.ids: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            raise TokenizerError("vocabulary has duplicate tokens")

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, token: str) -> int:
        return self.ids[token]

    def __contains__(self, token: str) -> bool:
        return token in self.ids

    def string(self, token_id: int) -> str:
        return self.tokens[token_id]


@dataclass(frozen=True)
class TokenizerConfig:
    """Base of each scheme's small frozen config dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tokenizer(ABC):
    """Base class; one subclass per scheme, each in its own module."""

    name: ClassVar[str]
    config_class: ClassVar[type[TokenizerConfig]]

    # What survives encode -> decode for a Score on a sixteenth grid (the common tests
    # check exactly these; a scheme may override them with properties that read its config).
    keeps_velocity: ClassVar[bool] = False        # velocities come back as velocity_levels()
    keeps_time_signature: ClassVar[bool] = False  # meter and meter changes at bar lines
    keeps_tempo: ClassVar[bool] = False           # tempi come back as tempo_levels()
    keeps_drums: ClassVar[bool] = False           # False: drum tracks are dropped
    keeps_overlaps: ClassVar[bool] = True         # a note may ring across a later onset

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.vocab = self._build_vocab()

    # --- hooks each scheme implements
    @abstractmethod
    def _build_vocab(self) -> Vocab: ...

    @abstractmethod
    def encode(self, score: Score) -> list[int]:
        """Token ids of the score's pitched notes merged into one stream. Starts with BOS
        where the scheme has one and never ends with EOS unless asked (schemes may take
        keyword options such as `eos=True` or `end_tick=`), so a generator can continue it."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> Score: ...

    @abstractmethod
    def grammar(self) -> Grammar: ...

    @abstractmethod
    def pitches_of(self, token: int) -> tuple[int, ...]:
        """MIDI pitches a token sounds (empty for non-pitch tokens); used by stay-in-key."""

    # --- shared behaviour
    def _vocab_from_entries(self, entries: Sequence[tuple[str, int, int]]) -> Vocab:
        """Vocab from (string, kind, value) rows; keeps `kinds` and `values` per token id as
        plain lists (indexing them per token is faster than numpy scalars)."""
        self.kinds = [kind for _, kind, _ in entries]
        self.values = [value for _, _, value in entries]
        return Vocab(name for name, _, _ in entries)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def has_pad(self) -> bool:
        return "PAD" in self.vocab

    @property
    def pad_id(self) -> int:
        if "PAD" not in self.vocab:
            raise TokenizerError(f"the {self.name} vocabulary has no PAD token (see its config)")
        return self.vocab["PAD"]

    def velocity_levels(self) -> tuple[int, ...]:
        """Velocities a decoded note can have (empty when velocity is not encoded)."""
        return ()

    def tempo_levels(self) -> tuple[float, ...]:
        """Tempi (BPM) a decoded Score can have (empty when tempo is not encoded)."""
        return ()

    def tokens_to_strings(self, ids: Sequence[int]) -> list[str]:
        return [self.vocab.string(i) for i in ids]

    def validate(self, ids: Sequence[int]) -> int:
        """Number of tokens the grammar forbids where they stand (0 for a valid sequence).

        A forbidden token is counted and skipped: the state stays as it was."""
        grammar = self.grammar()
        state = grammar.start()
        errors = 0
        for token in ids:
            if not 0 <= token < self.vocab_size or not grammar.allowed(state)[token]:
                errors += 1
                continue
            state = grammar.advance(state, token)
        return errors

    def key_mask(self, pitch_classes: Iterable[int]) -> np.ndarray:
        """Mask (vocab_size,) allowing every token whose pitches all lie in `pitch_classes`."""
        allowed_classes = np.zeros(12, dtype=bool)
        allowed_classes[[int(p) % 12 for p in pitch_classes]] = True
        return self._pitch_mask(lambda pitch: allowed_classes[pitch % 12])

    def range_mask(self, low: int, high: int) -> np.ndarray:
        """Mask (vocab_size,) allowing every token whose pitches all lie in low..high."""
        return self._pitch_mask(lambda pitch: low <= pitch <= high)

    def _pitch_mask(self, allowed: Callable[[int], bool]) -> np.ndarray:
        """Mask (vocab_size,): False for the tokens sounding a pitch `allowed` refuses."""
        mask = np.ones(self.vocab_size, dtype=bool)
        for token, pitches in self._token_pitches().items():
            if not all(allowed(p) for p in pitches):
                mask[token] = False
        return mask

    def _token_pitches(self) -> dict[int, tuple[int, ...]]:
        """The tokens that sound pitches, computed once per tokenizer."""
        table = self.__dict__.get("_pitch_table")
        if table is None:
            table = {}
            for token in range(self.vocab_size):
                pitches = self.pitches_of(token)
                if pitches:
                    table[token] = pitches
            self.__dict__["_pitch_table"] = table
        return table

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer (schemes with a learned vocabulary
        add it here)."""
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        return cls.from_config_dict(data.get("config", {}))

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> Tokenizer:
        if not isinstance(config, dict):
            raise TokenizerError(f"bad {cls.name} tokenizer config: expected a mapping")
        try:
            return cls(cls.config_class(**config))
        except (TypeError, ValueError) as error:
            raise TokenizerError(f"bad {cls.name} tokenizer config: {error}") from None


# --------------------------------------------------------------------------- shared helpers
# Small pieces several schemes use: binning, the meters a vocabulary can name, note lists.

def velocity_levels_for(bins: int) -> tuple[int, ...]:
    """`bins` velocities spread evenly up to 127 (16 bins: 8, 16, ..., 119, 127)."""
    if not 1 <= bins <= 127:
        raise TokenizerError(f"velocity bins must be 1..127, got {bins}")
    return tuple(int(v) for v in np.unique(np.round(np.linspace(127 / bins, 127, bins))))


def tempo_levels_for(bins: int, low: float = 40.0, high: float = 250.0) -> tuple[int, ...]:
    """`bins` whole-number tempi spaced evenly on a log scale over about `low`..`high` BPM,
    anchored so that 120 BPM (the default tempo of MIDI files) is one of them exactly."""
    if not 1 <= bins <= 256:
        raise TokenizerError(f"tempo bins must be 1..256, got {bins}")
    if bins == 1:
        return (120,)
    log_ratio = np.log(high / low) / (bins - 1)
    below = int(round(np.log(120.0 / low) / log_ratio))  # levels under 120
    exponents = np.arange(-below, bins - below)
    return tuple(int(v) for v in np.unique(np.round(120.0 * np.exp(exponents * log_ratio))))


def nearest_level_table(levels: Sequence[float], size: int = 128) -> np.ndarray:
    """Index of the nearest level for each integer value 0..size-1 (a lookup table)."""
    values = np.arange(size, dtype=float)[:, None]
    return np.abs(values - np.asarray(levels, dtype=float)[None, :]).argmin(axis=1)


def nearest_tempo_index(levels: Sequence[float], bpm: float) -> int:
    """Index of the level nearest to `bpm` in ratio (log) terms."""
    logs = np.log(np.asarray(levels, dtype=float))
    return int(np.abs(logs - np.log(max(bpm, 1e-3))).argmin())


def tempo_events(levels: Sequence[float], tempo_bpm: float, changes: Sequence[Any],
                 tolerance: float = 0.0) -> list[tuple[int, int]]:
    """(tick, level) for each tempo a token scheme writes: the piece's tempo at tick 0, then
    each change whose level differs from the last one written. With `tolerance` > 0 a change
    is written only when it departs from the tempo last written by more than that ratio
    (0.1 = 10%): a performance's rubato (a tempo map drifting a few percent around one
    tempo) reads as that one tempo, while a real change of tempo is kept."""
    events: list[tuple[int, int]] = []
    written_bpm = None
    for tick, bpm in [(0, tempo_bpm)] + [(int(c.tick), float(c.bpm)) for c in changes]:
        if written_bpm is not None and tick > 0 and abs(bpm / written_bpm - 1.0) <= tolerance:
            continue
        level = int(levels[nearest_tempo_index(levels, bpm)])
        if tick == 0 and events:   # a change at tick 0 replaces the piece's tempo
            events.pop()
            written_bpm = None
        if events and events[-1][1] == level:
            continue
        events.append((tick, level))
        written_bpm = bpm
    return events


def time_signatures_for(max_bar_quarters: int,
                        ticks_per_step: int = 1) -> tuple[tuple[int, int], ...]:
    """The meters a vocabulary names: n/2, n/4, n/8, n/16 with 1 <= n <= 16, bars at most
    `max_bar_quarters` long, and a bar length that is a whole number of `ticks_per_step`;
    vocabularies with bars over 8 quarters also name n/1 (4/1), after the others (the
    vocabularies of stored 8-quarter configs stay as they were)."""
    signatures = []
    for denominator in (2, 4, 8, 16) + ((1,) if max_bar_quarters > 8 else ()):
        for numerator in range(1, 17):
            length = numerator * TICKS_PER_QUARTER * 4 // denominator
            if length <= max_bar_quarters * TICKS_PER_QUARTER and length % ticks_per_step == 0:
                signatures.append((numerator, denominator))
    return tuple(signatures)


def pitched_notes(score: Score, pitch_range: tuple[int, int] | None = None) -> list[Note]:
    """All notes of the pitched tracks at 480 ticks per quarter, sorted by (start, pitch);
    drums are left out, and so are pitches outside `pitch_range` (inclusive) if given."""
    if score.ticks_per_quarter != TICKS_PER_QUARTER:
        score = score.resampled(TICKS_PER_QUARTER)
    notes = [n for track in score.tracks if not track.is_drum for n in track.notes]
    if pitch_range is not None:
        low, high = pitch_range
        notes = [n for n in notes if low <= n.pitch <= high]
    notes.sort()
    return notes


def at_standard_resolution(score: Score) -> Score:
    """The score at 480 ticks per quarter (itself when it already is)."""
    if score.ticks_per_quarter == TICKS_PER_QUARTER:
        return score
    return score.resampled(TICKS_PER_QUARTER)


def check_ids(ids: Sequence[int], vocab_size: int, name: str) -> list[int]:
    """The ids as a list of ints, or TokenizerError naming the first one out of range."""
    result = [int(i) for i in ids]
    for token in result:
        if not 0 <= token < vocab_size:
            raise TokenizerError(f"token id {token} is outside the {name} vocabulary "
                                 f"(0..{vocab_size - 1})")
    return result


def check_pitch_range(pitch_range: Sequence[int]) -> tuple[int, int]:
    if len(pitch_range) != 2:
        raise TokenizerError(f"pitch_range must be (low, high), got {pitch_range!r}")
    low, high = int(pitch_range[0]), int(pitch_range[1])
    if not 0 <= low <= high <= 127:
        raise TokenizerError(f"pitch_range must lie within 0..127 with low <= high, got "
                             f"{pitch_range!r}")
    return low, high


def check_event_config(config: Any) -> None:
    """The checks REMI and MIDI-like configs share: pitch range (normalised in place),
    a beat resolution dividing 480, the longest bar, velocity and tempo bins."""
    object.__setattr__(config, "pitch_range", check_pitch_range(config.pitch_range))
    if not 1 <= config.beat_resolution <= 48 or TICKS_PER_QUARTER % config.beat_resolution:
        raise TokenizerError(f"beat_resolution must divide 480 (1..48), got "
                             f"{config.beat_resolution}")
    if not 1 <= config.max_bar_quarters <= 32:
        raise TokenizerError(f"max_bar_quarters must be 1..32, got {config.max_bar_quarters}")
    velocity_levels_for(config.velocity_bins)
    tempo_levels_for(config.tempo_bins)

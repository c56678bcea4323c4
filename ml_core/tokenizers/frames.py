"""Frame representations for frame models: a piece as a (time steps, keys, ...) array.

- `pianoroll` ("Deep Dive", "Deep Musician"): (T, 88) multi-hot over the piano keys
  21..108, one frame per sixteenth by default. Decoding joins consecutive on-frames of a
  key into one note, so two repeated notes with no gap merge into one (a limit); with
  `onsets=True` the array is (T, 88, 2) = [sustain, onset] and repeated notes round-trip.
- `note_state` ("Making Music with LSTMs", Johnson's bi-axial LSTM): (T, 78, 2) over
  MIDI 24..101 with [play, articulate] per step; articulate marks a note (re)struck on
  that step, so repeated notes round-trip.

Decoding thresholds at 0.5: a key sounds where its first channel is >= 0.5 and a new
note starts where it sounds after silence or where its second channel is >= 0.5 too.
An onset/articulate bit on a silent key is ignored (the paper's "a rest cannot be
sustained" combination). Any array of the right shape with finite values decodes.

Documented limits: pitched tracks merge and drums are dropped; notes outside the key
range are dropped; times snap to the frame grid (a note keeps at least one frame);
velocity, tempo and meter are not carried (decoding gives velocity 80, 120 bpm, 4/4,
one piano track, 480 ticks per quarter).

    representation = get_representation("pianoroll", onsets=True)
    array = representation.encode(score); score = representation.decode(array)
"""

from __future__ import annotations

from abc import ABC
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ml_core.music import TICKS_PER_QUARTER, Note, Score, Track
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.note_duration import DEFAULT_VELOCITY, pitched_note_steps

MAX_FRAMES = 200_000  # refuse longer pieces: about 7 hours of sixteenths at 120 bpm


@dataclass(frozen=True)
class FrameConfig:
    """Base of each representation's small frozen config."""

    steps_per_quarter: int = 4  # one frame = a sixteenth note (16 per 4/4 bar, as both papers)

    def __post_init__(self) -> None:
        spq = self.steps_per_quarter
        if not isinstance(spq, int) or not 1 <= spq <= TICKS_PER_QUARTER or TICKS_PER_QUARTER % spq:
            raise TokenizerError(f"steps_per_quarter must divide {TICKS_PER_QUARTER} (got {spq!r})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FrameRepresentation(ABC):
    """A piece <-> float32 array (T, *feature_shape); one subclass per representation."""

    name: ClassVar[str]
    kind: ClassVar[str] = "frame"
    config_class: ClassVar[type[FrameConfig]] = FrameConfig
    lowest_pitch: ClassVar[int]
    key_count: ClassVar[int]

    def __init__(self, config: FrameConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()

    @property
    def step_ticks(self) -> int:
        """Ticks (at 480 per quarter) per frame."""
        return TICKS_PER_QUARTER // self.config.steps_per_quarter

    @property
    def with_onsets(self) -> bool:
        return True

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.key_count, 2) if self.with_onsets else (self.key_count,)

    @property
    def pitch_range(self) -> tuple[int, int]:
        """Lowest and highest MIDI pitch (inclusive) the keys cover."""
        return self.lowest_pitch, self.lowest_pitch + self.key_count - 1

    def encode(self, score: Score) -> np.ndarray:
        """(T, *feature_shape) float32 of 0/1; T = frames up to the last note's end."""
        pitches, starts, durations = pitched_note_steps(score, self.step_ticks)
        keys = pitches - self.lowest_pitch
        inside = (keys >= 0) & (keys < self.key_count)
        keys, starts, durations = keys[inside], starts[inside], durations[inside]
        frames = int((starts + durations).max()) if len(keys) else 0
        if frames > MAX_FRAMES:
            raise TokenizerError(f"score is too long for a {self.name} ({frames} frames, "
                                 f"at most {MAX_FRAMES})")
        sustain = np.zeros((frames + 1, self.key_count), dtype=np.float32)
        # Mark +1 at each start and -1 at each end, then a running sum says what sounds.
        np.add.at(sustain, (starts, keys), 1.0)
        np.add.at(sustain, (starts + durations, keys), -1.0)
        sustain = (np.cumsum(sustain, axis=0)[:frames] > 0).astype(np.float32)
        if not self.with_onsets:
            return sustain
        onset = np.zeros((frames, self.key_count), dtype=np.float32)
        onset[starts, keys] = 1.0
        return np.stack([sustain, onset], axis=-1)

    def decode(self, array: np.ndarray) -> Score:
        """Notes of a (T, *feature_shape) array thresholded at 0.5."""
        array = np.asarray(array)
        if array.ndim != 1 + len(self.feature_shape) or array.shape[1:] != self.feature_shape:
            raise TokenizerError(f"{self.name} array must have shape (T, "
                                 f"{', '.join(map(str, self.feature_shape))}), got {array.shape}")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise TokenizerError(f"{self.name} array must be numeric, got {array.dtype}")
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise TokenizerError(f"{self.name} array contains NaN or infinite values")
        if self.with_onsets:
            sounding, struck = array[..., 0] >= 0.5, array[..., 1] >= 0.5
        else:
            sounding, struck = array >= 0.5, None
        return Score([Track("piano", 0, False,
                            notes_from_frames(sounding, struck, self.lowest_pitch,
                                              self.step_ticks))])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameRepresentation:
        return cls.from_config_dict(data.get("config", {}))

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> FrameRepresentation:
        try:
            return cls(cls.config_class(**config))
        except TypeError as error:
            raise TokenizerError(f"bad {cls.name} representation config: {error}") from None


def notes_from_frames(sounding: np.ndarray, struck: np.ndarray | None, lowest_pitch: int,
                      step_ticks: int) -> list[Note]:
    """Notes of boolean (T, keys) arrays: a note starts where a key sounds after silence
    (or where `struck` is set while it sounds) and lasts while it sounds unstruck."""
    frames, keys = sounding.shape
    previous = np.zeros_like(sounding)
    previous[1:] = sounding[:-1]
    starts = sounding & ~previous
    if struck is not None:
        starts |= sounding & struck
    stops = ~sounding | starts
    # Lay each key out as one row of T+1 cells whose last cell always stops a note; a
    # note runs from its start to the first stop after it in the same row.
    row_starts = np.zeros((keys, frames + 1), dtype=bool)
    row_starts[:, :frames] = starts.T
    row_stops = np.ones((keys, frames + 1), dtype=bool)
    row_stops[:, :frames] = stops.T
    start_positions = np.flatnonzero(row_starts)
    stop_positions = np.flatnonzero(row_stops)
    end_positions = stop_positions[np.searchsorted(stop_positions, start_positions, side="right")]
    key_of, frame_of = np.divmod(start_positions, frames + 1)
    lengths = end_positions - start_positions
    notes = [Note(lowest_pitch + key, frame * step_ticks, length * step_ticks, DEFAULT_VELOCITY)
             for key, frame, length in zip(key_of.tolist(), frame_of.tolist(),
                                           lengths.tolist(), strict=True)]
    notes.sort()
    return notes


@dataclass(frozen=True)
class PianorollConfig(FrameConfig):
    onsets: bool = False  # add an onset channel: (T, 88, 2), so repeated notes stay apart

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.onsets, bool):
            raise TokenizerError(f"onsets must be true or false (got {self.onsets!r})")


_REPRESENTATIONS: dict[str, type[FrameRepresentation]] = {}


def register_representation(cls: type[FrameRepresentation]) -> type[FrameRepresentation]:
    _REPRESENTATIONS[cls.name] = cls
    return cls


@register_representation
class PianorollRepresentation(FrameRepresentation):
    """88-key multi-hot piano roll, optionally with an onset channel."""

    name = "pianoroll"
    config_class = PianorollConfig
    config: PianorollConfig
    lowest_pitch = 21
    key_count = 88

    @property
    def with_onsets(self) -> bool:
        return self.config.onsets


@register_representation
class NoteStateRepresentation(FrameRepresentation):
    """Note-state matrix: 78 notes x [play, articulate] per step."""

    name = "note_state"
    lowest_pitch = 24
    key_count = 78


def representation_names() -> list[str]:
    return sorted(_REPRESENTATIONS)


def get_representation(name: str, **config: Any) -> FrameRepresentation:
    if name not in _REPRESENTATIONS:
        raise TokenizerError(f"unknown frame representation '{name}' "
                             f"(choose from {', '.join(representation_names())})")
    return _REPRESENTATIONS[name].from_config_dict(config)


def representation_from_dict(data: dict[str, Any]) -> FrameRepresentation:
    """Rebuild a representation from `FrameRepresentation.to_dict()` output."""
    if not isinstance(data, dict) or data.get("name") not in _REPRESENTATIONS:
        raise TokenizerError("not a frame representation description "
                             f"(name must be one of {', '.join(representation_names())})")
    return _REPRESENTATIONS[data["name"]].from_dict(data)

"""A Continue or Fill job and what its worker reports back, as plain values.

`ContinueJob` is what the panel asks for (model, device, prompt, `GenerationOptions`,
where the notes go and the room they make); `ContinueProgress` and `ContinueResult` are
the worker's messages, in document ticks. `MakeRoom` is the typed choice of what a
job's notes do to the notes already there (`composer_app.document.make_room` applies it).
Qt-free: the worker (a Qt module) imports these, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ml_core.music import Note, Score
from ml_core.options import GenerationOptions


class RoomKind(Enum):
    REPLACE = "replace"   # continuing at a tick: the track's notes up to the new end go
    SHIFT = "shift"       # continuing at a tick: everything after it moves later by whole bars
    SPAN = "span"         # Fill: the track's notes starting inside the span go


@dataclass(frozen=True)
class MakeRoom:
    """What the generated notes replace, shift or cut (`Document.add_generated`).

    REPLACE and SHIFT continue at `start` (a note of the track still sounding there is
    cut at `start`); SPAN removes the track's notes starting in `start`..`end`-1."""

    kind: RoomKind
    start: int
    end: int | None = None

    def __post_init__(self) -> None:
        if (self.kind is RoomKind.SPAN) != (self.end is not None):
            raise ValueError("a span has an end; replace and shift have none")

    @classmethod
    def replace(cls, tick: int) -> MakeRoom:
        return cls(RoomKind.REPLACE, tick)

    @classmethod
    def shift(cls, tick: int) -> MakeRoom:
        return cls(RoomKind.SHIFT, tick)

    @classmethod
    def span(cls, start: int, end: int) -> MakeRoom:
        return cls(RoomKind.SPAN, start, end)

    @property
    def replaced_span(self) -> tuple[int, int] | None:
        """(start, end) of the notes a Fill replaces; None when continuing."""
        return (self.start, self.end) if self.end is not None else None


TARGETS = (("active", "Active track"), ("all", "All audible tracks"))   # Continue's target
PART_ROLES = (("bass", "Bass"), ("harmony", "Harmony / pad"), ("counter", "Counter-melody"),
              ("program", "A chosen instrument"))


@dataclass(frozen=True)
class PartRequest:
    """Add part: a new track named `name` playing `program` in the role `role` ("bass",
    "harmony", "counter"; "program": the instrument's own family) over bars `bars`
    (first, end) from 0, or the whole piece (None)."""

    role: str
    program: int
    name: str
    bars: tuple[int, int] | None = None


@dataclass(frozen=True)
class ContinueJob:
    """What to continue, with which model and options.

    `prompt` starts at tick 0; `offset` is where tick 0 of the prompt lies in the document,
    added back to every generated note. `options` are the `GenerationOptions` (from the
    torch-free `ml_core.options`); the worker sets their device to the one it resolved.

    A Fill job (`fill_bars=(start, end)`) regenerates those bars of `prompt` (the whole
    piece, offset 0) with `ml_core.generation.fill` instead of continuing it."""

    bundle_path: Path
    device: str
    prompt: Score
    options: GenerationOptions
    offset: int = 0
    track: int = 0
    make_room: MakeRoom | None = None   # what the added notes replace, shift or cut
    fill_bars: tuple[int, int] | None = None   # Fill: bars start..end-1 (from 0) of the prompt
    target: str = "active"   # Continue: the active track, or "all" audible pitched tracks
    part: PartRequest | None = None   # Add part: the new track (index `track`) to write

    @property
    def kind(self) -> str:
        """"fill", "part" or "continue": what the job does (and its undo step is called)."""
        if self.part is not None:
            return "part"
        return "fill" if self.fill_bars is not None else "continue"


@dataclass
class ContinueProgress:
    """A snapshot of a running job, in document ticks."""

    job: ContinueJob
    new_notes: list[list[Note]]      # per variation
    confidences: list[list[float]]   # per variation: probability of each sampled token
    tokens_generated: int
    fraction: float


@dataclass
class ContinueResult:
    """The end of a job: the continuation of every variation, in document ticks."""

    job: ContinueJob
    new_notes: list[list[Note]]
    confidences: list[list[float]]
    tokens_generated: int
    cancelled: bool
    device: str = "cpu"
    seconds: float = 0.0
    scores: list[Score] = field(default_factory=list)
    # per variation, the track of each new note (parallel to new_notes); empty: all in
    # the job's track
    note_tracks: list[list[int]] = field(default_factory=list)

    @property
    def variation_count(self) -> int:
        return len(self.new_notes)

    def by_track(self, notes: list[Note]) -> dict[int, list[Note]]:
        """`notes` (some of this result's own new notes, e.g. a comp's) per track index."""
        if not self.note_tracks:
            return {self.job.track: list(notes)} if notes else {}
        track_of = {id(note): track for row, tracks in zip(self.new_notes, self.note_tracks,
                                                           strict=True)
                    for note, track in zip(row, tracks, strict=True)}
        split: dict[int, list[Note]] = {}
        for note in notes:
            split.setdefault(track_of.get(id(note), self.job.track), []).append(note)
        return split

"""A capture of a Document's contents that any thread may read (`Document.snapshot`)."""

from __future__ import annotations

from dataclasses import dataclass

from composer_app.document.commands import Entry
from composer_app.document.tracks import TrackInfo
from ml_core.music import Score


@dataclass(frozen=True)
class Snapshot:
    """A capture of a Document's notes, flags, tracks and meter (`Document.snapshot`); its
    `score()` is what `Document.score()` was then, and may be built on any thread."""

    notes: dict[int, Entry]
    generated: frozenset[int]
    tracks: tuple[TrackInfo, ...]
    meta: Score

    def score(self, include_generated: bool = False,
              tracks_wanted: list[bool] | None = None) -> Score:
        tracks = [t.as_track() for t in self.tracks]
        for note_id, (track, note) in self.notes.items():
            if tracks_wanted is not None and not tracks_wanted[track]:
                continue
            if include_generated or note_id not in self.generated:
                tracks[track].notes.append(note)
        return self.meta.with_tracks(tracks).sort()

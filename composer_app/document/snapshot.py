"""A capture of a Document's contents that any thread may read (`Document.snapshot`)."""

from __future__ import annotations

from dataclasses import dataclass

from composer_app.document.commands import Entry
from composer_app.document.tracks import TrackInfo
from ml_core.music import Score, Track


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
        tracks = [Track(t.name, t.program, t.is_drum, []) for t in self.tracks]
        for note_id, (track, note) in self.notes.items():
            if tracks_wanted is not None and not tracks_wanted[track]:
                continue
            if include_generated or note_id not in self.generated:
                tracks[track].notes.append(note)
        meta = self.meta
        return Score(tracks, meta.tempo_bpm, meta.time_signature, meta.ticks_per_quarter,
                     list(meta.tempo_changes), list(meta.time_signature_changes)).sort()

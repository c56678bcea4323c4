"""The sustain pedal in playback: the CC64 events a schedule carries. Qt-free.

A track's `pedal` spans (as a file brought them) become pedal-down (CC64 127) at each
span's start and pedal-up (CC64 0) at its end, on the track's synth channel; drum tracks
and tracks with no note to sound (a muted track plays empty) get none. Overlapping spans
of one track are one span; spans that only touch stay two (a re-pedal: up, then down).
A span starting after the track's last note has ended holds nothing and is left out, so
the piece ends where its last sound is released (`pedal_end_seconds`).

Within one instant the events go as a DAW plays the saved file (`ml_core.midi_io` writes
them so): pedal-ups, note-offs, pedal-downs, note-ons. A note released exactly where the
pedal goes down is not held; a re-pedal lets the notes held so far ring out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ml_core.midi_io import SUSTAIN_PEDAL
from ml_core.music import PedalSpan, Score

SUSTAIN = SUSTAIN_PEDAL   # the sustain (damper) pedal's controller number, as files carry it
PEDAL_DOWN = 127
PEDAL_UP = 0


def merged_spans(spans: Sequence[PedalSpan]) -> list[tuple[int, int]]:
    """(start, end) ticks of `spans` in order, overlapping ones as one; empty ones dropped."""
    merged: list[list[int]] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        start, end = max(0, span.start), span.end
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


@dataclass(frozen=True)
class PedalEvents:
    """Pedal events of a whole score, parallel arrays: when, which channel, down or up."""

    seconds: np.ndarray   # float64
    channel: np.ndarray   # int64
    down: np.ndarray      # bool

    @classmethod
    def none(cls) -> PedalEvents:
        return cls(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool))


def pedal_events(score: Score, channels: Sequence[int], note_tracks: np.ndarray,
                 note_ends: np.ndarray,
                 seconds_of: Callable[[np.ndarray], np.ndarray]) -> PedalEvents:
    """The pedal events of `score`'s tracks on their `channels`. `note_tracks` and
    `note_ends` (seconds) are the scheduled notes' track indices and releases;
    `seconds_of(ticks)` is the score's tempo map (`audio.TempoMap.seconds`)."""
    times, event_channels, downs = [], [], []
    for index, (track, channel) in enumerate(zip(score.tracks, channels, strict=True)):
        if track.is_drum or not track.pedal:
            continue
        ends = note_ends[note_tracks == index]
        if not len(ends):
            continue
        spans = np.array(merged_spans(track.pedal), dtype=np.int64).reshape(-1, 2)
        starts, stops = seconds_of(spans[:, 0]), seconds_of(spans[:, 1])
        holding = starts < ends.max()
        for at, down in ((starts[holding], True), (stops[holding], False)):
            times.append(at)
            event_channels.append(np.full(len(at), channel, np.int64))
            downs.append(np.full(len(at), down))
    if not times:
        return PedalEvents.none()
    return PedalEvents(np.concatenate(times), np.concatenate(event_channels),
                       np.concatenate(downs))


def pedal_end_seconds(events: PedalEvents) -> float:
    """When the last pedal comes up (0 without pedal)."""
    return float(events.seconds[~events.down].max()) if (~events.down).any() else 0.0


def held_channels(seconds: np.ndarray, channel: np.ndarray, pedal: np.ndarray, at: float, *,
                  including_at: bool) -> list[int]:
    """The channels whose pedal is down at `at` seconds, from a schedule's rows (`pedal`: the
    CC64 value, -1 on note rows): by the events before `at`, or with `including_at` also
    those at `at` (when they have been sent already)."""
    rows = np.flatnonzero(pedal >= 0)
    if not len(rows):
        return []
    side = "right" if including_at else "left"
    count = int(np.searchsorted(seconds[rows], at, side=side))
    state: dict[int, bool] = {}
    for row in rows[:count].tolist():
        state[int(channel[row])] = bool(pedal[row] > 0)
    return sorted(c for c, down in state.items() if down)

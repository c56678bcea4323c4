"""The metronome: click notes on every beat of the piece's meter, as a drum track.

Qt-free. Beats follow the time signature (and its changes): a click on each beat of the
denominator's unit (quarter in 4/4 and 3/4, eighth in 6/8), a louder, higher click on the
first beat of each bar. The player mixes this track into what it plays.
"""

from __future__ import annotations

from ml_core.music import Note, Score, Track

ACCENT_PITCH = 76     # GM Hi Wood Block: the bar's first beat
BEAT_PITCH = 77       # GM Low Wood Block: the other beats
ACCENT_VELOCITY = 120
BEAT_VELOCITY = 90
CLICK_TICKS = 60


def click_ticks(meter: Score, end_tick: int) -> list[tuple[int, bool]]:
    """(tick, is the bar's first beat) of every beat from 0 up to `end_tick`."""
    clicks = []
    bar = 0
    while True:
        start = meter.bar_start(bar)
        if start >= end_tick:
            break
        numerator, denominator = meter.time_signature_at(start)
        beat = meter.ticks_per_quarter * 4 // denominator
        for index in range(numerator):
            tick = start + index * beat
            if tick >= end_tick:
                break
            clicks.append((tick, index == 0))
        bar += 1
    return clicks


def metronome_track(meter: Score, end_tick: int) -> Track:
    """A drum track of clicks covering 0..`end_tick`."""
    notes = [Note(ACCENT_PITCH if accent else BEAT_PITCH, tick, CLICK_TICKS,
                  ACCENT_VELOCITY if accent else BEAT_VELOCITY)
             for tick, accent in click_ticks(meter, end_tick)]
    return Track("Metronome", 0, True, notes)


def with_metronome(score: Score, end_tick: int | None = None) -> Score:
    """`score` plus a metronome track (to its end, or `end_tick`)."""
    end = score.end_tick if end_tick is None else end_tick
    copy = score.copy()
    copy.tracks.append(metronome_track(score, end))
    return copy

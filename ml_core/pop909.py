"""POP909 songs (MIT license; Wang et al., ISMIR 2020) as scores with their true bars.

Each song folder `NNN/` holds `NNN.mid` (tracks MELODY, BRIDGE, PIANO) and
`beat_midi.txt`: one row per beat, its time in seconds, then 1/0 marks (the third column
marks the downbeats). The MIDI files declare a meter that is not the music's and their
tempo grid can sit off the beats by a fraction of a beat, so the file's own bars are
useless: `read_song` re-times every note from seconds onto the annotated beats (piecewise
linear between beats), makes a bar of every span between two downbeats (its length in
beats gives the meter: 4/4, 3/4, 2/4...), starts the score at the bar that holds the first
note, and writes a tempo change wherever a bar's tempo moves away from the last one.

`convert(root, out)` (or `python -m ml_core.pop909 ROOT OUT`) writes every song as
`out/NNN.mid`, ready for `composer-train prepare`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ml_core.midi_io import read_midi, write_midi
from ml_core.music import TICKS_PER_QUARTER, Note, Score, TempoChange, TimeSignatureChange, Track

BEATS_FILE = "beat_midi.txt"
MAX_BAR_BEATS = 6            # a longer span between downbeats is cut into 4-beat bars
TEMPO_STEP = 0.03            # a bar's tempo is written when it moves 3 % from the last one


class Pop909Error(ValueError):
    """A POP909 song folder that cannot be read (one line)."""


def read_beats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(beat times in seconds, increasing; indices of the downbeats)."""
    try:
        rows = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as error:
        raise Pop909Error(f"cannot read {path}: {error}") from None
    if rows.shape[0] < 2 or rows.shape[1] < 3:
        raise Pop909Error(f"{path}: needs two or more beats with three columns")
    times = rows[:, 0]
    if np.any(np.diff(times) <= 0):
        raise Pop909Error(f"{path}: beat times are not increasing")
    downbeats = np.flatnonzero(rows[:, 2] == 1)
    if downbeats.size == 0:
        raise Pop909Error(f"{path}: no downbeat is marked")
    return times, downbeats


def beat_positions(seconds: np.ndarray, beat_times: np.ndarray) -> np.ndarray:
    """Positions in beats (beat i at beat_times[i]); linear between beats, and before the
    first or after the last beat at the nearest beat's spacing."""
    index = np.arange(len(beat_times), dtype=np.float64)
    positions = np.interp(seconds, beat_times, index)
    first_gap, last_gap = beat_times[1] - beat_times[0], beat_times[-1] - beat_times[-2]
    before, after = seconds < beat_times[0], seconds > beat_times[-1]
    positions[before] = (seconds[before] - beat_times[0]) / first_gap
    positions[after] = index[-1] + (seconds[after] - beat_times[-1]) / last_gap
    return positions


def bar_lines(downbeats: np.ndarray, first: float, last: float) -> list[int]:
    """Bar starts (beat indices) covering beats first..last: the annotated downbeats, spans
    longer than MAX_BAR_BEATS cut into 4-beat bars, and 4-beat bars before and after."""
    lines = [int(b) for b in downbeats]
    cut: list[int] = [lines[0]]
    for end in lines[1:]:
        while end - cut[-1] > MAX_BAR_BEATS:
            cut.append(cut[-1] + 4)
        cut.append(end)
    while cut[0] > math.floor(first):
        cut.insert(0, cut[0] - 4)
    while cut[-1] <= last:
        cut.append(cut[-1] + 4)
    return cut


def read_song(folder: str | Path) -> Score:
    """The song in `folder` re-timed onto its annotated beats and bars."""
    folder = Path(folder)
    midi_files = sorted(folder.glob("*.mid"))
    if not midi_files:
        raise Pop909Error(f"{folder}: no MIDI file")
    beat_times, downbeats = read_beats(folder / BEATS_FILE)
    source = read_midi(midi_files[0])
    notes = [(number, note) for number, track in enumerate(source.tracks) for note in track.notes]
    if not notes:
        raise Pop909Error(f"{folder}: the MIDI file has no notes")
    starts = beat_positions(np.array([source.seconds_at(n.start) for _, n in notes]), beat_times)
    ends = beat_positions(np.array([source.seconds_at(n.end) for _, n in notes]), beat_times)
    grid = 4  # onsets rounded to sixteenths decide the first bar (a note a hair early stays in)
    first = float(np.round(starts.min() * grid) / grid)
    lines = bar_lines(downbeats, first, float(ends.max()))
    origin = max(line for line in lines if line <= first)
    lines = [line for line in lines if line >= origin]
    tracks = [Track(t.name, t.program, t.is_drum, []) for t in source.tracks]
    for (number, note), start, end in zip(notes, starts, ends, strict=True):
        tick = round((start - origin) * TICKS_PER_QUARTER)
        length = max(1, round((end - origin) * TICKS_PER_QUARTER) - tick)
        tracks[number].notes.append(Note(note.pitch, max(0, tick), length, note.velocity))
    for track in tracks:
        track.sort()
    return _with_bars(tracks, lines, origin, beat_times)


def _beat_seconds(beat: float, beat_times: np.ndarray) -> float:
    """The time of a (possibly extrapolated) beat index."""
    last = len(beat_times) - 1
    if beat <= 0:
        return float(beat_times[0] + beat * (beat_times[1] - beat_times[0]))
    if beat >= last:
        return float(beat_times[-1] + (beat - last) * (beat_times[-1] - beat_times[-2]))
    return float(np.interp(beat, np.arange(last + 1), beat_times))


def _with_bars(tracks: list[Track], lines: list[int], origin: int, beat_times: np.ndarray) -> Score:
    meters: list[TimeSignatureChange] = []
    tempi: list[TempoChange] = []
    first_meter, first_tempo = None, None
    for start, end in zip(lines, lines[1:], strict=False):
        beats = end - start
        tick = (start - origin) * TICKS_PER_QUARTER
        bpm = (60.0 * beats / max(_beat_seconds(end, beat_times) - _beat_seconds(start, beat_times),
                                  1e-6))
        bpm = min(max(bpm, 20.0), 300.0)
        if first_meter is None:
            first_meter, first_tempo = beats, bpm
            current_meter, current_tempo = beats, bpm
            continue
        if beats != current_meter:
            meters.append(TimeSignatureChange(tick, beats, 4))
            current_meter = beats
        if abs(bpm / current_tempo - 1.0) > TEMPO_STEP:
            tempi.append(TempoChange(tick, round(bpm, 2)))
            current_tempo = bpm
    return Score(tracks=tracks, tempo_bpm=round(first_tempo or 120.0, 2),
                 time_signature=(first_meter or 4, 4), tempo_changes=tempi,
                 time_signature_changes=meters)


def convert(root: str | Path, out: str | Path, log=print) -> tuple[int, list[str]]:
    """Write every song folder under `root` as `out/<folder>.mid`; (written, problems)."""
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, problems = 0, []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            write_midi(read_song(folder), out / f"{folder.name}.mid")
            written += 1
        except (Pop909Error, ValueError, OSError) as error:
            problems.append(f"{folder.name}: {error}")
            log(f"skipped {folder.name}: {error}")
    return written, problems


def main(argv: list[str] | None = None) -> int:
    """`python -m ml_core.pop909 POP909_FOLDER OUT_FOLDER`."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m ml_core.pop909 POP909_FOLDER OUT_FOLDER", file=sys.stderr)
        return 2
    if not Path(args[0]).is_dir():
        print(f"error: no such folder: {args[0]}", file=sys.stderr)
        return 2
    written, problems = convert(args[0], args[1])
    print(f"wrote {written} songs to {args[1]}"
          + (f", skipped {len(problems)}" if problems else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A fast MIDI loader for tokenizing folders, with `ml_core.midi_io.read_midi` as the
safety net.

`read_midi_fast(path)` first checks the file's structure itself (size limit, `MThd`
header, every chunk inside the file, each track chunk ending with End-of-Track), then
lets symusic's C++ parser read the events into numpy arrays, and builds our Score from
those. Anything unusual (a failed check, an exception from symusic, SMPTE timing, no
notes, too many notes) hands the file to `read_midi`, whose byte-by-byte parser gives the
usual `MidiFileError` with a message a person understands. So a malformed file behaves
exactly as with `read_midi`; only well-formed files take the fast path.

Differences from `read_midi` on well-formed files are the parsers' own conventions for
odd events (e.g. a note never released); the tests check that both give the same tokens
on real pieces.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ml_core.midi_io import MAX_FILE_BYTES, MAX_NOTES, read_midi
from ml_core.music import (
    TICKS_PER_QUARTER,
    Note,
    Score,
    TempoChange,
    TimeSignatureChange,
    Track,
    is_valid_time_signature,
)

END_OF_TRACK = b"\xff\x2f\x00"


class _NotFast(Exception):
    """The file leaves the fast path (read_midi decides what it is)."""


def structure_ok(data: bytes) -> bool:
    """True when the bytes are a MIDI file whose chunks all lie inside it, with at least
    one track chunk, each ending with End-of-Track, and metrical (not SMPTE) timing."""
    if len(data) < 14 or data[:4] != b"MThd":
        return False
    header_length = int.from_bytes(data[4:8], "big")
    if header_length < 6 or 8 + header_length > len(data):
        return False
    file_format, _, division = struct.unpack(">HHH", data[8:14])
    if file_format > 2 or division == 0 or division & 0x8000:
        return False
    position, tracks = 8 + header_length, 0
    while position < len(data):
        if position + 8 > len(data):
            return False
        length = int.from_bytes(data[position + 4:position + 8], "big")
        end = position + 8 + length
        if end > len(data):
            return False
        if data[position:position + 4] == b"MTrk":
            if length < 3 or data[end - 3:end] != END_OF_TRACK:
                return False
            tracks += 1
        position = end
    return tracks > 0


def _score_from_bytes(data: bytes) -> Score:
    import symusic

    try:
        parsed = symusic.Score.from_midi(data)
    except Exception as error:  # symusic reports bad events as RuntimeError and others
        raise _NotFast(str(error)) from None
    quarter = int(parsed.ticks_per_quarter)
    if quarter <= 0:
        raise _NotFast("no ticks per quarter")
    scale = TICKS_PER_QUARTER / quarter

    def ticks(values: np.ndarray) -> np.ndarray:
        values = values.astype(np.int64)
        return values if quarter == TICKS_PER_QUARTER else np.round(values * scale).astype(np.int64)

    tracks, total = [], 0
    for track in parsed.tracks:
        arrays = track.notes.numpy()
        count = len(arrays["time"])
        total += count
        if total > MAX_NOTES:
            raise _NotFast("too many notes")
        if not count:
            continue
        starts = ticks(arrays["time"])
        ends = ticks(arrays["time"] + arrays["duration"].astype(np.int64))
        durations = np.maximum(ends - starts, 1)
        velocities = np.clip(arrays["velocity"].astype(np.int64), 1, 127)
        notes = [Note(p, s, d, v) for p, s, d, v in zip(arrays["pitch"].astype(np.int64).tolist(),
                                                        starts.tolist(), durations.tolist(),
                                                        velocities.tolist(), strict=True)]
        notes.sort()
        tracks.append(Track(str(track.name), int(track.program), bool(track.is_drum), notes))
    if not tracks:
        raise _NotFast("no notes")

    tempi = parsed.tempos.numpy()
    tempo_events = [(int(t), 60_000_000 / m) for t, m in
                    zip(ticks(tempi["time"]).tolist(), tempi["mspq"].tolist(), strict=True)
                    if m > 0]
    meters = parsed.time_signatures.numpy()
    meter_events = [(int(t), (n, d)) for t, n, d in
                    zip(ticks(meters["time"]).tolist(), meters["numerator"].tolist(),
                        meters["denominator"].tolist(), strict=True)
                        if is_valid_time_signature(n, d)]
    bpm = 120.0
    if tempo_events and tempo_events[0][0] == 0:
        bpm = tempo_events.pop(0)[1]
    meter = (4, 4)
    if meter_events and meter_events[0][0] == 0:
        meter = meter_events.pop(0)[1]
    return Score(tracks, bpm, meter, TICKS_PER_QUARTER,
                 [TempoChange(t, b) for t, b in tempo_events],
                 [TimeSignatureChange(t, n, d) for t, (n, d) in meter_events])


def read_midi_fast(path: str | os.PathLike[str]) -> Score:
    """Read a MIDI file into a Score (480 ticks per quarter) through symusic when the file
    is well formed, else through `read_midi` (raising its MidiFileError)."""
    try:
        if os.stat(path).st_size > MAX_FILE_BYTES:
            raise _NotFast("too big")
        data = Path(path).read_bytes()
        if not structure_ok(data):
            raise _NotFast("structure")
        return _score_from_bytes(data)
    except (_NotFast, OSError):
        return read_midi(path)

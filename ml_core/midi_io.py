"""Reading and writing music files without ever crashing: MIDI, MusicXML, ABC, Humdrum.

MIDI goes through a small parser of our own that checks every byte as it goes, so a
damaged or hostile file ends in one `MidiFileError` with a message a person understands
("song.mid: the file is truncated") and memory stays bounded: the size, the note count,
the events per track and the length in time are refused before anything big is built.
Reading is linear in the file's size, leniently too (a cut track is read once to find its
last whole event, once more to keep what comes before it). Writes are atomic
(`ml_core.files`). Notation formats go through music21 (`ml_core.notation_io` reads them,
`ml_core.musicxml_export` lays out MusicXML), imported only when needed so
`import ml_core.midi_io` stays fast.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ml_core.files import atomic_write_bytes
from ml_core.music import (
    TICKS_PER_QUARTER,
    KeySignature,
    Note,
    PedalSpan,
    ProgramChange,
    Score,
    TempoChange,
    TimeSignatureChange,
    Track,
    bar_ticks,
    is_valid_time_signature,
    meter_of_length,
)

MIDI_EXTENSIONS = (".mid", ".midi", ".kar", ".rmi")
NOTATION_EXTENSIONS = (".xml", ".musicxml", ".mxl", ".abc", ".krn")
SUPPORTED_EXTENSIONS = MIDI_EXTENSIONS + NOTATION_EXTENSIONS

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_NOTES = 1_000_000
MAX_TRACK_EVENTS = 4_000_000        # events in one track chunk (a 100 MB file could hold 30 M)
MAX_TICK = 2**28                    # in the file's own ticks
MAX_SECONDS = 10 * 3600             # longer than this is a broken file, not music
DRUM_CHANNEL = 9                    # "channel 10" counted from 1
SUSTAIN_PEDAL = 64                  # the control change of the sustain (damper) pedal
DEFAULT_VELOCITY = 80
# the marker we write at the start of a file opening with a pickup
PICKUP_MARKER = b"Pickup"


class MidiFileError(Exception):
    """A music file that cannot be read or written; the message names the file and why."""


# ------------------------------------------------------------------ shared file checks
def _display_name(path: str | os.PathLike[str]) -> str:
    return Path(path).name or str(path)


def _too_large(name: str, size: int) -> MidiFileError:
    return MidiFileError(f"{name}: the file is too large ({size / 2**20:.0f} MB; "
                         f"the limit is {MAX_FILE_BYTES // 2**20} MB)")


def _read_checked(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, after refusing missing, folder, empty and oversized paths."""
    name = _display_name(path)
    try:
        if os.path.isdir(path):
            raise MidiFileError(f"{name}: is a folder, not a file")
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:     # refused before reading a byte
            raise _too_large(name, size)
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise MidiFileError(f"{name}: no such file") from None
    except PermissionError:
        raise MidiFileError(f"{name}: cannot read it (permission denied)") from None
    except OSError as error:
        raise MidiFileError(f"{name}: cannot read it ({error.strerror or error})") from None
    if not data:
        raise MidiFileError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:    # it grew after we looked
        raise _too_large(name, len(data))
    return data


def _write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` atomically (`ml_core.files`); on any failure the old file is untouched
    and a MidiFileError says what went wrong."""
    name, target = _display_name(path), Path(path)
    if target.is_dir():
        raise MidiFileError(f"cannot write {name}: it is a folder")
    if not target.parent.is_dir():
        raise MidiFileError(f"cannot write {name}: the folder {target.parent} does not exist")
    try:
        atomic_write_bytes(target, data)
    except PermissionError:
        raise MidiFileError(f"cannot write {name}: permission denied") from None
    except OSError as error:
        raise MidiFileError(f"cannot write {name}: {error.strerror or error}") from None


# ------------------------------------------------------------------ MIDI reading
class _Corrupt(Exception):
    """Internal: raised deep in the parser, turned into a MidiFileError with the file name."""


class _OverBudget(_Corrupt):
    """Internal: a read budget was passed; lenient reading never repairs that by cutting."""


_CUT_EVENT = "the file is truncated (a track stops in the middle of an event)"


def _find_header(data: bytes) -> int:
    """Offset of the MThd chunk (inside a RIFF RMID wrapper or after a short Mac header)."""
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        position = data.find(b"MThd", 12)     # the SMF sits in the "data" chunk
        if position < 0:
            raise _Corrupt("not a MIDI file (a RIFF file without MIDI data)")
        return position
    position = data.find(b"MThd", 0, 512)
    if position < 0:
        raise _Corrupt("not a MIDI file")
    return position


def _read_variable(data: bytes, position: int, end: int) -> tuple[int, int]:
    """A variable-length quantity (at most 4 bytes) at `position`; returns (value, next
    position)."""
    value = 0
    for _ in range(4):
        if position >= end:
            raise _Corrupt(_CUT_EVENT)
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, position
    raise _Corrupt("the file is corrupt (a number longer than 4 bytes)")


class _TrackEvents:
    """What one MTrk chunk holds: finished notes, programs, tempo and meter events."""

    def __init__(self) -> None:
        # (channel, pitch, start, end, velocity)
        self.notes: list[tuple[int, int, int, int, int]] = []
        self.programs: dict[int, list[tuple[int, int]]] = {}      # channel -> [(tick, program)]
        self.pedals: dict[int, list[tuple[int, bool]]] = {}       # channel -> [(tick, down)] (CC64)
        self.tempos: list[tuple[int, int]] = []                   # (tick, microseconds per quarter)
        self.meters: list[tuple[int, tuple[int, int]]] = []       # (tick, (numerator, denominator))
        # (tick, sharps or -flats, minor 0/1)
        self.keys: list[tuple[int, int, int]] = []
        self.name = ""
        self.pickup_marker = False    # a "Pickup" marker at tick 0: the short first bar is one


def _parse_track(data: bytes, position: int, end: int, number: int, quarter: int,
                 note_budget: int, warnings: list[str] | None = None, cut: bool = False,
                 whole: list[int] | None = None) -> _TrackEvents:
    """Parse one track chunk's events in data[position:end]; notes counted against note_budget,
    events against MAX_TRACK_EVENTS. With `warnings` (lenient reading) a data byte over 127
    is clamped, and with `cut` (the file ends inside this track) the events read before the
    cut are kept; both noted there. `whole[0]` follows where the last whole event ends."""
    if warnings is not None and cut:
        warnings.append(f"the file is truncated: track {number} keeps what was read")
        whole = [position]
        try:
            return _parse_track(data, position, end, number, quarter, note_budget,
                                warnings, whole=whole)
        except _OverBudget:
            raise
        except _Corrupt:   # cut inside an event: keep the whole events before it (one more pass)
            return _parse_track(data, position, whole[0], number, quarter, note_budget, warnings)
    track = _TrackEvents()
    notes = track.notes
    # channel << 7 | pitch -> [[start, velocity, next_on]]
    sounding: dict[int, deque[list[int]]] = {}
    tick = status = note_ons = 0
    events_left = MAX_TRACK_EVENTS
    while position < end:
        if whole is not None:
            whole[0] = position
        events_left -= 1
        if events_left < 0:
            raise _OverBudget(f"the file has too many events (more than {MAX_TRACK_EVENTS:,} in "
                              f"track {number})")
        delta, position = _read_variable(data, position, end)
        tick += delta
        if tick > MAX_TICK:
            raise _Corrupt(f"the file's times are absurd (a delta time of {delta} ticks takes "
                           f"track {number} past tick {MAX_TICK})")
        if position >= end:
            raise _Corrupt(_CUT_EVENT)
        byte = data[position]
        if byte in (0xFF, 0xF0, 0xF7):    # meta and system exclusive events: a length, then data
            kind = data[position + 1] if byte == 0xFF and position + 1 < end else -1
            length, position = _read_variable(data, position + (2 if byte == 0xFF else 1), end)
            if position + length > end:
                raise _Corrupt(f"the file is corrupt (an event runs past the end of track "
                               f"{number})")
            body = data[position:position + length]
            position += length
            if kind == 0x2F:
                break
            if kind == 0x51 and length == 3 and int.from_bytes(body, "big") > 0:
                track.tempos.append((tick, int.from_bytes(body, "big")))
            elif (kind == 0x58 and length >= 2 and body[1] <= 6
                  and is_valid_time_signature(body[0], 1 << body[1])):
                track.meters.append((tick, (body[0], 1 << body[1])))
            elif kind == 0x03 and not track.name:
                track.name = _decode_text(body)
            elif kind == 0x59 and length == 2 and body[1] <= 1:
                fifths = body[0] - (body[0] >> 7 << 8)   # sharps (negative: flats), signed
                if -7 <= fifths <= 7:                    # then 0 major, 1 minor
                    track.keys.append((tick, fifths, body[1]))
            elif kind == 0x06 and tick == 0 and body.strip().lower() == PICKUP_MARKER.lower():
                track.pickup_marker = True
            continue
        if byte & 0x80:
            if byte >= 0xF8:           # real-time bytes carry no data; skip them
                position += 1
                continue
            if byte >= 0xF0:
                raise _Corrupt(f"the file is corrupt (status byte {byte:#04x} in track {number})")
            status = byte
            position += 1
        elif not status:
            raise _Corrupt(f"the file is corrupt (data without a status byte in track {number})")
        kind, channel = status & 0xF0, status & 0x0F
        size = 1 if kind in (0xC0, 0xD0) else 2
        if position + size > end:
            raise _Corrupt(_CUT_EVENT)
        first = data[position]
        second = data[position + 1] if size == 2 else 0
        if (first | second) & 0x80:
            if warnings is None:
                raise _Corrupt(f"the file is corrupt (a bad data byte in track {number})")
            first, second = min(first, 127), min(second, 127)
            if not any(w.startswith("a data byte over 127") for w in warnings):
                warnings.append(f"a data byte over 127 was clamped (track {number})")
        position += size
        if kind == 0x90 and second:
            note_ons += 1
            if note_ons > note_budget:
                raise _OverBudget(f"the file has too many notes (more than {MAX_NOTES:,})")
            key = channel << 7 | first
            waiting = sounding.get(key)
            if waiting is None:
                waiting = sounding[key] = deque()
            # a new strike of a held key ends it if no note-off ever does
            elif waiting and waiting[-1][2] < 0:
                waiting[-1][2] = tick  # (only the latest strike can still be open)
            waiting.append([tick, second, -1])
        elif kind == 0x80 or kind == 0x90:
            waiting = sounding.get(channel << 7 | first)
            if waiting:                 # first on, first off; a stray note-off is ignored
                start, velocity, _ = waiting.popleft()
                notes.append((channel, first, start, tick, velocity))
        elif kind == 0xC0:
            track.programs.setdefault(channel, []).append((tick, first))
        elif kind == 0xB0 and first == SUSTAIN_PEDAL:
            track.pedals.setdefault(channel, []).append((tick, second >= 64))
    for key, waiting in sounding.items():   # notes never released
        for start, velocity, next_on in waiting:
            stop = next_on if next_on > start else tick if tick > start else start + quarter
            notes.append((key >> 7, key & 0x7F, start, stop, velocity))
    return track


def _decode_text(body: bytes) -> str:
    """MIDI names carry no encoding: UTF-8 when it is valid, else Latin-1 (never fails)."""
    try:
        return body.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        return body.decode("latin-1").rstrip("\x00")


def _parse_file(data: bytes,
                warnings: list[str] | None = None) -> tuple[list[_TrackEvents], int, int]:
    """All track chunks, the file's quarter length in ticks and the ticks per second (SMPTE
    only). With `warnings`, a truncated last track and bad data bytes are repaired and noted."""
    start = _find_header(data)
    if len(data) < start + 14:
        raise _Corrupt("the file is truncated (in its header)")
    header_length, file_format, declared_tracks, division = struct.unpack(
        ">IHHH", data[start + 4 : start + 14]
    )
    if header_length < 6:
        raise _Corrupt("not a MIDI file (a bad header)")
    if file_format > 1:
        raise _Corrupt("unsupported MIDI type 2 file (independent patterns); save it as type 1"
                       if file_format == 2
                       else f"not a MIDI file (unknown MIDI type {file_format})")
    # SMPTE division: frames per second x ticks per frame, and no tempo; a quarter is 0.5 s
    ticks_per_second = (256 - (division >> 8)) * (division & 0xFF) if division & 0x8000 else 0
    quarter = ticks_per_second // 2 if division & 0x8000 else division
    if quarter <= 0:
        raise _Corrupt("not a MIDI file (a bad time division)")
    position = start + 8 + header_length
    if position > len(data):
        raise _Corrupt("the file is truncated (in its header)")
    tracks: list[_TrackEvents] = []
    note_budget = MAX_NOTES
    while position + 8 <= len(data):
        kind = data[position:position + 4]
        (length,) = struct.unpack(">I", data[position + 4:position + 8])
        body = position + 8
        cut_short = body + length > len(data)
        if cut_short and warnings is not None and kind == b"MTrk":
            tracks.append(_parse_track(data, body, len(data), len(tracks) + 1, quarter, note_budget,
                                       warnings, cut=True))
            position = len(data)
            break
        if cut_short and (kind == b"MTrk" or not tracks):
            raise _Corrupt(f"the file is truncated (track {len(tracks) + 1} is cut short)")
        if kind == b"MTrk":
            tracks.append(_parse_track(data, body, body + length, len(tracks) + 1,
                                       quarter, note_budget,
                                       warnings))
            note_budget -= len(tracks[-1].notes)
        elif cut_short or not (kind.isascii() and kind.isalpha()):
            if tracks:                       # junk after the music: ignore it
                break
            raise _Corrupt("the file is corrupt (a bad chunk after the header)")
        position = body + length
    if position < len(data) and len(tracks) < declared_tracks:
        if warnings is None or not tracks:
            raise _Corrupt(f"the file is truncated (track {len(tracks) + 1} is cut short)")
        warnings.append(f"the file is truncated: track {len(tracks) + 1} is missing")
    if not tracks:
        raise _Corrupt("the file has no tracks")
    return tracks, quarter, ticks_per_second


def _programs(own: list[tuple[int, int]], shared: list[tuple[int, int]], first_note: int,
              scale: Callable[[int], int]) -> tuple[int, list[ProgramChange]]:
    """A track's program at its first note and its later program changes: the track's own
    changes, else any track's for the channel. Before the first change the first change's
    program sounds (files often put it just after the first note)."""
    changes = sorted(own or shared)
    if not changes:
        return 0, []
    current = changes[0][1]
    for tick, program in changes:
        if tick <= first_note:
            current = program
    start, later = current, []
    for tick, program in changes:
        if tick > first_note and program != current:
            later.append(ProgramChange(scale(tick), program))
            current = program
    return start, later


def _pedal_spans(own: list[tuple[int, bool]], shared: list[tuple[int, bool]],
                 scale: Callable[[int], int], last_tick: int) -> list[PedalSpan]:
    """Sustain pedal spans from (tick, down) events: the track's own, else any track's for
    the channel. A pedal never released comes up when the last note ends."""
    spans, down = [], None
    for tick, pressed in sorted(own or shared, key=lambda event: event[0]):
        if pressed and down is None:
            down = tick
        elif not pressed and down is not None:
            if tick > down:
                spans.append(PedalSpan(scale(down), scale(tick)))
            down = None
    if down is not None and last_tick > down:
        spans.append(PedalSpan(scale(down), scale(last_tick)))
    return spans


def _build_score(tracks: list[_TrackEvents], quarter: int, ticks_per_second: int,
                 allow_empty: bool) -> Score:
    if ticks_per_second:   # SMPTE time: seconds become ticks at 120 bpm
        numerator, denominator = 2 * TICKS_PER_QUARTER, ticks_per_second
    else:
        numerator, denominator = TICKS_PER_QUARTER, quarter

    def scale(tick: int) -> int:
        return (tick * numerator + denominator // 2) // denominator

    # events come in time order within a track; of several at one tick the last one counts
    tempos = {scale(tick): 60_000_000 / microseconds for track in tracks
              for tick, microseconds in track.tempos} if not ticks_per_second else {}
    meters = {scale(tick): meter for track in tracks for tick, meter in track.meters}
    keys = {scale(tick): (fifths, "minor" if minor else "major")
            for track in tracks for tick, fifths, minor in track.keys}
    written_keys = [KeySignature(tick, *key) for tick, key in sorted(keys.items())]
    score = Score([], tempos.pop(0, 120.0), meters.pop(0, (4, 4)), TICKS_PER_QUARTER,
                  [TempoChange(tick, bpm) for tick, bpm in sorted(tempos.items())],
                  [TimeSignatureChange(tick, *meter) for tick, meter in sorted(meters.items())],
                  [key for index, key in enumerate(written_keys)
                   if index == 0 or (key.fifths, key.mode) != (written_keys[index - 1].fifths,
                                                                written_keys[index - 1].mode)])
    last_end = max((end for track in tracks for *_, end, _ in track.notes), default=0)
    seconds = score.seconds_at(scale(last_end))
    if seconds > MAX_SECONDS:
        raise _Corrupt(f"the file's times are absurd (the music would last {seconds / 3600:.1f} "
                       f"hours; the limit is {MAX_SECONDS // 3600})")
    shared: dict[int, list[tuple[int, int]]] = {}
    shared_pedals: dict[int, list[tuple[int, bool]]] = {}
    for track in tracks:
        for channel, changes in track.programs.items():
            shared.setdefault(channel, []).extend(changes)
        for channel, events in track.pedals.items():
            shared_pedals.setdefault(channel, []).extend(events)
    # one Track per (track chunk, channel): a program change inside it stays an event
    groups: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
    first_notes: dict[tuple[int, int], int] = {}
    for index, track in enumerate(tracks):
        for channel, pitch, start, end, velocity in track.notes:
            begin = scale(start)
            groups.setdefault((index, channel), []).append((begin, pitch,
                                                            max(1, scale(end) - begin), velocity))
            first_notes[(index, channel)] = min(start, first_notes.get((index, channel), start))
    for (index, channel), rows in sorted(groups.items(), key=lambda g: g[0]):
        rows.sort()
        notes = [Note(pitch, start, duration, velocity)
                 for start, pitch, duration, velocity in rows]
        program, changes = _programs(tracks[index].programs.get(channel, []),
                                     shared.get(channel, []),
                                     first_notes[(index, channel)], scale)
        drum = channel == DRUM_CHANNEL
        pedal = [] if drum else _pedal_spans(tracks[index].pedals.get(channel, []),
                                             shared_pedals.get(channel, []), scale, last_end)
        score.tracks.append(Track(tracks[index].name, program, drum, notes,
                                  [] if drum else changes, pedal))
    if not score.tracks and not allow_empty:
        raise _Corrupt("the file has no notes")
    return score


def score_from_midi_bytes(data: bytes, name: str = "<bytes>", *, allow_empty: bool = False,
                          warnings: list[str] | None = None) -> Score:
    """Parse a Standard MIDI File held in memory. Raises MidiFileError naming `name`.
    Passing a `warnings` list reads leniently, as DAWs do: a data byte over 127 is clamped
    and a truncated last track keeps what was read; each repair adds one line to the list.
    What is not a MIDI file at all is still refused."""
    if not data:
        raise MidiFileError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(name, len(data))
    try:
        tracks, quarter, ticks_per_second = _parse_file(bytes(data), warnings)
        return _pickup_from_first_bar(_build_score(tracks, quarter, ticks_per_second, allow_empty),
                                      any(track.pickup_marker for track in tracks))
    except _Corrupt as error:
        raise MidiFileError(f"{name}: {error}") from None
    except (IndexError, ValueError, struct.error, OverflowError) as error:  # a check we missed
        raise MidiFileError(f"{name}: the file is corrupt ({error})") from None


def read_midi(path: str | os.PathLike[str], allow_empty: bool = False,
              warnings: list[str] | None = None) -> Score:
    """Read a type 0 or type 1 MIDI file into a Score at 480 ticks per quarter.

    One Track per (track chunk, channel), its later program changes kept as events and
    its sustain pedal (CC64) as spans; channel 10 gives drum tracks. Key-signature events
    become the written keys, and the short first bar of a file we wrote with a pickup (see
    `midi_bytes`) a pickup at the end of bar 0. Notes never released end at the next
    strike of the same key or at their track's end.
    A file without notes raises MidiFileError unless `allow_empty`. With a `warnings` list
    the reading is lenient (see `score_from_midi_bytes`) and the repairs are listed there."""
    return score_from_midi_bytes(_read_checked(path), _display_name(path), allow_empty=allow_empty,
                                 warnings=warnings)


# ------------------------------------------------------------------ MIDI writing
def _variable(value: int) -> bytes:
    out = bytearray([value & 0x7F])
    while value := value >> 7:
        out.append(0x80 | (value & 0x7F))
    return bytes(reversed(out))


def _chunk(events: list[tuple[int, int, bytes]]) -> bytes:
    """An MTrk chunk from (tick, order, message) events; ties keep the `order` rank."""
    events.sort(key=lambda event: (event[0], event[1]))
    body = bytearray()
    previous = 0
    for tick, _, message in events:
        body += _variable(tick - previous)
        body += message
        previous = tick
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def _meta(kind: int, body: bytes) -> bytes:
    return bytes([0xFF, kind]) + _variable(len(body)) + body


def _tempo_meta(bpm: float) -> bytes:
    microseconds = round(60_000_000 / bpm)
    if not 1 <= microseconds <= 0xFFFFFF:
        raise ValueError(f"a tempo of {bpm:g} bpm is outside what MIDI can store (4 to 60,000,000)")
    return _meta(0x51, microseconds.to_bytes(3, "big"))


def _meter_meta(numerator: int, denominator: int) -> bytes:
    return _meta(0x58, bytes([numerator, denominator.bit_length() - 1, 24, 8]))


def _key_meta(fifths: int, mode: str) -> bytes:
    """A key-signature event: sharps (negative: flats) as a signed byte, then 1 for minor."""
    return _meta(0x59, bytes([fifths & 0xFF, 1 if mode == "minor" else 0]))


def _written_keys_for_midi(score: Score) -> list[KeySignature]:
    """The key signatures to write: the written ones, else the estimated key at the start
    (as notation programs and DAWs show one), with the mode settled where none is written."""
    from ml_core.keys import estimate_key, fifths_of_key, key_of_signature

    if not score.key_signatures:
        if score.is_empty:
            return []
        key = estimate_key(score)
        return [KeySignature(0, fifths_of_key(key), key[1])]
    histogram = score.pitch_class_histogram()
    return [KeySignature(k.tick, k.fifths, key_of_signature(k.fifths, k.mode, histogram)[1])
            for k in score.key_signatures]


def _pickup_meter(score: Score) -> tuple[int, int] | None:
    """The meter of a bar as long as the score's pickup (1/4, 3/8...), or None when there is
    no pickup, MIDI cannot write that length as a meter, or music or a meter change comes
    before the pickup."""
    if not score.pickup_ticks:
        return None
    start = score.music_start
    if any(n.start < start for n in score.notes()) or any(
            c.tick <= start for c in score.time_signature_changes):
        return None
    return meter_of_length(score.pickup_ticks, score.time_signature[1], score.ticks_per_quarter)


def _pickup_from_first_bar(score: Score, marked: bool) -> Score:
    """A file we wrote with a pickup (`marked`: its "Pickup" marker at tick 0) opens with
    one bar shorter than the meter after it (a 1/4 bar before 4/4): read it as the pickup
    again, its notes at the end of bar 0 and the bars after it in their places. Without
    the marker a short first bar stays a meter change (6/8 then 7/8 is music, not a pickup)."""
    changes = score.time_signature_changes
    if not marked or not changes or score.pickup_ticks:
        return score
    first_bar = bar_ticks(score.time_signature, score.ticks_per_quarter)
    meter = (changes[0].numerator, changes[0].denominator)
    full_bar = bar_ticks(meter, score.ticks_per_quarter)
    if changes[0].tick != first_bar or not first_bar < full_bar:
        return score
    score = score.with_tracks(score.tracks)
    score.time_signature, score.time_signature_changes = meter, changes[1:]
    score = score.shifted(full_bar - first_bar)
    score.pickup_ticks = first_bar
    return score


def _check_writable(score: Score) -> None:
    if not 1 <= score.ticks_per_quarter <= 0x7FFF or len(score.tracks) > 0xFFFE:
        raise ValueError("MIDI cannot store this resolution or this many tracks")
    changes = [c.tick for c in score.tempo_changes] + [c.tick for c in score.time_signature_changes]
    changes += [k.tick for k in score.key_signatures]
    if any(not 0 <= tick <= MAX_TICK for tick in changes):
        raise ValueError("a tempo, meter or key change lies at an impossible time")
    for number, track in enumerate(score.tracks, 1):
        programs = [track.program] + [c.program for c in track.program_changes]
        if not all(0 <= program <= 127 for program in programs):
            raise ValueError(f"track {number} has program {max(programs, key=abs)} (MIDI allows "
                             f"0..127)")
        if any(not 0 <= c.tick <= MAX_TICK for c in track.program_changes):
            raise ValueError(f"track {number} has a program change at an impossible time")
        for note in track.notes:
            if not (0 <= note.pitch <= 127 and 0 <= note.velocity <= 127):
                raise ValueError(f"track {number} has a note with pitch {note.pitch} and velocity "
                                 f"{note.velocity} (MIDI allows 0..127)")
            if note.start < 0 or note.duration < 0 or note.end >= MAX_TICK:
                raise ValueError(f"track {number} has a note at an impossible time "
                                 f"(start {note.start}, duration {note.duration})")


def midi_bytes(score: Score) -> bytes:
    """The Score as a type 1 Standard MIDI File: a conductor track (tempo, meter and key
    signatures: the written keys, else the estimated one), then one named track per Track
    with its program, later program changes and sustain pedal. A pickup starts the file,
    as a first bar in a meter of its own length (1/4 before 4/4), so every later bar line
    falls where the notation puts it and no silence comes first; a "Pickup" marker at
    tick 0 lets `read_midi` turn that bar back into a pickup.

    Drum tracks go on channel 10, pitched tracks on the other 15 in turn. A note of zero
    length is written one tick long and velocity 0 as 1 (0 would mean "note off").
    Raises ValueError for a Score MIDI cannot hold (pitch outside 0..127...)."""
    _check_writable(score)
    pickup_meter = _pickup_meter(score)
    if pickup_meter is not None:    # as notation programs write one: a short first bar
        start, pickup = score.music_start, score.pickup_ticks
        score = score.sliced(start, max(score.end_tick, start) + 1, clip=False)
        score.time_signature_changes.insert(0, TimeSignatureChange(pickup, *score.time_signature))
        score.time_signature = pickup_meter
    conductor = [(0, 0, _tempo_meta(score.tempo_bpm)), (0, 0, _meter_meta(*score.time_signature))]
    if pickup_meter is not None:
        conductor.append((0, 0, _meta(0x06, PICKUP_MARKER)))
    conductor += [(c.tick, 1, _tempo_meta(c.bpm)) for c in score.tempo_changes]
    conductor += [(c.tick, 1, _meter_meta(c.numerator, c.denominator))
                  for c in score.time_signature_changes]
    conductor += [(k.tick, 1, _key_meta(k.fifths, k.mode)) for k in _written_keys_for_midi(score)]
    chunks = [_chunk(conductor)]
    pitched_channels = [channel for channel in range(16) if channel != DRUM_CHANNEL]
    pitched = 0
    for track in score.tracks:
        channel = (DRUM_CHANNEL if track.is_drum
                   else pitched_channels[pitched % len(pitched_channels)])
        pitched += not track.is_drum
        events = [(0, 0, _meta(0x03, track.name.encode("utf-8")))] if track.name else []
        events.append((0, 1, bytes([0xC0 | channel, track.program])))
        events += [(c.tick, 1, bytes([0xC0 | channel, c.program])) for c in track.program_changes]
        on, off = 0x90 | channel, 0x80 | channel
        for span in track.pedal:   # up with the note-offs (before a re-pedal), down with the ons
            events.append((span.start, 3, bytes([0xB0 | channel, SUSTAIN_PEDAL, 127])))
            events.append((span.end, 2, bytes([0xB0 | channel, SUSTAIN_PEDAL, 0])))
        for note in track.notes:
            events.append((note.start, 3, bytes([on, note.pitch, max(1, note.velocity)])))
            events.append((note.start + max(1, note.duration), 2, bytes([off, note.pitch, 0])))
        chunks.append(_chunk(events))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), score.ticks_per_quarter)
    return header + b"".join(chunks)


def write_midi(score: Score, path: str | os.PathLike[str]) -> None:
    """Write a type 1 MIDI file atomically; any failure raises MidiFileError and keeps the old
    file."""
    try:
        data = midi_bytes(score)
    except ValueError as error:
        raise MidiFileError(f"cannot write {_display_name(path)}: {error}") from None
    _write_atomically(path, data)


def _check_extension(path: str | os.PathLike[str]) -> str:
    extension = Path(path).suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise MidiFileError(f"{_display_name(path)}: unsupported file type "
                            f"{extension or '(no extension)'}")
    return extension


def read_score(path: str | os.PathLike[str], allow_empty: bool = False) -> Score:
    """Read any SUPPORTED_EXTENSIONS file: MIDI natively, notation formats through music21
    (the first piece of a collection such as a many-tune ABC file)."""
    if _check_extension(path) in MIDI_EXTENSIONS:
        return read_midi(path, allow_empty=allow_empty)
    from ml_core.notation_io import read_notation

    return read_notation(path, allow_empty)[0]


def read_scores(path: str | os.PathLike[str]) -> list[Score]:
    """Every piece in a file: one for MIDI and most notation, each tune of an ABC collection
    (pieces without notes are left out; a file with none raises MidiFileError)."""
    if _check_extension(path) in MIDI_EXTENSIONS:
        return [read_midi(path)]
    from ml_core.notation_io import read_notation

    return read_notation(path, every_piece=True)


def _read_score_reference(path: str | os.PathLike[str]) -> Score:
    """read_score as it was before our tie pass (music21's stripTies): for tests and benches."""
    if _check_extension(path) in MIDI_EXTENSIONS:
        return read_midi(path)
    from ml_core.notation_io import _part_notes_strip_ties, read_notation

    return read_notation(path, part_notes=_part_notes_strip_ties)[0]


def write_musicxml(score: Score, path: str | os.PathLike[str], title: str | None = None) -> None:
    """Export the Score as MusicXML (`.mxl` compressed, anything else plain) atomically,
    laid out for notation by `ml_core.musicxml_export` (keys, spelling, clefs, pickup),
    titled `title` or else the file's name.

    Times are snapped to sixteenths and eighth-note triplets, as notation needs; a
    few thousand notes take seconds (music21), so call it off the GUI thread."""
    name = _display_name(path)
    try:
        from ml_core.musicxml_export import musicxml_bytes

        xml = musicxml_bytes(score, Path(path).stem if title is None else title)
    except Exception as error:  # music21 raises many unrelated types
        raise MidiFileError(f"cannot write {name}: music21 could not export the score "
                            f"({error})") from None
    if Path(path).suffix.lower() == ".mxl":   # a zip whose container names the score inside
        inner = Path(path).with_suffix(".musicxml").name
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("mimetype", "application/vnd.recordare.musicxml")
            archive.writestr("META-INF/container.xml",
                             '<?xml version="1.0" encoding="UTF-8"?><container>'
                             f'<rootfiles><rootfile full-path="{inner}"/></rootfiles></container>')
            archive.writestr(inner, xml)
        xml = buffer.getvalue()
    _write_atomically(path, xml)

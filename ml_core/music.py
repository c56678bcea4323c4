"""The one in-memory music model: Note, Track, Score.

Times are integer ticks, 480 per quarter note by default. A Score carries its initial
tempo and time signature plus any later changes, and knows bar/beat arithmetic for any
meter (3/4, 6/8, 7/8, 5/4 ...). Everything here is plain Python + numpy: no torch, no Qt,
so `import ml_core.music` is fast.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

TICKS_PER_QUARTER = 480
PITCH_MIN, PITCH_MAX = 0, 127

# dtype of Score.note_array(): one row per note, `track` is the index into Score.tracks.
NOTE_DTYPE = np.dtype(
    [("pitch", np.int16), ("start", np.int64), ("duration", np.int64),
     ("velocity", np.int16), ("track", np.int32)]
)


@dataclass(frozen=True, slots=True, order=True)
class Note:
    """One note. Ordered by (start, pitch, duration, velocity) so sorting a list is stable."""

    start: int
    pitch: int
    duration: int
    velocity: int = 80

    def __init__(self, pitch: int, start: int, duration: int, velocity: int = 80) -> None:
        # Positional order follows DESIGN.md: Note(pitch, start, duration, velocity).
        object.__setattr__(self, "pitch", int(pitch))
        object.__setattr__(self, "start", int(start))
        object.__setattr__(self, "duration", int(duration))
        object.__setattr__(self, "velocity", int(velocity))

    @property
    def end(self) -> int:
        return self.start + self.duration

    def moved(self, *, pitch: int | None = None, start: int | None = None,
              duration: int | None = None, velocity: int | None = None) -> Note:
        """A copy with some fields changed (Notes are immutable values)."""
        return Note(self.pitch if pitch is None else pitch,
                    self.start if start is None else start,
                    self.duration if duration is None else duration,
                    self.velocity if velocity is None else velocity)

    def __repr__(self) -> str:
        return (f"Note(pitch={self.pitch}, start={self.start}, duration={self.duration}, "
                f"velocity={self.velocity})")


@dataclass(frozen=True, slots=True)
class ProgramChange:
    """A later instrument of a track (arco to pizzicato): `program` from `tick` on."""

    tick: int
    program: int


@dataclass(frozen=True, slots=True)
class PedalSpan:
    """The sustain pedal (MIDI CC64 at 64 or more) down from `start` until `end`."""

    start: int
    end: int


def sustained(notes: Iterable[Note], pedal: Iterable[PedalSpan]) -> list[Note]:
    """`notes` as they sound under `pedal`: a note released while the pedal is down
    rings on until the pedal comes up. A note released at the very tick the pedal goes
    down is not held (a MIDI file releases it first, as playback does)."""
    spans = sorted((span.start, span.end) for span in pedal)
    if not spans:
        return list(notes)
    result = []
    for note in notes:
        end = note.end
        for start, stop in spans:
            if start < end < stop:
                end = stop
        result.append(note if end == note.end else note.moved(duration=end - note.start))
    return result


@dataclass(slots=True)
class Track:
    name: str = ""
    program: int = 0          # General MIDI program 0..127 at the start
    is_drum: bool = False     # channel 10
    notes: list[Note] = field(default_factory=list)
    program_changes: list[ProgramChange] = field(default_factory=list)   # later programs, by tick
    pedal: list[PedalSpan] = field(default_factory=list)   # sustain pedal down, by tick

    def sounding_notes(self) -> list[Note]:
        """The notes with each one's end where it stops sounding (the pedal held)."""
        return sustained(self.notes, self.pedal)

    def sort(self) -> None:
        self.notes.sort()

    def program_at(self, tick: int) -> int:
        """The program sounding at `tick` (the start program, then each change in turn)."""
        program = self.program
        for change in self.program_changes:
            if change.tick > tick:
                break
            program = change.program
        return program

    def emptied(self, notes: list[Note] | None = None) -> Track:
        """The same track (name, programs, drum flag) holding `notes` (none by default)."""
        return Track(self.name, self.program, self.is_drum, [] if notes is None else notes,
                     list(self.program_changes), list(self.pedal))


@dataclass(frozen=True, slots=True)
class TempoChange:
    tick: int
    bpm: float


@dataclass(frozen=True, slots=True)
class TimeSignatureChange:
    tick: int
    numerator: int
    denominator: int


MODES = ("major", "minor", "")   # "" where the source writes only the signature


@dataclass(frozen=True, slots=True)
class KeySignature:
    """A written key signature from `tick` on: `fifths` sharps (negative: flats), -7..7,
    and the mode when the source says it."""

    tick: int
    fifths: int
    mode: str = ""

    def __post_init__(self) -> None:
        if not -7 <= self.fifths <= 7 or self.mode not in MODES:
            raise ValueError(f"invalid key signature ({self.fifths} fifths, mode {self.mode!r})")


class TransposeRangeError(ValueError):
    """Transposition would move some notes outside MIDI's 0..127; `.notes` lists them."""

    def __init__(self, semitones: int, notes: list[Note]) -> None:
        self.semitones = semitones
        self.notes = notes
        super().__init__(
            f"transposing by {semitones:+d} semitones would move {len(notes)} note(s) outside "
            f"0..127"
        )


def bar_ticks(time_signature: tuple[int, int], ticks_per_quarter: int = TICKS_PER_QUARTER) -> int:
    """Length of one bar in ticks: numerator units of a 1/denominator note."""
    numerator, denominator = time_signature
    return numerator * ticks_per_quarter * 4 // denominator


def beat_ticks(time_signature: tuple[int, int], ticks_per_quarter: int = TICKS_PER_QUARTER) -> int:
    """Length of one felt beat: a dotted unit in compound meters (6/8, 9/8, 12/8), else one unit."""
    numerator, denominator = time_signature
    unit = ticks_per_quarter * 4 // denominator
    if denominator >= 8 and numerator % 3 == 0 and numerator > 3:
        return unit * 3
    return unit


def is_valid_time_signature(numerator: int, denominator: int) -> bool:
    return 1 <= numerator <= 64 and denominator in (1, 2, 4, 8, 16, 32, 64)


def meter_of_length(ticks: int, denominator: int = 4,
                    ticks_per_quarter: int = TICKS_PER_QUARTER) -> tuple[int, int] | None:
    """The time signature of a bar `ticks` long, in units of at least 1/`denominator`
    (a 480-tick bar is 1/4, a 720-tick bar 3/8), or None when no signature fits."""
    whole = Fraction(ticks, 4 * ticks_per_quarter)
    denominator = max(denominator, whole.denominator)
    numerator = whole * denominator
    if numerator.denominator != 1 or not is_valid_time_signature(int(numerator), denominator):
        return None
    return int(numerator), denominator


def _transposed_fifths(fifths: int, semitones: int) -> int:
    """The signature of a key moved by `semitones`: seven fifths per semitone, written with
    at most six flats or five sharps (F-sharp major is written as G-flat)."""
    return (fifths + 7 * semitones + 6) % 12 - 6


@dataclass
class Score:
    """A piece: tracks of notes plus tempo and meter (with changes after tick 0).

    A pickup (anacrusis) keeps its metrical place: its notes lie at the end of bar 0 and
    the first full bar starts at a barline. `pickup_ticks` says how long the pickup is
    (0: none), so that bar 0 reads as the incomplete measure it is (numbered 0 by
    musicians, written as a short first measure in MusicXML); the bar arithmetic needs
    nothing else. `key_signatures` are the written keys, in tick order (none when the
    source writes none: MIDI files without key events, recordings)."""

    tracks: list[Track] = field(default_factory=list)
    tempo_bpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    ticks_per_quarter: int = TICKS_PER_QUARTER
    tempo_changes: list[TempoChange] = field(default_factory=list)
    time_signature_changes: list[TimeSignatureChange] = field(default_factory=list)
    key_signatures: list[KeySignature] = field(default_factory=list)
    pickup_ticks: int = 0

    def __post_init__(self) -> None:
        self.time_signature = (int(self.time_signature[0]), int(self.time_signature[1]))
        if not is_valid_time_signature(*self.time_signature):
            raise ValueError(f"invalid time signature {self.time_signature}")
        if not (self.tempo_bpm > 0):
            raise ValueError(f"invalid tempo {self.tempo_bpm}")
        self.tempo_changes = sorted(self.tempo_changes, key=lambda c: c.tick)
        self.time_signature_changes = sorted(self.time_signature_changes, key=lambda c: c.tick)
        self.key_signatures = sorted(self.key_signatures, key=lambda k: k.tick)
        self.pickup_ticks = int(self.pickup_ticks)
        if not 0 <= self.pickup_ticks < self.bar_length_at(0):
            raise ValueError(f"a pickup of {self.pickup_ticks} ticks does not fit in the first bar")

    # ---------------------------------------------------------------- notes
    def notes(self) -> Iterator[Note]:
        for track in self.tracks:
            yield from track.notes

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)

    @property
    def is_empty(self) -> bool:
        return self.note_count == 0

    @property
    def end_tick(self) -> int:
        """Tick at which the last note ends (0 for an empty score)."""
        return max((n.end for n in self.notes()), default=0)

    def sort(self) -> Score:
        for track in self.tracks:
            track.sort()
        return self

    def copy(self) -> Score:
        """An independent copy (Notes are immutable, so copying the lists is enough)."""
        return self.with_tracks([t.emptied(list(t.notes)) for t in self.tracks])

    def with_tracks(self, tracks: list[Track]) -> Score:
        """Same tempo/meter map, keys and pickup, other tracks."""
        return Score(tracks, self.tempo_bpm, self.time_signature, self.ticks_per_quarter,
                     list(self.tempo_changes), list(self.time_signature_changes),
                     list(self.key_signatures), self.pickup_ticks)

    # ---------------------------------------------------------------- keys and pickup
    def key_signature_at(self, tick: int) -> KeySignature | None:
        """The written key in force at `tick` (the first one before it starts), or None."""
        chosen = self.key_signatures[0] if self.key_signatures else None
        for key in self.key_signatures:
            if key.tick > tick:
                break
            chosen = key
        return chosen

    @property
    def music_start(self) -> int:
        """Where the written music starts: the pickup's first tick, else 0."""
        return self.bar_length_at(0) - self.pickup_ticks if self.pickup_ticks else 0

    def bar_number(self, bar: int) -> int:
        """The number a musician gives bar index `bar`: a pickup bar is 0, else bars count from
        1."""
        return bar if self.pickup_ticks else bar + 1

    def bars_label(self, first: int, end: int) -> str:
        """"bar 3" or "bars 3-5" for bar indices first..end-1, numbered as musicians do."""
        low, high = self.bar_number(first), self.bar_number(end - 1)
        return f"bar {low}" if high <= low else f"bars {low}-{high}"

    # ---------------------------------------------------------------- tempo map
    def tempo_at(self, tick: int) -> float:
        bpm = self.tempo_bpm
        for change in self.tempo_changes:
            if change.tick > tick:
                break
            bpm = change.bpm
        return bpm

    def _tempo_segments(self) -> list[tuple[int, float, float]]:
        """(start tick, seconds at that tick, seconds per tick) for each constant-tempo run."""
        segments = []
        tick, seconds, bpm = 0, 0.0, self.tempo_bpm
        for change in self.tempo_changes:
            if change.tick <= tick:
                bpm = change.bpm
                continue
            per_tick = 60.0 / (bpm * self.ticks_per_quarter)
            segments.append((tick, seconds, per_tick))
            seconds += (change.tick - tick) * per_tick
            tick, bpm = change.tick, change.bpm
        segments.append((tick, seconds, 60.0 / (bpm * self.ticks_per_quarter)))
        return segments

    def seconds_at(self, tick: int) -> float:
        segments = self._tempo_segments()
        index = bisect.bisect_right([s[0] for s in segments], tick) - 1
        start, seconds, per_tick = segments[max(index, 0)]
        return seconds + (tick - start) * per_tick

    def tick_at_seconds(self, seconds: float) -> int:
        segments = self._tempo_segments()
        index = bisect.bisect_right([s[1] for s in segments], seconds) - 1
        start, base, per_tick = segments[max(index, 0)]
        return int(round(start + (seconds - base) / per_tick))

    # ---------------------------------------------------------------- meter and bars
    def time_signature_at(self, tick: int) -> tuple[int, int]:
        signature = self.time_signature
        for change in self.time_signature_changes:
            if change.tick > tick:
                break
            signature = (change.numerator, change.denominator)
        return signature

    def _meter_segments(self) -> list[tuple[int, int, int]]:
        """(start tick, bar index at that tick, bar length) for each run of one meter.

        A change that falls inside a bar starts a new bar at its own tick, as notation
        programs do when a file puts a meter change mid-bar."""
        segments = []
        tick, bar, length = 0, 0, bar_ticks(self.time_signature, self.ticks_per_quarter)
        for change in self.time_signature_changes:
            new_length = bar_ticks((change.numerator, change.denominator), self.ticks_per_quarter)
            if change.tick <= tick:
                length = new_length
                continue
            bars = -(-(change.tick - tick) // length)  # bars started before the change
            segments.append((tick, bar, length))
            tick, bar, length = change.tick, bar + bars, new_length
        segments.append((tick, bar, length))
        return segments

    def bar_length_at(self, tick: int) -> int:
        return bar_ticks(self.time_signature_at(tick), self.ticks_per_quarter)

    def bar_at(self, tick: int) -> tuple[int, int]:
        """(bar index from 0, offset in ticks from that bar's start) of a tick."""
        segments = self._meter_segments()
        index = bisect.bisect_right([s[0] for s in segments], tick) - 1
        start, bar, length = segments[max(index, 0)]
        bars_in, offset = divmod(tick - start, length)
        return bar + bars_in, offset

    def bar_start(self, bar: int) -> int:
        """Tick at which bar number `bar` (from 0) starts."""
        segments = self._meter_segments()
        chosen = segments[0]
        for segment in segments:
            if segment[1] <= bar:
                chosen = segment
        start, first_bar, length = chosen
        return start + (bar - first_bar) * length

    def bar_starts(self, end_tick: int | None = None) -> list[int]:
        """Start ticks of the bars that begin before `end_tick` (the music's end by default;
        always at least bar 0)."""
        end = self.end_tick if end_tick is None else end_tick
        starts = []
        bar = 0
        while True:
            tick = self.bar_start(bar)
            if tick > end or (tick == end and starts):
                break
            starts.append(tick)
            bar += 1
        return starts

    def beat_at(self, tick: int) -> tuple[int, int, int]:
        """(bar, beat within the bar from 0, offset in ticks within that beat)."""
        bar, offset = self.bar_at(tick)
        beat = beat_ticks(self.time_signature_at(tick), self.ticks_per_quarter)
        return bar, offset // beat, offset % beat

    def next_bar_start(self, tick: int) -> int:
        """The first bar line at or after `tick`."""
        bar, offset = self.bar_at(tick)
        return tick if offset == 0 else self.bar_start(bar + 1)

    # ---------------------------------------------------------------- transforms
    def merged(self, name: str = "merged") -> Score:
        """All pitched tracks in one track (notes ordered by time); drum tracks stay separate."""
        pitched = [t for t in self.tracks if not t.is_drum]
        drums = [t for t in self.tracks if t.is_drum]
        if not pitched:
            return self.with_tracks([t.emptied(list(t.notes)) for t in drums])
        notes = sorted(n for t in pitched for n in t.notes)
        merged = Track(name, pitched[0].program, False, notes, list(pitched[0].program_changes),
                       sorted({span for t in pitched for span in t.pedal},
                              key=lambda span: (span.start, span.end)))
        return self.with_tracks([merged] + [t.emptied(list(t.notes)) for t in drums])

    def notes_out_of_range(self, semitones: int) -> list[Note]:
        return [n for t in self.tracks if not t.is_drum for n in t.notes
                if not PITCH_MIN <= n.pitch + semitones <= PITCH_MAX]

    def transposed(self, semitones: int, *, drop_out_of_range: bool = False) -> Score:
        """Shift every pitched note; drums keep their keys.

        Raises TransposeRangeError (listing the notes) when some would leave 0..127,
        unless `drop_out_of_range`, which leaves those notes out."""
        outside = self.notes_out_of_range(semitones)
        if outside and not drop_out_of_range:
            raise TransposeRangeError(semitones, outside)
        tracks = []
        for track in self.tracks:
            if track.is_drum:
                notes = list(track.notes)
            else:
                notes = [n.moved(pitch=n.pitch + semitones) for n in track.notes
                         if PITCH_MIN <= n.pitch + semitones <= PITCH_MAX]
            tracks.append(track.emptied(notes))
        transposed = self.with_tracks(tracks)
        transposed.key_signatures = [KeySignature(k.tick,
                                                  _transposed_fifths(k.fifths, semitones), k.mode)
                                     for k in self.key_signatures]
        return transposed

    def sliced(self, start: int, end: int, *, shift: bool = True, clip: bool = True) -> Score:
        """Notes starting in [start, end). With `shift`, times move so `start` becomes 0 and
        the tempo/meter in force at `start` become the initial ones. With `clip`, notes that
        ring past `end` are cut at `end`."""
        if end < start:
            raise ValueError("slice end before start")
        offset = start if shift else 0
        tracks = []
        for track in self.tracks:
            notes = []
            for n in track.notes:
                if start <= n.start < end:
                    duration = min(n.duration, end - n.start) if clip else n.duration
                    notes.append(Note(n.pitch, n.start - offset, duration, n.velocity))
            changes = [ProgramChange(max(0, c.tick - offset), c.program)
                       for c in track.program_changes
                       if c.tick < end and (not shift or c.tick > start)]
            pedal = [PedalSpan(max(span.start, start) - offset,
                               (min(span.end, end) if clip else span.end) - offset)
                     for span in track.pedal if span.start < end and span.end > start]
            tracks.append(Track(track.name, track.program_at(start) if shift else track.program,
                                track.is_drum, notes, changes, pedal))
        if not shift:
            return self.with_tracks(tracks)
        numerator, denominator = self.time_signature_at(start)
        key = self.key_signature_at(start)
        keys = ([KeySignature(0, key.fifths, key.mode)] if key is not None else []) + [
            KeySignature(k.tick - start, k.fifths, k.mode) for k in self.key_signatures
            if start < k.tick < end]
        return Score(
            tracks, self.tempo_at(start), (numerator, denominator), self.ticks_per_quarter,
            [TempoChange(c.tick - start, c.bpm) for c in self.tempo_changes
             if start < c.tick < end],
            [TimeSignatureChange(c.tick - start, c.numerator, c.denominator)
             for c in self.time_signature_changes if start < c.tick < end],
            keys, self.pickup_ticks if start == 0 else 0,
        )

    def shifted(self, ticks: int) -> Score:
        """Everything `ticks` (>= 0) later: notes, program changes and every later tempo,
        meter and key change; what holds from the start (the opening tempo, meter, key)
        still does. Makes room before the music, e.g. to put a pickup at the end of bar 0."""
        if ticks < 0:
            raise ValueError("a score can only be shifted later")

        def later(tick: int) -> int:
            return tick + ticks if tick else 0

        tracks = [Track(t.name, t.program, t.is_drum,
                        [n.moved(start=n.start + ticks) for n in t.notes],
                        [ProgramChange(c.tick + ticks, c.program) for c in t.program_changes],
                        [PedalSpan(p.start + ticks, p.end + ticks) for p in t.pedal])
                  for t in self.tracks]
        return Score(tracks, self.tempo_bpm, self.time_signature, self.ticks_per_quarter,
                     [TempoChange(later(c.tick), c.bpm) for c in self.tempo_changes],
                     [TimeSignatureChange(later(c.tick), c.numerator, c.denominator)
                      for c in self.time_signature_changes],
                     [KeySignature(later(k.tick), k.fifths, k.mode) for k in self.key_signatures],
                     self.pickup_ticks)

    def quantized(self, grid: int) -> Score:
        """Starts and ends snapped to the nearest multiple of `grid` ticks (at least one step
        long)."""
        if grid <= 0:
            raise ValueError("grid must be positive")

        def snap(tick: int) -> int:
            return ((tick + grid // 2) // grid) * grid

        tracks = []
        for track in self.tracks:
            notes = []
            for n in track.notes:
                start = snap(n.start)
                end = max(snap(n.end), start + grid)
                notes.append(Note(n.pitch, start, end - start, n.velocity))
            tracks.append(track.emptied(sorted(notes)))
        return self.with_tracks(tracks)

    def resampled(self, ticks_per_quarter: int) -> Score:
        """The same music at another resolution (rounding to the nearest tick)."""
        if ticks_per_quarter == self.ticks_per_quarter:
            return self.copy()
        factor = ticks_per_quarter / self.ticks_per_quarter

        def scale(tick: int) -> int:
            return int(round(tick * factor))

        tracks = [
            Track(t.name, t.program, t.is_drum,
                  sorted(Note(n.pitch, scale(n.start),
                              max(1, scale(n.end) - scale(n.start)), n.velocity)
                         for n in t.notes),
                  [ProgramChange(scale(c.tick), c.program) for c in t.program_changes],
                  [PedalSpan(scale(p.start), scale(p.end)) for p in t.pedal])
            for t in self.tracks
        ]
        return Score(tracks, self.tempo_bpm, self.time_signature, ticks_per_quarter,
                     [TempoChange(scale(c.tick), c.bpm) for c in self.tempo_changes],
                     [TimeSignatureChange(scale(c.tick), c.numerator, c.denominator)
                      for c in self.time_signature_changes],
                     [KeySignature(scale(k.tick), k.fifths, k.mode) for k in self.key_signatures],
                     scale(self.pickup_ticks))

    # ---------------------------------------------------------------- numpy views
    def note_array(self) -> np.ndarray:
        """All notes as a structured array (NOTE_DTYPE), sorted by (start, pitch)."""
        count = self.note_count
        array = np.empty(count, dtype=NOTE_DTYPE)
        row = 0
        for index, track in enumerate(self.tracks):
            for n in track.notes:
                array[row] = (n.pitch, n.start, n.duration, n.velocity, index)
                row += 1
        return array[np.lexsort((array["pitch"], array["start"]))]

    @staticmethod
    def tracks_from_note_array(array: np.ndarray, templates: Iterable[Track]) -> list[Track]:
        """Tracks shaped like `templates` (name/program/drum) filled from a note array."""
        tracks = [t.emptied() for t in templates]
        for pitch, start, duration, velocity, track in array.tolist():
            tracks[track].notes.append(Note(pitch, start, duration, velocity))
        for track in tracks:
            track.sort()
        return tracks

    def pitch_class_histogram(self) -> np.ndarray:
        """Duration-weighted histogram of the 12 pitch classes over pitched tracks."""
        histogram = np.zeros(12)
        for track in self.tracks:
            if track.is_drum:
                continue
            for n in track.notes:
                histogram[n.pitch % 12] += n.duration
        return histogram

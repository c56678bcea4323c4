"""Reading notation files (MusicXML, compressed MusicXML, ABC, Humdrum) through music21,
within budgets checked before music21 sees a byte, into our Score at 480 ticks per quarter:
tied notes merged, pickups in their metrical place, written keys and barlines kept.

`ml_core.midi_io.read_score` calls `read_notation` for every notation extension; music21 is
imported only when a file is read, so importing this module stays fast. Errors are
`MidiFileError`s with one line a person understands.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from ml_core.midi_io import (
    DEFAULT_VELOCITY,
    DRUM_CHANNEL,
    MidiFileError,
    _display_name,
    _read_checked,
)
from ml_core.music import (
    TICKS_PER_QUARTER,
    KeySignature,
    Note,
    Score,
    TempoChange,
    TimeSignatureChange,
    Track,
    bar_ticks,
    is_valid_time_signature,
)

# Budgets checked before music21 sees a byte: music21 holds about 40 bytes of objects per
# byte of MusicXML (190 MB for the Grosse Fuge's 4.9 MB), so these keep a parse under ~2 GB.
MAX_NOTATION_BYTES = 50 * 1024 * 1024     # MusicXML text, after decompression for .mxl
MAX_NOTATION_NOTES = 100_000              # <note> elements; the Grosse Fuge has 8,892
MAX_TEXT_NOTATION_BYTES = 5 * 1024 * 1024  # ABC and Humdrum (the corpus's largest is 248 KB)
_INFLATE_CHUNK = 1 << 20


def _ticks(quarter_length: Any) -> int:
    return int(round(Fraction(quarter_length) * TICKS_PER_QUARTER))


def _megabytes(size: int) -> str:
    return f"{size // 2**20} MB"


# MusicXML comes in UTF-8 or UTF-16 (part of the music21 corpus): look for both
_NOTE_TAGS = [tag.encode(encoding) for tag in ("<note>", "<note ")
              for encoding in ("utf-8", "utf-16-le", "utf-16-be")]
_UTF16_MARKS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def _count_xml_notes(chunks: Iterable[bytes]) -> int:
    """<note> elements in a stream of XML chunks (a tag cut by a chunk border still counts once)."""
    count = 0
    tails = dict.fromkeys(_NOTE_TAGS, b"")
    for chunk in chunks:
        for tag, tail in tails.items():
            window = tail + chunk
            count += window.count(tag)
            tails[tag] = window[-(len(tag) - 1):]   # shorter than the tag: never counted twice
    return count


def _xml_head(data: bytes) -> bytes:
    """The start of an XML file as UTF-8 bytes, whatever its encoding mark says."""
    for mark, encoding in _UTF16_MARKS.items():
        if data.startswith(mark):
            return data[2:8194].decode(encoding, errors="ignore").encode()
    return data[:4096]


def _check_xml_notes(name: str, notes: int) -> None:
    if notes > MAX_NOTATION_NOTES:
        raise MidiFileError(f"{name}: the score has too many notes (more than "
                            f"{MAX_NOTATION_NOTES:,})")


def _check_archive(data: bytes, name: str) -> None:
    """Refuse an .mxl whose members expand past MAX_NOTATION_BYTES, by their declared sizes
    first and then by inflating them in 1 MB chunks (a forged header cannot lie past the cap);
    memory stays at one chunk whatever the archive claims."""
    too_big = MidiFileError(f"{name}: the compressed score expands to more than "
                            f"{_megabytes(MAX_NOTATION_BYTES)}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if sum(info.file_size for info in members) > MAX_NOTATION_BYTES:
                raise too_big
            expanded = notes = 0
            for info in members:
                def inflated(info: zipfile.ZipInfo = info) -> Iterator[bytes]:
                    nonlocal expanded
                    with archive.open(info) as member:
                        while chunk := member.read(_INFLATE_CHUNK):
                            expanded += len(chunk)
                            if expanded > MAX_NOTATION_BYTES:
                                raise too_big
                            yield chunk
                notes += _count_xml_notes(inflated())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError,
            RuntimeError, ValueError) as error:  # corrupt, encrypted or unsupported archives
        detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise MidiFileError(f"{name}: not a compressed MusicXML file ({detail})") from None
    _check_xml_notes(name, notes)


def _check_notation_budget(data: bytes, extension: str, name: str) -> None:
    """Refuse a notation file too big to parse safely, before music21 is imported."""
    if extension == ".mxl":
        if data[:2] == b"PK":
            _check_archive(data, name)
    elif extension in (".xml", ".musicxml"):
        if len(data) > MAX_NOTATION_BYTES:
            raise MidiFileError(f"{name}: the MusicXML file is larger than "
                                f"{_megabytes(MAX_NOTATION_BYTES)}")
        _check_xml_notes(name, _count_xml_notes([data]))
    elif len(data) > MAX_TEXT_NOTATION_BYTES:
        kind = "ABC" if extension == ".abc" else "Humdrum"
        raise MidiFileError(f"{name}: the {kind} file is larger than "
                            f"{_megabytes(MAX_TEXT_NOTATION_BYTES)}")
    else:
        _check_xml_notes(name, _count_text_events(data, extension))


_ABC_FIELD = re.compile(rb"\s*[A-Za-z+]:")               # a header or inline field line: no notes
_ABC_NOT_NOTES = re.compile(rb'"[^"]*"|![^!]*!|%.*')      # chord symbols, decorations, comments
_ABC_NOTE = re.compile(rb"[A-Ga-gxz]")                   # a note or rest letter


def _count_text_events(data: bytes, extension: str) -> int:
    """The notes and rests of an ABC or Humdrum file, counted in one pass without parsing
    (an estimate for the budget): ABC note and rest letters outside fields, chord symbols,
    decorations and comments; Humdrum tokens of data lines, nulls included. The largest
    files of the music21 corpus count 48,163 and 21,376."""
    count = 0
    for line in data.splitlines():
        if extension == ".krn":
            if line and line[:1] not in b"!*=":
                count += line.count(b"\t") + 1
        elif not _ABC_FIELD.match(line):
            count += len(_ABC_NOTE.findall(_ABC_NOT_NOTES.sub(b"", line)))
    return count


def _tie_merges(container: Any) -> tuple[dict[int, Any], set[int]]:
    """Which notes music21's `stripTies` (matchByPitch=True) would lengthen and which it would
    delete, found in one pass over the same elements without copying or editing anything:
    ({id(first note): merged quarter length}, {id(deleted note)}).

    It follows stripTies rule for rule, including its quirks (rests take part in the
    sequence; a Part with voices inside its measures is read as one flattened sequence),
    so scores come out note for note as they did when we called it. stripTies itself costs
    minutes on a large score: a deep copy, a re-sort per removed note, a spanner scan per tie."""
    from music21 import chord, note, stream
    from music21.common.numberTools import opFrac

    lengths: dict[int, Any] = {}
    deleted: set[int] = set()
    if container.hasPartLikeStreams():
        for inner in container.getElementsByClass(stream.Stream):
            inner_lengths, inner_deleted = _tie_merges(inner)
            lengths.update(inner_lengths)
            deleted |= inner_deleted
        return lengths, deleted
    if container.hasVoices():
        for voice in container.voices:
            inner_lengths, inner_deleted = _tie_merges(voice)
            lengths.update(inner_lengths)
            deleted |= inner_deleted
        return lengths, deleted

    items = [element for element in container.flatten().notesAndRests if element.quarterLength > 0]
    ties = [getattr(element, "tie", None) for element in items]
    tie_types = [tie.type if tie is not None else None for tie in ties]
    is_chord = [isinstance(element, chord.Chord) for element in items]

    def ends_chain(index: int, previous_connected: bool) -> bool:
        """stripTies' updateEndMatch: does element `index` close the open chain?"""
        if not is_chord[index] and tie_types[index] == "stop":
            return True
        if index == 0 or not previous_connected:
            return False
        last, current = items[index - 1], items[index]
        if (hasattr(last, "pitch") and hasattr(current, "pitch") and not is_chord[index - 1]
                and not is_chord[index] and last.pitch == current.pitch):
            return True
        if (not isinstance(current, note.Note) and hasattr(last, "pitches")
            and hasattr(current, "pitches")):
            if len(last.pitches) != len(current.pitches):
                return False
            return all(before.step == after.step and before.isEnharmonic(after)
                       for before, after in zip(last.pitches, current.pitches, strict=False))
        return False

    # the open chain; it holds index - 1 only if the previous element joined
    connected: list[int] = []
    for index in range(len(items)):
        previous_connected = bool(connected) and connected[-1] == index - 1
        kind = tie_types[index]
        if kind == "start":
            if not previous_connected:
                connected = [index]
            else:
                connected.append(index)
            continue
        if kind == "continue":
            if not connected:
                connected.append(index)
            elif ends_chain(index, previous_connected):
                connected.append(index)
            else:
                connected = [index]
            continue
        if not ends_chain(index, previous_connected):
            continue
        connected.append(index)
        if len(connected) < 2:    # a stop without a start: left as it is
            connected = []
            continue
        first = items[connected[0]]
        added = 0
        for position in connected[1:]:
            added += lengths.get(id(items[position]), items[position].quarterLength)
            deleted.add(id(items[position]))
        lengths[id(first)] = opFrac(lengths.get(id(first), first.quarterLength) + added)
        connected = []
    return lengths, deleted


def _part_notes(part: Any) -> list[Note]:
    """The part's notes with ties merged (our linear pass), rests and grace notes skipped."""
    lengths, deleted = _tie_merges(part)
    return _notes_of(part.flatten().notes, lengths, deleted)


def _part_notes_strip_ties(part: Any) -> list[Note]:
    """The reference: the same notes through music21's own stripTies (minutes on big scores).
    Kept for tests and bench/open_file.py, which compare the two."""
    return _notes_of(part.stripTies(inPlace=False).flatten().notes, {}, set())


def _notes_of(elements: Iterable[Any], lengths: dict[int, Any], deleted: set[int]) -> list[Note]:
    notes = []
    for element in elements:
        if id(element) in deleted:
            continue
        duration = _ticks(lengths.get(id(element), element.quarterLength))
        if duration <= 0:
            continue
        velocity = (element.volume.velocity if element.volume.velocity is not None
                    else DEFAULT_VELOCITY)
        start = _ticks(element.offset)
        for pitch in element.pitches:
            if 0 <= pitch.midi <= 127:
                notes.append(Note(pitch.midi, start, duration, int(velocity)))
    return sorted(notes)


def _pickup_quarters(part: Any) -> Fraction:
    """How long the part's opening pickup is, in quarters (0 when its first measure is full):
    music21 marks it as a first measure with left padding, or a short measure 0."""
    first = next(iter(part.getElementsByClass("Measure")), None)
    if first is None:
        return Fraction(0)
    try:
        bar = Fraction(first.barDuration.quarterLength)
    except Exception:  # no meter in force: nothing to be short of
        return Fraction(0)
    padding = Fraction(first.paddingLeft or 0)
    if 0 < padding < bar:
        return bar - padding
    length = Fraction(first.duration.quarterLength)
    return length if first.number == 0 and 0 < length < bar else Fraction(0)


def _written_keys(part: Any) -> list[KeySignature]:
    """The key signatures written in a part, in time order, repeats left out."""
    keys: list[KeySignature] = []
    for sign in part.flatten().getElementsByClass("KeySignature"):
        if not -7 <= sign.sharps <= 7:
            continue
        mode = getattr(sign, "mode", "")
        key = KeySignature(_ticks(sign.offset), int(sign.sharps),
                           mode if mode in ("major", "minor") else "")
        if keys and keys[-1].tick == key.tick:
            keys[-1] = key
        elif not keys or (keys[-1].fifths, keys[-1].mode) != (key.fifths, key.mode):
            keys.append(key)
    return keys


def score_from_music21(stream: Any, *, piece: int = 0,
                       part_notes: Callable[[Any], list[Note]] = _part_notes) -> Score:
    """A music21 Score/Part/Stream (or piece `piece` of an Opus) as a Score at 480 tpq.

    Parts become tracks (tied notes merged, rests and grace notes skipped, each chord
    pitch a note); metronome marks and time signatures become the tempo and meter map,
    key signatures the written keys. A pickup keeps its metrical place: everything moves
    on so that the pickup ends bar 0 and the first full measure starts bar 1.
    `part_notes` is for comparing with the stripTies reference only."""
    from music21 import stream as streams
    from music21.instrument import UnpitchedPercussion

    if isinstance(stream, streams.Opus):
        scores = list(stream.scores)
        if not scores:
            raise ValueError("the collection holds no pieces")
        stream = scores[piece]
    parts = (list(stream.parts) if isinstance(stream, streams.Score) else []) or [stream]
    everything = stream.flatten()
    tempos = {_ticks(mark.offset): float(mark.getQuarterBPM())
              for mark in everything.getElementsByClass("MetronomeMark")
              if (mark.getQuarterBPM() or 0) > 0}
    meters = {_ticks(sign.offset): (sign.numerator, sign.denominator)
              for sign in everything.getElementsByClass("TimeSignature")
              if is_valid_time_signature(sign.numerator, sign.denominator)}
    meter = meters.pop(0, (4, 4))
    tracks = []
    for part in parts:
        instrument = part.getInstrument(returnDefault=True)
        program = instrument.midiProgram if instrument.midiProgram is not None else 0
        is_drum = (instrument.midiChannel == DRUM_CHANNEL
                   or isinstance(instrument, UnpitchedPercussion))
        name = part.partName or instrument.instrumentName or ""
        tracks.append(Track(str(name), int(program), bool(is_drum), part_notes(part)))
    score = Score(tracks, tempos.pop(0, 120.0), meter, TICKS_PER_QUARTER,
                  [TempoChange(tick, bpm) for tick, bpm in sorted(tempos.items())],
                  [TimeSignatureChange(tick, *meter) for tick, meter in sorted(meters.items())],
                  _written_keys(parts[0]))
    pickup = _ticks(_pickup_quarters(parts[0]))
    shift = bar_ticks(meter) - pickup if 0 < pickup < bar_ticks(meter) else 0
    if shift:   # the pickup ends bar 0: everything moves on by the bar's missing beats
        score = score.shifted(shift)
        score.pickup_ticks = pickup
    _keep_barlines(score, parts[0], shift)
    return score


def _keep_barlines(score: Score, part: Any, shift: int) -> None:
    """Give every measure that starts on its beat 1 a barline of ours: after an irregular
    measure (a short phrase-end bar written without a new meter) the meter restarts at the
    next measure, as notation programs count it. A measure that music21 pads on the left
    (the second half of a bar split by a repeat sign) continues the bar before it."""
    for measure in list(part.getElementsByClass("Measure"))[1:]:
        if measure.paddingLeft:
            continue
        tick = _ticks(measure.offset) + shift
        if tick and score.bar_at(tick)[1]:
            score.time_signature_changes = sorted(
                [*score.time_signature_changes,
                 TimeSignatureChange(tick, *score.time_signature_at(tick))],
                key=lambda change: change.tick)


_NOTATION_FORMATS = {".xml": ("musicxml", "MusicXML"), ".musicxml": ("musicxml", "MusicXML"),
                     ".mxl": ("musicxml", "compressed MusicXML"), ".abc": ("abc", "ABC"),
                     ".krn": ("humdrum", "Humdrum")}


_skip_beaming = threading.local()


@contextlib.contextmanager
def _no_beaming() -> Iterator[None]:
    """music21's ABC reader spends two thirds of its time drawing beams and stems (makeBeams),
    which hold no notes. Skip them, in this thread only: other threads (an export running
    meanwhile) still get music21's own method."""
    from music21 import stream as streams

    if not getattr(streams.Stream.makeBeams, "skippable", False):
        original = streams.Stream.makeBeams

        def make_beams(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(_skip_beaming, "active", False):
                return None if kwargs.get("inPlace") else self
            return original(self, *args, **kwargs)

        make_beams.skippable = True  # type: ignore[attr-defined]
        streams.Stream.makeBeams = make_beams
    _skip_beaming.active = True
    try:
        yield
    finally:
        _skip_beaming.active = False


def read_notation(path: str | os.PathLike[str], allow_empty: bool = False,
                  every_piece: bool = False,
                  part_notes: Callable[[Any], list[Note]] = _part_notes) -> list[Score]:
    """Parse a notation file within its budgets: the first piece, or every piece of a collection."""
    name = _display_name(path)
    extension = Path(path).suffix.lower()
    data = _read_checked(path)
    _check_notation_budget(data, extension, name)
    music21_format, kind = _NOTATION_FORMATS[extension]
    try:
        if extension == ".mxl" and data[:2] != b"PK":
            raise ValueError("not a zip archive")
        if extension in (".xml", ".musicxml") and not any(root in _xml_head(data) for root in (
                b"<score-partwise", b"<score-timewise")):
            raise ValueError("no <score-partwise> element")
        from music21 import converter
        from music21 import stream as streams

        # the reference: as before
        skip_beams = music21_format == "abc" and part_notes is _part_notes
        with _no_beaming() if skip_beams else contextlib.nullcontext():
            parsed = converter.parse(str(path), format=music21_format, forceSource=True)
        count = len(parsed.scores) if every_piece and isinstance(parsed, streams.Opus) else 1
        scores = [score_from_music21(parsed, piece=index, part_notes=part_notes)
                  for index in range(count)]
    except Exception as error:  # music21 raises many unrelated types for bad input
        detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise MidiFileError(f"{name}: not a {kind} file ({detail})") from None
    kept = scores if allow_empty else [score for score in scores if not score.is_empty]
    if not kept:
        raise MidiFileError(f"{name}: the file has no notes")
    return kept

"""A Score as MusicXML that notation programs show as a musician would write it.

What MuseScore and Finale write and readers expect (STYLE.md): the key signature (the
written one, else the estimated key) with every pitch spelled in it, so accidentals appear
only where the music leaves the key; a clef per part chosen by its range (bass clef for a
low part, the octave-transposing treble clef for a tenor range); visible rests in empty
bars; a pickup as an incomplete first measure numbered 0; an irregular bar (a short
phrase-end bar) as a short measure; the sustain pedal as pedal lines (a start and a stop
per span, a re-pedal a stop and a start at one place: MuseScore 3 draws no "change" notch
and music21 reads back none that it writes); the document's name as the title and no
invented composer. music21 builds the measures, voices and ties; it is imported only here, when
a file is exported. `midi_io.write_musicxml` writes the bytes atomically.
"""

from __future__ import annotations

import bisect
from fractions import Fraction
from typing import Any

import numpy as np

from ml_core.keys import estimate_key, fifths_of_key, key_of_signature
from ml_core.music import Note, PedalSpan, Score, Track, bar_ticks, meter_of_length
from ml_core.pitch import spelling

# Measured on Bach's chorales: soprano and alto medians D4 and up; tenors have medians
# A#3-C#4 and never go below C3; basses have medians C3-F#3 and go down to C2-F#2.
TREBLE_FROM = 62     # a median pitch at or above D4: treble clef
TENOR_LOWEST = 48    # below that median, a part that stays at or above C3...
TENOR_MEDIAN = 55    # ...around G3 or higher is a tenor: treble clef an octave down; else bass


def clef_for(track: Track) -> str:
    """"treble", "treble8vb", "bass" or "percussion" by the track's range."""
    if track.is_drum:
        return "percussion"
    if not track.notes:
        return "treble"
    pitches = [n.pitch for n in track.notes]
    median = float(np.median(pitches))
    if median >= TREBLE_FROM:
        return "treble"
    return "treble8vb" if min(pitches) >= TENOR_LOWEST and median >= TENOR_MEDIAN else "bass"


def notation_keys(score: Score) -> list[tuple[int, int, str]]:
    """(tick, fifths, mode) of every key to write: the written ones, each with its mode
    (the relative major or minor that fits where the source gives none), else the
    estimated key at the start."""
    histogram = score.pitch_class_histogram()
    if not score.key_signatures:
        key = estimate_key(score)
        return [(0, fifths_of_key(key), key[1])]
    keys = []
    for signature in score.key_signatures:
        _, mode = key_of_signature(signature.fifths, signature.mode, histogram)
        keys.append((signature.tick, signature.fifths, mode))
    if keys[0][0] > 0:   # a first signature after the start holds from the start
        keys[0] = (0, *keys[0][1:])
    return keys


def _quarters(ticks: int, ticks_per_quarter: int) -> Fraction:
    """The nearest sixteenth or eighth-note-triplet position, in quarters (notation needs one)."""
    exact = Fraction(ticks, ticks_per_quarter)
    return min((Fraction(round(exact * steps), steps) for steps in (4, 3)),
               key=lambda q: abs(q - exact))


def _meter_marks(score: Score, end: int) -> list[tuple[int, tuple[int, int], bool]]:
    """(tick, meter, visible) of each time signature to write. A bar shorter than its
    meter (a change inside a bar starts a new one) gets a hidden signature of its own
    length, and the meter after it a hidden one again, so the bar prints as irregular."""
    marks: list[tuple[int, tuple[int, int], bool]] = []
    shown = None
    starts = score.bar_starts(end)
    for index, start in enumerate(starts):
        meter = score.time_signature_at(start)
        nominal = bar_ticks(meter, score.ticks_per_quarter)
        length = starts[index + 1] - start if index + 1 < len(starts) else nominal
        written = meter
        if length != nominal and (start > 0 or not score.pickup_ticks):
            written = meter_of_length(length, meter[1], score.ticks_per_quarter) or meter
        if written != meter:
            marks.append((start, written, False))
        elif meter != shown:
            marks.append((start, meter, True))
            shown = meter
        elif marks and not marks[-1][2] and marks[-1][1] != meter:
            marks.append((start, meter, False))   # back to the meter after an irregular bar
    return marks


def _music21_key(fifths: int, mode: str) -> Any:
    from music21 import key

    if mode in ("major", "minor"):
        return key.KeySignature(fifths).asKey(mode)
    return key.KeySignature(fifths)


def _music21_clef(name: str) -> Any:
    from music21 import clef

    return {"treble": clef.TrebleClef, "treble8vb": clef.Treble8vbClef, "bass": clef.BassClef,
            "percussion": clef.PercussionClef}[name]()


def _pitch(midi: int, fifths: int, mode: str) -> Any:
    from music21 import pitch

    letter, alteration, octave = spelling(midi, fifths, mode)
    written = pitch.Pitch(letter, octave=octave)
    if alteration:
        written.accidental = pitch.Accidental(alteration)
    return written


def _part(score: Score, track: Track, index: int, keys: list[tuple[int, int, str]],
          meters: list[tuple[int, tuple[int, int], bool]], end: Fraction) -> Any:
    from music21 import chord, instrument, meter, note, stream, tempo

    tpq = score.ticks_per_quarter
    part = stream.Part()
    part.partName = track.name or None
    sound = (instrument.UnpitchedPercussion() if track.is_drum
             else instrument.instrumentFromMidiProgram(track.program))
    sound.midiProgram = track.program
    if track.name:   # later systems show the part's own short name, not its instrument's
        sound.instrumentAbbreviation = track.name if len(track.name) <= 5 else track.name[:3] + "."
    part.insert(0, sound)
    part.insert(0, _music21_clef(clef_for(track)))
    for tick, fifths, mode in keys:
        part.insert(_quarters(tick, tpq), _music21_key(fifths, mode))
    for tick, (top, bottom), visible in meters:
        signature = meter.TimeSignature(f"{top}/{bottom}")
        signature.style.hideObjectOnPrint = not visible
        part.insert(_quarters(tick, tpq), signature)
    if index == 0:
        for tick, bpm in [(0, score.tempo_bpm)] + [(c.tick, c.bpm) for c in score.tempo_changes]:
            part.insert(_quarters(tick, tpq), tempo.MetronomeMark(number=round(bpm, 3)))
    for change in track.program_changes:
        later = instrument.instrumentFromMidiProgram(change.program)
        later.midiProgram = change.program
        part.insert(_quarters(change.tick, tpq), later)
    key_ticks = [tick for tick, _, _ in keys]
    by_time: dict[tuple[Fraction, Fraction], list[Note]] = {}   # same start and end: one chord
    for n in track.notes:
        start, stop = _quarters(n.start, tpq), _quarters(n.end, tpq)
        by_time.setdefault((start, max(stop, start + Fraction(1, 4))), []).append(n)
    for (start, stop), group in sorted(by_time.items()):
        where = int(np.searchsorted(key_ticks, group[0].start, side="right"))
        _, fifths, mode = keys[max(0, where - 1)]
        pitches = [_pitch(p, fifths, mode) for p in sorted({n.pitch for n in group})]
        element = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
        element.quarterLength = stop - start
        element.volume.velocity = group[0].velocity
        part.insert(start, element)
    part.makeNotation(inPlace=True, refStreamOrTimeRange=[0, end])
    for number, voice in enumerate(part.recurse().getElementsByClass(stream.Voice)):
        voice.id = str(int(voice.id) + 1) if str(voice.id).isdigit() else str(number + 1)
    return part


def _cut_pickup(part: Any, padding: Fraction) -> None:
    """Make the first measure the incomplete one a pickup is: drop the rests filling its
    first `padding` quarters, move the rest and every later measure back by `padding`,
    and number the measures from 0."""
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    first = measures[0]
    for container in [first, *first.voices]:
        for element in list(container.notesAndRests):
            end = Fraction(element.offset) + Fraction(element.quarterLength)
            if end <= padding:
                container.remove(element)
            elif element.offset < padding and element.isRest:   # a rest across the pickup's start
                element.quarterLength = end - padding
                container.setElementOffset(element, 0.0)
            else:
                container.setElementOffset(element, element.offset - padding)
    first.paddingLeft = float(padding)
    for measure in measures[1:]:
        part.setElementOffset(measure, measure.offset - padding)
    for number, measure in enumerate(measures):
        measure.number = number


def _cut_final_rests(part: Any, length: Fraction) -> None:
    """End the last measure after `length` quarters: drop the rests that follow."""
    from music21 import stream

    last = list(part.getElementsByClass(stream.Measure))[-1]
    for container in [last, *last.voices]:
        for element in list(container.notesAndRests):
            if element.isRest and element.offset >= length:
                container.remove(element)
    last.paddingRight = float(Fraction(last.barDuration.quarterLength) - length)


def _mark_pedal(part: Any, pedal: list[PedalSpan], tpq: int, padding: Fraction) -> None:
    """Draw each sustain pedal span as a pedal line in `part`'s measures: its ends snapped
    like the notes (`_quarters`, less a pickup's `padding`), a span that snaps to nothing
    left out. Each end is a `SpannerAnchor` at its place in its measure."""
    from music21 import expressions, spanner, stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not pedal or not measures:
        return
    starts = [Fraction(m.offset) for m in measures]
    last = measures[-1]
    piece_end = starts[-1] + Fraction(last.duration.quarterLength)

    def anchor(quarters: Fraction) -> Any:
        index = max(0, bisect.bisect_right(starts, quarters) - 1)
        mark = spanner.SpannerAnchor()
        measures[index].insert(float(quarters - starts[index]), mark)
        return mark

    for span in pedal:
        start = max(Fraction(0), _quarters(span.start, tpq) - padding)
        stop = min(piece_end, _quarters(span.end, tpq) - padding)
        if stop > start:
            mark = expressions.PedalMark(anchor(start), anchor(stop))
            mark.pedalType = expressions.PedalType.Sustain
            mark.pedalForm = expressions.PedalForm.Line
            part.insert(0, mark)


def music21_notation(score: Score, title: str = "") -> Any:
    """The Score as a music21 Score laid out for notation (see the module docstring)."""
    from music21 import metadata, stream

    tpq = score.ticks_per_quarter
    last = max(score.end_tick, 1)
    bar_end = score.next_bar_start(last)
    first_note = min((n.start for n in score.notes()), default=0)
    pickup = score.pickup_ticks and first_note >= score.music_start
    keys = notation_keys(score)
    meters = _meter_marks(score, bar_end)
    end = _quarters(bar_end, tpq)
    piece = stream.Score()
    piece.metadata = metadata.Metadata()
    piece.metadata.title = title
    tracks = score.tracks or [Track()]
    parts = [_part(score, track, index, keys, meters, end) for index, track in enumerate(tracks)]
    for part in parts:
        piece.insert(0, part)
    # rests in every gap and empty bar, visible (music21's exporter would add hidden ones)
    piece.makeRests(refStreamOrTimeRange=[0.0, piece.highestTime], fillGaps=True, inPlace=True,
                    hideRests=False, timeRangeFromBarDuration=True)
    # a piece with a pickup usually ends on a short bar that completes it
    short_end = pickup and bar_end - last == score.pickup_ticks
    padding = _quarters(score.music_start, tpq) if pickup else Fraction(0)
    for part, track in zip(parts, tracks, strict=True):
        if pickup:
            _cut_pickup(part, padding)
        if short_end:
            _cut_final_rests(part, _quarters(score.music_start, tpq))
        _mark_pedal(part, track.pedal, tpq, padding)
    return piece


def musicxml_bytes(score: Score, title: str = "") -> bytes:
    """The Score as MusicXML text (UTF-8). Raises whatever music21 raises on failure."""
    from music21 import defaults
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    xml = GeneralObjectExporter(music21_notation(score, title)).parse()
    # music21 names itself the composer of a score without one; we invent no composer
    invented = f'<creator type="composer">{defaults.author}</creator>'.encode()
    lines = [line for line in xml.split(b"\n") if line.strip() != invented]
    return b"\n".join(lines)


__all__ = ["clef_for", "music21_notation", "musicxml_bytes", "notation_keys"]

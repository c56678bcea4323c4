"""The sustain pedal in MusicXML export: a pedal line per span, started and stopped at its
measure and beat (read off the file's own <backup>/<forward> arithmetic), a pickup taken
into account, and music21 reading every pedal mark back."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from fractions import Fraction

from ml_core.midi_io import write_musicxml
from ml_core.music import Note, PedalSpan, Score, Track


def pedal_marks(path) -> list[tuple[str, Fraction, str]]:
    """(measure number, quarters into the measure, pedal type) of each <pedal>, in order."""
    marks = []
    root = ElementTree.parse(path).getroot()
    divisions = 1
    for measure in root.iter("measure"):
        position = Fraction(0)
        for element in measure:
            if element.tag == "attributes" and element.find("divisions") is not None:
                divisions = int(element.find("divisions").text)
            elif element.tag == "note" and element.find("chord") is None:
                length = element.find("duration")
                position += Fraction(int(length.text), divisions) if length is not None else 0
            elif element.tag == "backup":
                position -= Fraction(int(element.find("duration").text), divisions)
            elif element.tag == "forward":
                position += Fraction(int(element.find("duration").text), divisions)
            elif element.tag == "direction":
                offset = element.find("offset")
                shift = Fraction(int(offset.text), divisions) if offset is not None else 0
                for pedal in element.iter("pedal"):
                    marks.append((measure.get("number"), position + shift, pedal.get("type")))
    return marks


def pedalled_piano(pickup: int = 0) -> Score:
    """Two bars of 4/4 chords in two voices (held bass, moving treble), after a pickup of
    `pickup` ticks (it ends on the first barline) whose first half the pedal holds."""
    first = 1920 if pickup else 0
    notes = [Note(48, first, 1920), Note(43, first + 1920, 1920)]
    notes += [Note(pitch, first + k * 480, 480) for k, pitch in enumerate(
        (64, 67, 72, 67, 65, 69, 72, 69))]
    notes += [Note(60 + 2 * k, first - pickup + 480 * k, 480) for k in range(pickup // 480)]
    spans = [PedalSpan(first - pickup, first - pickup // 2)] if pickup else []
    spans += [PedalSpan(first + 30, first + 840),             # down late, up before beat 2
              PedalSpan(first + 960, first + 1920),           # re-pedal on beat 3, up at the bar
              PedalSpan(first + 1920, first + 3840)]          # down again there until the end
    return Score([Track("Piano", 0, False, sorted(notes), [], spans)], 90.0, (4, 4),
                 pickup_ticks=pickup)


PEDAL_IN_TWO_BARS = [("1", Fraction(0), "start"), ("1", Fraction(7, 4), "stop"),
                     ("1", Fraction(2), "start"), ("2", Fraction(0), "stop"),
                     ("2", Fraction(0), "start"), ("2", Fraction(4), "stop")]


def test_each_span_is_a_pedal_line_started_and_stopped_in_its_measure(tmp_path):
    path = tmp_path / "pedal.musicxml"
    write_musicxml(pedalled_piano(), path)
    assert pedal_marks(path) == PEDAL_IN_TWO_BARS
    text = path.read_text(encoding="utf-8")
    assert text.count('<pedal line="yes"') == 6


def test_a_pickup_moves_the_pedal_with_its_notes(tmp_path):
    path = tmp_path / "pickup.musicxml"
    write_musicxml(pedalled_piano(pickup=960), path)
    assert pedal_marks(path) == [("0", Fraction(0), "start"), ("0", Fraction(1), "stop"),
                                 *PEDAL_IN_TWO_BARS]


def test_music21_reads_every_pedal_mark_back(tmp_path):
    from music21 import converter, expressions

    path = tmp_path / "pedal.musicxml"
    write_musicxml(pedalled_piano(), path)
    marks = list(converter.parse(str(path), forceSource=True)
                 .recurse().getElementsByClass(expressions.PedalMark))
    assert len(marks) == 3 and all(mark.getSpannedElements() for mark in marks)


def test_a_span_too_short_to_notate_and_a_track_without_pedal_write_no_mark(tmp_path):
    score = pedalled_piano()
    score.tracks[0].pedal = [PedalSpan(10, 40)]          # snaps to nothing on a 16th grid
    path = tmp_path / "short.musicxml"
    write_musicxml(score, path)
    assert pedal_marks(path) == []

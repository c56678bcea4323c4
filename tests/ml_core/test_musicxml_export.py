"""MusicXML export as notation programs read it, checked by reading our file back with
music21: the key and its fifths, every measure and note (pitch, offset, duration) as in
the source, spelling in the key (accidentals only where the music leaves it), clefs by
range, visible whole-bar rests, the pickup as measure 0, the title from the file name."""

from __future__ import annotations

import re

import pytest

from ml_core.midi_io import read_score, write_musicxml
from ml_core.music import KeySignature, Note, Score, Track
from ml_core.musicxml_export import clef_for
from ml_core.notation_io import score_from_music21

# "Ode to Joy" in C major: four bars that never leave the key
ODE = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62]


def c_major_tune() -> Score:
    notes = [Note(pitch, index * 480, 480) for index, pitch in enumerate(ODE)]
    notes[-3] = notes[-3].moved(duration=720)                            # E, dotted
    notes[-2] = notes[-2].moved(start=notes[-3].end, duration=240)       # D, an eighth
    notes[-1] = notes[-1].moved(start=notes[-2].end, duration=960)       # D, a half
    return Score([Track("Melody", 0, False, notes)])


def parsed(path):
    from music21 import converter

    return converter.parse(str(path), forceSource=True)


def notes_of(part) -> list[tuple]:
    """(pitches, offset, duration) of each note or chord, ties merged."""
    return [(tuple(p.midi for p in n.pitches), float(n.getOffsetInHierarchy(part)),
             float(n.quarterLength))
            for n in part.stripTies().flatten().notes]


@pytest.fixture(scope="module")
def bwv66(tmp_path_factory):
    """(the corpus chorale, our export of it re-read by music21, the export's text)."""
    from music21 import corpus

    source = corpus.parse("bach/bwv66.6")
    path = tmp_path_factory.mktemp("xml") / "bwv66.6.musicxml"
    write_musicxml(score_from_music21(source), path)
    return source, parsed(path), path.read_text(encoding="utf-8")


def test_bwv66_6_reads_back_measure_for_measure_and_note_for_note(bwv66):
    source, ours, _ = bwv66
    assert len(ours.parts) == len(source.parts) == 4
    for theirs, mine in zip(source.parts, ours.parts, strict=True):
        assert len(mine.getElementsByClass("Measure")) == len(theirs.getElementsByClass("Measure"))
        assert notes_of(mine) == notes_of(theirs)
    first = ours.parts[0].getElementsByClass("Measure")[0]
    assert first.number == 0 and first.duration.quarterLength == 1.0   # the pickup measure


def test_bwv66_6_keeps_f_sharp_minor_spelled_in_the_key(bwv66):
    source, ours, text = bwv66
    signature = ours.flatten().getElementsByClass("KeySignature")[0]
    assert signature.sharps == 3 and getattr(signature, "mode", None) == "minor"
    assert "<fifths>3</fifths>" in text
    accidentals = text.count("<accidental")
    assert accidentals <= 20            # music21's own export of the chorale writes 10
    # the spelling is the edition's: every pitch name equal in every part, E# as E#, not F
    for theirs, mine in zip(source.parts, ours.parts, strict=True):
        spelled = [p.nameWithOctave for n in mine.stripTies().flatten().notes for p in n.pitches]
        assert spelled == [p.nameWithOctave for n in theirs.stripTies().flatten().notes
                           for p in n.pitches]


def test_bwv66_6_clefs_title_and_no_invented_composer(bwv66):
    _, ours, text = bwv66
    clefs = [part.flatten().getElementsByClass("Clef")[0] for part in ours.parts]
    assert ([(c.sign, c.line, c.octaveChange) for c in clefs] == [("G", 2, 0), ("G", 2, 0),
                                                                  ("G", 2, -1), ("F", 4, 0)])
    assert ours.metadata.bestTitle == "bwv66.6"
    assert "Music21" not in text and "<creator" not in text
    assert 'print-object="no"' not in text


def test_c_major_tune_has_no_accidentals_and_a_c_major_signature(tmp_path):
    path = tmp_path / "Ode to Joy.musicxml"
    write_musicxml(c_major_tune(), path)
    text = path.read_text(encoding="utf-8")
    assert "<accidental" not in text and "<alter>" not in text.replace("<alter>0</alter>", "")
    assert "<fifths>0</fifths>" in text
    back = parsed(path)
    assert back.metadata.bestTitle == "Ode to Joy"
    assert [n[0][0] for n in notes_of(back.parts[0])] == ODE
    assert read_score(path).tracks[0].notes == c_major_tune().tracks[0].notes


def test_written_key_and_key_change_are_exported_and_read_back(tmp_path):
    notes = [Note(62, 0, 480), Note(66, 480, 480), Note(69, 960, 960),       # D major
             Note(70, 1920, 480), Note(65, 2400, 480), Note(62, 2880, 960)]  # D minor-ish, Bb
    score = Score([Track("x", 0, False, notes)],
                  key_signatures=[KeySignature(0, 2, "major"), KeySignature(1920, -1, "minor")])
    path = tmp_path / "keys.musicxml"
    write_musicxml(score, path)
    read = read_score(path)
    assert ([(k.tick, k.fifths, k.mode) for k in read.key_signatures] == [(0, 2, "major"),
                                                                          (1920, -1, "minor")])
    names = [p.name for n in parsed(path).parts[0].flatten().notes for p in n.pitches]
    assert names == ["D", "F#", "A", "B-", "F", "D"]


def test_empty_bars_show_whole_bar_rests_and_a_low_part_gets_a_bass_clef(tmp_path):
    melody = Track("Melody", 0, False, [Note(72, 0, 480), Note(76, 3840, 1920)])   # bar 2 empty
    bass = Track("Bass", 32, False, [Note(36, 0, 1920), Note(43, 1920, 1920), Note(36, 3840, 1920)])
    path = tmp_path / "song.musicxml"
    write_musicxml(Score([melody, bass]), path)
    text = path.read_text(encoding="utf-8")
    assert 'print-object="no"' not in text
    assert '<rest measure="yes"' in text
    back = parsed(path)
    clefs = [part.flatten().getElementsByClass("Clef")[0].sign for part in back.parts]
    assert clefs == ["G", "F"]
    empty_bar = back.parts[0].getElementsByClass("Measure")[1]
    assert ([r.quarterLength for r in empty_bar.notesAndRests] == [4.0]
            and empty_bar.notesAndRests[0].isRest)


def test_clef_by_range():
    def track(pitches):
        return Track("", 0, False, [Note(p, i * 480, 480) for i, p in enumerate(pitches)])

    assert clef_for(track([64, 67, 72])) == "treble"
    assert clef_for(track([53, 57, 59, 60, 62, 64])) == "treble8vb"     # a tenor
    assert clef_for(track([40, 45, 50, 54, 57])) == "bass"
    assert clef_for(Track("", 0, True, [Note(36, 0, 480)])) == "percussion"


def test_export_title_can_be_given():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.musicxml"
        write_musicxml(c_major_tune(), path, title="My Song")
        assert re.search(r"<work-title>My Song</work-title>", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["bach/bwv261.mxl", "ryansMammoth/BattleTheCashJig.abc"])
def test_irregular_bars_and_a_6_8_pickup_read_back_note_for_note(tmp_path, name):
    """bwv261 has a two-beat phrase-end bar written without a new meter; the jig opens with
    an eighth-note pickup and splits a bar at its repeat."""
    from pathlib import Path

    from music21 import corpus
    from music21 import stream as streams

    source = parsed(Path(corpus.__file__).parent / name)
    source = source.scores[0] if isinstance(source, streams.Opus) else source
    path = tmp_path / "piece.musicxml"
    write_musicxml(score_from_music21(source), path)
    ours = parsed(path)
    for theirs, mine in zip(source.parts, ours.parts, strict=True):
        assert notes_of(mine) == notes_of(theirs)

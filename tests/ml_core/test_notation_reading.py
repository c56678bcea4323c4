"""Notation reading: our one-pass tie merging gives the notes music21's stripTies gave,
and size budgets refuse archive bombs and huge scores before music21 sees them.

Bombs and huge scores are built here in the test; nothing big is committed or kept."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ml_core import midi_io, notation_io
from ml_core.midi_io import MidiFileError, read_score, read_scores

# Corpus pieces picked for what they hold: ties across bars, tied chords, grace notes,
# repeats (read as written, as before), voices inside measures, ABC and Humdrum.
REFERENCE_PIECES = [
    "bach/bwv161.6",                            # 48 tied notes, repeat barlines
    "mozart/k80/movement3",                     # grace notes, ties, 24 repeats
    "schoenberg/opus19/movement2",              # piano: two staves, voices, tied chords
    "ryansMammoth/BostonCaledonianClubsJig",    # ABC with grace notes
    "ryansMammoth/PeaPatchJig",                 # ABC with ties
    "palestrina/Agnus_01",                      # Humdrum, long tied notes in 4 voices
]


def corpus_path(work: str) -> Path:
    from music21 import corpus

    found = corpus.getWork(work)
    return Path(found[0] if isinstance(found, list) else found)


@pytest.mark.parametrize("work", REFERENCE_PIECES)
def test_tie_merging_gives_the_notes_strip_ties_gave(work):
    path = corpus_path(work)
    ours, reference = read_score(path), midi_io._read_score_reference(path)
    assert [t.notes for t in ours.tracks] == [t.notes for t in reference.tracks]
    assert ours == reference
    assert ours.note_count > 20


def _two_voice_measures():
    """A part whose measures hold two voices, tied notes, tied chords with "continue",
    a stop without a start, a rest between tied notes and a grace note."""
    from music21 import chord, note, stream, tie

    def tied(element, kind):
        element.tie = tie.Tie(kind)
        return element

    part = stream.Part()
    for number in range(3):
        measure = stream.Measure(number=number + 1)
        upper, lower = stream.Voice(), stream.Voice()
        upper.append([tied(note.Note("C5", quarterLength=2), "stop" if number else "start"),
                      tied(note.Note("D5", quarterLength=1), "start"),
                      tied(note.Note("D5", quarterLength=1), "continue" if number < 2 else "stop")])
        first = chord.Chord(["E3", "G3"], quarterLength=2)
        second = chord.Chord(["E3", "G3"], quarterLength=1)
        lower.append([tied(first, "continue"), tied(second, "stop"), note.Rest(quarterLength=1)])
        grace = note.Note("B4").getGrace()
        upper.insert(0, grace)
        measure.insert(0, upper)
        measure.insert(0, lower)
        part.append(measure)
    score = stream.Score([part])
    return score


def test_tie_merging_matches_strip_ties_on_voices_chords_and_odd_ties():
    score = _two_voice_measures()
    ours = notation_io.score_from_music21(score)
    reference = notation_io.score_from_music21(score, part_notes=notation_io._part_notes_strip_ties)
    assert ours == reference
    durations = sorted({n.duration for n in ours.tracks[0].notes})
    assert max(durations) > 2 * 480        # some ties were merged across bars
    assert all(n.pitch != 71 for n in ours.tracks[0].notes)   # the grace notes are skipped


def test_every_tune_of_an_abc_collection_is_read_by_read_scores(tmp_path):
    tunes = "".join(f"X:{i}\nT:Tune {i}\nM:4/4\nL:1/4\nK:C\nC D E {'FGAB'[i - 1]}|]\n\n"
                    for i in range(1, 4))
    path = tmp_path / "book.abc"
    path.write_text(tunes)
    pieces = read_scores(path)
    assert [p.tracks[0].notes[-1].pitch for p in pieces] == [65, 67, 69]
    assert read_score(path) == pieces[0]          # read_score keeps the first piece


# ------------------------------------------------------------------ budgets
def _mxl(members: dict[str, bytes], *, forged_sizes: bool = False) -> bytes:
    """A compressed MusicXML archive; with `forged_sizes` every member claims 100 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", "<container><rootfiles><rootfile full-path="
                         "'score.xml'/></rootfiles></container>")
        for name, data in members.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    if forged_sizes:   # rewrite the uncompressed size in every local and central header
        data = bytearray(data)
        for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            position = data.find(signature)
            while position >= 0:
                data[position + offset:position + offset + 4] = (100).to_bytes(4, "little")
                position = data.find(signature, position + 4)
        data = bytes(data)
    return data


def _zeros(megabytes: int) -> bytes:
    return b"\0" * (megabytes * 2**20)


def test_archive_bomb_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(notation_io, "MAX_NOTATION_BYTES", 4 * 2**20)
    path = tmp_path / "bomb.mxl"
    path.write_bytes(_mxl({"score.xml": _zeros(5)}))
    assert path.stat().st_size < 50_000
    with pytest.raises(MidiFileError) as caught:
        read_score(path)
    assert str(caught.value) == "bomb.mxl: the compressed score expands to more than 4 MB"


def test_archive_bomb_with_forged_sizes_is_refused_while_inflating(tmp_path, monkeypatch):
    monkeypatch.setattr(notation_io, "MAX_NOTATION_BYTES", 4 * 2**20)
    path = tmp_path / "liar.mxl"
    path.write_bytes(_mxl({"score.xml": _zeros(3), "more.xml": _zeros(3)}, forged_sizes=True))
    with pytest.raises(MidiFileError) as caught:
        read_score(path)
    message = str(caught.value)
    assert message.startswith("liar.mxl: ") and "\n" not in message
    # zipfile stops each member at its declared size and then finds the CRC wrong, or our
    # running count passes the cap first; either way music21 never sees the archive
    assert ("expands to more than 4 MB" in message) or ("not a compressed MusicXML file" in message)


def test_bomb_of_many_members_is_refused_by_their_total(tmp_path, monkeypatch):
    monkeypatch.setattr(notation_io, "MAX_NOTATION_BYTES", 4 * 2**20)
    path = tmp_path / "many.mxl"
    path.write_bytes(_mxl({f"part{i}.xml": _zeros(1) for i in range(5)}))
    with pytest.raises(MidiFileError,
                       match="many.mxl: the compressed score expands to more than 4 MB"):
        read_score(path)


def _musicxml(notes: int) -> bytes:
    note = (b"<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration>"
            b"<type>quarter</type></note>")
    measures = []
    for start in range(0, notes, 4):
        body = note * min(4, notes - start)
        attributes = b"<attributes><divisions>1</divisions></attributes>" if start == 0 else b""
        measures.append(b'<measure number="%d">' % (start // 4 + 1) + attributes + body
                        + b"</measure>")
    return (b'<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1"><part-list>'
            b'<score-part id="P1"><part-name>x</part-name></score-part></part-list><part id="P1">'
            + b"".join(measures) + b"</part></score-partwise>")


def test_huge_valid_musicxml_is_refused_by_size_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(notation_io, "MAX_NOTATION_BYTES", 2**20)
    data = _musicxml(12_000)
    assert len(data) > 2**20
    (tmp_path / "huge.musicxml").write_bytes(data)
    with pytest.raises(MidiFileError,
                       match=r"^huge.musicxml: the MusicXML file is larger than 1 MB$"):
        read_score(tmp_path / "huge.musicxml")
    (tmp_path / "huge.mxl").write_bytes(_mxl({"score.xml": data}))
    with pytest.raises(MidiFileError,
                       match=r"^huge.mxl: the compressed score expands to more than 1 MB$"):
        read_score(tmp_path / "huge.mxl")


def test_valid_musicxml_with_too_many_notes_is_refused_and_one_under_the_cap_reads(tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr(notation_io, "MAX_NOTATION_NOTES", 200)
    (tmp_path / "many.musicxml").write_bytes(_musicxml(201))
    with pytest.raises(MidiFileError,
                       match=r"^many.musicxml: the score has too many notes \(more than 200\)$"):
        read_score(tmp_path / "many.musicxml")
    (tmp_path / "many.mxl").write_bytes(_mxl({"score.xml": _musicxml(201)}))
    with pytest.raises(MidiFileError, match="many.mxl: the score has too many notes"):
        read_score(tmp_path / "many.mxl")
    (tmp_path / "fine.mxl").write_bytes(_mxl({"score.xml": _musicxml(200)}))
    assert read_score(tmp_path / "fine.mxl").note_count == 200


def test_note_count_survives_chunk_borders():
    chunks = [b"<no", b"te>", b"<note ", b"x><notations/><note>", b"<not", b"e>"]
    assert notation_io._count_xml_notes(chunks) == 4


@pytest.mark.parametrize("name", ["big.abc", "big.krn"])
def test_oversized_abc_and_humdrum_are_refused_before_parsing(tmp_path, monkeypatch, name):
    monkeypatch.setattr(notation_io, "MAX_TEXT_NOTATION_BYTES", 2**20)
    (tmp_path / name).write_bytes(b"X:1\nK:C\n" + b"C D E F|" * 140_000)
    kind = "ABC" if name.endswith(".abc") else "Humdrum"
    with pytest.raises(MidiFileError, match=rf"^{name}: the {kind} file is larger than 1 MB$"):
        read_score(tmp_path / name)


def test_utf16_musicxml_is_read_and_its_notes_counted(tmp_path, monkeypatch):
    # part of the music21 corpus (trecento) is UTF-16; it used to be refused as "not MusicXML"
    text = _musicxml(8).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    (tmp_path / "wide.xml").write_bytes(text.encode("utf-16"))
    assert read_score(tmp_path / "wide.xml").note_count == 8
    monkeypatch.setattr(notation_io, "MAX_NOTATION_NOTES", 7)
    with pytest.raises(MidiFileError, match="too many notes"):
        read_score(tmp_path / "wide.xml")


ABC_TUNE = b'X:1\nT:Budget\nM:4/4\nL:1/4\nK:G\n"Am"C D !trill!E F|G A B c|\n%comment with A B C\n'
HUMDRUM = b"**kern\t**kern\n*M4/4\t*M4/4\n=1\t=1\n4c\t4e\n4d\t4f\n4e\t.\n!! a comment\n*-\t*-\n"


@pytest.mark.parametrize(("name", "data", "events", "notes"),
                         [("tune.abc", ABC_TUNE, 8, 8), ("two.krn", HUMDRUM, 6, 5)])
def test_abc_and_humdrum_with_too_many_notes_are_refused_before_parsing(tmp_path, monkeypatch, name,
                                                                        data,
                                                                         events, notes):
    """Issue 39: every reader within a note budget, ABC and Humdrum counted without music21."""
    # fields, chord symbols, comments skipped
    assert notation_io._count_text_events(data, name[-4:]) == events
    (tmp_path / name).write_bytes(data)
    assert read_score(tmp_path / name).note_count == notes
    monkeypatch.setattr(notation_io, "MAX_NOTATION_NOTES", events - 1)
    with pytest.raises(MidiFileError,
                       match=rf"^{name}: the score has too many notes \(more than {events - 1}\)$"):
        read_score(tmp_path / name)

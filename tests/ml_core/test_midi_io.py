"""MIDI and notation file I/O: round trips, every kind of bad file, atomic writes.

Every bad file is built here from bytes (helpers below), none is committed."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ml_core import midi_io, notation_io
from ml_core.midi_io import (
    SUPPORTED_EXTENSIONS,
    MidiFileError,
    midi_bytes,
    read_midi,
    read_score,
    score_from_midi_bytes,
    write_midi,
)
from ml_core.music import Note, ProgramChange, Score, TempoChange, TimeSignatureChange, Track

# ------------------------------------------------------------------ byte helpers


def variable(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def event(delta: int, *message: int) -> bytes:
    return variable(delta) + bytes(message)


def meta(delta: int, kind: int, body: bytes) -> bytes:
    return variable(delta) + bytes([0xFF, kind]) + variable(len(body)) + body


def tempo(delta: int, bpm: float) -> bytes:
    return meta(delta, 0x51, round(60_000_000 / bpm).to_bytes(3, "big"))


def end_of_track(delta: int = 0) -> bytes:
    return meta(delta, 0x2F, b"")


def chunk(body: bytes, kind: bytes = b"MTrk", length: int | None = None) -> bytes:
    return kind + struct.pack(">I", len(body) if length is None else length) + body


def smf(*chunks: bytes, file_format: int = 1, division: int = 480,
        declared: int | None = None) -> bytes:
    """A Standard MIDI File from ready-made chunks."""
    count = len(chunks) if declared is None else declared
    return b"MThd" + struct.pack(">IHHH", 6, file_format, count, division) + b"".join(chunks)


def simple_file(notes: int = 4, division: int = 480) -> bytes:
    """One track of `notes` quarter notes C4 upwards, at 120 bpm in 4/4."""
    body = tempo(0, 120) + event(0, 0xC0, 0)
    for index in range(notes):
        pitch = 60 + index % 40
        body += event(0, 0x90, pitch, 100) + event(division, 0x80, pitch, 0)
    return smf(chunk(body + end_of_track()))


def assert_same_music(read: Score, written: Score) -> None:
    """Equal notes, tracks and meter; tempi equal up to MIDI's microsecond rounding."""
    assert read.ticks_per_quarter == 480
    assert [(t.name, t.program, t.is_drum) for t in read.tracks] == \
        [(t.name, t.program, t.is_drum) for t in written.tracks]
    for got, expected in zip(read.tracks, written.tracks, strict=True):
        assert got.notes == sorted(expected.notes)
    assert read.time_signature == written.time_signature
    assert read.time_signature_changes == written.time_signature_changes
    assert abs(read.tempo_bpm - written.tempo_bpm) <= written.tempo_bpm * 1e-5
    assert [c.tick for c in read.tempo_changes] == [c.tick for c in written.tempo_changes]
    for got, expected in zip(read.tempo_changes, written.tempo_changes, strict=True):
        assert abs(got.bpm - expected.bpm) <= expected.bpm * 1e-5


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def example_score(meter: tuple[int, int] = (4, 4)) -> Score:
    return Score(
        [Track("Lead", 73, False,
               [Note(60, 0, 480, 90), Note(64, 480, 240, 70), Note(67, 720, 1200, 127)]),
         Track("Bass", 33, False, [Note(36, 0, 960, 100), Note(43, 960, 960, 1)]),
         Track("Kit", 0, True,
               [Note(36, 0, 60, 110), Note(42, 240, 60, 80), Note(38, 480, 60, 100)])],
        100.0, meter)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8), (7, 8), (5, 4)])
def test_round_trip_in_every_meter(tmp_path, meter):
    score = example_score(meter)
    write_midi(score, tmp_path / "song.mid")
    assert_same_music(read_midi(tmp_path / "song.mid"), score)


def test_round_trip_with_tempo_and_meter_changes_and_extreme_pitches(tmp_path):
    score = Score(
        [Track("Extremes", 0, False, [Note(0, 0, 480, 1), Note(127, 0, 480, 127),
                                      Note(0, 5000, 7, 64), Note(127, 9999, 1, 64)]),
         Track("", 127, False, [Note(60, 100, 100, 50)]),
         Track("Drums", 25, True, [Note(35, 0, 1, 100), Note(81, 2000, 30, 100)])],
        72.5, (6, 8),
        tempo_changes=[TempoChange(1440, 140.0), TempoChange(4000, 33.25),
                       TempoChange(9000, 240.0)],
        time_signature_changes=[TimeSignatureChange(1440, 7, 8), TimeSignatureChange(3120, 5, 4)])
    write_midi(score, tmp_path / "changes.mid")
    read = read_midi(tmp_path / "changes.mid")
    assert_same_music(read, score)
    assert read.tracks[2].is_drum and not read.tracks[0].is_drum
    assert read.seconds_at(10000) == pytest.approx(score.seconds_at(10000), rel=1e-5)


def test_more_than_fifteen_pitched_tracks_keep_their_own_programs(tmp_path):
    tracks = [Track(f"t{index}", index * 3, False, [Note(40 + index, index * 10, 100, 80)])
              for index in range(20)]
    score = Score(tracks)
    write_midi(score, tmp_path / "many.mid")
    assert_same_music(read_midi(tmp_path / "many.mid"), score)


def test_zero_duration_and_zero_velocity_are_written_as_one(tmp_path):
    score = Score([Track("x", 0, False, [Note(60, 0, 0, 0)])])
    read = score_from_midi_bytes(midi_bytes(score))
    assert read.tracks[0].notes == [Note(60, 0, 1, 1)]


def test_empty_score_round_trips_when_empty_is_allowed(tmp_path):
    write_midi(Score([], 90.0, (3, 4)), tmp_path / "empty.mid")
    with pytest.raises(MidiFileError, match="empty.mid: the file has no notes"):
        read_midi(tmp_path / "empty.mid")
    read = read_midi(tmp_path / "empty.mid", allow_empty=True)
    assert (
        read.tracks == []
        and read.time_signature == (3, 4)
        and read.tempo_bpm == pytest.approx(90.0)
    )


# ------------------------------------------------------------------ reading real-world shapes
def test_type_0_file_splits_channels_into_tracks_with_their_programs():
    body = (meta(0, 0x03, b"All in one") + tempo(0, 90) + event(0, 0xC0, 40) + event(0, 0xC1, 0)
            + event(0, 0x90, 72, 90) + event(0, 0x91, 48, 80) + event(0, 0x99, 36, 127)
            + event(480, 0x80, 72, 0) + event(0, 0x81, 48, 0) + event(0, 0x89, 36, 0)
            + end_of_track())
    score = score_from_midi_bytes(smf(chunk(body), file_format=0))
    assert [(t.program, t.is_drum, t.notes) for t in score.tracks] == [
        (40, False, [Note(72, 0, 480, 90)]), (0, False, [Note(48, 0, 480, 80)]),
        (0, True, [Note(36, 0, 480, 127)])]
    assert {t.name for t in score.tracks} == {"All in one"}
    assert score.tempo_bpm == pytest.approx(90)


def test_program_change_mid_track_stays_one_track_with_the_change_kept():
    body = (meta(0, 0x03, b"Strings") + event(0, 0xC0, 48) + event(0, 0x90, 60, 80)
            + event(480, 0x80, 60, 0)
            + event(0, 0xC0, 45) + event(0, 0x90, 62, 80) + event(480, 0x80, 62, 0)
            + event(0, 0xC0, 48) + event(0, 0x90, 64, 80) + event(480, 0x80, 64, 0)
            + end_of_track())
    score = score_from_midi_bytes(smf(chunk(body)))
    assert ([(t.name, t.program, [n.pitch for n in t.notes])
             for t in score.tracks] == [("Strings", 48, [60, 62, 64])])
    track = score.tracks[0]
    assert track.program_changes == [ProgramChange(480, 45), ProgramChange(960, 48)]
    assert [track.program_at(tick) for tick in (0, 480, 959, 960)] == [48, 45, 45, 48]
    again = score_from_midi_bytes(midi_bytes(score))     # written as events, read back the same
    assert [(t.name, t.program, t.program_changes, t.notes) for t in again.tracks] == \
        [(t.name, t.program, t.program_changes, t.notes) for t in score.tracks]


def test_program_in_another_track_applies_to_the_channel():
    conductor = tempo(0, 120) + event(0, 0xC2, 56) + end_of_track()
    notes = event(0, 0x92, 70, 80) + event(240, 0x82, 70, 0) + end_of_track()
    score = score_from_midi_bytes(smf(chunk(conductor), chunk(notes)))
    assert score.tracks[0].program == 56


def test_low_resolution_file_is_converted_to_480_ticks_per_quarter():
    body = (event(0, 0x90, 60, 80) + event(96, 0x80, 60, 0) + event(48, 0x90, 62, 80)
            + event(24, 0x80, 62, 0))
    score = score_from_midi_bytes(smf(chunk(body + end_of_track()), division=96))
    assert score.ticks_per_quarter == 480
    assert score.tracks[0].notes == [Note(60, 0, 480, 80), Note(62, 720, 120, 80)]


def test_smpte_time_becomes_ticks_at_120_bpm():
    division = ((256 - 25) << 8) | 40     # 25 frames per second x 40 ticks: 1000 ticks a second
    body = event(0, 0x90, 60, 80) + event(500, 0x80, 60, 0) + end_of_track()
    score = score_from_midi_bytes(smf(chunk(body), division=division))
    assert score.tempo_bpm == 120.0
    assert score.tracks[0].notes == [Note(60, 0, 480, 80)]   # half a second = a quarter at 120


def test_overlapping_same_pitch_notes_pair_first_on_with_first_off():
    body = (event(0, 0x90, 60, 80) + event(240, 0x90, 60, 90) + event(240, 0x80, 60, 0)
            + event(480, 0x80, 60, 0) + end_of_track())
    score = score_from_midi_bytes(smf(chunk(body)))
    assert score.tracks[0].notes == [Note(60, 0, 480, 80), Note(60, 240, 720, 90)]


def test_running_status_note_on_zero_sysex_and_stray_note_off():
    body = (event(0, 0xF0, 3, 0x7E, 0x7F, 0xF7) + event(0, 0x80, 50, 0)      # sysex, stray off
            + event(0, 0x90, 60, 80) + event(0, 64, 70) + event(480, 60, 0) + event(0, 64, 0)
            + end_of_track())
    score = score_from_midi_bytes(smf(chunk(body)))
    assert score.tracks[0].notes == [Note(60, 0, 480, 80), Note(64, 0, 480, 70)]


def test_unterminated_notes_end_at_next_strike_or_track_end():
    # 60 struck twice, never released
    body = (event(0, 0x90, 60, 80) + event(480, 0x90, 60, 80)
            + event(0, 0x90, 67, 80) + end_of_track(960))             # 67 held to the end
    score = score_from_midi_bytes(smf(chunk(body)))
    assert score.tracks[0].notes == [Note(60, 0, 480, 80), Note(60, 480, 960, 80),
                                     Note(67, 480, 960, 80)]


def test_unterminated_note_at_the_very_end_gets_one_beat():
    score = score_from_midi_bytes(smf(chunk(event(0, 0x90, 60, 80))))
    assert score.tracks[0].notes == [Note(60, 0, 480, 80)]


def test_drums_only_file():
    body = b"".join(event(0 if i == 0 else 120, 0x99, pitch, 100) + event(60, 0x89, pitch, 0)
                    for i, pitch in enumerate([36, 38, 42, 36]))
    score = score_from_midi_bytes(smf(chunk(body + end_of_track())))
    assert len(score.tracks) == 1 and score.tracks[0].is_drum
    assert [(n.pitch, n.start, n.duration) for n in score.tracks[0].notes] == \
        [(36, 0, 60), (38, 180, 60), (42, 360, 60), (36, 540, 60)]


def test_midi_inside_a_riff_rmid_wrapper():
    inner = simple_file(2)
    data = (b"RIFF" + struct.pack("<I", len(inner) + 12) + b"RMID" + b"data"
            + struct.pack("<I", len(inner)) + inner)
    assert score_from_midi_bytes(data).note_count == 2


def test_200000_notes_read_in_seconds(tmp_path):
    rng = random.Random(7)
    # keys cycle through 88 pitches, so no key is struck again while it still sounds
    notes = [Note(21 + index % 88, index * 30, rng.randint(10, 2000), rng.randint(1, 127))
             for index in range(200_000)]
    path = tmp_path / "big.mid"
    write_midi(Score([Track("big", 0, False, notes)]), path)
    started = time.perf_counter()
    score = read_midi(path)
    print(f"read 200,000 notes in {time.perf_counter() - started:.2f} s")
    assert score.note_count == 200_000
    assert score.tracks[0].notes == sorted(notes)


# ------------------------------------------------------------------ bad input, one case each
@pytest.mark.parametrize("name, data, message", [
    ("empty.mid", b"", "empty.mid: the file is empty"),
    ("noise.mid", bytes(random.Random(1).getrandbits(8) for _ in range(3000)),
     "noise.mid: not a MIDI file"),
    ("letter.mid", b"Dear friend,\nthis is not music at all.\n" * 20,
     "letter.mid: not a MIDI file"),
    ("cut.mid", simple_file(50)[:300], "cut.mid: the file is truncated"),
    ("header.mid", smf(declared=0), "header.mid: the file has no tracks"),
    ("header1.mid", smf(declared=1), "header1.mid: the file has no tracks"),
    ("short.mid", b"MThd\x00\x00\x00\x06\x00", "short.mid: the file is truncated"),
    ("length.mid", smf(chunk(event(0, 0x90, 60, 80) + end_of_track(), length=5000)),
     "length.mid: the file is truncated"),
    ("silent.mid", smf(chunk(tempo(0, 100) + end_of_track(960))),
     "silent.mid: the file has no notes"),
    ("far.mid", smf(chunk(event(0x0FFFFF00, 0x90, 60, 80) + event(10, 0x80, 60, 0))),
     "far.mid: the file's times are absurd (the music would last"),
    ("farther.mid", smf(chunk(event(0x0FFFFFFF, 0x90, 60, 80) + event(0x0FFFFFFF, 0x80, 60, 0))),
     "farther.mid: the file's times are absurd (a delta time of 268435455 ticks"),
    ("type2.mid", smf(chunk(event(0, 0x90, 60, 80)), file_format=2),
     "type2.mid: unsupported MIDI type 2 file"),
    ("type7.mid", smf(chunk(event(0, 0x90, 60, 80)), file_format=7), "type7.mid: not a MIDI file"),
    ("zero.mid", smf(chunk(event(0, 0x90, 60, 80)), division=0), "zero.mid: not a MIDI file"),
    ("data.mid", smf(chunk(event(0, 0x90, 60, 0x85) + end_of_track())),
     "data.mid: the file is corrupt"),
    ("status.mid", smf(chunk(event(0, 60, 80) + end_of_track())),
     "status.mid: the file is corrupt"),
    ("long.mid", smf(chunk(b"\xff\xff\xff\xff\x7f" + end_of_track())),
     "long.mid: the file is corrupt"),
    ("meta.mid", smf(chunk(b"\x00\xff\x03\x40abc")), "meta.mid: the file is corrupt"),
    ("common.mid", smf(chunk(event(0, 0xF2, 1, 1))), "common.mid: the file is corrupt"),
])
def test_bad_file_gives_a_specific_message(tmp_path, name, data, message):
    path = write_bytes(tmp_path, name, data)
    with pytest.raises(MidiFileError) as caught:
        read_midi(path)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_too_many_notes_is_refused(monkeypatch):
    monkeypatch.setattr(midi_io, "MAX_NOTES", 1000)
    with pytest.raises(MidiFileError, match=r"the file has too many notes \(more than 1,000\)"):
        score_from_midi_bytes(simple_file(1001, division=1))
    assert score_from_midi_bytes(simple_file(1000, division=1)).note_count == 1000


def test_file_over_100_mb_is_refused_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "huge.mid"
    with open(path, "wb") as handle:
        handle.write(simple_file(4))
        handle.truncate(150 * 2**20)       # sparse: costs no disk
    monkeypatch.setattr(midi_io, "open", lambda *a, **k: pytest.fail("opened the huge file"),
                        raising=False)
    with pytest.raises(MidiFileError,
                       match=r"huge.mid: the file is too large \(150 MB; the limit is 100 MB\)"):
        read_midi(path)


def test_missing_path_and_folder_path(tmp_path):
    with pytest.raises(MidiFileError, match="nothing.mid: no such file"):
        read_midi(tmp_path / "nothing.mid")
    (tmp_path / "songs.mid").mkdir()
    with pytest.raises(MidiFileError, match="songs.mid: is a folder, not a file"):
        read_midi(tmp_path / "songs.mid")


def test_junk_after_the_last_track_is_ignored():
    assert score_from_midi_bytes(simple_file(3) + b"\x00\x01garbage!").note_count == 3


def test_bytes_with_header_junk_before_mthd_are_read():
    assert score_from_midi_bytes(bytes(128) + simple_file(3)).note_count == 3


# ------------------------------------------------------------------ atomic writes
def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_write_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MidiFileError, match=r"cannot write song.mid: the folder .* does not exist"):
        write_midi(example_score(), tmp_path / "missing" / "song.mid")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_write_into_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MidiFileError, match="cannot write song.mid: permission denied"):
            write_midi(example_score(), folder / "song.mid")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_permission_denied_is_a_clear_error_even_as_root(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(midi_io.os, "open", refuse)
    with pytest.raises(MidiFileError, match="cannot write song.mid: permission denied"):
        write_midi(example_score(), tmp_path / "song.mid")
    assert list(tmp_path.iterdir()) == []


def test_written_file_is_readable_by_others_and_keeps_an_existing_mode(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    fresh = tmp_path / "fresh.mid"
    write_midi(example_score(), fresh)
    # not private, as mkstemp would make it
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    kept = tmp_path / "kept.mid"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    write_midi(example_score(), kept)
    assert kept.stat().st_mode & 0o777 == 0o640


def test_failed_write_leaves_the_old_file_untouched_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.mid"
    path.write_bytes(b"old contents")

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(midi_io.os, "replace", broken_replace)
    with pytest.raises(MidiFileError, match="cannot write keep.mid: No space left on device"):
        write_midi(example_score(), path)
    assert path.read_bytes() == b"old contents"
    assert temp_files(tmp_path) == []


def test_unwritable_score_is_refused_before_touching_the_file(tmp_path):
    path = tmp_path / "keep.mid"
    path.write_bytes(b"old contents")
    for bad in (Track("x", 0, False, [Note(200, 0, 10)]), Track("x", 130, False, [Note(60, 0, 10)]),
                Track("x", 0, False, [Note(60, -5, 10)])):
        with pytest.raises(MidiFileError, match="cannot write keep.mid: track 1 has"):
            write_midi(Score([bad]), path)
    with pytest.raises(MidiFileError, match="cannot write keep.mid: a tempo of 1 bpm"):
        write_midi(Score([], tempo_bpm=1.0), path)
    assert path.read_bytes() == b"old contents"
    assert temp_files(tmp_path) == []


def test_writing_onto_a_folder_is_refused(tmp_path):
    (tmp_path / "out.mid").mkdir()
    with pytest.raises(MidiFileError, match="cannot write out.mid: it is a folder"):
        write_midi(example_score(), tmp_path / "out.mid")


def test_overwrite_replaces_the_file_completely(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(b"x" * 100_000)
    write_midi(example_score(), path)
    assert path.read_bytes() == midi_bytes(example_score())


# ------------------------------------------------------------------ notation formats
def test_read_score_dispatches_on_extension(tmp_path):
    assert ".mid" in SUPPORTED_EXTENSIONS and ".musicxml" in SUPPORTED_EXTENSIONS
    write_midi(example_score(), tmp_path / "a.MIDI")
    assert_same_music(read_score(tmp_path / "a.MIDI"), example_score())
    write_bytes(tmp_path, "a.foo", b"whatever")
    with pytest.raises(MidiFileError, match=r"a.foo: unsupported file type .foo"):
        read_score(tmp_path / "a.foo")


def test_bach_chorale_in_musicxml_reads_with_its_parts_notes_and_meter(tmp_path):
    from music21 import corpus

    chorale = corpus.parse("bach/bwv66.6")
    path = Path(chorale.write("musicxml", fp=tmp_path / "chorale.musicxml"))
    score = read_score(path)
    expected = [sum(len(n.pitches) for n in part.stripTies().flatten().notes)
                for part in chorale.parts]
    assert [len(t.notes) for t in score.tracks] == expected == [36, 42, 44, 41]
    assert score.time_signature == (4, 4)
    assert score.tempo_bpm == pytest.approx(96)
    soprano = chorale.parts[0].stripTies().flatten().notes
    assert [n.pitch for n in score.tracks[0].notes[:5]] == [n.pitch.midi for n in soprano[:5]]
    assert all(t.notes == sorted(t.notes) for t in score.tracks)


@pytest.mark.parametrize("name, data, message", [
    ("bad.musicxml", b"<?xml version='1.0'?><html><body>hello</body></html>",
     "bad.musicxml: not a MusicXML file"),
    ("cut.musicxml", b"<?xml version='1.0'?><score-partwise version='3.1'><part-list><score-p",
     "cut.musicxml: not a MusicXML file"),
    ("bad.mxl", b"this is no zip", "bad.mxl: not a compressed MusicXML file"),
    ("empty.xml", b"", "empty.xml: the file is empty"),
])
def test_corrupt_notation_file_gives_a_clear_error(tmp_path, name, data, message):
    with pytest.raises(MidiFileError) as caught:
        read_score(write_bytes(tmp_path, name, data))
    assert str(caught.value).startswith(message)


def test_abc_and_humdrum_files_are_read(tmp_path):
    abc = "X:1\nT:Scale\nM:3/4\nL:1/4\nQ:1/4=80\nK:C\nCDE|F2G|]\n"
    score = read_score(write_bytes(tmp_path, "tune.abc", abc.encode()))
    assert [(n.pitch, n.start, n.duration) for n in score.tracks[0].notes] == \
        [(60, 0, 480), (62, 480, 480), (64, 960, 480), (65, 1440, 960), (67, 2400, 480)]
    assert score.time_signature == (3, 4) and score.tempo_bpm == pytest.approx(80)
    humdrum = "**kern\n*M2/4\n=1\n4c\n4e\n=2\n2g\n*-\n"
    score = read_score(write_bytes(tmp_path, "tune.krn", humdrum.encode()))
    assert [(n.pitch, n.duration) for n in score.tracks[0].notes] == [(60, 480), (64, 480),
                                                                      (67, 960)]
    assert score.time_signature == (2, 4)


@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_musicxml_export_round_trips_with_meter_and_tempo_changes(tmp_path, suffix):
    score = Score([Track("Melody", 0, False, [Note(60, 0, 480, 80), Note(64, 480, 240, 80),
                                              Note(67, 720, 1200, 80), Note(65, 2400, 160, 80)]),
                   Track("Chords", 0, False,
                         [Note(48, 0, 1440, 80), Note(52, 0, 1440, 80), Note(55, 1440, 1440, 80)])],
                  90.0, (3, 4), tempo_changes=[TempoChange(1440, 132.0)],
                  time_signature_changes=[TimeSignatureChange(1440, 6, 8)])
    path = tmp_path / f"export{suffix}"
    midi_io.write_musicxml(score, path)
    read = read_score(path)
    assert [t.notes for t in read.tracks] == [t.notes for t in score.tracks]
    assert [t.name for t in read.tracks] == ["Melody", "Chords"]
    assert read.time_signature == (3, 4) and read.tempo_bpm == pytest.approx(90)
    assert read.time_signature_changes == score.time_signature_changes
    assert [(c.tick, c.bpm) for c in read.tempo_changes] == [(1440, pytest.approx(132.0))]
    assert temp_files(tmp_path) == []


def test_musicxml_export_snaps_times_to_notation_grid(tmp_path):
    score = Score([Track("x", 0, False, [Note(60, 7, 473), Note(62, 481, 100), Note(64, 1000, 3)])])
    midi_io.write_musicxml(score, tmp_path / "grid.musicxml")
    read = read_score(tmp_path / "grid.musicxml")
    assert [(n.pitch, n.start, n.end) for n in read.tracks[0].notes] == [(60, 0, 480),
                                                                         (62, 480, 600),
                                                                         (64, 960, 1080)]


def test_musicxml_export_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MidiFileError,
                       match="cannot write x.musicxml: the folder .* does not exist"):
        midi_io.write_musicxml(example_score(), tmp_path / "nope" / "x.musicxml")


def test_score_from_music21_reads_a_corpus_piece_directly():
    from music21 import corpus

    score = notation_io.score_from_music21(corpus.parse("bach/bwv66.6"))
    assert len(score.tracks) == 4 and score.note_count == 163


def test_import_is_fast_and_pulls_no_music21():
    code = ("import time, sys; t = time.perf_counter(); import ml_core.music, ml_core.midi_io, "
            "ml_core.notation_io; "
            "print(time.perf_counter() - t, 'music21' in sys.modules, 'pretty_midi' in "
            "sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, music21_loaded, pretty_loaded = out.stdout.split()
    assert (music21_loaded, pretty_loaded) == ("False", "False")
    assert float(seconds) < 1.0

"""MIDI output: the sender's stream against the document's notes at its tempo, on a fake
port; exact on an injected clock (the real loop, run in fake time), and within 10 ms on the
real clock. No Qt."""

from __future__ import annotations

import time

import pytest

from composer_app.playback.midi_out import ALL_NOTES_OFF, MidiPiece, MidiSender
from ml_core.music import Note, Score, TempoChange, Track

TOLERANCE_S = 0.010


class FakePort:
    """Records (clock time, message); fails on the `fail_at`-th message when asked to."""

    def __init__(self, clock, fail_at: int | None = None):
        self.clock, self.fail_at = clock, fail_at
        self.sent: list[tuple[float, object]] = []

    def send(self, message):
        if self.fail_at is not None and len(self.sent) >= self.fail_at:
            raise RuntimeError("MidiOutAlsa::sendMessage: error sending MIDI message to port.\n"
                               "more detail")
        self.sent.append((self.clock(), message))

    def of(self, *types):
        return [(at, m) for at, m in self.sent if m.type in types]


class FakeTime:
    """A clock that `wait` moves forward; past `limit` it stands still (a real pause)."""

    def __init__(self, start: float = 100.0):
        self.now, self.limit = start, float("inf")

    def clock(self):
        return self.now

    def wait(self, seconds):
        if self.now >= self.limit:
            time.sleep(0.001)
        else:
            self.now = min(self.now + seconds, max(self.limit, self.now))


def piece_score() -> Score:
    """Piano, bass and drums, 100 BPM then 150 BPM from bar 2, with a repeated pitch."""
    piano = [Note(60, 0, 480, 90), Note(64, 0, 480, 80), Note(67, 480, 240, 70),
             Note(67, 720, 240, 70), Note(72, 1920, 960, 100)]
    bass = [Note(36, 0, 960, 100), Note(43, 1920, 480, 100)]
    drums = [Note(36, 0, 120, 110), Note(38, 480, 120, 110), Note(42, 2160, 60, 90)]
    return Score([Track("Piano", 0, False, piano), Track("Bass", 33, False, bass),
                  Track("Drums", 0, True, drums)], 100.0,
                 tempo_changes=[TempoChange(0, 100.0), TempoChange(1920, 150.0)])


def expected_notes(score: Score, from_tick: int = 0) -> list[tuple[float, str, int, int]]:
    """(seconds, on/off, channel, pitch) of the notes starting at or after `from_tick`."""
    channels = {"Piano": 0, "Bass": 1, "Drums": 9}
    events = []
    for track in score.tracks:
        for note in track.notes:
            if note.start >= from_tick:
                channel = channels[track.name]
                events.append((score.seconds_at(note.start), "note_on", channel, note.pitch))
                events.append((score.seconds_at(note.end), "note_off", channel, note.pitch))
    return sorted(events, key=lambda e: (e[0], e[1] == "note_on", e[2], e[3]))


def received_notes(port, origin):
    return [(at - origin, m.type, m.channel, m.note) for at, m in port.of("note_on", "note_off")]


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def run_in_fake_time(score, *, from_seconds=0.0, send_clock=True, loop=None, fail_at=None):
    fake = FakeTime()
    port = FakePort(fake.clock, fail_at)
    sender = MidiSender(port, clock=fake.clock, send_clock=send_clock, wait=fake.wait)
    return fake, port, sender


def assert_same_stream(got, expected, tolerance):
    """Every expected (on/off, channel, pitch) sent as often, each within `tolerance`, in
    time order; the errors in seconds."""
    def by_key(events):
        grouped = {}
        for at, kind, channel, pitch in events:
            grouped.setdefault((kind, channel, pitch), []).append(at)
        return grouped

    sent, wanted = by_key(got), by_key(expected)
    assert {k: len(v) for k, v in sent.items()} == {k: len(v) for k, v in wanted.items()}
    errors = [abs(a - b) for key in wanted for a, b in zip(sent[key], wanted[key], strict=True)]
    assert max(errors) <= tolerance, max(errors)
    times = [at for at, *_ in got]
    assert times == sorted(times)
    return errors


def test_the_stream_on_an_injected_clock_is_exactly_the_documents_notes_and_clock():
    score = piece_score()
    fake, port, sender = run_in_fake_time(score)
    sender.play(MidiPiece.of(score), 0.0, fake.now)
    wait_until(lambda: not sender.is_playing)
    sender.stop()
    sent = [m for _, m in port.sent]
    assert [(m.channel, m.program) for m in sent[:2] if m.type == "program_change"] == \
        [(0, 0), (1, 33)]                              # drums get no program change
    assert sent[2].type == "start"
    assert_same_stream(received_notes(port, 100.0), expected_notes(score), 1e-9)
    clocks = [at - 100.0 for at, _ in port.of("clock")]
    end = max(score.seconds_at(n.end) for t in score.tracks for n in t.notes)
    pulses = [score.seconds_at(k * 20) for k in range(400) if score.seconds_at(k * 20) < end - 1e-9]
    assert clocks == pytest.approx(pulses, abs=1e-9)
    assert clocks[24] == pytest.approx(0.6) and clocks[97] - clocks[96] == pytest.approx(
        60 / 150 / 24)                                  # 24 per quarter, at the new tempo
    tail = [m for _, m in port.sent[-17:]]
    assert [m.control for m in tail[:16]] == [ALL_NOTES_OFF] * 16 and tail[-1].type == "stop"


def test_from_the_playhead_a_song_position_pointer_and_continue_and_later_notes_only():
    score = piece_score()
    fake, port, sender = run_in_fake_time(score)
    piece = MidiPiece.of(score)
    start = score.seconds_at(500)                        # not on a sixteenth
    sender.play(piece, start, fake.now)
    wait_until(lambda: not sender.is_playing)
    sent = [m for _, m in port.sent if m.type not in ("program_change",)]
    assert sent[0].type == "songpos" and sent[0].pos == 5 and sent[1].type == "continue"
    first_clock = port.of("clock")[0][0] - 100.0
    assert first_clock == pytest.approx(score.seconds_at(600) - start)
    got = received_notes(port, 100.0 - start)
    assert_same_stream(got, expected_notes(score, from_tick=500), 1e-9)


def test_a_loop_wraps_with_every_note_ended_and_the_clock_repositioned():
    score = piece_score()
    fake, port, sender = run_in_fake_time(score)
    loop = (score.seconds_at(480), score.seconds_at(960))
    fake.limit = 100.0 + 2.4 * (loop[1] - loop[0])
    sender.play(MidiPiece.of(score), loop[0], fake.now, loop)
    wait_until(lambda: fake.now >= fake.limit and len(port.of("continue")) >= 3)
    sender.stop()
    ons = [m.note for _, m in port.of("note_on")]
    offs = [m.note for _, m in port.of("note_off")]
    assert ons == [38, 67, 67, 38, 67, 67, 38, 67]      # three passes (the last half-way)
    assert sorted(offs) == sorted(ons)                   # the bass (36, held from 0) never began
    assert [m.pos for _, m in port.of("songpos")] == [4, 4, 4]
    assert len(port.of("stop")) == 3                     # two wraps and the end


def test_an_edit_while_playing_ends_sounding_notes_and_goes_on_without_restarting_the_clock():
    score = piece_score()
    fake, port, sender = run_in_fake_time(score)
    fake.limit = 100.0 + score.seconds_at(240)           # the first chord is sounding
    sender.play(MidiPiece.of(score), 0.0, fake.now)
    wait_until(lambda: fake.now >= fake.limit and len(port.of("note_on")) == 4)
    edited = score.with_tracks([Track("Piano", 0, False, [Note(79, 480, 480, 90)])])
    sender.set_piece(MidiPiece.of(edited), score.seconds_at(240), fake.now)
    assert sorted(m.note for _, m in port.of("note_off")) == [36, 36, 60, 64]
    fake.limit = float("inf")
    wait_until(lambda: not sender.is_playing)
    sender.stop()
    assert [m.note for _, m in port.of("note_on")][-1] == 79
    assert port.of("note_on")[-1][0] - 100.0 == pytest.approx(edited.seconds_at(480))
    assert len(port.of("start")) == 1 and not port.of("continue")


def test_a_port_that_fails_stops_sending_with_one_line():
    score = piece_score()
    fake, port, sender = run_in_fake_time(score, fail_at=6)
    sender.play(MidiPiece.of(score), 0.0, fake.now)
    wait_until(lambda: not sender.is_playing)
    sender.stop()
    assert len(port.sent) == 6
    assert sender.error == ("MIDI output stopped: MidiOutAlsa::sendMessage: error sending MIDI "
                            "message to port.")


def test_the_real_thread_on_the_real_clock_sends_within_10_ms():
    """1.5 s of eighths and chords at 120 BPM, clock on, on the real clock."""
    notes = [Note(60 + (i * 5) % 12, i * 240, 200, 90) for i in range(6)]
    chords = [Note(48 + p, half * 480, 450, 70) for half in range(3) for p in (0, 7)]
    score = Score([Track("Piano", 0, False, notes), Track("Pad", 89, False, chords)], 120.0)
    port = FakePort(time.perf_counter)
    sender = MidiSender(port, send_clock=True)
    origin = time.perf_counter() + 0.05
    sender.play(MidiPiece.of(score), 0.0, origin)
    wait_until(lambda: not sender.is_playing)
    sender.stop()
    expected = [(s, kind, {"Piano": 0, "Pad": 1}[name], pitch) for s, kind, name, pitch in (
        (score.seconds_at(n.start if k == "note_on" else n.end), k, t.name, n.pitch)
        for t in score.tracks for n in t.notes for k in ("note_on", "note_off"))]
    expected.sort(key=lambda e: (e[0], e[1] == "note_on", e[2], e[3]))
    assert_same_stream(received_notes(port, origin), expected, TOLERANCE_S)
    clocks = [at - origin for at, _ in port.of("clock")]
    assert len(clocks) == 71                             # up to the last note-off (tick 1410)
    assert max(abs(at - k * 0.5 / 24) for k, at in enumerate(clocks)) <= TOLERANCE_S

"""The sustain pedal in playback: the schedule's CC64 events, the player's synth calls
(starting inside a held pedal, a loop's wrap, stop), the MIDI output's stream on an injected
clock, and the rendered sound (a note rings on under the pedal)."""

from __future__ import annotations

import numpy as np
import pytest

from composer_app.document.document import Document
from composer_app.playback import audio
from composer_app.playback.midi_out import ALL_NOTES_OFF, MidiPiece, MidiSender
from composer_app.playback.pedal import SUSTAIN
from composer_app.playback.player import Player
from composer_app.playback.synth import LiveSynth
from ml_core.music import Note, PedalSpan, ProgramChange, Score, Track
from tests.composer_app.playback.test_midi_out import FakePort, FakeTime, wait_until

RATE = 22050


def pedalled_score() -> Score:
    """120 BPM (a quarter is 0.5 s): C4 0-0.25 s, E4 0.5-0.75 s, G4 1.0-1.25 s under the
    pedal 0-0.5 s (with an overlapping span inside), a re-pedal 0.5-1.0 s, then 1.125-1.5 s
    (holding G4 past its end) and a span after every note (holding nothing). A drum track
    and an empty (muted) track have pedal spans too."""
    piano = Track("Piano", 0, False, [Note(60, 0, 240, 90), Note(64, 480, 240, 80),
                                       Note(67, 960, 240, 70)], [],
                  [PedalSpan(0, 480), PedalSpan(120, 360), PedalSpan(480, 960),
                   PedalSpan(1080, 1440), PedalSpan(1920, 2400)])
    drums = Track("Drums", 0, True, [Note(36, 240, 120, 100)], [], [PedalSpan(0, 960)])
    muted = Track("Muted", 0, False, [], [], [PedalSpan(0, 960)])
    return Score([piano, drums, muted], 120.0)


def rows(schedule: audio.Schedule) -> list[tuple[float, str, int, int]]:
    kinds = {0: "up", 1: "off", 2: "down", 3: "on"}
    return [(round(s, 4), kinds[rank], channel, pitch) for s, rank, channel, pitch in zip(
        schedule.seconds.tolist(), schedule.ranks().tolist(), schedule.channel.tolist(),
        schedule.pitch.tolist(), strict=True)]


def test_the_schedule_carries_the_pedal_of_each_pitched_track_on_its_channel():
    schedule = audio.build_schedule(pedalled_score())
    assert rows(schedule) == [
        (0.0, "down", 0, -1), (0.0, "on", 0, 60),
        (0.25, "off", 0, 60), (0.25, "on", 9, 36), (0.375, "off", 9, 36),
        (0.5, "up", 0, -1), (0.5, "down", 0, -1), (0.5, "on", 0, 64),   # a re-pedal
        (0.75, "off", 0, 64),
        (1.0, "up", 0, -1), (1.0, "on", 0, 67),
        (1.125, "down", 0, -1), (1.25, "off", 0, 67), (1.5, "up", 0, -1)]
    assert schedule.pedal[schedule.pedal >= 0].tolist() == [127, 0, 127, 0, 127, 0]
    assert schedule.end_seconds == pytest.approx(1.5)    # G4 rings until the pedal comes up
    assert schedule.pedal_channels() == [0]               # no drums, nothing for a muted track
    # a start or seek inside a held pedal presses it first
    assert schedule.pedal_held_at(0.625) == [0]
    assert schedule.pedal_held_at(1.05) == []
    assert schedule.pedal_held_at(1.3) == [0]
    assert schedule.pedal_held_at(1.0) == [0]             # its pedal-up at 1.0 s is still due
    assert schedule.pedal_held_at(1.0, including_at=True) == []   # ...or has been sent


def test_a_track_that_changes_program_pedals_on_each_of_its_channels():
    track = Track("Strings", 48, False, [Note(60, 0, 480), Note(62, 960, 480)],
                  [ProgramChange(960, 45)], [PedalSpan(0, 1920)])
    schedule = audio.build_schedule(Score([track], 120.0))
    assert schedule.pedal_channels() == [0, 1]
    assert len(schedule) == 4 + 4


class RecordingSynth:
    """Wraps the player's LiveSynth: records pedal changes and note-ons, still sounding them."""

    def __init__(self, live: LiveSynth, monkeypatch) -> None:
        self.calls: list[tuple] = []
        sustain, note_on = live.sustain, live.note_on

        def record_sustain(channel, down):
            self.calls.append(("pedal", channel, down))
            sustain(channel, down)

        def record_note_on(channel, pitch, velocity=100):
            self.calls.append(("on", channel, pitch))
            note_on(channel, pitch, velocity)

        monkeypatch.setattr(live, "sustain", record_sustain)
        monkeypatch.setattr(live, "note_on", record_note_on)

    def take(self) -> list[tuple]:
        calls, self.calls = self.calls, []
        return calls


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked_player(qtbot):
    clock = FakeClock()
    player = Player(drivers=[], clock=clock)
    yield player, clock
    player.shutdown()


def test_the_player_presses_a_held_pedal_first_and_stop_lifts_it(clocked_player, monkeypatch):
    player, clock = clocked_player
    synth = RecordingSynth(player.live_synth, monkeypatch)
    player.set_score(pedalled_score())
    player.play(from_tick=600)                            # 0.625 s: inside the re-pedal
    assert synth.take() == [("pedal", 0, True)]           # before any note
    clock.now += 0.4                                      # 1.025 s
    player._advance()
    assert synth.take() == [("pedal", 0, False), ("on", 0, 67)]
    clock.now += 0.175                                    # 1.2 s
    player._advance()
    assert synth.take() == [("pedal", 0, True)]
    assert player.live_synth.pedal_down == {0}
    player.stop()
    assert synth.take() == [("pedal", 0, False)]
    assert player.live_synth.pedal_down == frozenset()


def test_a_loop_wrap_lifts_the_pedal_and_presses_it_again_at_the_loop_start(clocked_player,
                                                                            monkeypatch):
    player, clock = clocked_player
    synth = RecordingSynth(player.live_synth, monkeypatch)
    player.set_score(pedalled_score())
    player.play(from_tick=600, loop=(600, 900))           # 0.625 .. 0.9375 s
    assert synth.take() == [("pedal", 0, True)]
    clock.now += 0.35                                     # past the loop's end: wraps
    player._advance()
    assert synth.take() == [("pedal", 0, False), ("pedal", 0, True)]
    assert player.is_playing and player.live_synth.pedal_down == {0}


def test_an_edit_while_playing_keeps_the_pedal_down_where_it_is_held(clocked_player,
                                                                     monkeypatch):
    player, clock = clocked_player
    synth = RecordingSynth(player.live_synth, monkeypatch)
    player.set_score(pedalled_score())
    player.play(from_tick=0)
    clock.now += 0.1
    player._advance()
    synth.take()
    edited = pedalled_score()
    edited.tracks[0].notes.append(Note(72, 240, 240, 90))
    player.set_score(edited)                              # at 0.1 s, inside the first span
    assert synth.take() == [("pedal", 0, False), ("pedal", 0, True)]
    assert player.live_synth.pedal_down == {0}


def controls(port, origin: float) -> list[tuple[float, int, int, int]]:
    return [(round(at - origin, 6), m.channel, m.control, m.value)
            for at, m in port.of("control_change")]


def test_the_midi_output_sends_the_pedal_at_its_times_and_lifts_it_on_stop():
    score = pedalled_score()
    fake = FakeTime()
    port = FakePort(fake.clock)
    sender = MidiSender(port, clock=fake.clock, wait=fake.wait)
    sender.play(MidiPiece.of(score), 0.0, fake.now)
    wait_until(lambda: not sender.is_playing)
    sender.stop()
    pedal = [c for c in controls(port, 100.0) if c[2] == SUSTAIN]
    assert pedal == [(0.0, 0, 64, 127), (0.5, 0, 64, 0), (0.5, 0, 64, 127), (1.0, 0, 64, 0),
                     (1.125, 0, 64, 127), (1.5, 0, 64, 0),
                     (1.5, 0, 64, 0)]                     # stop: every pedalled channel
    messages = [m for _, m in port.sent]
    at_half = [(m.type, getattr(m, "value", None)) for at, m in port.sent if at == 100.5]
    assert at_half == [("control_change", 0), ("control_change", 127), ("note_on", None)]
    assert [m.control for m in messages[-16:]] == [ALL_NOTES_OFF] * 16


def test_the_midi_output_started_inside_a_held_pedal_presses_it_first_and_loops_it():
    score = pedalled_score()
    fake = FakeTime()
    port = FakePort(fake.clock)
    sender = MidiSender(port, clock=fake.clock, send_clock=True, wait=fake.wait)
    loop = (score.seconds_at(600), score.seconds_at(900))
    fake.limit = 100.0 + 1.5 * (loop[1] - loop[0])
    sender.play(MidiPiece.of(score), loop[0], fake.now, loop)
    wait_until(lambda: fake.now >= fake.limit and len(port.of("continue")) >= 2)
    sender.stop()
    sent = [m for _, m in port.sent if m.type != "program_change"]
    assert (sent[0].type, sent[0].control, sent[0].value) == ("control_change", SUSTAIN, 127)
    assert sent[1].type == "songpos"                      # the pedal goes down before Continue
    pedal = [c for c in controls(port, 100.0) if c[2] == SUSTAIN]
    wrap = round(loop[1] - loop[0], 6)
    assert pedal == [(0.0, 0, 64, 127), (wrap, 0, 64, 0), (wrap, 0, 64, 127),
                     (pedal[-1][0], 0, 64, 0)]            # lifted by the stop


def window_rms(samples: np.ndarray, start_s: float, end_s: float) -> float:
    part = samples[int(start_s * RATE):int(end_s * RATE)]
    return float(np.sqrt((part.astype(np.float64) ** 2).mean()))


def test_a_short_note_under_the_pedal_rings_until_the_pedal_comes_up():
    def rendered(pedal: list[PedalSpan]) -> np.ndarray:   # C4 for 0.25 s at 120 BPM
        score = Score([Track("Piano", 0, False, [Note(60, 0, 240, 100)], [], pedal)], 120.0)
        return audio.render(score, sample_rate=RATE, tail_seconds=1.0)

    dry, short, long = rendered([]), rendered([PedalSpan(0, 960)]), rendered([PedalSpan(0, 1920)])
    assert len(dry) == pytest.approx(1.25 * RATE, abs=2)
    assert len(short) == pytest.approx(2.0 * RATE, abs=2)   # to the pedal's lift, plus the tail
    assert window_rms(dry, 0.0, 0.2) == pytest.approx(window_rms(short, 0.0, 0.2), rel=1e-3)
    after_release = window_rms(dry, 0.5, 0.9)
    assert window_rms(short, 0.5, 0.9) > 10 * after_release       # still ringing
    assert window_rms(long, 1.3, 1.8) > 10 * window_rms(short, 1.3, 1.8)  # lifted at 1.0 s


def test_all_notes_off_lifts_the_pedal_of_the_live_synth():
    def after_all_notes_off(lift: bool) -> float:
        with LiveSynth(drivers=[], sample_rate=RATE) as live:
            live.set_program(0, 0)
            live.sustain(0, True)
            live.note_on(0, 60, 100)
            live.read_samples(RATE // 5)
            live.note_off(0, 60)
            if lift:
                live.all_notes_off()
            else:
                live.note_off(0, 60)    # only the note's own release: the pedal holds it
            return window_rms(live.read_samples(RATE), 0.4, 0.9)

    assert after_all_notes_off(True) < 0.05 * after_all_notes_off(False)


def test_the_documents_playback_pedals_its_audible_tracks_only(qtbot):
    document = Document()
    document.load_score(pedalled_score())
    assert audio.build_schedule(document.playback_score()).pedal_channels() == [0]
    document.set_track_muted(0, True)
    assert audio.build_schedule(document.playback_score()).pedal_channels() == []

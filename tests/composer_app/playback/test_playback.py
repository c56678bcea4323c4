"""The Player: clock-driven playhead, loop, stop, shutdown, running silently with no device."""

from __future__ import annotations

import time
import wave

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from composer_app.playback import audio
from composer_app.playback.player import Player
from ml_core.music import Note, Score, Track


def long_score(bpm: float = 120.0) -> Score:
    """Eight bars of quarter notes: long enough that no test reaches its end."""
    notes = [Note(60 + i % 12, i * 480, 480, 90) for i in range(32)]
    return Score([Track("piano", 0, False, notes)], bpm)


@pytest.fixture
def player(qtbot):
    made = Player(drivers=[])  # no audio device, as on the test machines
    yield made
    made.shutdown()
    assert not any(timer.isActive() for timer in made.findChildren(QTimer))


class PositionLog:
    """Records (clock time, tick) for every position_changed."""

    def __init__(self, player: Player) -> None:
        self.samples: list[tuple[float, int]] = []
        player.position_changed.connect(lambda tick: self.samples.append((time.perf_counter(),
                                                                          tick)))

    @property
    def ticks(self) -> list[int]:
        return [tick for _, tick in self.samples]


def test_no_audio_device_is_reported_not_raised():
    player = Player(drivers=["no-such-driver"])
    try:
        assert player.audio_available is False
        assert player.audio_status.startswith("No audio device")
        assert "Export WAV still works" in player.audio_status
        assert player.soundfont == audio.default_soundfont()
    finally:
        player.shutdown()


@pytest.mark.parametrize("bpm", [120.0, 60.0])
def test_playhead_advances_at_the_tempo_rate(qtbot, player, bpm):
    player.set_score(long_score(bpm))
    log = PositionLog(player)
    with qtbot.waitSignal(player.state_changed, timeout=1000) as started:
        player.play(from_tick=480)
    assert started.args == [True] and player.is_playing
    qtbot.wait(400)
    times = np.array([t for t, _ in log.samples])
    ticks = np.array(log.ticks, dtype=float)
    assert ticks[0] == 480
    assert len(ticks) >= 10                       # ~ every 10 ms, even on a busy machine
    assert np.all(np.diff(ticks) >= 0)
    ticks_per_second = bpm / 60 * 480
    slope = np.polyfit(times[1:], ticks[1:], 1)[0]
    assert slope == pytest.approx(ticks_per_second, rel=0.1)
    assert player.sounding_notes  # the note under the playhead has been started


def test_loop_wraps_around_the_region(qtbot, player):
    player.set_score(long_score(120.0))
    log = PositionLog(player)
    player.play(from_tick=0, loop=(240, 360))  # a 0.25 s lead-in, then a 0.125 s region

    def wraps() -> list[int]:
        ticks = log.ticks
        return [i for i in range(1, len(ticks)) if ticks[i] < ticks[i - 1]]

    # Two wraps take ~0.5 s; allow a busy machine to deliver the timer ticks late.
    qtbot.waitUntil(lambda: len(wraps()) >= 2, timeout=5000)
    ticks = log.ticks
    assert max(ticks) < 360
    assert all(240 <= ticks[i] < 360 for i in range(wraps()[0], len(ticks)))
    assert player.is_playing


def test_a_failure_during_playback_is_reported_and_stops(qtbot, player, monkeypatch):
    player.set_score(long_score())

    def broken_note_on(*args):
        raise OSError("synth went away")

    monkeypatch.setattr(player._synth, "note_on", broken_note_on)
    with qtbot.waitSignal(player.error, timeout=1000) as failed:
        player.play()
    assert failed.args == ["playback stopped: synth went away"]
    assert not player.is_playing


def test_stop_stops_and_releases(qtbot, player):
    player.set_score(long_score())
    player.play()
    qtbot.wait(60)
    assert player.sounding_notes == {(0, 60)}
    with qtbot.waitSignal(player.state_changed, timeout=1000) as stopped:
        player.stop()
    assert stopped.args == [False]
    assert not player.is_playing and not player.sounding_notes
    at_stop = player.position
    log = PositionLog(player)
    qtbot.wait(100)
    assert log.ticks == [] and player.position == at_stop > 0


def test_playback_ends_by_itself_after_the_last_note(qtbot, player):
    player.set_score(Score([Track("p", 0, False, [Note(60, 0, 120, 90)])], 240.0))  # 62.5 ms
    log = PositionLog(player)
    with qtbot.waitSignal(player.state_changed, timeout=2000,
                          check_params_cb=lambda playing: not playing):
        player.play()
    assert log.ticks[-1] == 120 and not player.sounding_notes


def test_bad_arguments_and_soundfonts_are_refused(qtbot, player, tmp_path):
    player.set_score(long_score())
    with pytest.raises(ValueError, match="negative"):
        player.play(from_tick=-1)
    assert not player.is_playing
    player.play()
    qtbot.wait(30)
    with pytest.raises(ValueError, match="loop end"):
        player.play(loop=(960, 480))
    assert player.is_playing and player.sounding_notes  # a refused request changes nothing
    player.stop()
    with pytest.raises(audio.SoundfontError, match="not found"):
        player.set_soundfont(tmp_path / "missing.sf2")
    assert player.soundfont == audio.default_soundfont()


def test_shutdown_leaves_nothing_running(qtbot):
    player = Player(drivers=[])
    player.set_score(long_score())
    player.play()
    player.preview_note(64)
    qtbot.wait(30)
    player.shutdown()
    assert not player.is_playing
    assert not any(timer.isActive() for timer in player.findChildren(QTimer))
    player.shutdown()  # idempotent
    with pytest.raises(RuntimeError, match="shut down"):
        player.play()


def test_editing_while_playing_keeps_the_position(qtbot, player):
    player.set_score(long_score(120.0))
    player.play(from_tick=960)
    qtbot.wait(100)
    edited = long_score(120.0)
    edited.tracks[0].notes.append(Note(90, 1200, 480, 90))
    before = player.position
    player.set_score(edited)
    qtbot.wait(50)
    assert player.is_playing and player.position >= before


def test_real_time_output_follows_the_schedule(qtbot, tmp_path):
    """FluidSynth's "file" driver is a real audio thread writing in real time: recording a
    playback checks the timer-driven note events land where the tempo puts them."""
    recording = tmp_path / "played.wav"
    player = Player(drivers=["file"], synth_settings={"audio.file.name": str(recording),
                                                      "audio.file.type": "wav"})
    try:
        assert player.audio_available and player.audio_status == "Audio: file"
        notes = [Note(60, 0, 120, 110), Note(72, 480, 120, 110), Note(67, 960, 120, 110)]
        player.set_score(Score([Track("piano", 0, False, notes)], 120.0))
        with qtbot.waitSignal(player.state_changed, timeout=3000,
                              check_params_cb=lambda playing: not playing):
            player.play()
        qtbot.wait(200)  # let the release reach the file
    finally:
        player.shutdown()  # closes the driver, which finishes the file
    if recording.read_bytes()[:4] != b"RIFF":
        pytest.skip("this FluidSynth build writes raw audio only (no libsndfile)")
    with wave.open(str(recording), "rb") as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    hop = rate // 200
    frames = len(samples) // hop * hop
    env = np.sqrt((samples[:frames].astype(float).reshape(-1, hop * 2) ** 2).mean(axis=1))
    onset_times, armed = [], True  # rises above 10% of the peak after a quiet stretch
    for index, value in enumerate(env.tolist()):
        if armed and value > 0.1 * env.max():
            onset_times.append(index * hop / rate)
            armed = False
        elif value < 0.05 * env.max():
            armed = True
    assert len(onset_times) == 3
    assert np.diff(onset_times) == pytest.approx([0.5, 0.5], abs=0.06)

"""Offline rendering, WAV export, soundfont checks and the live synth (no audio device)."""

from __future__ import annotations

import os
import stat
import time
import wave

import numpy as np
import pytest

from composer_app.playback import audio, synth
from ml_core.music import Note, ProgramChange, Score, TempoChange, Track

RATE = 22050          # half the default rate keeps the tests quick; timing is the same
HOP = RATE // 200     # 5 ms envelope hops


def envelope(samples: np.ndarray, hop: int = HOP) -> np.ndarray:
    """RMS of both channels over consecutive `hop`-frame windows."""
    frames = len(samples) // hop * hop
    windows = samples[:frames].reshape(-1, hop * 2)
    return np.sqrt((windows.astype(np.float64) ** 2).mean(axis=1))


def window_rms(samples: np.ndarray, start_s: float, end_s: float) -> float:
    part = samples[int(start_s * RATE):int(end_s * RATE)]
    return float(np.sqrt((part.astype(np.float64) ** 2).mean()))


def onsets(samples: np.ndarray, threshold_ratio: float = 0.1) -> list[float]:
    """Times (s) where the envelope rises through `threshold_ratio` of its peak after having
    been quiet (below a fifth of that threshold): hysteresis ignores wobbles in a decay."""
    env = envelope(samples)
    high, low = threshold_ratio * env.max(), threshold_ratio * env.max() / 5
    found, armed = [], True
    for index, value in enumerate(env.tolist()):
        if armed and value > high:
            found.append(index * HOP / RATE)
            armed = False
        elif value < low:
            armed = True
    return found


def piano(*notes: Note, program: int = 0) -> Track:
    return Track("piano", program, False, list(notes))


def test_notes_sound_where_written_and_silence_elsewhere():
    # 120 bpm: a beat is 0.5 s. One-beat notes at beats 0 and 4 -> sound 0-0.5 s and 2-2.5 s.
    score = Score([piano(Note(60, 0, 480, 100), Note(67, 1920, 480, 100))], 120.0)
    samples = audio.render(score, sample_rate=RATE, tail_seconds=1.0)

    assert samples.dtype == np.float32 and samples.shape[1] == 2
    assert len(samples) == pytest.approx(3.5 * RATE, abs=2)  # last note-off + 1 s tail
    loud_first, loud_second = window_rms(samples, 0.02, 0.4), window_rms(samples, 2.02, 2.4)
    assert loud_first > 5e-3 and loud_second > 5e-3
    assert window_rms(samples, 1.3, 1.95) < 0.01 * loud_first      # gap after the release
    assert window_rms(samples, 3.3, 3.5) < 0.01 * loud_second      # after the last note
    found = onsets(samples)
    assert len(found) == 2
    assert found[0] == pytest.approx(0.0, abs=0.05)
    assert found[1] == pytest.approx(2.0, abs=0.05)


def test_tempo_changes_move_onsets():
    # 120 bpm for two beats (1 s), then 60 bpm: tick 1920 falls at 1 s + 2 beats * 1 s = 3 s.
    notes = [Note(60, 0, 240, 100), Note(60, 1920, 240, 100)]
    steady = audio.render(Score([piano(*notes)], 120.0), sample_rate=RATE, tail_seconds=0.5)
    slowed = audio.render(Score([piano(*notes)], 120.0, tempo_changes=[TempoChange(960, 60.0)]),
                          sample_rate=RATE, tail_seconds=0.5)
    assert onsets(steady)[1] == pytest.approx(2.0, abs=0.05)
    assert onsets(slowed)[1] == pytest.approx(3.0, abs=0.05)


def test_drum_track_makes_sound():
    score = Score([Track("drums", 0, True, [Note(38, 0, 240, 110), Note(42, 480, 240, 110)])])
    samples = audio.render(score, sample_rate=RATE, tail_seconds=0.5)
    assert window_rms(samples, 0.0, 0.2) > 5e-3
    assert onsets(samples, 0.2)[0] == pytest.approx(0.0, abs=0.05)


def spectral_centroid(samples: np.ndarray) -> float:
    mono = samples.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono))
    frequencies = np.fft.rfftfreq(len(mono), 1 / RATE)
    return float((spectrum * frequencies).sum() / spectrum.sum())


def test_programs_change_the_timbre():
    def one_note(program: int) -> np.ndarray:
        return audio.render(Score([piano(Note(60, 0, 960, 100), program=program)]),
                            sample_rate=RATE, tail_seconds=0.0)

    piano_sound, square_lead = one_note(0), one_note(80)
    assert piano_sound.shape == square_lead.shape
    assert spectral_centroid(square_lead) > 1.5 * spectral_centroid(piano_sound)


def test_empty_score_renders_silent_tail():
    samples = audio.render(Score(), sample_rate=RATE, tail_seconds=0.5)
    assert samples.shape == (int(0.5 * RATE), 2)
    assert np.abs(samples).max() < 1e-6


def test_tempo_map_agrees_with_score():
    score = Score([], 100.0, tempo_changes=[TempoChange(0, 90.0), TempoChange(700, 150.0),
                                            TempoChange(2000, 45.5)])
    tempo = audio.TempoMap(score)
    ticks = [0, 1, 699, 700, 701, 1999, 2000, 5000, 123456]
    assert np.allclose(tempo.seconds(ticks), [score.seconds_at(t) for t in ticks])
    for tick in ticks:
        assert tempo.tick_at(score.seconds_at(tick)) == tick


def test_channels_one_per_track_with_drums_on_channel_ten():
    tracks = [Track("a"), Track("drums", is_drum=True), Track("b"),
              Track("more drums", is_drum=True)]
    assert audio.assign_channels(tracks) == [0, 9, 1, 25]
    many = audio.assign_channels([Track(str(i)) for i in range(20)])
    assert len(set(many)) == 20 and all(channel % 16 != 9 for channel in many)


def test_schedule_orders_offs_before_ons_and_keeps_zero_length_notes():
    score = Score([piano(Note(60, 0, 480), Note(60, 480, 480), Note(64, 960, 0))], 120.0)
    schedule = audio.build_schedule(score)
    rows = list(zip(schedule.seconds.round(4).tolist(), schedule.is_on.tolist(),
                    schedule.pitch.tolist(), strict=True))
    assert rows[:4] == [(0.0, True, 60), (0.5, False, 60), (0.5, True, 60), (1.0, False, 60)]
    on_index = rows.index((1.0, True, 64))
    off_time = [r for r in rows if r[1:] == (False, 64)][0][0]
    assert off_time > 1.0 and on_index < rows.index((off_time, False, 64))


def test_write_wav_rereads_with_right_format(tmp_path):
    score = Score([piano(Note(60, 0, 480, 100))], 120.0)
    path = audio.write_wav(score, tmp_path / "out.wav", sample_rate=RATE, tail_seconds=0.25)
    with wave.open(str(path), "rb") as reader:
        assert reader.getnchannels() == 2
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == RATE
        frames = reader.readframes(reader.getnframes())
        assert reader.getnframes() == int(0.75 * RATE)
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, 2) / 32767.0
    rendered = audio.render(score, sample_rate=RATE, tail_seconds=0.25)
    target = 10 ** (audio.WAV_PEAK_DBFS / 20)           # normalised to -1 dBFS
    assert abs(np.abs(pcm).max() - target) < 2 / 32767
    expected = rendered * (target / np.abs(rendered).max())
    assert np.abs(pcm - expected).max() < 2 / 32767     # the same audio, only louder
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_write_wav_normalises_a_loud_piece_without_clipping(tmp_path):
    chord = [Note(p, 0, 960, 127) for p in range(36, 96, 3)]   # 20 loud notes at once
    score = Score([piano(*chord)], 120.0)
    assert np.abs(audio.render(score, sample_rate=RATE, gain=2.0)).max() > 1.0   # would clip
    path = audio.write_wav(score, tmp_path / "loud.wav", sample_rate=RATE, gain=2.0)
    with wave.open(str(path), "rb") as reader:
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    peak_dbfs = 20 * np.log10(np.abs(pcm).max() / 32767)
    assert -1.1 < peak_dbfs < -0.9
    assert (np.abs(pcm) >= 32767).sum() == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_exported_wav_gets_the_permissions_of_a_normal_file(tmp_path):
    """Not mkstemp's private 0o600: other programs (a DAW, a media player) must read it."""
    old_umask = os.umask(0o022)
    try:
        path = audio.write_wav(Score([piano(Note(60, 0, 240, 100))], 120.0), tmp_path / "out.wav",
                               sample_rate=RATE, tail_seconds=0.1)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_wav_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "song.wav"
    target.write_bytes(b"previous export")
    real_blocks = audio._render_blocks

    def failing_blocks(*args, **kwargs):
        blocks = real_blocks(*args, **kwargs)
        yield next(blocks)
        raise OSError("disk full")

    monkeypatch.setattr(audio, "_render_blocks", failing_blocks)
    score = Score([piano(Note(60, 0, 4800, 100))], 120.0)
    with pytest.raises(OSError, match="disk full"):
        audio.write_wav(score, target, sample_rate=RATE)
    assert target.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["song.wav"]


def test_missing_soundfont_is_a_clear_error(tmp_path):
    score = Score([piano(Note(60, 0, 480))])
    with pytest.raises(audio.SoundfontError, match="soundfont not found"):
        audio.render(score, soundfont=tmp_path / "nope.sf2")
    with pytest.raises(audio.SoundfontError, match="soundfont not found"):
        audio.write_wav(score, tmp_path / "x.wav", soundfont=tmp_path / "nope.sf2")
    assert not (tmp_path / "x.wav").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, message", [
    (b"", "not a SoundFont"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0", "not a SoundFont"),
    (b"RIFF\x04\x00\x00\x00WAVE", "not a SoundFont"),
])
def test_non_soundfont_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.sf2"
    path.write_bytes(content)
    with pytest.raises(audio.SoundfontError, match=message) as caught:
        audio.check_soundfont(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_truncated_and_corrupt_soundfonts_are_refused(tmp_path):
    original = audio.default_soundfont().read_bytes()
    truncated = tmp_path / "truncated.sf2"
    truncated.write_bytes(original[:5000])
    with pytest.raises(audio.SoundfontError, match="truncated"):
        audio.render(Score([piano(Note(60, 0, 480))]), soundfont=truncated)
    # A complete RIFF/sfbk header but garbage chunks: FluidSynth's refusal becomes our error.
    corrupt = tmp_path / "corrupt.sf2"
    body = b"sfbk" + b"\x00junk" * 200
    corrupt.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(audio.SoundfontError, match="could not load"):
        audio.render(Score([piano(Note(60, 0, 480))]), soundfont=corrupt)


def test_bad_render_arguments_are_refused():
    with pytest.raises(audio.RenderError, match="sample rate"):
        audio.render(Score(), sample_rate=100)
    with pytest.raises(audio.RenderError, match="tail"):
        audio.render(Score(), tail_seconds=-1)
    too_long = Score([piano(Note(60, 0, 480 * 2 * 60 * 40))], 120.0)  # 40 minutes
    with pytest.raises(audio.RenderError, match="limited"):
        audio.render(too_long)


def test_live_synth_without_device_stays_silent_and_previews(tmp_path):
    with synth.LiveSynth(drivers=["no-such-driver"], sample_rate=RATE) as live:
        assert live.audio_available is False
        assert live.status == synth.NO_AUDIO_MESSAGE
        assert live.soundfont == audio.default_soundfont()
        live.read_samples(RATE // 10)
        live.preview_note(60, 100, 0.3)
        samples = live.read_samples(RATE)  # the note is timed by the synth's own clock
        assert window_rms(samples, 0.02, 0.28) > 5e-3
        assert window_rms(samples, 0.8, 1.0) < 0.01 * window_rms(samples, 0.02, 0.28)
        with pytest.raises(audio.SoundfontError, match="not found"):
            live.load_soundfont(tmp_path / "missing.sf2")
        assert live.soundfont == audio.default_soundfont()  # the old one stays
        live.set_program(3, 80)
        live.note_on(3, 64, 100)
        assert window_rms(live.read_samples(RATE // 5), 0.02, 0.18) > 5e-3
        live.all_notes_off()
        live.read_samples(RATE)
        assert window_rms(live.read_samples(RATE // 5), 0.0, 0.2) < 1e-4
        with pytest.raises(ValueError, match="channel"):
            live.note_on(300, 60)
    assert live.closed
    live.close()  # a second close is harmless


def test_live_synth_with_bad_soundfont_still_constructs(tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"nothing")
    with synth.LiveSynth(bad, drivers=[]) as live:
        assert live.soundfont is None
        assert "not a SoundFont" in live.soundfont_error
        assert "not a SoundFont" in live.status
        live.note_on(0, 60)  # no soundfont: silent, but no error


def test_default_probe_reports_consistently():
    with synth.LiveSynth() as live:
        if live.audio_available:
            assert live.status.startswith("Audio: ")
        else:
            assert live.status.startswith("No audio device")


def test_preview_note_is_released_by_the_audio_thread(tmp_path):
    """With a running audio thread (FluidSynth's real-time "file" driver), a preview note's
    release is timed inside the synth: the recording holds ~0.25 s of sound, then quiet."""
    recording = tmp_path / "preview.wav"
    live = synth.LiveSynth(sample_rate=RATE, drivers=["file"],
                           settings={"audio.file.name": str(recording), "audio.file.type": "wav"})
    try:
        assert live.audio_available and live.status == "Audio: file"
        with pytest.raises(audio.AudioError, match="cannot be pulled"):
            live.read_samples(10)
        time.sleep(0.1)
        live.preview_note(64, 110, 0.25)
        time.sleep(0.9)
    finally:
        live.close()  # stops the audio thread before freeing the sequencer and synth
    if recording.read_bytes()[:4] != b"RIFF":
        pytest.skip("this FluidSynth build writes raw audio only (no libsndfile)")
    with wave.open(str(recording), "rb") as reader:
        assert reader.getframerate() == RATE
        samples = (np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1,
                                                                                        2) / 32768)
    start = onsets(samples)[0]
    assert window_rms(samples, start + 0.02, start + 0.2) > 5e-3
    assert (window_rms(samples, start + 0.75, start + 0.85) < 0.02 * window_rms(samples,
                                                                                start + 0.02,
                                                                                start + 0.2))


def test_a_later_program_plays_on_a_channel_of_its_own():
    strings = Track("Strings", 48, False,
                    [Note(60, 0, 480), Note(62, 480, 480), Note(64, 960, 480)],
                    [ProgramChange(480, 45), ProgramChange(960, 48)])
    schedule = audio.build_schedule(Score([strings]))
    ons = schedule.is_on
    arco, pizzicato = (schedule.channel[ons & (schedule.pitch == pitch)][0] for pitch in (60, 62))
    assert schedule.programs[arco] == (48, False) and schedule.programs[pizzicato] == (45, False)
    assert schedule.channel[ons & (schedule.pitch == 64)][0] == arco

"""Live sound: audio-driver probing and the real-time FluidSynth output (`LiveSynth`).

Used by `player`. It probes audio drivers itself because pyfluidsynth's `Synth.start()`
never reports a failed driver, and keeps working silently when no device exists (the
status line says so; Export WAV still works). Soundfonts, channels and the FluidSynth
access it shares with offline rendering live in `audio`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from composer_app.playback.audio import (
    DEFAULT_GAIN,
    DEFAULT_SAMPLE_RATE,
    SYNTH_CHANNELS,
    AudioError,
    SoundfontError,
    _fluidsynth,
    _load_soundfont,
    _log_sink,
    _quiet_stderr,
    _set_log_handler,
    _synth_samples,
    check_soundfont,
    default_soundfont,
    select_program,
)
from composer_app.playback.pedal import PEDAL_DOWN, PEDAL_UP, SUSTAIN

NO_AUDIO_MESSAGE = "No audio device: playback is silent; Export WAV still works"
AUDIO_DRIVER_ENV = "COMPOSER_ASSISTANT_AUDIO_DRIVER"  # e.g. "alsa", or "none" for silence

# Drivers tried in order, per platform; the first that opens a device wins.
_PLATFORM_DRIVERS = {
    "linux": ("pulseaudio", "pipewire", "alsa", "jack", "sdl2", "oss"),
    "darwin": ("coreaudio", "portaudio", "sdl2"),
    "win32": ("wasapi", "dsound", "waveout", "sdl2"),
}
_DRIVER_LABELS = {
    "pulseaudio": "PulseAudio", "pipewire": "PipeWire", "alsa": "ALSA", "jack": "JACK",
    "sdl2": "SDL2", "oss": "OSS", "coreaudio": "Core Audio", "portaudio": "PortAudio",
    "wasapi": "WASAPI", "dsound": "DirectSound", "waveout": "WaveOut", "file": "file",
}


def _platform_drivers() -> tuple[str, ...]:
    chosen = os.environ.get(AUDIO_DRIVER_ENV, "").strip().lower()
    if chosen:
        return () if chosen == "none" else (chosen,)
    for prefix, drivers in _PLATFORM_DRIVERS.items():
        if sys.platform.startswith(prefix):
            return drivers
    return ("sdl2",)


def _sdl_audio_ready() -> bool:
    """FluidSynth >= 2.2 expects the application to initialise SDL's audio subsystem."""
    for name in ("SDL2", "SDL2-2.0"):
        library = ctypes.util.find_library(name)
        if library:
            try:
                return ctypes.CDLL(library).SDL_Init(0x10) == 0  # SDL_INIT_AUDIO
            except (OSError, AttributeError):
                return False
    return False


def open_audio_output(synth: object,
                      drivers: Sequence[str] | None = None) -> tuple[str | None, str]:
    """Attach the first working audio driver to a fluidsynth.Synth.

    Tries `drivers` (default: the platform's list, or the one named by the environment
    variable COMPOSER_ASSISTANT_AUDIO_DRIVER, where "none" means silence) and checks each
    result itself. Returns (driver name, "Audio: ALSA") or (None, a message saying playback
    is silent). Console noise from the attempts is suppressed."""
    fluidsynth = _fluidsynth()
    candidates = tuple(_platform_drivers() if drivers is None else drivers)
    saved_jack = os.environ.get("JACK_NO_START_SERVER")
    os.environ["JACK_NO_START_SERVER"] = "1"  # probing must not launch a JACK server
    _log_sink.clear()
    _set_log_handler(True)
    try:
        with _quiet_stderr():
            for name in candidates:
                if name == "sdl2" and not _sdl_audio_ready():
                    continue
                synth.setting("audio.driver", name)
                driver = fluidsynth.new_fluid_audio_driver(synth.settings, synth.synth)
                if driver:
                    synth.audio_driver = driver
                    return name, f"Audio: {_DRIVER_LABELS.get(name, name)}"
    finally:
        _set_log_handler(False)
        if saved_jack is None:
            os.environ.pop("JACK_NO_START_SERVER", None)
        else:
            os.environ["JACK_NO_START_SERVER"] = saved_jack
    return None, NO_AUDIO_MESSAGE


class LiveSynth:
    """A FluidSynth synthesizer for real-time use: per-channel programs, note on/off, the
    sustain pedal, all-notes-off (which lifts the pedal too) and short preview notes.
    Construction never fails for lack of an audio device or soundfont: `audio_available`/
    `status` say what works, and everything else keeps running silently. Call `close()`
    when done (it stops the audio thread)."""

    PREVIEW_CHANNEL = SYNTH_CHANNELS - 1  # tracks reach it only past 240 pitched tracks

    def __init__(self, soundfont: str | os.PathLike[str] | None = None, *,
                 sample_rate: int = DEFAULT_SAMPLE_RATE, gain: float = DEFAULT_GAIN,
                 drivers: Sequence[str] | None = None,
                 settings: Mapping[str, str | int | float] | None = None) -> None:
        """`settings` are extra FluidSynth settings applied before the driver opens, e.g.
        {"audio.period-size": 128} or, with drivers=["file"], {"audio.file.name": path}
        to record the live output to a WAV file."""
        self.driver_name: str | None = None
        self.status = NO_AUDIO_MESSAGE
        self.soundfont: Path | None = None
        self.soundfont_error: str | None = None
        self._synth = None
        self._sequencer = None
        self._soundfont_id: int | None = None
        self._programs: dict[int, tuple[int, bool]] = {}
        self._pedal_down: set[int] = set()   # channels whose sustain pedal is down
        self.probe_messages: list[str] = []
        try:
            fluidsynth = _fluidsynth()
        except AudioError as exc:
            self.status = f"No audio: {exc}"
            return
        self._synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate),
                                       channels=SYNTH_CHANNELS, **dict(settings or {}))
        # A sequencer driven by the synth's own sample clock times preview note-offs
        # inside the audio thread: no Python thread or timer needed.
        self._sequencer = fluidsynth.Sequencer(time_scale=1000, use_system_timer=False)
        self._sequencer_destination = self._sequencer.register_fluidsynth(self._synth)
        try:
            self.load_soundfont(default_soundfont() if soundfont is None else soundfont)
        except SoundfontError as exc:
            self.soundfont_error = str(exc)
        self.driver_name, self.status = open_audio_output(self._synth, drivers)
        self.probe_messages = list(_log_sink)  # FluidSynth's reasons, for a details view
        if self.soundfont_error:
            self.status = f"{self.status} ({self.soundfont_error})"

    @property
    def audio_available(self) -> bool:
        return self.driver_name is not None

    @property
    def closed(self) -> bool:
        return self._synth is None

    def load_soundfont(self, path: str | os.PathLike[str]) -> Path:
        """Switch to another soundfont, keeping the channels' programs. On error (raised
        as SoundfontError) the current soundfont stays."""
        path = check_soundfont(path)
        if self._synth is None:
            raise SoundfontError("the synthesizer is closed or FluidSynth is unavailable")
        new_id = _load_soundfont(self._synth, path)
        if self._soundfont_id is not None:
            self._synth.all_sounds_off(-1)
            self._synth.sfunload(self._soundfont_id, 1)
        self._soundfont_id = new_id
        self.soundfont, self.soundfont_error = path, None
        for channel, (program, is_drum) in self._programs.items():
            select_program(self._synth, new_id, channel, program, is_drum)
        return path

    def _check_channel(self, channel: int) -> int:
        if not 0 <= channel < SYNTH_CHANNELS:
            raise ValueError(f"channel must be 0..{SYNTH_CHANNELS - 1}, not {channel}")
        return int(channel)

    def set_program(self, channel: int, program: int, is_drum: bool = False) -> None:
        channel = self._check_channel(channel)
        self._programs[channel] = (int(program), bool(is_drum))
        if self._synth is not None and self._soundfont_id is not None:
            select_program(self._synth, self._soundfont_id, channel, program, is_drum)

    def note_on(self, channel: int, pitch: int, velocity: int = 100) -> None:
        channel = self._check_channel(channel)
        if self._synth is not None and 0 <= pitch <= 127:
            self._synth.noteon(channel, int(pitch), min(max(int(velocity), 1), 127))

    def note_off(self, channel: int, pitch: int) -> None:
        channel = self._check_channel(channel)
        if self._synth is not None and 0 <= pitch <= 127:
            self._synth.noteoff(channel, int(pitch))

    def sustain(self, channel: int, down: bool) -> None:
        """Press (`down`) or lift the sustain pedal of `channel` (CC64 127 or 0)."""
        channel = self._check_channel(channel)
        if self._synth is not None:
            self._synth.cc(channel, SUSTAIN, PEDAL_DOWN if down else PEDAL_UP)
            (self._pedal_down.add if down else self._pedal_down.discard)(channel)

    @property
    def pedal_down(self) -> frozenset[int]:
        """The channels whose sustain pedal is down."""
        return frozenset(self._pedal_down)

    def all_notes_off(self, channel: int | None = None) -> None:
        """Lift the sustain pedal and release every sounding note (of one channel, or of
        all); release tails ring on."""
        if self._synth is None:
            return
        channels = sorted(self._pedal_down) if channel is None else [self._check_channel(channel)]
        for held in channels:
            if held in self._pedal_down:
                self.sustain(held, False)
        self._synth.all_notes_off(-1 if channel is None else channel)

    def preview_note(self, pitch: int, velocity: int = 100, duration_s: float = 0.4, *,
                     program: int = 0, is_drum: bool = False) -> None:
        """Sound one note now and release it after `duration_s` (timed by the synth)."""
        if self._synth is None or not 0 <= pitch <= 127:
            return
        if self._programs.get(self.PREVIEW_CHANNEL) != (program, is_drum):
            self.set_program(self.PREVIEW_CHANNEL, program, is_drum)
        milliseconds = max(1, int(round(duration_s * 1000)))
        self._sequencer.note(0, self.PREVIEW_CHANNEL, int(pitch), min(max(int(velocity), 1), 127),
                             milliseconds, dest=self._sequencer_destination, absolute=False)

    def read_samples(self, frames: int) -> np.ndarray:
        """Pull `frames` of audio by hand (float32 (frames, 2)); only without an audio
        device, whose thread otherwise owns rendering. Useful for tests and meters."""
        if self._synth is None:
            raise AudioError("the synthesizer is closed or FluidSynth is unavailable")
        if self.audio_available:
            raise AudioError("samples cannot be pulled while an audio device plays them")
        return _synth_samples(self._synth, int(frames))

    def close(self) -> None:
        """Stop the audio thread, then free the sequencer and synth. Safe to call twice."""
        if self._synth is None:
            return
        synth, self._synth = self._synth, None
        fluidsynth = _fluidsynth()
        synth.all_notes_off(-1)
        if synth.audio_driver:
            fluidsynth.delete_fluid_audio_driver(synth.audio_driver)
            synth.audio_driver = None
        self._sequencer.delete()  # unregisters from the synth, so it goes first
        self._sequencer = None
        synth.delete()
        self.driver_name = None

    def __enter__(self) -> LiveSynth:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

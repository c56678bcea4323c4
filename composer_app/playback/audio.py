"""Sound through FluidSynth: offline rendering, WAV export, audio-device probing, live synth.

Qt-free. The soundfont defaults to the General MIDI bank that ships inside pretty_midi
(`TimGM6mb.sf2`); any `.sf2`/`.sf3` file can replace it. Every track of a Score gets its
own synth channel (FluidSynth has 256): pitched tracks on channels whose number mod 16 is
not 9, drum tracks on 9, 25, 41 ... with bank 128, so a piece never runs out of channels
and drums are drums.

`render` turns a Score into float32 stereo samples, rendering in blocks between events so
every note-on/off and sustain-pedal change (`pedal`) lands on its exact sample (times from
the Score's tempo map).
`write_wav` streams the same blocks into a 16-bit WAV file atomically. The real-time
side (`LiveSynth`, audio-driver probing) is in `synth`, built on the helpers here.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import tempfile
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np

from composer_app.playback.pedal import (
    PEDAL_DOWN,
    PEDAL_UP,
    SUSTAIN,
    held_channels,
    pedal_end_seconds,
    pedal_events,
)
from ml_core.files import atomic_open
from ml_core.music import Score, Track

DEFAULT_SAMPLE_RATE = 44100
# FluidSynth's 0.2 leaves TimGM6mb very quiet; 0.5 peaks ~ -20 dBFS per note
DEFAULT_GAIN = 0.5
SYNTH_CHANNELS = 256          # FluidSynth allows up to 256 MIDI channels: one per track
DRUM_BANK = 128               # SoundFont bank that holds the GM drum kits
MIN_NOTE_SECONDS = 0.002      # a zero-length note still gets a note-off after its note-on
MAX_BLOCK_FRAMES = 32768      # longest single FluidSynth call while streaming (~0.75 s)
MAX_RENDER_SECONDS = 30 * 60  # `render` keeps everything in memory: 30 min is ~630 MB
MAX_WAV_SECONDS = 3 * 60 * 60  # streamed to disk; 16-bit stereo WAV stays far below 4 GiB
WAV_PEAK_DBFS = -1.0          # exported WAV is normalised so its loudest sample sits here


class AudioError(Exception):
    """Base of this module's errors; the message is one line a person can read."""


class SoundfontError(AudioError):
    """A soundfont file is missing, not a SoundFont, truncated, or refused by FluidSynth."""


class RenderError(AudioError):
    """A rendering request that cannot be honoured (too long, bad parameters)."""


# ---------------------------------------------------------------------------- FluidSynth access
_fluidsynth_module: ModuleType | None = None
_write_float = None


def _fluidsynth() -> ModuleType:
    """pyfluidsynth, imported on first use (so the app runs even without libfluidsynth),
    with FluidSynth's own console messages switched off."""
    global _fluidsynth_module, _write_float
    if _fluidsynth_module is None:
        try:
            import fluidsynth
        except (ImportError, OSError) as exc:
            raise AudioError(f"FluidSynth is not available ({exc}); install libfluidsynth") from exc
        _write_float = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
        )(("fluid_synth_write_float", fluidsynth._fl))
        _fluidsynth_module = fluidsynth
        _set_log_handler(False)
    return _fluidsynth_module


_LOG_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_LOG_ERROR_LEVELS = (0, 1)    # FLUID_PANIC, FLUID_ERR
_LOG_LEVEL_COUNT = 5          # PANIC, ERR, WARN, INFO, DBG
_log_sink: list[str] = []


def _collect_log_message(level: int, message: bytes | None, data: object) -> None:
    _log_sink.append((message or b"").decode("utf-8", "replace"))


_LOG_COLLECTOR = _LOG_FUNCTION(_collect_log_message)  # module-level: never garbage collected


def _set_log_handler(collect: bool) -> None:
    """Silence FluidSynth's log; with `collect`, keep its error messages in `_log_sink`."""
    set_log = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int, _LOG_FUNCTION, ctypes.c_void_p)(
        ("fluid_set_log_function", _fluidsynth_module._fl))
    silent = _LOG_FUNCTION()  # a NULL function pointer: FluidSynth drops the message
    for level in range(_LOG_LEVEL_COUNT):
        use_collector = collect and level in _LOG_ERROR_LEVELS
        set_log(level, _LOG_COLLECTOR if use_collector else silent, None)


def _synth_samples(synth: object, frames: int) -> np.ndarray:
    """`frames` stereo frames from a fluidsynth.Synth as float32 (frames, 2), no dithering."""
    block = np.empty((frames, 2), dtype=np.float32)
    if frames:
        pointer = block.ctypes.data
        _write_float(synth.synth, frames, pointer, 0, 2, pointer, 1, 2)
    return block


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to the null device for a moment: ALSA and JACK print their
    probing failures straight to stderr, past FluidSynth's log handler."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no usable stderr (e.g. pythonw on Windows): nothing to hide
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


# ---------------------------------------------------------------------------- soundfonts
def default_soundfont() -> Path:
    """The General MIDI soundfont bundled with pretty_midi."""
    try:
        path = Path(str(resources.files("pretty_midi") / "TimGM6mb.sf2"))
    except ModuleNotFoundError as exc:
        raise SoundfontError("the default soundfont needs pretty_midi, which is not "
                             "installed") from exc
    if not path.is_file():
        raise SoundfontError(f"the default soundfont is missing: {path}")
    return path


def check_soundfont(path: str | os.PathLike[str]) -> Path:
    """Return `path` as a Path if it looks like a complete SoundFont 2 file, else raise
    SoundfontError saying what is wrong (FluidSynth itself only logs a vague error)."""
    path = Path(path)
    if not path.exists():
        raise SoundfontError(f"soundfont not found: {path}")
    if not path.is_file():
        raise SoundfontError(f"soundfont is not a file: {path}")
    try:
        with path.open("rb") as handle:
            header = handle.read(12)
        size = path.stat().st_size
    except OSError as exc:
        raise SoundfontError(f"cannot read soundfont {path}: {exc.strerror or exc}") from exc
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise SoundfontError(f"not a SoundFont (.sf2) file: {path}")
    declared = int.from_bytes(header[4:8], "little") + 8
    if declared > size:
        raise SoundfontError(f"soundfont file is truncated ({size} of {declared} bytes): {path}")
    return path


def _load_soundfont(synth: object, path: Path) -> int:
    with _quiet_stderr():  # libinstpatch prints GLib criticals on some corrupt files
        soundfont_id = synth.sfload(str(path))
    if soundfont_id < 0:
        raise SoundfontError(f"FluidSynth could not load the soundfont (corrupt file?): {path}")
    return soundfont_id


# ---------------------------------------------------------------------------- tempo and channels
class TempoMap:
    """Ticks <-> seconds for one Score, vectorised (tempo is constant between changes)."""

    def __init__(self, score: Score) -> None:
        ticks = sorted({0} | {max(0, change.tick) for change in score.tempo_changes})
        self._ticks = np.array(ticks, dtype=np.float64)
        self._seconds = np.array([score.seconds_at(tick) for tick in ticks], dtype=np.float64)
        self._seconds_per_tick = np.array(
            [60.0 / (score.tempo_at(tick) * score.ticks_per_quarter) for tick in ticks])

    def seconds(self, ticks: np.ndarray | Sequence[int]) -> np.ndarray:
        ticks = np.asarray(ticks, dtype=np.float64)
        index = np.searchsorted(self._ticks, ticks, side="right") - 1
        index = np.clip(index, 0, None)
        return self._seconds[index] + (ticks - self._ticks[index]) * self._seconds_per_tick[index]

    def seconds_at(self, tick: int) -> float:
        return float(self.seconds([tick])[0])

    def tick_at(self, seconds: float) -> int:
        """The tick sounding at `seconds` (rounded; 0 before the start)."""
        seconds = max(0.0, float(seconds))
        index = max(0, int(np.searchsorted(self._seconds, seconds, side="right")) - 1)
        tick = self._ticks[index] + (seconds - self._seconds[index]) / self._seconds_per_tick[index]
        return int(round(tick))


def assign_channels(tracks: Sequence[Track]) -> list[int]:
    """One synth channel per track: drums on channels = 9 (mod 16), the rest elsewhere.
    Past 240 pitched (or 16 drum) tracks, channels are shared."""
    pitched = [c for c in range(SYNTH_CHANNELS) if c % 16 != 9]
    drums = [c for c in range(SYNTH_CHANNELS) if c % 16 == 9]
    channels, used_pitched, used_drums = [], 0, 0
    for track in tracks:
        if track.is_drum:
            channels.append(drums[used_drums % len(drums)])
            used_drums += 1
        else:
            channels.append(pitched[used_pitched % len(pitched)])
            used_pitched += 1
    return channels


def select_program(synth: object, soundfont_id: int, channel: int, program: int,
                   is_drum: bool) -> None:
    """Give `channel` a GM instrument (or drum kit), falling back to the bank's first preset
    when the soundfont lacks that program."""
    bank = DRUM_BANK if is_drum else 0
    program = min(max(int(program), 0), 127)
    if synth.program_select(channel, soundfont_id, bank, program) != 0:
        synth.program_select(channel, soundfont_id, bank, 0)


@dataclass(frozen=True)
class Schedule:
    """Every note-on/off and sustain-pedal change of a Score in time order; parallel arrays,
    one row per event (`pedal`). Within one instant: pedal-ups, note-offs, pedal-downs,
    note-ons, so a repeated pitch re-strikes and a re-pedal lets the held notes go."""

    seconds: np.ndarray      # float64, non-decreasing
    is_on: np.ndarray        # bool (False on pedal rows)
    channel: np.ndarray      # int
    pitch: np.ndarray        # int (-1 on pedal rows)
    velocity: np.ndarray     # int (1..127 for note-ons)
    programs: dict[int, tuple[int, bool]]  # channel -> (GM program, is drum)
    end_seconds: float       # when the last note ends (or the pedal holding it comes up)
    pedal: np.ndarray        # int: the CC64 value on pedal rows (127 down, 0 up), -1 on notes

    def __len__(self) -> int:
        return len(self.seconds)

    def ranks(self) -> np.ndarray:
        """Each row's place within an instant: pedal-up 0, note-off 1, pedal-down 2, note-on 3."""
        return np.where(self.pedal == PEDAL_UP, 0, np.where(
            self.pedal > PEDAL_UP, 2, np.where(self.is_on, 3, 1)))

    def pedal_channels(self) -> list[int]:
        """The channels that have pedal events."""
        return sorted(set(self.channel[self.pedal >= 0].tolist()))

    def pedal_held_at(self, seconds: float, *, including_at: bool = False) -> list[int]:
        """Channels whose pedal is down at `seconds` (by the events before it; with
        `including_at`, also those at it): what a start or seek there must press first."""
        return held_channels(self.seconds, self.channel, self.pedal, seconds,
                             including_at=including_at)


def by_program(score: Score) -> Score:
    """`score` with each track that changes program (arco, then pizzicato) sounding as one
    track per program, so each program keeps a synth channel of its own (each with the
    track's sustain pedal)."""
    if not any(track.program_changes for track in score.tracks):
        return score
    tracks = []
    for track in score.tracks:
        if not track.program_changes or track.is_drum:
            tracks.append(track)
            continue
        parts: dict[int, list] = {}
        for note in track.notes:
            parts.setdefault(track.program_at(note.start), []).append(note)
        tracks += [Track(track.name, program, False, notes, [], list(track.pedal))
                   for program, notes in parts.items()]
    return score.with_tracks(tracks)


def build_schedule(score: Score) -> Schedule:
    """Note and sustain-pedal events of `score` with times from its tempo map (vectorised
    for big scores); a track's later programs play on channels of their own (`by_program`)."""
    score = by_program(score)
    channels = assign_channels(score.tracks)
    programs = {}
    for track, channel in zip(score.tracks, channels, strict=True):
        programs.setdefault(channel, (track.program, track.is_drum))
    notes = score.note_array()
    notes = notes[(notes["pitch"] >= 0) & (notes["pitch"] <= 127)]
    tempo = TempoMap(score)
    starts = tempo.seconds(notes["start"])
    ends = np.maximum(tempo.seconds(notes["start"] + np.maximum(notes["duration"], 0)),
                      starts + MIN_NOTE_SECONDS)
    note_channels = np.array(channels, dtype=np.int64)[notes["track"]] if len(notes) else \
        np.zeros(0, dtype=np.int64)
    pedal = pedal_events(score, channels, notes["track"], ends, tempo.seconds)
    up, down = ~pedal.down, pedal.down
    pitch = notes["pitch"].astype(np.int64)
    velocity = np.clip(notes["velocity"].astype(np.int64), 1, 127)
    # (seconds, channel, pitch, velocity, CC64 value, is on), in their order within an instant
    blocks = ((pedal.seconds[up], pedal.channel[up], -1, 0, PEDAL_UP, False),
              (ends, note_channels, pitch, 0, -1, False),
              (pedal.seconds[down], pedal.channel[down], -1, 0, PEDAL_DOWN, False),
              (starts, note_channels, pitch, velocity, -1, True))

    def column(field_index: int, dtype: type) -> np.ndarray:
        return np.concatenate([np.broadcast_to(np.asarray(block[field_index], dtype),
                                               len(block[0])) for block in blocks])

    rank = np.concatenate([np.full(len(block[0]), rank) for rank, block in enumerate(blocks)])
    seconds = column(0, np.float64)
    order = np.lexsort((rank, seconds))
    return Schedule(
        seconds=seconds[order],
        is_on=column(5, bool)[order],
        channel=column(1, np.int64)[order],
        pitch=column(2, np.int64)[order],
        velocity=column(3, np.int64)[order],
        programs=programs,
        end_seconds=max(float(ends.max()) if len(notes) else 0.0, pedal_end_seconds(pedal)),
        pedal=column(4, np.int64)[order],
    )


# ---------------------------------------------------------------------------- offline rendering
def _check_render_arguments(sample_rate: int, tail_seconds: float, gain: float) -> None:
    if not 8000 <= int(sample_rate) <= 192000:
        raise RenderError(f"sample rate must be between 8000 and 192000 Hz, not {sample_rate}")
    if not 0.0 <= tail_seconds <= 60.0:
        raise RenderError(f"tail must be between 0 and 60 seconds, not {tail_seconds}")
    if not 0.0 < gain <= 10.0:
        raise RenderError(f"gain must be in (0, 10], not {gain}")


def _render_blocks(score: Score, sample_rate: int, soundfont: str | os.PathLike[str] | None,
                   tail_seconds: float, gain: float, max_seconds: float) -> Iterator[np.ndarray]:
    """Yield the rendering as float32 (n, 2) blocks; note events fall on block boundaries."""
    _check_render_arguments(sample_rate, tail_seconds, gain)
    path = check_soundfont(soundfont) if soundfont is not None else default_soundfont()
    schedule = build_schedule(score)
    if schedule.end_seconds + tail_seconds > max_seconds:
        raise RenderError(f"the piece lasts {schedule.end_seconds / 60:.0f} min; "
                          f"rendering is limited to {max_seconds / 60:.0f} min")
    samples = np.round(schedule.seconds * sample_rate).astype(np.int64)
    order = np.lexsort((schedule.ranks(), samples))  # re-sort: rounding may tie an off and on
    total = int(round(schedule.end_seconds * sample_rate)) + int(round(tail_seconds * sample_rate))

    fluidsynth = _fluidsynth()
    synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate))
    try:
        soundfont_id = _load_soundfont(synth, path)
        for channel, (program, is_drum) in schedule.programs.items():
            select_program(synth, soundfont_id, channel, program, is_drum)
        position = 0
        for row in order.tolist():
            target = int(samples[row])
            while position < target:
                frames = min(target - position, MAX_BLOCK_FRAMES)
                yield _synth_samples(synth, frames)
                position += frames
            channel, pitch = int(schedule.channel[row]), int(schedule.pitch[row])
            if schedule.pedal[row] >= 0:
                synth.cc(channel, SUSTAIN, int(schedule.pedal[row]))
            elif schedule.is_on[row]:
                synth.noteon(channel, pitch, int(schedule.velocity[row]))
            else:
                synth.noteoff(channel, pitch)
        while position < total:
            frames = min(total - position, MAX_BLOCK_FRAMES)
            yield _synth_samples(synth, frames)
            position += frames
    finally:
        synth.delete()


def render(score: Score, sample_rate: int = DEFAULT_SAMPLE_RATE,
           soundfont: str | os.PathLike[str] | None = None, tail_seconds: float = 1.0,
           gain: float = DEFAULT_GAIN) -> np.ndarray:
    """Render `score` through FluidSynth: float32 array (frames, 2), left/right in [-1, 1]
    (louder passages may exceed 1; `write_wav` clips). Frames run to the last note-off plus
    `tail_seconds` for the release. Raises SoundfontError or RenderError."""
    blocks = list(_render_blocks(score, sample_rate, soundfont, tail_seconds, gain,
                                 MAX_RENDER_SECONDS))
    if not blocks:
        return np.zeros((0, 2), dtype=np.float32)
    return np.concatenate(blocks)


def write_wav(score: Score, path: str | os.PathLike[str], sample_rate: int = DEFAULT_SAMPLE_RATE,
              soundfont: str | os.PathLike[str] | None = None, tail_seconds: float = 1.0,
              gain: float = DEFAULT_GAIN, peak_dbfs: float | None = WAV_PEAK_DBFS) -> Path:
    """Render `score` into a 16-bit stereo WAV file at `path`, atomically: the audio is
    streamed into a temporary file in the same folder, which replaces `path` only when
    complete, so a failure leaves no partial file and an existing file untouched.

    With `peak_dbfs` (default -1 dBFS) the audio is normalised so its loudest sample lands
    there: quiet soundfonts come out at a sensible level and loud passages never clip. The
    float rendering waits in a scratch file meanwhile (the peak is known only at the end)."""
    path = Path(path)
    blocks = _render_blocks(score, sample_rate, soundfont, tail_seconds, gain, MAX_WAV_SECONDS)
    try:
        with tempfile.TemporaryFile(dir=path.parent if path.parent.is_dir() else None) as scratch:
            peak = 0.0
            for block in blocks:
                if len(block):
                    peak = max(peak, float(np.abs(block).max()))
                    scratch.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
            scale = 1.0
            if peak_dbfs is not None and peak > 0:
                scale = 10 ** (peak_dbfs / 20) / peak
            scratch.seek(0)
            with atomic_open(path, "wb") as raw, wave.open(raw, "wb") as output:
                output.setnchannels(2)
                output.setsampwidth(2)
                output.setframerate(int(sample_rate))
                while chunk := scratch.read(MAX_BLOCK_FRAMES * 8):
                    block = np.frombuffer(chunk, dtype="<f4") * scale
                    pcm = np.clip(block, -1.0, 1.0) * 32767.0
                    output.writeframes(np.round(pcm).astype("<i2").tobytes())
    finally:
        blocks.close()
    return path

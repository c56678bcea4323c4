"""Playback to a MIDI output port (a DAW, a hardware synth), with optional MIDI clock. No Qt.

`MidiSender` plays the same `audio.Schedule` the `Player` plays, on a thread of its own
that sleeps until the next message is due (the player's 10 ms timer would be too coarse),
against the same monotonic clock and origin the player uses, so the port and the built-in
synth stay together. Each track keeps the channel it has in the synth modulo 16 (drums on
channel 10, a program change for every pitched channel at the start) and the sustain
pedal as CC64 (pressed first when playback starts inside a held pedal). With MIDI clock on,
it sends 24 clocks per quarter note, Start (or a Song Position Pointer on the sixteenth
at or after the playhead and Continue), and Stop when playback stops; a loop wraps as
Stop, Song Position Pointer, Continue. Stopping, and leaving a port, ends every sounding
note (a note-off each, the pedal lifted on every channel the piece pedals, then All Notes
Off on all 16 channels); a loop's wrap and an edit lift the pedal where it is down.

The port is anything with `send(message)` (a mido output port, or a test's fake); the
clock and the waiting can be injected, so a test can run the real loop on a fake clock:

    sender = MidiSender(port, clock=time.perf_counter)
    sender.play(MidiPiece.of(score), from_seconds=0.0, now=time.perf_counter())
    ...
    sender.stop()
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import mido
import numpy as np

from composer_app.playback.audio import Schedule, TempoMap, build_schedule
from composer_app.playback.pedal import PEDAL_DOWN, PEDAL_UP, SUSTAIN
from ml_core.music import Score

CLOCKS_PER_QUARTER = 24
SIXTEENTHS_PER_QUARTER = 4
DRUM_CHANNEL = 9             # channel 10 as musicians count
ALL_NOTES_OFF = 123          # the controller number
MAX_WAIT_S = 0.25            # the thread looks up at least this often
MAX_SONG_POSITION = 16383    # the pointer's 14 bits, in sixteenths
ROUNDING_S = 1e-9


class Port(Protocol):
    def send(self, message: mido.Message) -> None: ...


@dataclass(frozen=True)
class MidiPiece:
    """What is played: the note schedule, its tempo map and the ticks per quarter note."""

    schedule: Schedule
    tempo: TempoMap
    ticks_per_quarter: int

    @classmethod
    def of(cls, score: Score) -> MidiPiece:
        return cls(build_schedule(score), TempoMap(score), score.ticks_per_quarter)

    def sixteenth_at_or_after(self, seconds: float) -> int:
        """The sixteenth note (counted from 0) at or after `seconds`."""
        tick = self.tempo.tick_at(seconds)
        sixteenth = self.ticks_per_quarter / SIXTEENTHS_PER_QUARTER
        if self.tempo.seconds_at(tick) < seconds - 1e-9:
            tick += 1
        return math.ceil(tick / sixteenth - 1e-9)

    def clock_seconds(self, from_tick: float, until_seconds: float) -> np.ndarray:
        """The times of the clock pulses from `from_tick` (a pulse) up to `until_seconds`."""
        pulse = self.ticks_per_quarter / CLOCKS_PER_QUARTER
        end_tick = self.tempo.tick_at(until_seconds) + 1
        count = max(0, int((end_tick - from_tick) // pulse) + 1)
        seconds = self.tempo.seconds(from_tick + pulse * np.arange(count))
        return seconds[seconds < until_seconds - 1e-9]


def midi_channel(synth_channel: int) -> int:
    """The port channel of a synth channel (the synth's drums, 9 mod 16, land on 10)."""
    return int(synth_channel) % 16


class MidiSender:
    """Sends a `MidiPiece` to `port` in time, from a thread; one piece at a time."""

    def __init__(self, port: Port, *, clock: Callable[[], float] = time.perf_counter,
                 send_clock: bool = False,
                 wait: Callable[[float], object] | None = None) -> None:
        """`clock` is a monotonic seconds clock; `wait(seconds)` sleeps (returning early
        when woken) and defaults to a wake-able event wait."""
        self.port = port
        self.send_clock = send_clock
        self._clock = clock
        self._wake = threading.Event()
        self._wait = wait if wait is not None else self._wake.wait
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._halt = False
        self._piece: MidiPiece | None = None
        self._loop: tuple[float, float] | None = None
        self._origin = (0.0, 0.0)       # (clock, seconds into the piece) at the same instant
        self._next_note = 0
        self._pulses = np.zeros(0)
        self._next_pulse = 0
        self._end = math.inf            # where the current pass ends (the loop's end)
        self._sounding: set[tuple[int, int]] = set()
        self._pedal_down: set[int] = set()   # port channels whose sustain pedal we pressed
        self._clock_running = False
        self.error: str | None = None   # why sending stopped (the port failed), one line

    @property
    def is_playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ control (GUI thread)
    def play(self, piece: MidiPiece, from_seconds: float, now: float,
             loop: tuple[float, float] | None = None) -> None:
        """Play `piece` from `from_seconds`, which is clock time `now`; with `loop` (start,
        end seconds) it wraps at the end."""
        self.stop()
        with self._lock:
            self._piece, self._loop, self._halt = piece, loop, False
            self._send_programs()
            self._begin_pass(from_seconds, now, skip_current=False, announce=True)
        self._thread = threading.Thread(target=self._run, name="composer-midi-out", daemon=False)
        self._thread.start()

    def set_piece(self, piece: MidiPiece, at_seconds: float, now: float,
                  loop: tuple[float, float] | None = None) -> None:
        """The piece was edited while playing: sounding notes end, and playback goes on from
        `at_seconds` (its events there were sent already) without restarting the clock."""
        with self._lock:
            if self._piece is None or not self.is_playing:
                return
            self._release_all(controllers=False)
            self._piece, self._loop = piece, loop
            self._send_programs()
            self._begin_pass(at_seconds, now, skip_current=True, announce=False)
        self._wake.set()

    def stop(self) -> None:
        """Stop sending: every sounding note ends (All Notes Off), and the clock stops."""
        thread = self._thread
        with self._lock:
            self._halt = True
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None
        with self._lock:
            if self._piece is not None:
                self._release_all(controllers=True)
                if self._clock_running:
                    self._send(mido.Message("stop"))
                self._clock_running = False
                self._piece = None

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            with self._lock:
                if self._halt:
                    return
                self._wake.clear()   # a change from now on cuts the wait short
                due = self.pump(self._clock())
            if due is None:
                return
            delay = due - self._clock()
            if delay > 0:
                self._wait(min(delay, MAX_WAIT_S))

    def pump(self, now: float) -> float | None:
        """Send everything due by clock time `now`; the clock time of the next message, or
        None when the piece has been played (or sending failed)."""
        with self._lock:
            piece = self._piece
            if piece is None or self._halt or self.error is not None:
                return None
            # due at `now` within rounding: clock_at(seconds) and back need not round-trip
            seconds = self._origin[1] + (now - self._origin[0]) + ROUNDING_S
            while self._loop is not None and seconds >= self._end:
                start, end = self._loop
                if end <= start:
                    return None
                self._send_due(end, before=True)
                self._release_all(controllers=False)
                wrapped_at = self._origin[0] + (end - self._origin[1])
                self._begin_pass(start, wrapped_at, skip_current=False, announce=True)
                seconds = start + (now - wrapped_at)
            self._send_due(seconds, before=False)
            upcoming = self._upcoming()
            if self.error is not None:
                return None
            if upcoming is None:
                return None if self._loop is None else self._clock_at(self._end)
            return self._clock_at(upcoming)

    # ------------------------------------------------------------------ internals (locked)
    def _clock_at(self, seconds: float) -> float:
        return self._origin[0] + (seconds - self._origin[1])

    def _begin_pass(self, seconds: float, now: float, *, skip_current: bool,
                    announce: bool) -> None:
        """Make clock time `now` fall on `seconds` into the piece and line the events up."""
        piece = self._piece
        self._origin = (now, seconds)
        self._end = self._loop[1] if self._loop is not None else math.inf
        side = "right" if skip_current else "left"
        self._next_note = int(np.searchsorted(piece.schedule.seconds, seconds, side=side))
        for synth_channel in piece.schedule.pedal_held_at(seconds, including_at=skip_current):
            self._send_pedal(midi_channel(synth_channel), True)   # inside a held pedal
        if not self.send_clock:
            self._pulses, self._next_pulse = np.zeros(0), 0
            return
        until = self._end if self._loop is not None else piece.schedule.end_seconds
        if announce:
            position = min(piece.sixteenth_at_or_after(seconds), MAX_SONG_POSITION)
            if self._clock_running:
                self._send(mido.Message("stop"))
            if position == 0:
                self._send(mido.Message("start"))
            else:
                self._send(mido.Message("songpos", pos=position))
                self._send(mido.Message("continue"))
            self._clock_running = True
            first = position * piece.ticks_per_quarter / SIXTEENTHS_PER_QUARTER
        else:
            pulse = piece.ticks_per_quarter / CLOCKS_PER_QUARTER
            first = math.floor(piece.tempo.tick_at(seconds) / pulse) * pulse
        self._pulses = piece.clock_seconds(first, until)
        self._next_pulse = int(np.searchsorted(self._pulses, seconds, side=side))

    def _upcoming(self) -> float | None:
        schedule = self._piece.schedule
        times = []
        if self._next_note < len(schedule) and schedule.seconds[self._next_note] < self._end:
            times.append(float(schedule.seconds[self._next_note]))
        if self._next_pulse < len(self._pulses):
            times.append(float(self._pulses[self._next_pulse]))
        return min(times) if times else None

    def _send_due(self, seconds: float, *, before: bool) -> None:
        """Send the clock pulses and note events up to `seconds` (or only those before it),
        in time order (a pulse before the notes of the same instant)."""
        schedule = self._piece.schedule
        side = "left" if before else "right"
        note_end = int(np.searchsorted(schedule.seconds, seconds, side=side))
        pulse_end = int(np.searchsorted(self._pulses, seconds, side=side))
        while self._next_note < note_end or self._next_pulse < pulse_end:
            note_at = schedule.seconds[self._next_note] if self._next_note < note_end \
                else math.inf
            if self._next_pulse < pulse_end and self._pulses[self._next_pulse] <= note_at:
                self._send(mido.Message("clock"))
                self._next_pulse += 1
                continue
            row = self._next_note
            self._next_note += 1
            key = (midi_channel(schedule.channel[row]), int(schedule.pitch[row]))
            if schedule.pedal[row] >= 0:
                self._send_pedal(key[0], bool(schedule.pedal[row]))
            elif schedule.is_on[row]:
                self._send(mido.Message("note_on", channel=key[0], note=key[1],
                                        velocity=int(schedule.velocity[row])))
                self._sounding.add(key)
            elif key in self._sounding:
                self._send(mido.Message("note_off", channel=key[0], note=key[1]))
                self._sounding.discard(key)

    def _send_programs(self) -> None:
        sent = set()
        for synth_channel, (program, is_drum) in sorted(self._piece.schedule.programs.items()):
            channel = midi_channel(synth_channel)
            if not is_drum and channel not in sent:
                sent.add(channel)
                self._send(mido.Message("program_change", channel=channel,
                                        program=min(127, max(0, int(program)))))

    def _send_pedal(self, channel: int, down: bool) -> None:
        self._send(mido.Message("control_change", channel=channel, control=SUSTAIN,
                                value=PEDAL_DOWN if down else PEDAL_UP))
        (self._pedal_down.add if down else self._pedal_down.discard)(channel)

    def _release_all(self, *, controllers: bool) -> None:
        """End every sounding note and lift the pedal where it is down; with `controllers`
        (stopping) lift it on every channel the piece pedals and send All Notes Off too."""
        for channel, pitch in sorted(self._sounding):
            self._send(mido.Message("note_off", channel=channel, note=pitch))
        self._sounding.clear()
        lift = set(self._pedal_down)
        if controllers:
            lift.update(midi_channel(c) for c in self._piece.schedule.pedal_channels())
        for channel in sorted(lift):
            self._send_pedal(channel, False)
        if controllers:
            for channel in range(16):
                self._send(mido.Message("control_change", channel=channel,
                                        control=ALL_NOTES_OFF, value=0))

    def _send(self, message: mido.Message) -> None:
        """Send one message; a port that fails (a device unplugged) is not used again and
        `error` says why in one line."""
        if self.error is not None:
            return
        try:
            self.port.send(message)
        except Exception as error:   # rtmidi's own errors: one line, never a traceback
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.error = f"MIDI output stopped: {reason}"

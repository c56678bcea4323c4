"""Real-time playback of a Score with a playhead: the `Player` QObject.

A precise ~10 ms QTimer wakes the player; each time it reads a monotonic clock
(`time.perf_counter`), works out where in the piece that moment falls, sends FluidSynth
every note and sustain-pedal event due up to there (from a schedule precomputed by
`audio.build_schedule`; starting inside a held pedal presses it first; stopping, a loop's
wrap or an edit lifts it with the notes) and writes the playhead tick into the shared
`Timeline` (which the canvas and ruler observe; the player never touches a view), also
emitting it as `position_changed`.
Because position comes from the clock, not from counting timer ticks, a late timer
never makes the playhead drift from the audio. No threads of its own: a MIDI output
(`set_midi_output`, a `midi_out.MidiSender`) plays along on its sender's thread, started
from the same clock reading at the same point of the piece.

Usage (the transport does this for the main window):
    player = Player(parent, timeline=window.timeline)
    status_bar.showMessage(player.audio_status)
    player.set_score(document.score)       # before playing, and on edits while playing
    player.play(from_tick=0, loop=(start, end))
    player.stop()
    player.shutdown()                      # in closeEvent: stops the timer, frees the synth
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from composer_app.model.timeline import Timeline
from composer_app.playback.audio import Schedule, TempoMap, build_schedule
from composer_app.playback.midi_out import MidiPiece, MidiSender
from composer_app.playback.synth import LiveSynth
from ml_core.music import Score

TIMER_INTERVAL_MS = 10


class Player(QObject):
    """Plays a Score through a LiveSynth and reports the playhead.

    Signals: `position_changed(tick)` while playing (about every 10 ms),
    `state_changed(playing)` on start/stop, `error(message)` when playback had to stop
    because of an unexpected failure. Without an audio device everything runs the same,
    silently; `audio_available`/`audio_status` tell the user."""

    position_changed = Signal(int)
    state_changed = Signal(bool)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None, *,
                 soundfont: str | os.PathLike[str] | None = None,
                 drivers: Sequence[str] | None = None,
                 synth_settings: Mapping[str, str | int | float] | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 timeline: Timeline | None = None) -> None:
        """`drivers` overrides the audio drivers tried (an empty list: stay silent);
        `synth_settings` are extra FluidSynth settings (see `LiveSynth`); `clock` is a
        monotonic seconds clock; `timeline` receives the playhead and the playing state."""
        super().__init__(parent)
        self._clock = clock
        self.timeline = timeline
        self.position_changed.connect(self._to_timeline)
        self.state_changed.connect(self._playing_to_timeline)
        self._synth: LiveSynth | None = LiveSynth(soundfont, drivers=drivers,
                                                  settings=synth_settings)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TIMER_INTERVAL_MS)
        self._timer.timeout.connect(self._advance)
        self._score = Score()
        self._tempo = TempoMap(self._score)
        self._schedule: Schedule = build_schedule(self._score)
        self._playing = False
        self._position = 0
        self._loop_ticks = (0, 0)
        self._loop_seconds: tuple[float, float] | None = None
        self._origin_clock = 0.0     # clock reading when playback (re)started at...
        self._origin_seconds = 0.0   # ...this many seconds into the piece
        self._next_event = 0         # index of the first schedule event not yet sent
        self._sounding: set[tuple[int, int]] = set()
        self._midi: MidiSender | None = None   # a MIDI output playing along (midi_out)
        self.synth_sounds = True               # False: only the MIDI output sounds

    # ------------------------------------------------------------------ status
    @property
    def audio_available(self) -> bool:
        return self._synth is not None and self._synth.audio_available

    @property
    def audio_status(self) -> str:
        """One line for the status bar, e.g. "Audio: ALSA" or "No audio device: ..."."""
        return "Playback stopped (shut down)" if self._synth is None else self._synth.status

    @property
    def soundfont(self) -> Path | None:
        return None if self._synth is None else self._synth.soundfont

    @property
    def live_synth(self) -> LiveSynth | None:
        """The synth itself, for live notes such as MIDI thru (None once shut down)."""
        return self._synth

    @property
    def is_playing(self) -> bool:
        return self._playing

    @property
    def midi_output(self) -> MidiSender | None:
        return self._midi

    @property
    def position(self) -> int:
        """The playhead tick (where playback is, or where it stopped)."""
        return self._position

    @property
    def sounding_notes(self) -> frozenset[tuple[int, int]]:
        """(channel, pitch) of the notes the player has started and not yet released."""
        return frozenset(self._sounding)

    # ------------------------------------------------------------------ control
    def set_score(self, score: Score) -> None:
        """Use `score` from now on; while playing, playback continues from the same tick."""
        synth = self._require_synth()
        now = self._clock()
        tick = self._tempo.tick_at(self._origin_seconds + (now - self._origin_clock)) \
            if self._playing else self._position
        self._score = score
        self._tempo = TempoMap(score)
        self._schedule = build_schedule(score)
        for channel, (program, is_drum) in self._schedule.programs.items():
            synth.set_program(channel, program, is_drum)
        if self._playing:
            self._release_all()
            if self._loop_seconds is not None:
                self._loop_seconds = (self._tempo.seconds_at(self._loop_ticks[0]),
                                      self._tempo.seconds_at(self._loop_ticks[1]))
            self._restart_at(self._tempo.seconds_at(tick), now, skip_current=True)
            if self._midi is not None:
                self._midi.set_piece(self._midi_piece(), self._origin_seconds, now,
                                     self._loop_seconds)

    def set_midi_output(self, sender: MidiSender | None) -> None:
        """Play along to `sender`'s port from now on (None: no MIDI output). The port
        being left ends its notes; while playing, the new one joins at the playhead."""
        old, self._midi = self._midi, sender
        if old is not None:
            old.stop()
        if sender is not None and self._playing:
            now = self._clock()
            seconds = self._origin_seconds + (now - self._origin_clock)
            sender.play(self._midi_piece(), seconds, now, self._loop_seconds)

    def play(self, from_tick: int = 0, loop: tuple[int, int] | None = None) -> None:
        """Start (or restart) playback at `from_tick`. With `loop=(start, end)` ticks,
        playback wraps from `end` back to `start` until stopped (starting at `start` when
        `from_tick` is at or past `end`); otherwise it stops after the last note."""
        self._require_synth()
        if from_tick < 0:
            raise ValueError(f"cannot play from a negative tick ({from_tick})")
        if loop is not None and not 0 <= int(loop[0]) < int(loop[1]):
            raise ValueError(f"loop end must come after loop start (got {loop[0]}..{loop[1]})")
        self._release_all()
        self._loop_seconds = None
        if loop is not None:
            start, end = int(loop[0]), int(loop[1])
            self._loop_ticks = (start, end)
            self._loop_seconds = (self._tempo.seconds_at(start), self._tempo.seconds_at(end))
            if from_tick >= end:
                from_tick = start
        now = self._clock()
        self._restart_at(self._tempo.seconds_at(from_tick), now, skip_current=False)
        if self._midi is not None:
            self._midi.play(self._midi_piece(), self._origin_seconds, now, self._loop_seconds)
        self._position = int(from_tick)
        self._timer.start()
        if not self._playing:
            self._playing = True
            self.state_changed.emit(True)
        self.position_changed.emit(self._position)
        self._advance()

    def stop(self) -> None:
        """Stop playback and release every note (all-notes-off). The playhead stays."""
        self._timer.stop()
        self._release_all()
        if self._midi is not None:
            self._midi.stop()
        if self._playing:
            self._playing = False
            self.state_changed.emit(False)

    def preview_note(self, pitch: int, velocity: int = 100, duration_s: float = 0.4, *,
                     program: int = 0, is_drum: bool = False) -> None:
        """Sound one note now (e.g. when the user clicks a key or draws a note)."""
        self._require_synth().preview_note(pitch, velocity, duration_s,
                                           program=program, is_drum=is_drum)

    def set_soundfont(self, path: str | os.PathLike[str]) -> Path:
        """Switch soundfonts. Raises audio.SoundfontError (a one-line message to show)
        and keeps the current soundfont when `path` is missing or not a SoundFont."""
        return self._require_synth().load_soundfont(path)

    def shutdown(self) -> None:
        """Stop playback, silence and free the synthesizer. Call on close; idempotent.
        Afterwards play()/set_score() raise RuntimeError."""
        self.stop()
        if self._synth is not None:
            self._synth.close()
            self._synth = None

    # ------------------------------------------------------------------ scheduling
    def _to_timeline(self, tick: int) -> None:
        if self.timeline is not None:
            self.timeline.set_playhead(tick)

    def _playing_to_timeline(self, playing: bool) -> None:
        if self.timeline is not None:
            self.timeline.set_playing(playing)

    def _midi_piece(self) -> MidiPiece:
        return MidiPiece(self._schedule, self._tempo, self._score.ticks_per_quarter)

    def _require_synth(self) -> LiveSynth:
        if self._synth is None:
            raise RuntimeError("the player has been shut down")
        return self._synth

    def _restart_at(self, seconds: float, now: float, *, skip_current: bool) -> None:
        """Make `now` on the clock correspond to `seconds` into the piece. Events at exactly
        `seconds` are still due unless `skip_current` (they have been sent already). A
        sustain pedal held there goes down now (the caller has released everything)."""
        self._origin_clock, self._origin_seconds = now, seconds
        side = "right" if skip_current else "left"
        self._next_event = int(np.searchsorted(self._schedule.seconds, seconds, side=side))
        for channel in self._schedule.pedal_held_at(seconds, including_at=skip_current):
            self._synth.sustain(channel, True)   # starting inside a held pedal: press it first

    def _advance(self) -> None:
        """Timer slot: send the events due by now, wrap the loop, move the playhead."""
        try:
            now = self._clock()
            seconds = self._origin_seconds + (now - self._origin_clock)
            if self._loop_seconds is not None:
                loop_start, loop_end = self._loop_seconds
                if seconds >= loop_end:
                    self._send_events_before(loop_end)
                    self._release_all()
                    length = loop_end - loop_start
                    seconds = (loop_start + (seconds - loop_end) % length if length > 0
                               else loop_start)
                    self._restart_at(seconds, now, skip_current=False)
            self._send_events_until(seconds)
            self._position = self._tempo.tick_at(seconds)
            finished = self._loop_seconds is None and seconds >= self._schedule.end_seconds
            if finished:  # the playhead rests where the music ends (or where it started)
                self._position = max(self._score.end_tick,
                                     self._tempo.tick_at(self._origin_seconds))
            self.position_changed.emit(self._position)
            if finished:
                self.stop()
        except Exception as exc:  # a slot must not raise into Qt: report and stop instead
            self.stop()
            self.error.emit(f"playback stopped: {exc}")

    def _send_events_until(self, seconds: float) -> None:
        end = int(np.searchsorted(self._schedule.seconds, seconds, side="right"))
        self._send_range(end)

    def _send_events_before(self, seconds: float) -> None:
        end = int(np.searchsorted(self._schedule.seconds, seconds, side="left"))
        self._send_range(end)

    def _send_range(self, end: int) -> None:
        synth, schedule = self._synth, self._schedule
        for row in range(self._next_event, end):
            key = (int(schedule.channel[row]), int(schedule.pitch[row]))
            if schedule.pedal[row] >= 0:
                synth.sustain(key[0], bool(schedule.pedal[row]))
            elif schedule.is_on[row]:
                if self.synth_sounds:
                    synth.note_on(key[0], key[1], int(schedule.velocity[row]))
                self._sounding.add(key)
            else:
                synth.note_off(*key)
                self._sounding.discard(key)
        self._next_event = max(self._next_event, end)

    def _release_all(self) -> None:
        if self._synth is not None:
            self._synth.all_notes_off()
        self._sounding.clear()

"""The Record panel: choose a MIDI input, arm, count in, play; the take becomes one undo step.

Thin Qt around `recorder.Recorder`. The input port's callback runs on the MIDI backend's
thread: it stamps each message with `time.perf_counter()` there (so the GUI's own delays
never shift a note) and posts it to the GUI thread, which sends it through to the synth
and hands it to the recorder. The take lands at the playhead, on the active track, after
a count-in of clicks (the metronome's sounds) when one is chosen. Every note message is
also emitted as `note_played`; while step entry `listen`s, the port stays open between
takes so those notes enter at the step cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from composer_app import settings
from composer_app.document.document import Document
from composer_app.model.timeline import Timeline
from composer_app.model.window import WindowHost
from composer_app.playback.metronome import ACCENT_PITCH, ACCENT_VELOCITY, BEAT_PITCH, BEAT_VELOCITY
from composer_app.playback.transport import Transport
from composer_app.recording import ports
from composer_app.recording.recorder import Recorder, RecordingSetup
from composer_app.workers.threads import WorkerSignals
from ml_core.music import TICKS_PER_QUARTER

COUNT_IN_CHOICES = {"No count-in": 0, "1 bar": 1, "2 bars": 2}
QUANTIZE_CHOICES = {"As played": 0, "1/4": TICKS_PER_QUARTER, "1/8": TICKS_PER_QUARTER // 2,
                    "1/16": TICKS_PER_QUARTER // 4}
CLICK_SECONDS = 0.08


class _Inbox(WorkerSignals):
    received = Signal(object, float)   # mido message, perf_counter() when it arrived

    def deliver(self, message: object) -> None:   # on the backend's thread
        self.post("received", message, time.perf_counter())


class RecordPanel(QWidget):
    """Input port, count-in, quantize and the Record button; MIDI thru while recording."""

    recorded = Signal(list)   # ids of the notes a take added
    note_played = Signal(str, int, int)   # "note_on"/"note_off", pitch, velocity (any input)

    def __init__(self, document: Document, timeline: Timeline, *,
                 synth: Callable[[], object] | None = None,
                 click: Callable[[int, int], None] | None = None,
                 list_ports: Callable[[], tuple[list[str], str | None]] = ports.input_names,
                 open_port: Callable[[str, Callable[[object], None]], object] = ports.open_input,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document, self.timeline = document, timeline
        self._synth, self._click = synth, click
        self._list_ports, self._open_port = list_ports, open_port
        self._inbox = _Inbox(self)
        self._inbox.received.connect(self._on_message)
        self._port: object | None = None
        self._recorder: Recorder | None = None
        self._listening = False   # the port stays open outside a take (step entry)
        self._zero = 0.0
        self._clicks: list[QTimer] = []

        self.port_box = QComboBox()
        self.port_box.currentTextChanged.connect(self._on_port_chosen)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_ports)
        self.count_in_box = QComboBox()
        self.count_in_box.addItems(list(COUNT_IN_CHOICES))
        self.count_in_box.setCurrentText("1 bar")
        self.quantize_box = QComboBox()
        self.quantize_box.addItems(list(QUANTIZE_CHOICES))
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Record from the MIDI input into the active track, at the "
                                      "playhead")
        self.record_button.toggled.connect(self._on_armed)
        self.message = QLabel()
        self.message.setWordWrap(True)

        row = QHBoxLayout()
        row.addWidget(self.port_box, 1)
        row.addWidget(self.refresh_button)
        form = QFormLayout()
        form.addRow("Input", row)
        form.addRow("Count-in", self.count_in_box)
        form.addRow("Quantize", self.quantize_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.record_button)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.refresh_ports()

    # ------------------------------------------------------------------ ports
    def refresh_ports(self) -> None:
        names, reason = self._list_ports()
        remembered = settings.get_str(settings.MIDI_INPUT, "")
        current = self.port_box.currentText() or remembered
        self.port_box.clear()
        self.port_box.addItems(names)
        if current in names:
            self.port_box.setCurrentText(current)
        self.record_button.setEnabled(bool(names) or self.is_recording)
        self.message.setText(reason or "")

    @property
    def is_recording(self) -> bool:
        return self._recorder is not None

    # ------------------------------------------------------------------ a take
    def _on_armed(self, armed: bool) -> None:
        if armed and not self.is_recording:
            if not self.start():
                self.record_button.setChecked(False)
        elif not armed and self.is_recording:
            self.stop()

    def start(self) -> bool:
        """Open the chosen port and start a take (after the count-in); False if it cannot."""
        name = self.port_box.currentText()
        reason = self._open_chosen()
        if reason is not None:
            self.message.setText(reason)
            return False
        start_tick = self.timeline.playhead
        meter = self.document.meter()
        self._recorder = Recorder(RecordingSetup(meter, start_tick,
                                                 QUANTIZE_CHOICES[self.quantize_box.currentText()]))
        numerator, denominator = meter.time_signature_at(start_tick)
        beat_s = 60.0 / meter.tempo_at(start_tick) * 4 / denominator
        beats = COUNT_IN_CHOICES[self.count_in_box.currentText()] * numerator
        self._zero = time.perf_counter() + beats * beat_s
        for beat in range(beats):
            self._schedule_click(beat * beat_s, beat % numerator == 0)
        self.record_button.setChecked(True)
        self.message.setText(f"Recording from {name}" + (" after the count-in" if beats else ""))
        return True

    def stop(self) -> list[int]:
        """End the take: its notes enter the active track as one undo step; their ids."""
        if self._recorder is None:
            return []
        recorder, self._recorder = self._recorder, None
        ended = time.perf_counter() - self._zero
        if not self._listening:
            self._close_port()
        for timer in self._clicks:
            timer.stop()
        self._clicks.clear()
        self.record_button.setChecked(False)
        notes = recorder.finish(ended)
        if not notes:
            self.message.setText("Nothing was played.")
            return []
        track = min(self.document.active_track, self.document.track_count() - 1)
        ids = self.document.add_notes(notes, track=track, text="Record")
        self.message.setText(f"Recorded {len(notes)} notes")
        self.recorded.emit(ids)
        return ids

    def listen(self, on: bool) -> str | None:
        """Keep the chosen input open outside a take (`note_played` carries its notes), or
        stop; one sentence when there is no input to open."""
        self._listening = bool(on)
        if on:
            reason = self._open_chosen()
            if reason is not None:
                self._listening = False
            return reason
        if not self.is_recording:
            self._close_port()
        return None

    def shutdown(self) -> None:
        if self.is_recording:
            self._recorder = None
        self._listening = False
        self._close_port()
        for timer in self._clicks:
            timer.stop()

    # ------------------------------------------------------------------ internals
    def _open_chosen(self) -> str | None:
        """Open the chosen input unless it is open; None, or why it could not be opened."""
        if self._port is not None:
            return None
        name = self.port_box.currentText()
        if not name:
            return self.message.text() or "Choose a MIDI input first."
        try:
            self._port = self._open_port(name, self._inbox.deliver)
        except OSError as error:
            return f"Could not open {name}: {error}."
        settings.set_value(settings.MIDI_INPUT, name)
        return None

    def _on_port_chosen(self, _name: str) -> None:
        """Another input chosen while listening (not recording): listen to that one."""
        if self._listening and not self.is_recording:
            self._close_port()
            self._open_chosen()

    def _on_message(self, message: object, arrived: float) -> None:
        kind = getattr(message, "type", "")
        if kind not in ("note_on", "note_off"):
            return
        pitch, velocity = message.note, message.velocity
        self.note_played.emit(kind, pitch, velocity)
        synth = self._synth() if self._synth is not None else None
        if synth is not None:                       # MIDI thru
            if kind == "note_on" and velocity > 0:
                synth.note_on(0, pitch, velocity)
            else:
                synth.note_off(0, pitch)
        if self._recorder is not None:
            self._recorder.event(kind, pitch, velocity, arrived - self._zero)

    def _schedule_click(self, after_s: float, accent: bool) -> None:
        if self._click is None:
            return
        timer = QTimer(self)
        timer.setSingleShot(True)
        pitch, velocity = (ACCENT_PITCH, ACCENT_VELOCITY) if accent else (BEAT_PITCH, BEAT_VELOCITY)
        timer.timeout.connect(lambda: self._click(pitch, velocity))
        timer.start(int(round(after_s * 1000)))
        self._clicks.append(timer)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:   # a vanished device: nothing left to close
                pass


def install_recording(window: WindowHost, transport: Transport) -> RecordPanel:
    """The Record dock of `window`; thru and count-in sound through `transport`'s synth."""
    player = transport.player

    def click(pitch: int, velocity: int) -> None:
        try:
            player.preview_note(pitch, velocity, CLICK_SECONDS, program=0, is_drum=True)
        except RuntimeError:   # shut down
            pass

    panel = RecordPanel(window.document, window.timeline, synth=lambda: player.live_synth,
                        click=click, parent=window)
    panel.recorded.connect(lambda ids: window.status(f"Recorded {len(ids)} notes"))
    # A tab beside Sampling / Model / Confidence: at 1280x760 a dock of its own left the
    # Continue and Sampling panels too little height.
    sampling = window.dock_named("Sampling")
    window.add_dock(panel, "Record", scrollable=True, tab_with=sampling)
    if sampling is not None:
        sampling.raise_()
    window.closing.connect(panel.shutdown)
    return panel

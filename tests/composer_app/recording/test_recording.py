"""Recording from a MIDI keyboard: the Qt-free recorder, and the Record panel fed by a fake
input port built on mido's port classes (its callback runs on its own thread, like rtmidi's)."""

import threading
import time

import mido
import mido.ports
import pytest

from composer_app import settings
from composer_app.document.document import Document
from composer_app.model.timeline import Timeline
from composer_app.recording import ports
from composer_app.recording.panel import RecordPanel
from composer_app.recording.recorder import Recorder, RecordingSetup
from ml_core.music import Note, Score

TICKS_PER_SECOND = 960        # at 120 BPM
TOLERANCE_TICKS = 10 * TICKS_PER_SECOND // 1000   # 10 ms


def test_recorder_turns_timed_events_into_notes_at_the_playhead():
    recorder = Recorder(RecordingSetup(Score([], 120.0), start_tick=1920))
    recorder.event("note_on", 60, 90, 0.0)
    recorder.event("note_on", 64, 70, 0.5)
    recorder.event("note_off", 60, 0, 1.0)
    recorder.event("note_on", 64, 0, 0.75)          # velocity 0: a release
    recorder.event("note_on", 67, 100, 1.25)         # still held at the end
    assert recorder.held() == [67]
    notes = recorder.finish(1.5)
    assert notes == [Note(60, 1920, 960, 90), Note(64, 2400, 240, 70), Note(67, 3120, 240, 100)]


def test_recorder_quantizes_to_the_grid_and_keeps_a_step_at_least():
    eighth = 240
    recorder = Recorder(RecordingSetup(Score([], 120.0), start_tick=0, quantize=eighth))
    recorder.event("note_on", 60, 80, 0.27)          # tick 259 -> 240
    recorder.event("note_off", 60, 0, 0.30)          # a grace-short note keeps one step
    recorder.event("note_on", 62, 80, -0.2)          # played during the count-in: lands on 0
    recorder.event("note_off", 62, 0, 0.49)          # tick 470 -> 480
    assert recorder.finish(1.0) == [Note(62, 0, 480, 80), Note(60, 240, 240, 80)]


class FakeKeyboard(mido.ports.BaseInput):
    """An input port whose 'player' is a thread sending messages at chosen times."""

    def _open(self, callback=None, **kwargs):
        self.callback = callback
        self.sent: list[tuple[mido.Message, float]] = []

    def play(self, schedule: list[tuple[float, mido.Message]]) -> threading.Thread:
        began = time.perf_counter()

        def run():
            for at, message in schedule:
                time.sleep(max(0.0, began + at - time.perf_counter()))
                self.sent.append((message, time.perf_counter()))
                self.callback(message)

        thread = threading.Thread(target=run, name="fake-keyboard")
        thread.start()
        return thread


class FakeSynth:
    def __init__(self):
        self.events = []

    def note_on(self, channel, pitch, velocity):
        self.events.append(("on", pitch, velocity))

    def note_off(self, channel, pitch):
        self.events.append(("off", pitch))


@pytest.fixture
def rig(qtbot):
    document, timeline, synth, keyboards, clicks = Document(), Timeline(), FakeSynth(), [], []

    def open_port(name, callback):
        keyboards.append(FakeKeyboard(name, callback=callback))
        return keyboards[-1]

    panel = RecordPanel(document, timeline, synth=lambda: synth,
                        click=lambda pitch, velocity: clicks.append((pitch, time.perf_counter())),
                        list_ports=lambda: (["Fake Keys", "Other"], None), open_port=open_port)
    qtbot.addWidget(panel)
    panel.document_, panel.synth_, panel.keyboards_, panel.clicks_ = (document, synth, keyboards,
                                                                      clicks)
    return panel


def note(kind, pitch, velocity=0):
    return mido.Message(kind, note=pitch, velocity=velocity)


def test_a_take_from_a_fake_keyboard_lands_at_the_playhead_in_time_with_one_undo_step(rig, qtbot):
    document = rig.document_
    document.add_notes([Note(48, 0, 480)])           # earlier work stays
    rig.timeline.set_playhead(1920)
    rig.count_in_box.setCurrentText("No count-in")
    rig.port_box.setCurrentText("Fake Keys")
    rig.record_button.click()
    assert rig.is_recording and rig.record_button.isChecked()
    keyboard = rig.keyboards_[0]
    zero = rig._zero
    player = keyboard.play([(0.10, note("note_on", 60, 90)), (0.25, note("note_off", 60)),
                            (0.30, note("note_on", 64, 70)), (0.45, note("note_on", 64, 0)),
                            (0.50, note("note_on", 67, 100))])
    time.sleep(0.2)                                  # the GUI thread busy meanwhile
    player.join()
    qtbot.wait(50)
    assert settings.get_str(settings.MIDI_INPUT) == "Fake Keys"
    ended = time.perf_counter()
    ids = rig.stop()
    assert not rig.is_recording and not rig.record_button.isChecked()
    recorded = sorted(document.note(i) for i in ids)
    assert [(n.pitch, n.velocity) for n in recorded] == [(60, 90), (64, 70), (67, 100)]
    sent = {}
    for message, at in keyboard.sent:
        sent.setdefault(message.note, []).append(1920 + (at - zero) * TICKS_PER_SECOND)
    sent[67].append(1920 + (ended - zero) * TICKS_PER_SECOND)   # held to the end of the take
    for recorded_note in recorded:
        expected_start, expected_end = sent[recorded_note.pitch]
        assert abs(recorded_note.start - expected_start) <= TOLERANCE_TICKS
        assert abs(recorded_note.end - expected_end) <= TOLERANCE_TICKS
    assert rig.synth_.events[:2] == [("on", 60, 90), ("off", 60)]   # MIDI thru
    assert document.undo_stack.count() == 2
    document.undo_stack.undo()                       # one step takes the whole take away
    assert [n for _, n in document.notes().values()] == [Note(48, 0, 480)]
    document.undo_stack.redo()
    assert len(document.notes()) == 4


def test_the_take_goes_to_the_active_track_after_a_count_in(rig, qtbot):
    document = rig.document_
    document.set_tempo(600)                          # a beat is 0.1 s, a 4/4 bar 0.4 s
    track = document.add_track("Lead")
    assert document.active_track == track
    rig.count_in_box.setCurrentText("1 bar")
    assert rig.start()
    qtbot.waitUntil(lambda: len(rig.clicks_) == 4, timeout=3000)
    keyboard = rig.keyboards_[0]
    keyboard.play([(0.0, note("note_on", 72, 80)), (0.05, note("note_off", 72))]).join()
    qtbot.wait(50)
    ids = rig.stop()
    assert [document.entry(i)[0] for i in ids] == [track]
    (_, played_at), = [s for s in keyboard.sent if s[0].velocity]
    expected = (played_at - rig._zero) * 600 / 60 * 480
    assert abs(document.note(ids[0]).start - max(0.0, expected)) <= 10 * 600 / 60 * 480 / 1000
    first_click = rig.clicks_[0][1]
    assert rig._zero - first_click == pytest.approx(0.4, abs=0.05)   # the count-in lasted a bar
    assert rig.clicks_[0][0] != rig.clicks_[1][0]     # the bar's first beat is accented


def test_without_a_port_the_panel_says_so_in_one_sentence(qtbot):
    names, reason = ports.input_names()               # no ALSA sequencer on test machines
    if names:
        pytest.skip("this machine has MIDI inputs")
    panel = RecordPanel(Document(), Timeline())
    qtbot.addWidget(panel)
    assert panel.message.text() == reason
    assert reason.endswith(".") and reason.count(".") == 1 and "\n" not in reason
    assert not panel.record_button.isEnabled()
    assert not panel.start() and not panel.is_recording


def test_the_remembered_input_is_chosen_again(qtbot):
    settings.set_value(settings.MIDI_INPUT, "Other")
    panel = RecordPanel(Document(), Timeline(), list_ports=lambda: (["Fake Keys", "Other"], None),
                        open_port=lambda name, callback: FakeKeyboard(name, callback=callback))
    qtbot.addWidget(panel)
    assert panel.port_box.currentText() == "Other"

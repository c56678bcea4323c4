"""Transport > MIDI Output: one sentence without ports, a chosen port playing along with the
player (program changes, notes, All Notes Off on stop and on leaving the port), the clock
and built-in-synth switches, and the choice remembered."""

from __future__ import annotations

import pytest

from composer_app import dialogs
from composer_app.main_window import MainWindow
from composer_app.playback.midi_out import ALL_NOTES_OFF
from composer_app.playback.midi_out_menu import NO_PORTS, MidiOutputMenu
from composer_app.playback.player import Player
from composer_app.recording import ports
from ml_core.music import Note, Score, Track


class RecordingPort:
    def __init__(self, name):
        self.name, self.sent, self.closed = name, [], False

    def send(self, message):
        self.sent.append(message)

    def close(self):
        self.closed = True

    def types(self):
        return [m.type for m in self.sent]


@pytest.fixture
def rig(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    qtbot.addWidget(window)
    player = Player(window, drivers=[])
    opened: dict[str, RecordingPort] = {}

    def make(names, reason=None):
        def open_port(name):
            if name == "Broken":
                raise OSError("port busy")
            opened[name] = RecordingPort(name)
            return opened[name]
        return MidiOutputMenu(window, player, list_ports=lambda: (list(names), reason),
                              open_port=open_port)

    yield window, player, make, opened
    player.shutdown()


def texts(menu):
    return [a.text() for a in menu.menu.actions() if not a.isSeparator()]


def test_without_ports_the_menu_says_so_in_one_sentence_and_nothing_is_sent(rig):
    window, player, make, _opened = rig
    menu = make([], "MIDI output is not available on this system (no ALSA sequencer).")
    menu.menu.aboutToShow.emit()
    assert texts(menu) == ["&None", NO_PORTS, "Send MIDI &Clock", "Built-in &Synth Too"]
    empty = next(a for a in menu.menu.actions() if a.text() == NO_PORTS)
    assert not empty.isEnabled() and "ALSA" in empty.toolTip()
    player.set_score(Score([Track("Piano", 0, False, [Note(60, 0, 120)])]))
    player.play(0)
    player.stop()
    assert player.midi_output is None and player.synth_sounds


def test_the_real_backend_without_ports_gives_the_same_one_sentence(rig):
    window, player, _make, _opened = rig
    names, reason = ports.output_names()                 # no ALSA sequencer on test machines
    if names:
        pytest.skip("this machine has MIDI outputs")
    assert reason.endswith(".") and reason.count(".") == 1 and "\n" not in reason
    menu = MidiOutputMenu(window, player)
    assert NO_PORTS in texts(menu) and menu.port_name is None
    assert not menu.choose("Nowhere") and player.midi_output is None


def test_a_chosen_port_plays_along_and_hears_all_notes_off_on_stop_and_on_leaving(rig, qtbot):
    window, player, make, opened = rig
    menu = make(["Synth A", "DAW & Co"])
    assert texts(menu)[:3] == ["&None", "Synth A", "DAW && Co"]
    next(a for a in menu.menu.actions() if a.text() == "DAW && Co").trigger()
    port = opened["DAW & Co"]
    assert menu.port_name == "DAW & Co" and player.midi_output is not None
    score = Score([Track("Bass", 33, False, [Note(40, 0, 60, 90), Note(43, 60, 60, 90)]),
                   Track("Drums", 0, True, [Note(36, 0, 60, 100)])], 120.0)
    player.set_score(score)
    player.play(0)
    qtbot.waitUntil(lambda: port.types().count("note_off") == 3, timeout=3000)
    assert port.sent[0].type == "program_change" and port.sent[0].program == 33
    assert [(m.channel, m.note) for m in port.sent if m.type == "note_on"] == \
        [(9, 36), (0, 40), (0, 43)]                      # at one instant: schedule order
    player.stop()
    assert [m.control for m in port.sent[-16:]] == [ALL_NOTES_OFF] * 16
    player.set_score(Score([Track("Pad", 89, False, [Note(60, 0, 9600, 80),
                                                     Note(64, 240, 480, 80)])], 120.0))
    player.play(0)                                       # a long note is sounding...
    qtbot.waitUntil(lambda: port.sent[-1].type == "note_on", timeout=3000)
    menu.choose("Synth A")                               # ...when the port changes
    assert port.closed and port.sent[-17].type == "note_off" and port.sent[-17].note == 60
    other = opened["Synth A"]
    qtbot.waitUntil(lambda: "note_on" in other.types(), timeout=3000)   # joins at the playhead:
    assert [m.note for m in other.sent if m.type == "note_on"] == [64]  # the later notes
    assert other.sent[0].type == "program_change" and other.sent[0].program == 89
    player.stop()
    menu.choose(None)
    assert other.closed and player.midi_output is None


def test_clock_and_synth_switches_and_the_remembered_port(rig, qtbot):
    window, player, make, opened = rig
    menu = make(["Synth A"])
    menu.clock_action.setChecked(True)
    menu.synth_action.setChecked(False)
    assert player.synth_sounds                           # no port yet: the synth still sounds
    menu.choose("Synth A")
    assert not player.synth_sounds and player.midi_output.send_clock
    player.set_score(Score([Track("Piano", 0, False, [Note(60, 0, 240)])], 120.0))
    player.play(0)
    qtbot.waitUntil(lambda: not player.is_playing, timeout=3000)
    types = opened["Synth A"].types()
    assert types[1] == "start" and types.count("clock") == 12 and types[-1] == "stop"
    again = make(["Synth A"])                            # the next session
    assert again.port_name == "Synth A" and again.clock_action.isChecked()
    assert not again.synth_action.isChecked()
    again.choose(None)
    menu.choose(None)
    assert player.synth_sounds
    assert not menu.choose("Broken") and menu.port_name is None
    assert "Could not open MIDI output Broken: port busy" in window.statusBar().currentMessage()

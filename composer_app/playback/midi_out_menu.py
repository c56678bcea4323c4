"""Transport > MIDI Output: play along to a DAW or a hardware synth through a MIDI port.

The submenu lists the output ports each time it opens (None, then every port; without
any, one disabled line says "No MIDI output ports found" and its tip says why), with
Send MIDI Clock and Built-in Synth Too. Choosing a port hands the player a
`midi_out.MidiSender` for it; leaving a port ends its notes before it is closed. The
choices are remembered in the settings.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from composer_app import settings
from composer_app.model.window import MenuSection, WindowHost
from composer_app.playback.midi_out import MidiSender
from composer_app.playback.player import Player
from composer_app.recording import ports

NO_PORTS = "No MIDI output ports found"
MIDI_OUTPUT = "playback/midi_output"
MIDI_CLOCK = "playback/midi_clock"
SYNTH_TOO = "playback/synth_with_midi"


class MidiOutputMenu(QObject):
    """The MIDI Output submenu of one window, and the port it has open."""

    def __init__(self, window: WindowHost, player: Player, *,
                 list_ports: Callable[[], tuple[list[str], str | None]] = ports.output_names,
                 open_port: Callable[[str], object] = ports.open_output) -> None:
        super().__init__(window)
        self.window, self.player = window, player
        self._list_ports, self._open_port = list_ports, open_port
        self.port: object | None = None
        self.port_name: str | None = None
        self.menu = QMenu("MIDI &Output", window)
        self.menu.setToolTipsVisible(True)
        self.menu.aboutToShow.connect(self.refresh)
        self._group = QActionGroup(self)
        self.clock_action = QAction("Send MIDI &Clock", self)
        self.clock_action.setCheckable(True)
        self.clock_action.setChecked(settings.get_bool(MIDI_CLOCK, False))
        self.clock_action.setStatusTip("Send 24 clocks per quarter note, Start, Stop and the song "
                                       "position, so the receiver follows the tempo")
        self.clock_action.toggled.connect(self._on_clock)
        self.synth_action = QAction("Built-in &Synth Too", self)
        self.synth_action.setCheckable(True)
        self.synth_action.setChecked(settings.get_bool(SYNTH_TOO, True))
        self.synth_action.setStatusTip("Sound the built-in synthesizer as well as the MIDI port")
        self.synth_action.toggled.connect(self._on_synth)
        window.add_menu_action(MenuSection.TRANSPORT, self.menu.menuAction())
        window.closing.connect(self.shutdown)
        player.state_changed.connect(self._on_playing)
        remembered = settings.get_str(MIDI_OUTPUT, "")
        names = self.refresh()
        if remembered and remembered in names:
            self.choose(remembered)

    def refresh(self) -> list[str]:
        """List the ports again (the menu does it each time it opens); their names."""
        names, reason = self._list_ports()
        self.menu.clear()
        for action in self._group.actions():
            self._group.removeAction(action)
        choices = [(None, "&None")] + [(name, name.replace("&", "&&")) for name in names]
        if self.port_name is not None and self.port_name not in names:
            choices.append((self.port_name, self.port_name.replace("&", "&&")))   # still open
        for name, text in choices:
            action = QAction(text, self.menu)
            action.setCheckable(True)
            action.setChecked(name == self.port_name)
            action.triggered.connect(lambda _checked=False, chosen=name: self.choose(chosen))
            self._group.addAction(action)
            self.menu.addAction(action)
        if not names:
            empty = self.menu.addAction(NO_PORTS)
            empty.setEnabled(False)
            empty.setToolTip(reason or NO_PORTS)
            empty.setStatusTip(reason or NO_PORTS)
        self.menu.addSeparator()
        self.menu.addActions([self.clock_action, self.synth_action])
        return names

    def choose(self, name: str | None) -> bool:
        """Send playback to port `name` (None: to no port). False, with one sentence on the
        status line, when the port cannot be opened (playback then sends nowhere)."""
        if name == self.port_name:
            return True
        self._close()
        message = "MIDI output: none"
        if name is not None:
            try:
                self.port = self._open_port(name)
                self.port_name, message = name, f"MIDI output: {name}"
            except OSError as error:
                message = f"Could not open MIDI output {name}: {error}"
        if self.port is not None:
            self.player.set_midi_output(MidiSender(self.port,
                                                   send_clock=self.clock_action.isChecked()))
        self._on_synth(self.synth_action.isChecked())
        settings.set_value(MIDI_OUTPUT, self.port_name or "")
        self.window.status(message)
        self.refresh()
        return self.port_name == name

    def shutdown(self) -> None:
        self._close()

    # ------------------------------------------------------------------ internals
    def _on_playing(self, playing: bool) -> None:
        sender = self.player.midi_output
        if not playing and sender is not None and sender.error:
            self.window.status(sender.error)   # the port failed while playing

    def _on_clock(self, on: bool) -> None:
        settings.set_value(MIDI_CLOCK, "true" if on else "false")
        sender = self.player.midi_output
        if sender is not None:
            sender.send_clock = on      # from the next Play on

    def _on_synth(self, on: bool) -> None:
        settings.set_value(SYNTH_TOO, "true" if on else "false")
        self.player.synth_sounds = on or self.port is None

    def _close(self) -> None:
        """Leave the port: its sounding notes end first, then it closes."""
        if self.player.midi_output is not None:
            error = self.player.midi_output.error
            self.player.set_midi_output(None)
            if error:
                self.window.status(error)
        port, self.port, self.port_name = self.port, None, None
        if port is not None:
            try:
                port.close()
            except Exception:   # a vanished device: nothing left to close
                pass


def install_midi_output(window: WindowHost, player: Player) -> MidiOutputMenu:
    """Transport > MIDI Output for `window`'s `player`."""
    return MidiOutputMenu(window, player)

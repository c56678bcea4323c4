"""Step entry on the roll: Edit > Step Entry, its cursor, the piano row and MIDI input.

While it is on, the computer keyboard plays a piano row as DAWs lay it out (A W S E D F T
G Y H U J K O L P ; from C up to the E an octave and a third higher; Z and X shift the
octave; Tab rests; Backspace steps back) and notes from the Record panel's MIDI input
enter the same way. Those keys are taken before the window's shortcuts (Backspace deletes
nothing then); every other key (Space, arrows, Ctrl+Z, B, V...) keeps its meaning. The
cursor is a band one grid step wide on the roll; the status bar names the octave and the
keys. The entering itself is `step_entry.StepEntry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QKeyEvent, QKeySequence, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel

from composer_app.canvas import geometry
from composer_app.canvas.step_entry import DEFAULT_VELOCITY, StepEntry
from composer_app.model.window import MenuSection, WindowHost
from ml_core.pitch import pitch_name

if TYPE_CHECKING:
    from composer_app.recording.panel import RecordPanel

_K = Qt.Key
# key -> semitones above the octave's C
PIANO_ROW = {_K.Key_A: 0, _K.Key_W: 1, _K.Key_S: 2, _K.Key_E: 3, _K.Key_D: 4, _K.Key_F: 5,
             _K.Key_T: 6, _K.Key_G: 7, _K.Key_Y: 8, _K.Key_H: 9, _K.Key_U: 10, _K.Key_J: 11,
             _K.Key_K: 12, _K.Key_O: 13, _K.Key_L: 14, _K.Key_P: 15, _K.Key_Semicolon: 16}
OCTAVE_DOWN, OCTAVE_UP, REST, BACK = _K.Key_Z, _K.Key_X, _K.Key_Tab, _K.Key_Backspace
STEP_KEYS = set(PIANO_ROW) | {OCTAVE_DOWN, OCTAVE_UP, REST, BACK}
SHORTCUT = "Ctrl+Shift+E"
DEFAULT_BASE = 60                  # the A key plays C4
MIN_BASE, MAX_BASE = 0, 108        # C-1 .. C8: the row's top (base + 16) stays a MIDI pitch
CURSOR_COLOR = QColor(40, 110, 230, 60)
HELP = "A–K piano row, Z/X octave, Tab rest, Backspace back"


class StepKeys(QObject):
    """Edit > Step Entry for one window: the action, the cursor, the keys, the MIDI notes."""

    def __init__(self, window: WindowHost, record_panel: RecordPanel | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.view = window.canvas.view
        self.record_panel = record_panel
        self.base = DEFAULT_BASE
        self.entry = StepEntry(window.document, self.view.grid_step, self._cursor_moved)
        self.cursor_item = QGraphicsRectItem()
        self.cursor_item.setPen(QPen(QColor(40, 110, 230), 0))
        self.cursor_item.setBrush(QBrush(CURSOR_COLOR))
        self.cursor_item.setZValue(900)   # over the notes, under the playhead
        self.cursor_item.setVisible(False)
        self.view.scene().addItem(self.cursor_item)
        self.label = QLabel()
        self.label.setVisible(False)
        window.statusBar().addPermanentWidget(self.label)

        self.action = QAction("Step &Entry", window)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence(SHORTCUT))
        self.action.setStatusTip(f"Enter notes at a cursor from the keyboard or a MIDI "
                                 f"keyboard ({HELP})")
        self.action.toggled.connect(self.set_enabled)
        window.addAction(self.action)
        window.add_menu_action(MenuSection.EDIT, self.action)

        self.view.installEventFilter(self)
        self.view.zoom_changed.connect(self._show_cursor)   # the grid may have changed
        window.timeline.playhead_changed.connect(self._follow_playhead, owner=self.view)
        if record_panel is not None:
            record_panel.note_played.connect(self.midi_note)

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    def set_enabled(self, on: bool) -> None:
        if self.action.isChecked() != on:
            self.action.setChecked(on)   # comes back here through `toggled`
            return
        if on:
            self.entry.move_to(self.view.snap(self.window.timeline.playhead, "floor"))
            self.view.setFocus(Qt.FocusReason.OtherFocusReason)
            reason = self.record_panel.listen(True) if self.record_panel is not None else None
            self.label.setToolTip(f"{HELP}. " + (reason or "Notes played on the Record panel's "
                                                 "MIDI input enter here too."))
            self.window.status(f"Step entry: {HELP}")
        else:
            self.entry.release_all()
            if self.record_panel is not None:
                self.record_panel.listen(False)
        self._show_cursor()

    # ------------------------------------------------------------------ input
    def midi_note(self, kind: str, pitch: int, velocity: int) -> None:
        """A note message from the MIDI input (not while a take is being recorded)."""
        if not self.enabled or (self.record_panel is not None and self.record_panel.is_recording):
            return
        if kind == "note_on" and velocity > 0:
            self.entry.press(pitch, velocity)
            self.view.reveal(self.entry.cursor, pitch)
        else:
            self.entry.release(pitch)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if not self.enabled:
            return False
        if kind == QEvent.Type.FocusOut:
            self.entry.release_all()
            return False
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress,
                        QEvent.Type.KeyRelease) or not self._is_step_key(event):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()                 # the key comes to the roll, not to a shortcut
        elif not event.isAutoRepeat():
            if kind == QEvent.Type.KeyPress:
                self._press(event.key())
            elif event.key() in PIANO_ROW:
                self.entry.release(self._pitch(event.key()))
        return True

    @staticmethod
    def _is_step_key(event: QKeyEvent) -> bool:
        others = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                  | Qt.KeyboardModifier.MetaModifier)
        return event.key() in STEP_KEYS and not event.modifiers() & others

    def _pitch(self, key: int) -> int:
        return self.base + PIANO_ROW[key]

    def _press(self, key: int) -> None:
        entry = self.entry
        if key in PIANO_ROW:
            pitch = self._pitch(key)
            if entry.press(pitch, DEFAULT_VELOCITY):
                self.view.note_sounded.emit(pitch, DEFAULT_VELOCITY,
                                            self.window.document.active_track)
                self.view.reveal(entry.cursor, pitch)
        elif key in (OCTAVE_DOWN, OCTAVE_UP):
            step = 12 if key == OCTAVE_UP else -12
            self.base = min(MAX_BASE, max(MIN_BASE, self.base + step))
            self._show_cursor()
            self.view.reveal(self.entry.cursor, self.base)
        elif key == REST:
            entry.rest()
        elif key == BACK:
            entry.back()

    # ------------------------------------------------------------------ the cursor
    def _follow_playhead(self, tick: int) -> None:
        """A ruler click moves the cursor there (not the playhead running while playing)."""
        if self.enabled and not self.window.timeline.playing:
            self.entry.move_to(self.view.snap(tick, "floor"))

    def _show_cursor(self) -> None:
        on = self.enabled
        self.cursor_item.setVisible(on)
        self.label.setVisible(on)
        if not on:
            return
        cursor = self.entry.cursor
        self.cursor_item.setRect(QRectF(cursor, 0, self.view.grid_step(),
                                        geometry.scene_height()))
        self.label.setText(f"Step entry: {self.position_text(cursor)}, A = "
                           f"{pitch_name(self.base)} (Z/X octave)")

    def _cursor_moved(self) -> None:
        self._show_cursor()
        if self.enabled:
            self.view.reveal(self.entry.cursor)

    def position_text(self, tick: int) -> str:
        """Where `tick` is, as the ruler numbers bars: 'bar 3 beat 2'."""
        meter = self.window.document.meter()
        bar, offset = meter.bar_at(tick)
        _numerator, denominator = meter.time_signature_at(tick)
        beat_ticks = max(1, meter.ticks_per_quarter * 4 // denominator)
        return f"bar {meter.bar_number(bar)} beat {offset // beat_ticks + 1}"


def install_step_entry(window: WindowHost, record_panel: RecordPanel | None = None) -> StepKeys:
    """Edit > Step Entry in `window`; MIDI notes come from `record_panel`'s input."""
    return StepKeys(window, record_panel)

"""The editor's main window: menus, toolbar, the piano-roll canvas, docks, status bar.

Other parts plug in through the `composer_app.model.window.WindowHost` protocol, which
this window satisfies: `add_dock(widget, title, area)`, `add_menu_action(section, action)`
(the menu sections are declared by name: `MenuSection`), the `document`, `timeline` and
`selection` models, `canvas`, `status(message)`, `play_action` (Space) and the `closing`
signal (emitted once the window is really closing, after the unsaved-changes prompt).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QSpinBox,
    QToolBar,
    QWidget,
)

from composer_app import settings
from composer_app.canvas import geometry
from composer_app.canvas.canvas import PianoRollCanvas
from composer_app.canvas.view import Tool
from composer_app.document.autosave import Autosaver
from composer_app.document.document import Document, DocumentError
from composer_app.document.file_actions import FileActions, is_supported
from composer_app.document.preparing import MAX_TEMPO, MIN_TEMPO
from composer_app.model.selection import Selection
from composer_app.model.timeline import Timeline
from composer_app.model.window import MenuSection

APP_TITLE = "Composer Assistant"
DENOMINATORS = (1, 2, 4, 8, 16, 32)
STATUS_TIMEOUT_MS = 6000
# bump when the default dock layout changes: old saved layouts are dropped
LAYOUT_VERSION = 3
SIDE_DOCK_WIDTH = 360       # the right-hand docks' starting width; the roll takes the rest


class MainWindow(QMainWindow):
    closing = Signal()   # the close was confirmed: stop workers and players now

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = Document(self)
        self.timeline = Timeline()
        self.selection = Selection()
        self.canvas = PianoRollCanvas(self.document, self, timeline=self.timeline,
                                      selection=self.selection)
        self.setCentralWidget(self.canvas)
        self.autosaver = Autosaver(self.document, self)
        self.files = FileActions(self, self.document, self.autosaver)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)

        self._default_state: QByteArray | None = None
        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self.statusBar()

        self.document.modified_changed.connect(self._update_title)
        self.document.path_changed.connect(self._update_title)
        self.document.meta_changed.connect(self._show_meta)
        self.document.reset.connect(self._show_meta)
        self.files.status.connect(self.status)
        self.files.recent_changed.connect(self._fill_recent_menu)
        self.autosaver.failed.connect(self.status)
        self.closing.connect(self.files.opener.shutdown)
        # After a choice in any combo box of the window, the keys go back to the roll (Home
        # would otherwise pick that box's first entry). Hooked when a box first takes the
        # focus, so boxes made later (a new track's instrument) are covered too.
        QApplication.instance().focusChanged.connect(self._hook_choice_box)
        self._update_title()
        self._show_meta()
        self._restore_settings()

    # ------------------------------------------------------------------ public hooks
    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea, *,
                 scrollable: bool = False, tab_with: QDockWidget | None = None) -> QDockWidget:
        """Dock `widget`. `scrollable` puts it in a scroll area (a tall panel then never
        forces the window taller than the screen); `tab_with` stacks it as a tab on that dock."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")   # saveState() needs names
        if scrollable:
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(widget)
            dock.setWidget(scroll)
        else:
            dock.setWidget(widget)
        if tab_with is not None:
            self.tabifyDockWidget(tab_with, dock)
        else:
            self.addDockWidget(area, dock)
        self.add_menu_action(MenuSection.VIEW, dock.toggleViewAction())
        return dock

    def dock_named(self, title: str) -> QDockWidget | None:
        """The dock added as `title` (None when there is none)."""
        return self.findChild(QDockWidget, f"dock-{title}")

    def add_menu_action(self, section: MenuSection, action: QAction) -> None:
        """Put `action` at the end of a declared menu section."""
        menu, end = self._sections[section]
        if end is None:
            menu.addAction(action)
        else:
            menu.insertAction(end, action)

    def status(self, message: str) -> None:
        self.statusBar().showMessage(message, STATUS_TIMEOUT_MS)

    def open_file(self, path: str | Path) -> bool:
        """Open a file as if chosen in the Open dialog (with the unsaved-changes prompt)."""
        return self.files.open(path)

    def restore_dock_layout(self) -> None:
        """Remember the default layout (for View > Reset Layout), then put docks back where
        the musician left them (call after adding the docks)."""
        right = [dock for dock in self.findChildren(QDockWidget)
                 if self.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea]
        if right:
            self.resizeDocks(right[:1], [SIDE_DOCK_WIDTH], Qt.Orientation.Horizontal)
            # the top dock (Tracks) as tall as it asks: the rest goes to those below it
            self.resizeDocks(right[:1], [right[0].widget().sizeHint().height()],
                             Qt.Orientation.Vertical)
        self._default_state = self.saveState(LAYOUT_VERSION)
        state = settings.get_bytes(settings.WINDOW_STATE)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)   # refused (kept default) if older

    def reset_layout(self) -> None:
        """Every dock back to where it starts in a fresh install."""
        if self._default_state is not None:
            self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.findChildren(QDockWidget):
            if self.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea:
                self.resizeDocks([dock], [SIDE_DOCK_WIDTH], Qt.Orientation.Horizontal)
                break

    # ------------------------------------------------------------------ building
    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)   # the toolbar shows it (a tool's tip names its key)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)   # shortcuts work even while a menu bar is hidden
        return action

    def _make_actions(self) -> None:
        files, canvas, stack = self.files, self.canvas, self.document.undo_stack
        self.new_action = self._action("&New", lambda: files.new(), QKeySequence.StandardKey.New)
        self.open_action = self._action("&Open...", lambda: files.open(),
                                        QKeySequence.StandardKey.Open)
        self.save_action = self._action("&Save", lambda: files.save(),
                                        QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save &As...", lambda: files.save_as(), "Ctrl+Shift+S")
        self.export_midi_action = self._action("Export &MIDI...",
                                               lambda: files.export_midi(), "Ctrl+E")
        self.export_musicxml_action = self._action("Export Music&XML...",
                                                   lambda: files.export_musicxml())
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addActions([self.undo_action, self.redo_action])
        self.delete_action = self._action("&Delete", canvas.delete_selected, ["Del", "Backspace"])
        self.duplicate_action = self._action("Dupl&icate", canvas.duplicate_selected, "Ctrl+D")
        self.select_all_action = self._action("Select &All", canvas.select_all,
                                              QKeySequence.StandardKey.SelectAll)

        self.play_action = self._action("&Play / Stop", None, "Space",
                                        "Play from the playhead, or stop")
        self.zoom_in_action = self._action("Zoom &In", canvas.zoom_in, ["Ctrl++", "Ctrl+="])
        self.zoom_out_action = self._action("Zoom &Out", canvas.zoom_out, "Ctrl+-")
        self.reset_layout_action = self._action("&Reset Layout", self.reset_layout, None,
                                                "Put every panel back where it started")
        self.follow_action = self._action("&Follow Playback", self.timeline.set_follow_playback,
                                          None, "Scroll the roll along while playing")
        self.follow_action.setCheckable(True)
        self.scale_action = self._action("Show &Scale", canvas.set_scale_shown, None,
                                         "Shade the rows of the key's scale on the roll and "
                                         "outline the notes outside it in red")
        self.scale_action.setCheckable(True)
        self.scale_action.setChecked(canvas.scale_shown)
        self.snap_scale_action = self._action(
            "Sn&ap to Scale", self._on_snap_scale, None,
            "Drawn and dragged notes land on the key's scale (Shift: any pitch)")
        self.snap_scale_action.setCheckable(True)
        self.snap_scale_action.setChecked(settings.get_bool(settings.SNAP_TO_SCALE, False))
        canvas.set_scale_snap(self.snap_scale_action.isChecked())
        self.follow_action.setChecked(self.timeline.follow_playback)

        tools = QActionGroup(self)
        self.draw_tool_action = self._action("Draw", partial(canvas.set_tool, Tool.DRAW), "B",
                                             "Draw notes: click and drag on empty space (B)")
        self.select_tool_action = self._action("Select", partial(canvas.set_tool, Tool.SELECT), "V",
                                               "Select notes: click or drag a rubber band (V)")
        for action in (self.draw_tool_action, self.select_tool_action):
            action.setCheckable(True)
            tools.addAction(action)
        self.draw_tool_action.setChecked(True)

    def _make_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addActions([self.new_action, self.open_action])
        self._recent_menu = QMenu("Open &Recent", self)
        menu.addMenu(self._recent_menu)
        menu.addSeparator()
        menu.addActions([self.save_action, self.save_as_action])
        menu.addSeparator()
        menu.addActions([self.export_midi_action, self.export_musicxml_action])
        export_end = menu.addSeparator()
        menu.addAction(self.quit_action)
        self._fill_recent_menu(settings.recent_files())
        self._sections: dict[MenuSection, tuple[QMenu, QAction | None]] = {
            MenuSection.FILE_EXPORT: (menu, export_end)}

        menu = self.menuBar().addMenu("&Edit")
        menu.addActions([self.undo_action, self.redo_action])
        menu.addSeparator()
        menu.addActions([self.select_all_action, self.duplicate_action, self.delete_action])
        menu.addSeparator()
        self._sections[MenuSection.EDIT] = (menu, None)

        menu = self.menuBar().addMenu("&View")
        menu.addActions([self.zoom_in_action, self.zoom_out_action, self.scale_action,
                         self.snap_scale_action])
        menu.addSeparator()
        menu.addAction(self.reset_layout_action)
        menu.addSeparator()
        self._sections[MenuSection.VIEW] = (menu, None)

        menu = self.menuBar().addMenu("&Transport")
        menu.addActions([self.play_action, self.follow_action])
        menu.addSeparator()
        self._sections[MenuSection.TRANSPORT] = (menu, None)
        # Continue, Fill, Accept and the variations (the Continue panel's actions)
        menu = self.menuBar().addMenu("&Generate")
        menu.setToolTipsVisible(True)   # a greyed-out item (Add Part) says why when hovered
        self._sections[MenuSection.GENERATE] = (menu, None)

    def _make_toolbar(self) -> None:
        bar = QToolBar("Editor", self)
        bar.setObjectName("editor-toolbar")
        self.addToolBar(bar)
        bar.addAction(self.play_action)
        bar.addSeparator()
        bar.addActions([self.draw_tool_action, self.select_tool_action])
        bar.addSeparator()

        bar.addWidget(QLabel(" Grid "))
        self.grid_box = QComboBox()
        self.grid_box.addItems(list(geometry.GRID_CHOICES))
        self.grid_box.currentTextChanged.connect(self._on_grid)
        bar.addWidget(self.grid_box)

        bar.addWidget(QLabel("  Tempo "))
        self.tempo_box = QDoubleSpinBox()
        self.tempo_box.setRange(MIN_TEMPO, MAX_TEMPO)
        self.tempo_box.setDecimals(1)
        self.tempo_box.setSuffix(" BPM")
        self.tempo_box.setKeyboardTracking(False)   # one change per Enter, not per digit
        self.tempo_box.valueChanged.connect(self._on_tempo)
        bar.addWidget(self.tempo_box)

        bar.addWidget(QLabel("  Meter "))
        self.numerator_box = QSpinBox()
        self.numerator_box.setRange(1, 32)
        self.numerator_box.setKeyboardTracking(False)
        self.numerator_box.valueChanged.connect(self._on_meter)
        bar.addWidget(self.numerator_box)
        bar.addWidget(QLabel(" / "))
        self.denominator_box = QComboBox()
        self.denominator_box.addItems([str(d) for d in DENOMINATORS])
        self.denominator_box.currentTextChanged.connect(self._on_meter)
        bar.addWidget(self.denominator_box)

    # ------------------------------------------------------------------ toolbar <-> document
    def _show_meta(self) -> None:
        numerator, denominator = self.document.time_signature
        for box in (self.tempo_box, self.numerator_box, self.denominator_box):
            box.blockSignals(True)
        self.tempo_box.setValue(self.document.tempo_bpm)
        self.numerator_box.setValue(numerator)
        self.denominator_box.setCurrentText(str(denominator))
        for box in (self.tempo_box, self.numerator_box, self.denominator_box):
            box.blockSignals(False)

    def _on_tempo(self, bpm: float) -> None:
        try:
            self.document.set_tempo(bpm)
        except DocumentError as error:
            self.status(str(error))
            self._show_meta()

    def _on_meter(self, *_args: object) -> None:
        try:
            self.document.set_time_signature(self.numerator_box.value(),
                                             int(self.denominator_box.currentText()))
        except DocumentError as error:
            self.status(str(error))
            self._show_meta()

    def _on_snap_scale(self, on: bool) -> None:
        self.canvas.set_scale_snap(on)
        settings.set_value(settings.SNAP_TO_SCALE, on)

    def _on_grid(self, label: str) -> None:
        self.canvas.set_grid(label)
        settings.set_value(settings.GRID, label)

    def _update_title(self, *_args: object) -> None:
        self.setWindowTitle(f"{self.files.display_name()}[*] - {APP_TITLE}")
        self.setWindowModified(self.document.is_modified)

    def _fill_recent_menu(self, paths: list[str]) -> None:
        self._recent_menu.clear()
        for path in paths:
            action = self._recent_menu.addAction(Path(path).name)
            action.setStatusTip(path)
            action.triggered.connect(partial(self.open_file, path))
        self._recent_menu.setEnabled(bool(paths))

    def _hook_choice_box(self, _old: QWidget | None, new: QWidget | None) -> None:
        if (isinstance(new, QComboBox) and not new.isEditable()
                and new.property("returns_focus") is None and new.window() is self):
            new.setProperty("returns_focus", True)
            new.activated.connect(self._focus_roll)

    def _focus_roll(self, *_args: object) -> None:
        self.canvas.view.setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        geometry_bytes = settings.get_bytes(settings.WINDOW_GEOMETRY)
        if geometry_bytes is None or not self.restoreGeometry(geometry_bytes):
            self.resize(1280, 760)
        grid = settings.get_str(settings.GRID, geometry.DEFAULT_GRID)
        self.grid_box.setCurrentText(grid if grid in geometry.GRID_CHOICES
                                     else geometry.DEFAULT_GRID)
        self.canvas.set_grid(self.grid_box.currentText())

    def _save_settings(self) -> None:
        settings.set_value(settings.WINDOW_GEOMETRY, self.saveGeometry())
        settings.set_value(settings.WINDOW_STATE, self.saveState(LAYOUT_VERSION))

    # ------------------------------------------------------------------ window events
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.confirm_discard():
            event.ignore()
            return
        self._save_settings()
        self.autosaver.stop()
        self.autosaver.discard()   # a clean exit: nothing to recover next time
        self.closing.emit()
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_path(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(path)

    @staticmethod
    def _dropped_path(event: QDropEvent | QDragEnterEvent) -> str | None:
        mime = event.mimeData()
        if event.source() is not None or not mime.hasUrls():   # our own drag out: no file
            return None
        for url in mime.urls():
            if url.isLocalFile() and is_supported(url.toLocalFile()):
                return url.toLocalFile()
        return None


"""What a plug-in sees of the main window: its menu sections and a small host interface.

`install_*` functions (playback, editing, tracks, recording, Continue) receive a
`WindowHost` and never import `main_window`: the window satisfies the protocol, and a
test can hand them anything else that does. `MenuSection` names the places in the menus
where plug-ins add actions (declared by name, never found by position). Qt-free at run
time: the Qt types below are named for type checkers only.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:   # for annotations only; importing this module loads no Qt
    from PySide6.QtCore import Qt, SignalInstance
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDockWidget, QStatusBar, QWidget

    from composer_app.canvas.canvas import PianoRollCanvas
    from composer_app.document.document import Document
    from composer_app.document.file_actions import FileActions
    from composer_app.model.selection import Selection
    from composer_app.model.timeline import Timeline


class MenuSection(Enum):
    """The places in the menus where other parts add their actions."""

    FILE_EXPORT = "file/export"     # after Export MIDI / MusicXML
    EDIT = "edit"                   # at the end of the Edit menu
    VIEW = "view"                   # at the end of the View menu (dock toggles go here too)
    TRANSPORT = "transport"         # at the end of the Transport menu
    GENERATE = "generate"           # the Generate menu: Continue, Fill, Accept, variations


class WindowHost(Protocol):
    """The main window as plug-ins use it: the shared models, the roll, places to put
    actions and docks, the status line and the close signal."""

    document: Document
    timeline: Timeline
    selection: Selection
    canvas: PianoRollCanvas
    files: FileActions        # New, Open, Save, exports (`suggested_path` for export dialogs)
    play_action: QAction
    closing: SignalInstance   # the close was confirmed: stop workers now

    def add_dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea = ..., *,
                 scrollable: bool = False, tab_with: QDockWidget | None = None) -> QDockWidget: ...

    def add_menu_action(self, section: MenuSection, action: QAction) -> None: ...

    def dock_named(self, title: str) -> QDockWidget | None: ...

    def addAction(self, action: QAction) -> Any: ...  # noqa: N802 (Qt's name): window shortcuts

    def status(self, message: str) -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)

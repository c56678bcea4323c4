"""Out to a DAW: a "Drag MIDI" handle in the status bar that drags the selection (or the
whole accepted piece) out of the app as a `.mid` file, a Qt drag carrying the file's URL
as DAW plug-ins do. The file is built by `editing.midi_clip` (Qt-free) when the drag
starts; a click alone says how to use it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDrag, QMouseEvent
from PySide6.QtWidgets import QApplication, QToolButton, QWidget

from composer_app.editing.midi_clip import ClipError, write_clip
from composer_app.model.window import WindowHost
from ml_core.midi_io import MidiFileError

HINT = "Drag this onto a DAW track or a folder: the selection, or the accepted piece, as MIDI"


def mime_for_file(path: Path) -> QMimeData:
    """The drag's data: exactly the one local file URL (what DAWs and file managers read)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(Path(path).resolve()))])
    return mime


class DragMidiHandle(QToolButton):
    """A button that starts a file drag once the mouse moves far enough while pressed."""

    def __init__(self, host: WindowHost, folder: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._folder = folder
        self._pressed_at: QPoint | None = None
        self.setText("Drag MIDI")
        self.setObjectName("drag-midi")
        self.setToolTip(HINT)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.clicked.connect(lambda: host.status(HINT))
        self.exec_drag: Callable[[QDrag], object] = lambda drag: drag.exec(
            Qt.DropAction.CopyAction)

    def write_file(self) -> Path | None:
        """Write the file to drag (None, with one sentence on the status line, if none)."""
        host = self._host
        try:
            return write_clip(host.document.snapshot(), host.selection.ids,
                              host.files.display_name(), self._folder)
        except (ClipError, MidiFileError, OSError) as error:
            host.status(str(error))
            return None

    def start_drag(self) -> bool:
        path = self.write_file()
        if path is None:
            return False
        drag = QDrag(self)
        drag.setMimeData(mime_for_file(path))
        self.exec_drag(drag)
        self._host.status(f"Dragged out {path.name}")
        return True

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed_at = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        start = self._pressed_at
        if start is not None and ((event.position().toPoint() - start).manhattanLength()
                                  >= QApplication.startDragDistance()):
            self._pressed_at = None
            self.setDown(False)
            self.start_drag()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        self._pressed_at = None
        super().mouseReleaseEvent(event)


def install_drag_out(host: WindowHost, folder: Path | None = None) -> DragMidiHandle:
    handle = DragMidiHandle(host, folder)
    host.statusBar().addPermanentWidget(handle)
    return handle

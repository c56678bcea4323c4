"""Every modal question the editor asks, in one small module.

Routing message boxes and file dialogs through these functions keeps the rest of the
app testable: tests monkeypatch them instead of facing a blocking dialog.
"""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QFileDialog, QInputDialog, QMessageBox, QWidget

OPEN_FILTER = ("Music files (*.mid *.midi *.musicxml *.xml *.mxl *.abc *.krn);;"
               "MIDI files (*.mid *.midi);;All files (*)")
MIDI_FILTER = "MIDI files (*.mid *.midi)"
MUSICXML_FILTER = "MusicXML files (*.musicxml *.xml)"


def show_error(parent: QWidget | None, text: str) -> None:
    QMessageBox.critical(parent, "Composer Assistant", text)


def ask_save_changes(parent: QWidget | None, name: str = "this composition",
                     doing: str = "closing it") -> str:
    """'save', 'discard' or 'cancel'. `doing` is what the answer lets happen ("closing
    it", "opening another file", "starting a new one")."""
    answer = QMessageBox.warning(
        parent, "Unsaved changes", f"Save the changes to {name} before {doing}?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def ask_pending_notes(parent: QWidget | None, count: int) -> str:
    """Saving with a continuation not yet accepted: 'accept', 'leave' (save without those
    notes, as exports do) or 'cancel'."""
    box = QMessageBox(QMessageBox.Icon.Question, "Pending continuation",
                      f"{count} generated notes are not accepted yet. Save them as part of "
                      "the composition?", QMessageBox.StandardButton.Cancel, parent)
    accept = box.addButton("Accept them", QMessageBox.ButtonRole.AcceptRole)
    leave = box.addButton("Leave them out", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(accept)
    box.exec()
    clicked = box.clickedButton()
    return "accept" if clicked is accept else "leave" if clicked is leave else "cancel"


def ask_discard_pending(parent: QWidget | None, count: int) -> bool:
    """Closing the piece with a continuation not accepted (and so not saved): True to let
    those notes go."""
    answer = QMessageBox.question(
        parent, "Pending continuation",
        f"{count} generated notes are not accepted and are not in the saved file. "
        "Close them without keeping them?",
        QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Discard


def ask_restore_recovery(parent: QWidget | None, description: str) -> bool:
    answer = QMessageBox.question(
        parent, "Recover unsaved work",
        f"Composer Assistant did not close properly last time. Restore {description}?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


def get_open_path(parent: QWidget | None, folder: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open", folder, OPEN_FILTER)
    return path or None


def get_save_path(parent: QWidget | None, title: str, suggested: str,
                  file_filter: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, file_filter)
    return path or None


def choose_color(parent: QWidget | None, current: str) -> str | None:
    """A colour as "#rrggbb", or None when cancelled."""
    color = QColorDialog.getColor(QColor(current), parent, "Track colour")
    return color.name() if color.isValid() else None


def ask_number(parent: QWidget | None, title: str, label: str, value: float, minimum: float,
               maximum: float, decimals: int = 0) -> float | None:
    """A number from the musician (None when cancelled)."""
    if decimals == 0:
        number, ok = QInputDialog.getInt(parent, title, label, int(value),
                                         int(minimum), int(maximum))
    else:
        number, ok = QInputDialog.getDouble(parent, title, label, value, minimum, maximum, decimals)
    return number if ok else None

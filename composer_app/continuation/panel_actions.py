"""The Continue panel's buttons as menu actions with shortcuts (the Generate menu).

Each action clicks its button, so a shortcut or a menu item does exactly what the button
does (through the `ContinueSession`: Accept ends the variations like the button) and
nothing while the button is disabled; an action is enabled exactly while its button is.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QPushButton, QWidget

# (name, menu text, shortcut or None): the menu's order; every mnemonic is unique.
MENU = (
    ("continue", "&Continue", "Ctrl+Return"),
    ("fill", "&Fill Bars", "Ctrl+Shift+Return"),
    ("stop", "&Stop", "Ctrl+."),
    ("reroll", "&Re-roll", "Ctrl+R"),
    ("accept", "&Accept Continuation", "Ctrl+K"),
    ("previous", "&Previous Variation", "Alt+Left"),
    ("next", "&Next Variation", "Alt+Right"),
    ("audition", "A&udition Variation", None),
)


class _EnabledMirror(QObject):
    """Keeps an action enabled exactly while its button is."""

    def __init__(self, button: QPushButton, action: QAction) -> None:
        super().__init__(button)
        self.action = action
        action.setEnabled(button.isEnabled())
        button.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.EnabledChange:
            self.action.setEnabled(watched.isEnabled())
        return False


def button_actions(owner: QWidget, buttons: dict[str, QPushButton]) -> dict[str, QAction]:
    """One action per entry of `MENU` for `buttons[name]`, added to `owner` (so the
    shortcuts work in its window); each tooltip names its shortcut."""
    actions: dict[str, QAction] = {}
    for name, text, shortcut in MENU:
        button = buttons[name]
        action = QAction(text, owner)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            key = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
            tip = button.toolTip().split(" (")[0]
            button.setToolTip(f"{tip} ({key})" if tip else key)
        action.setStatusTip(button.toolTip())
        action.triggered.connect(button.click)
        _EnabledMirror(button, action)
        owner.addAction(action)
        actions[name] = action
    return actions

"""A main window whose error dialogs and save questions are recorded, not shown."""

import pytest

from composer_app import dialogs
from composer_app.main_window import MainWindow


@pytest.fixture
def window(qtbot, monkeypatch):
    errors: list[str] = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, text: errors.append(text))
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    window.errors = errors
    qtbot.addWidget(window)
    return window

"""What the Continue panel shows of the session: its buttons, variation label and status line.

`StatusView` is a collaborator of `panel.ContinuePanel` that renders the `ContinueSession`
on the panel's widgets (`StatusWidgets`): which buttons are enabled (Continue and Fill
while idle and as the model allows, Stop while running, Re-roll, Accept, Previous/Next among
several variations, Audition), the "Variation i / n" label, the status line, the
confidence view of the chosen variation and the progress bar (empty when no job runs). A
message said (`say`) stands while the document stays as it was when it was said; after an
undo, redo, edit, New or Open the line says where the continuation now stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from composer_app.continuation.confidence_view import ConfidenceView
from composer_app.continuation.controls import ModelAbilities
from composer_app.document.document import Document
from composer_app.model.session import ContinueSession, SessionState


@dataclass(frozen=True)
class StatusWidgets:
    """The panel's widgets that show the session."""

    continue_button: QPushButton
    fill_button: QPushButton
    stop_button: QPushButton
    reroll_button: QPushButton
    accept_button: QPushButton
    previous_button: QPushButton
    next_button: QPushButton
    audition_button: QPushButton
    variation_label: QLabel
    status_label: QLabel
    confidence_view: ConfidenceView
    progress_bar: QProgressBar      # a job's progress; empty whenever none runs


class StatusView:
    """Buttons, label, status line and confidence view follow the session."""

    def __init__(self, session: ContinueSession, document: Document, widgets: StatusWidgets,
                 abilities: Callable[[], ModelAbilities],
                 announce: Callable[[str], None]) -> None:
        self.session = session
        self.document = document
        self.widgets = widgets
        self.abilities = abilities     # what the selected model can be asked now
        self.announce = announce       # a message said also goes to the window's status bar
        self.resets = 0                # documents loaded (New, Open...) so far
        self.said_at: tuple[int, int] | None = None   # (undo index, resets) of the last message
        self.stopped = False           # the panel shut down: nothing is shown any more
        self.confidence_of: tuple[object, int] | None = None   # (result, variation) shown

    def update_buttons(self, *_args: Any) -> None:
        if self.stopped:
            return
        session, widgets = self.session, self.widgets
        running = session.running
        count, selected = session.variation_count, session.selected
        pending = bool(self.document.generated_ids())
        widgets.continue_button.setEnabled(not running)
        widgets.fill_button.setEnabled(not running and self.abilities().fill)
        widgets.stop_button.setEnabled(running)
        if not running:   # finished, accepted, undone or re-rolled: no stale 100 %
            widgets.progress_bar.setValue(0)
        widgets.reroll_button.setEnabled(session.can_reroll())
        widgets.accept_button.setEnabled(not running and pending)
        many = not running and count > 1
        widgets.previous_button.setEnabled(many and selected > 0)
        widgets.next_button.setEnabled(many and selected < count - 1)
        widgets.audition_button.setEnabled(not running and count > 0)
        comp = session.comp if count else None
        used = sorted({c + 1 for c in comp.choices if c is not None}) if comp else []
        widgets.variation_label.setText(
            f"Comp of {'+'.join(map(str, used))} / {count}" if len(used) > 1
            else f"Variation {selected + 1} / {count}" if count
            else "Pending (no variations)" if pending and not running
            else "No variations yet")
        self.refresh()

    def refresh(self) -> None:
        """A message stands while the document stays as it was when it was said; after an
        undo, redo, edit, New or Open the line says where the continuation now stands."""
        here = (self.document.undo_stack.index(), self.resets)
        if self.said_at == here or self.session.running:
            return
        self.said_at = None
        session, pending = self.session, len(self.document.generated_ids())
        if session.is_pending():
            text = f"{pending} generated notes pending: Accept keeps them, Ctrl+Z removes them."
        elif pending:
            text = f"{pending} generated notes are not accepted yet: Accept keeps them."
        elif session.state is SessionState.UNDONE:
            text = "Continuation undone."
        elif session.state is SessionState.ACCEPTED:
            text = "Continuation accepted."
        else:
            text = ""
        self.widgets.status_label.setText(text)

    def session_changed(self) -> None:
        if self.session.result is None:
            self.widgets.confidence_view.clear()
            self.confidence_of = None
        else:   # e.g. an undone Accept brought the variations back
            self.show_confidence()
        self.update_buttons()

    def say(self, text: str) -> None:
        self.widgets.status_label.setText(text)
        self.said_at = (self.document.undo_stack.index(), self.resets)
        self.announce(text)

    def show_confidence(self) -> None:
        result = self.session.result
        shown = self.confidence_of
        if result is not None and (shown is None or shown[0] is not result
                                   or shown[1] != self.session.selected):
            self.confidence_of = (result, self.session.selected)
            self.widgets.confidence_view.show_variations(
                result.confidences, result.new_notes, self.document.meter(),
                self.session.selected)

"""What the Continue panel shows of the session: its buttons, variation label and status line.

`PanelStatus` is the part of `panel.ContinuePanel` that renders the `ContinueSession`:
which buttons are enabled (Continue and Fill while idle and as the model allows, Stop
while running, Re-roll, Accept, Previous/Next among several variations, Audition), the
"Variation i / n" label, the status line and the confidence view of the chosen variation.
A message the panel says (`_say`) stands while the document stays as it was when it was
said; after an undo, redo, edit, New or Open the line says where the continuation now
stands. It is a mixin: the panel owns the widgets, the session and the document.
"""

from __future__ import annotations

from typing import Any

from composer_app.model.session import SessionState


class PanelStatus:
    """Mixin of `ContinuePanel`: buttons, label and status line follow the session."""

    def _update_buttons(self, *_args: Any) -> None:
        if self._shut_down:
            return
        session = self.session
        running = session.running
        count, selected = session.variation_count, session.selected
        self.continue_button.setEnabled(not running)
        self.fill_button.setEnabled(not running and self.abilities.fill)
        self.stop_button.setEnabled(running)
        self.reroll_button.setEnabled(session.can_reroll())
        self.accept_button.setEnabled(not running and bool(self.document.generated_ids()))
        many = not running and count > 1
        self.previous_button.setEnabled(many and selected > 0)
        self.next_button.setEnabled(many and selected < count - 1)
        self.audition_button.setEnabled(not running and count > 0)
        pending = bool(self.document.generated_ids())
        self.variation_label.setText(f"Variation {selected + 1} / {count}" if count
                                     else "Pending (no variations)" if pending and not running
                                     else "No variations yet")
        self._refresh_status()

    def _refresh_status(self) -> None:
        """A message stands while the document stays as it was when it was said; after an
        undo, redo, edit, New or Open the line says where the continuation now stands."""
        here = (self.document.undo_stack.index(), self._resets)
        if self._said_at == here or self.session.running:
            return
        self._said_at = None
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
        self.status_label.setText(text)

    def _on_session_changed(self) -> None:
        if self.session.result is None:
            self.confidence_view.clear()
        self._update_buttons()

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self._said_at = (self.document.undo_stack.index(), self._resets)
        self.status_message.emit(text)

    def _show_confidence(self) -> None:
        result = self.session.result
        if result is not None:
            self.confidence_view.show_variations(result.confidences, result.new_notes,
                                                 self.document.meter(), self.session.selected)

"""The Edit menu's note tools, wired to the main window: cut, copy, paste at the playhead,
select all in the active track, quantize (grid, strength), transpose, legato, velocity
scale and humanize. Each is one undo step on the Document. The clipboard is the editor's
own (notes relative to their first onset); paste puts them at the playhead, into the
active track. Amounts are asked through `dialogs.ask_number` (tests answer it).
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from composer_app import dialogs
from composer_app.editing import operations
from composer_app.editing.operations import Clip
from composer_app.model.window import MenuSection, WindowHost


class EditActions:
    def __init__(self, window: WindowHost) -> None:
        self.window = window
        self.document = window.document
        self.canvas = window.canvas
        self.clip: Clip | None = None
        self.quantize_strength = 1.0
        self.actions: dict[str, QAction] = {}
        for name, text, slot, shortcut in (
            ("cut", "Cu&t", self.cut, QKeySequence.StandardKey.Cut),
            ("copy", "&Copy", self.copy, QKeySequence.StandardKey.Copy),
            ("paste", "&Paste at Playhead", self.paste, QKeySequence.StandardKey.Paste),
            ("select_track", "Select All in Trac&k", self.canvas.select_all_in_track,
             "Ctrl+Shift+A"),
            ("quantize", "&Quantize Selection...", self.quantize_dialog, "Q"),
            ("transpose", "Tra&nspose Selection...", self.transpose_dialog, "Ctrl+T"),
            ("legato", "&Legato", self.legato, "Ctrl+L"),
            ("velocity_scale", "Scale &Velocity...", self.scale_velocity_dialog, None),
            ("humanize", "&Humanize Velocity...", self.humanize_dialog, None),
        ):
            action = QAction(text, window)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            window.addAction(action)
            window.add_menu_action(MenuSection.EDIT, action)
            self.actions[name] = action

    def _selection(self) -> dict[int, object]:
        return {i: self.document.note(i) for i in self.canvas.selected_ids()}

    # ------------------------------------------------------------------ clipboard
    def copy(self) -> int:
        notes = list(self._selection().values())
        if notes:
            self.clip = Clip.of(notes)
            self.window.status(f"Copied {len(notes)} notes")
        return len(notes)

    def cut(self) -> int:
        count = self.copy()
        if count:
            self.document.remove_notes(self.canvas.selected_ids(), text="Cut notes")
        return count

    def paste(self) -> list[int]:
        if self.clip is None or not self.clip.notes:
            self.window.status("Nothing to paste: copy some notes first")
            return []
        notes = self.clip.placed_at(self.canvas.playhead_tick)
        ids = self.document.add_notes(notes, track=self.document.active_track, text="Paste notes")
        self.canvas.select_ids(ids)
        return ids

    # ------------------------------------------------------------------ note tools
    def _change(self, changes: dict, text: str) -> None:
        if changes:
            self.document.change_notes(changes, text=text)

    def quantize(self, strength: float | None = None, grid: int | None = None) -> None:
        grid = grid or self.canvas.grid_step()
        strength = self.quantize_strength if strength is None else strength
        self._change(operations.quantize(self._selection(), grid, strength), "Quantize")

    def quantize_dialog(self) -> None:
        percent = dialogs.ask_number(self.window, "Quantize",
                                     f"Strength (%), to the grid ({self.canvas.grid_label}):",
                                     self.quantize_strength * 100, 0, 100)
        if percent is not None:
            self.quantize_strength = percent / 100
            self.quantize()

    def transpose(self, semitones: int) -> None:
        try:
            self._change(operations.transpose(self._selection(), semitones), "Transpose")
        except ValueError as error:
            self.window.status(str(error))

    def transpose_dialog(self) -> None:
        semitones = dialogs.ask_number(self.window, "Transpose", "Semitones:", 0, -48, 48)
        if semitones:
            self.transpose(int(semitones))

    def legato(self) -> None:
        self._change(operations.legato(self._selection()), "Legato")

    def scale_velocity(self, factor: float) -> None:
        self._change(operations.scale_velocity(self._selection(), factor), "Scale velocity")

    def scale_velocity_dialog(self) -> None:
        percent = dialogs.ask_number(self.window, "Scale velocity", "Percent:", 100, 1, 400)
        if percent is not None:
            self.scale_velocity(percent / 100)

    def humanize(self, amount: int, seed: int | None = None) -> None:
        self._change(operations.humanize_velocity(self._selection(), amount, seed), "Humanize")

    def humanize_dialog(self) -> None:
        amount = dialogs.ask_number(self.window, "Humanize velocity", "Up to +/-:", 8, 1, 64)
        if amount is not None:
            self.humanize(int(amount))


def install_editing(window: WindowHost) -> EditActions:
    window.edit_actions = EditActions(window)
    return window.edit_actions

"""Comping in the Continue panel: the continuation's bars, each from a chosen variation.

Before accepting a continuation with several variations, a musician takes bars from
different ones, as a DAW's comp lanes do, simply: the `CompStrip` under the variation
row (in the progress bar's place, which only matters while a job runs) shows one small
button per bar of the continuation's span, labelled with the variation that bar keeps
(click: the next variation, right-click: the previous), and the roll shows the comp,
since it is the session's pending step (`ContinueSession.set_bars`, `model.comp`), with a
band under the ruler's bar numbers in each variation's colour.
Accept then keeps exactly the comped notes in one undo step.

The Generate menu gets the same from the keyboard (`CompActions`), on the selected bars:
those of the selected notes or of the range dragged in the ruler, whichever was chosen
last (as Fill chooses): "Next / Previous Variation in Selected Bars" and "Accept Selected
Bars Only" (the other bars' notes go; one undo step, one Ctrl+Z brings the comp back).

`install_comping(window, panel)` adds both (called by `install_continue`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QKeySequence, QMouseEvent, QUndoStack
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QToolButton, QWidget

from composer_app.continuation.prompt import PromptError
from composer_app.model.window import MenuSection, WindowHost

if TYPE_CHECKING:   # the panel imports this module
    from composer_app.canvas.ruler import Ruler
    from composer_app.continuation.panel import ContinuePanel

BARS_PER_ROW = 10
# One tint per variation (then again): light enough for the number to read on either theme.
TINTS = ("#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fc9272", "#c7e9c0", "#fdd0a2", "#dadaeb")
NO_BARS = "Select notes, or drag a range in the ruler, to choose the bars."

# (name, menu text, shortcut): unique mnemonics beside the panel's own Generate actions.
MENU = (
    ("next_bars", "Ne&xt Variation in Selected Bars", "Alt+Shift+Right"),
    ("previous_bars", "Pre&vious Variation in Selected Bars", "Alt+Shift+Left"),
    ("accept_bars", "Accept Selected &Bars Only", "Ctrl+Shift+K"),
)


class BarButton(QToolButton):
    """One bar of the comp: a click takes the next variation, a right-click the previous."""

    def __init__(self, strip: CompStrip, bar: int) -> None:
        super().__init__(strip)
        self.strip, self.bar = strip, bar
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # keys stay on the roll
        self.setMinimumWidth(24)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.MouseButton.RightButton and self.rect().contains(
                event.position().toPoint()):
            self.strip.step(self.bar, -1)
            return
        super().mouseReleaseEvent(event)


class CompStrip(QWidget):
    """The bars of the pending continuation, each with the variation it keeps."""

    def __init__(self, panel: ContinuePanel, parent: QWidget | None = None,
                 ruler: Ruler | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.ruler = ruler   # the roll's ruler: a band in each run's colour while comping
        self.session = panel.session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("")
        layout.addWidget(self.title, 0, Qt.AlignmentFlag.AlignTop)
        self.grid = QGridLayout()
        self.grid.setSpacing(2)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        self.buttons: dict[int, BarButton] = {}
        self.session.changed.connect(self.refresh, owner=self)
        panel.connect_document(panel.document.undo_stack.indexChanged, self.refresh)
        self.refresh()

    def step(self, bar: int, step: int) -> None:
        """Take `bar` from the next (`step` 1) or previous (-1) variation."""
        if self.session.step_bars([bar], step):
            self.panel.status.show_confidence()

    def refresh(self, *_args: object) -> None:
        session, comp = self.session, self.session.comp
        shown = session.can_comp() and comp is not None
        self.setVisible(shown)
        self.panel.progress_bar.setVisible(not shown)   # the strip takes its place
        meter = self.panel.document.meter()
        if self.ruler is not None:
            self.ruler.set_marks([(meter.bar_start(first), meter.bar_start(end),
                                   QColor(TINTS[choice % len(TINTS)]).darker(125))
                                  for first, end, choice in comp.runs() if choice is not None]
                                 if shown else [])
        if not shown:
            return
        if sorted(self.buttons) != list(comp.bars()):
            for button in self.buttons.values():
                self.grid.removeWidget(button)
                button.deleteLater()
            self.buttons = {}
            for index, bar in enumerate(comp.bars()):
                button = BarButton(self, bar)
                button.clicked.connect(lambda _on=False, bar=bar: self.step(bar, 1))
                self.grid.addWidget(button, index // BARS_PER_ROW, index % BARS_PER_ROW)
                self.buttons[bar] = button
        count = session.variation_count
        for bar, button in self.buttons.items():
            choice = comp.choice(bar)
            button.setText("-" if choice is None else str(choice + 1))
            tint = QColor(TINTS[choice % len(TINTS)]) if choice is not None else QColor("#dddddd")
            button.setStyleSheet(f"QToolButton {{ background: {tint.name()}; color: black; "
                                 "border: 1px solid #777; border-radius: 3px; }")
            button.setToolTip(f"Bar {meter.bar_number(bar)}: variation "
                              f"{'none' if choice is None else choice + 1} of {count}. Click: "
                              "the next variation, right-click: the previous.")
        # Short: with the span in it, ten bars' buttons made the panel wider than the dock.
        self.title.setText("Comp:")
        self.title.setToolTip(f"The comp of {meter.bars_label(comp.first_bar, comp.end_bar)}: "
                              "each bar's notes come from the variation it shows: click a bar "
                              "for the next variation, right-click for the previous. "
                              "< and > take one variation for every bar.")


class CompActions:
    """The Generate menu's comp actions on the selected bars, enabled while they apply."""

    def __init__(self, panel: ContinuePanel, window: WindowHost | None = None) -> None:
        self.panel = panel
        self.session = panel.session
        self.actions: dict[str, QAction] = {}
        slots = {"next_bars": lambda: self.step(1), "previous_bars": lambda: self.step(-1),
                 "accept_bars": self.accept_bars}
        for name, text, shortcut in MENU:
            action = QAction(text, panel)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slots[name])
            panel.addAction(action)   # the shortcut works wherever the focus is in the window
            self.actions[name] = action
        self.actions["next_bars"].setStatusTip(
            "Take the selected bars (notes or a ruler range) from the next variation")
        self.actions["previous_bars"].setStatusTip(
            "Take the selected bars from the previous variation")
        self.actions["accept_bars"].setStatusTip(
            "Keep the selected bars of the continuation as ordinary notes; drop the others")
        if window is not None:
            for action in self.actions.values():
                window.add_menu_action(MenuSection.GENERATE, action)
        self.session.changed.connect(self.update, owner=panel)
        panel.connect_document(panel.document.undo_stack.indexChanged, self.update)
        self.update()

    def update(self, *_args: object) -> None:
        comp = self.session.can_comp()
        self.actions["next_bars"].setEnabled(comp)
        self.actions["previous_bars"].setEnabled(comp)
        self.actions["accept_bars"].setEnabled(not self.session.running
                                               and self.session.is_pending())

    def selected_bars(self) -> range | None:
        """The bars of the selected notes or of the ruler's range (None: say how to choose)."""
        try:
            first, end = self.panel.inputs.fill_span()
        except PromptError:
            self.panel.status.say(NO_BARS)
            return None
        return range(first, end)

    def step(self, step: int) -> None:
        bars = self.selected_bars()
        if bars is None:
            return
        if self.session.step_bars(bars, step):
            self.panel.status.show_confidence()
            comp = self.session.comp
            self.panel.status.say(f"Comp: {comp.describe(self.panel.document.meter())}.")
        else:
            self.panel.status.say("The selected bars are outside the continuation.")

    def accept_bars(self) -> None:
        bars = self.selected_bars()
        if bars is None:
            return
        meter = self.panel.document.meter()
        label = meter.bars_label(bars.start, bars.stop)
        accepted = self.session.accept_bars(bars, lambda: one_undo_step(
            self.panel.document.undo_stack, f"Accept {label}"))
        self.panel.status.say(
            f"Accepted {label} of the continuation."
            if accepted else "No pending note lies in the selected bars.")


@contextmanager
def one_undo_step(stack: QUndoStack, text: str) -> Iterator[None]:
    """The document edits made inside are one undo step (a Qt undo macro)."""
    stack.beginMacro(text)
    try:
        yield
    finally:
        stack.endMacro()


def install_comping(window: WindowHost | None,
                    panel: ContinuePanel) -> tuple[CompStrip, CompActions]:
    """The comp strip under the panel's variation row and the comp actions in its window's
    Generate menu."""
    strip = CompStrip(panel, panel, window.canvas.ruler if window is not None else None)
    layout = panel.layout()
    row = next(layout.itemAt(i).layout() for i in range(layout.count())
               if layout.itemAt(i).layout() is not None
               and layout.itemAt(i).layout().indexOf(panel.progress_bar) >= 0)
    row.addWidget(strip)   # the progress bar's row
    strip.refresh()
    return strip, CompActions(panel, window)

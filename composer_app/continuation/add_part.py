"""Generate > Add Part...: a new track written by the model given the others (issue 42).

A small dialog asks for the role (bass, harmony / pad, counter-melody, or a chosen GM
instrument), the instrument (a General MIDI program, defaulting from the role), the name
and the span (the selected notes' bars, the loop range dragged in the ruler, or the whole
piece). The part runs as a job on the Continue panel's worker (`ContinueJob.part`,
`ml_core.multitrack.add_part` through `track_runs`), so Stop, variations, Re-roll and
Accept work as for Continue; the new track and its notes enter as ONE undo step
(`composer_app.document.parts.PartCommand`: one Ctrl+Z removes both).

Only a model that knows tracks (the remi_tracks tokenizer) can write a part: with any
other the action is disabled and its tooltip and status tip say in one line why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from composer_app.continuation.prompt import PromptError
from composer_app.continuation.track_runs import not_track_aware
from composer_app.document.tracks import GM_PROGRAM_NAMES
from composer_app.model.jobs import PART_ROLES, PartRequest
from composer_app.model.window import MenuSection, WindowHost

if TYPE_CHECKING:
    from composer_app.continuation.panel import ContinuePanel

MENU_TEXT, SHORTCUT = "Add Par&t...", "Ctrl+Shift+P"
ROLE_PROGRAMS = {"bass": 33, "harmony": 48, "counter": 40}   # finger bass, strings, violin
ROLE_NAMES = {"bass": "Bass", "harmony": "Harmony", "counter": "Counter-melody"}
SPANS = (("selection", "Selected bars"), ("loop", "Loop range"), ("piece", "Whole piece"))


class AddPartDialog(QDialog):
    """Role, instrument, name and span of a new part; `request()` once accepted."""

    def __init__(self, spans: dict[str, tuple[int, int] | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add Part")
        self.spans = spans
        self.role = QComboBox()
        for value, label in PART_ROLES:
            self.role.addItem(label, value)
        self.instrument = QComboBox()
        for program, name in enumerate(GM_PROGRAM_NAMES):
            self.instrument.addItem(f"{program + 1} {name}", program)
        self.name = QLineEdit()
        self.span = QComboBox()
        for value, label in SPANS:
            self.span.addItem(label, value)
            if value != "piece" and spans.get(value) is None:   # nothing selected, no loop
                self.span.model().item(self.span.count() - 1).setEnabled(False)
        self.span.setCurrentIndex(next(i for i, (value, _) in enumerate(SPANS)
                                       if value == "piece" or spans.get(value) is not None))
        form = QFormLayout(self)
        for label, field in (("Role", self.role), ("Instrument", self.instrument),
                             ("Name", self.name), ("Bars", self.span)):
            form.addRow(label, field)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.role.currentIndexChanged.connect(self._on_role)
        self.instrument.currentIndexChanged.connect(self._on_instrument)
        self._on_role()

    def _on_role(self) -> None:
        role = self.role.currentData()
        if role in ROLE_PROGRAMS:
            self.instrument.setCurrentIndex(ROLE_PROGRAMS[role])
        self._name_from_role()

    def _on_instrument(self) -> None:
        if self.role.currentData() == "program":
            self._name_from_role()

    def _name_from_role(self) -> None:
        role = self.role.currentData()
        self.name.setText(ROLE_NAMES.get(role) or GM_PROGRAM_NAMES[self.instrument.currentData()])

    def request(self) -> PartRequest:
        """The part asked for."""
        role, program = self.role.currentData(), self.instrument.currentData()
        name = self.name.text().strip() or ROLE_NAMES.get(role) or GM_PROGRAM_NAMES[program]
        return PartRequest(role, program, name, self.spans.get(self.span.currentData()))


class AddPartAction:
    """The Generate menu's Add Part action over a Continue panel."""

    def __init__(self, panel: ContinuePanel, window: WindowHost | None = None) -> None:
        self.panel = panel
        self.action = QAction(MENU_TEXT, panel)
        self.action.setShortcut(QKeySequence(SHORTCUT))
        self.action.triggered.connect(lambda: self.run())
        panel.addAction(self.action)
        if window is not None:
            window.add_menu_action(MenuSection.GENERATE, self.action)
        panel.session.changed.connect(self.update, owner=self.action)
        panel.model_panel.bundle_changed.connect(lambda _info: self.update())
        self.update()

    def reason(self) -> str:
        """Why no part can be added now ("" when one can)."""
        if not self.panel.abilities.tracks:
            info = self.panel.model_panel.selected_bundle()
            return not_track_aware(info.name) if info is not None else "Choose a model first."
        return "A job is running." if self.panel.is_running() else ""

    def update(self) -> None:
        reason = self.reason()
        self.action.setEnabled(not reason)
        tip = reason or ("Write a new track (bass, harmony, counter-melody or an instrument) "
                         "given the others")
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)

    def spans(self) -> dict[str, tuple[int, int] | None]:
        """The bars (first, end) of the selected notes and of the loop range, when there
        are; None: the whole piece."""
        inputs, meter = self.panel.inputs, self.panel.document.meter()
        selected = inputs.selected_notes()
        loop = inputs.timeline.loop if inputs.timeline is not None else None
        found: dict[str, tuple[int, int] | None] = {"piece": None, "selection": None,
                                                    "loop": None}
        if selected:
            found["selection"] = (meter.bar_at(min(n.start for n in selected))[0],
                                  meter.bar_at(max(n.start for n in selected))[0] + 1)
        if loop is not None:
            found["loop"] = (meter.bar_at(loop[0])[0], meter.bar_at(max(loop[0], loop[1] - 1))[0]
                             + 1)
        return found

    def run(self, request: PartRequest | None = None) -> bool:
        """Ask for the part (a dialog, unless `request` is given) and start writing it."""
        panel = self.panel
        reason = self.reason()
        if reason:
            panel.status.say(reason)
            return False
        if request is None:
            dialog = AddPartDialog(self.spans(), panel.window())
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return False
            request = dialog.request()
        panel.session.keep_pending()
        score = panel.document.score(tracks_wanted=panel.inputs.prompt_tracks())
        if score.is_empty:
            panel.status.say(str(PromptError("Write some music first: a part is written "
                                             "given the others.")))
            return False
        panel.start_job(score, 0, panel.sampling_panel.next_seed(), part=request,
                        track=len(score.tracks), make_room=None)
        info = panel.model_panel.selected_bundle()
        panel.status.say(f"Adding the {request.name} part with {info.name}...")
        return True


def install_add_part(window: WindowHost | None, panel: ContinuePanel) -> AddPartAction:
    """Generate > Add Part... for the window's Continue panel."""
    return AddPartAction(panel, window)

"""The Continue panel: Continue / Fill / Stop / Re-roll / Accept, progress, the variations.

The panel renders a `ContinueSession` (the Qt-free state of the continuation) and feeds
it what the `ContinueWorker` reports. Continue builds the prompt (whole score,
selection, or up to the playhead; see `prompt`), picks the seed (locked: the shown one;
unlocked: a new one) and starts a job. Notes stream onto the canvas as a preview
(`Document.set_preview`). When the job ends, the selected variation enters the document
as ONE undo step (one Ctrl+Z removes it all). Previous/Next swap the pending
continuation for another variation (still one undo step); Audition emits
`audition_requested(Score)`; Accept makes it ordinary notes; Re-roll removes it and
continues the same prompt with a fresh seed.

Fill (Ctrl+Shift+Return) regenerates the bars of the selected notes, or of the loop range
dragged in the ruler, from the music before and after them (`ml_core.generation.fill`):
the same job, streaming, variations and one undo step as Continue, only the span's notes
of the active track replaced. Models trained without infilling leave Fill disabled, and
models without attribute controls the sampling panel's controls, with a tooltip saying why
(`controls.ModelAbilities`).

Stop: the notes generated so far are kept as the pending continuation (one Ctrl+Z
removes them), so a musician can stop once they like what they hear. Errors (a bundle
that fails to load, bad options) open a dialog through `show_error` and the panel stays
usable.

The panel's jobs are typed collaborators: what the buttons and status line show is its
`status` (`panel_status.StatusView`), what a job reads (prompt, tracks, target, room,
Fill's bars) its `inputs` (`panel_prompt.JobInputs`), the key shown for the prompt its
`keys` (`panel_prompt.KeyEstimator`), and the continuation's state its `session`.

`install_continue(window)` docks the model, sampling, Continue and confidence panels into
a `WindowHost` and connects them to its document, timeline and selection models.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from composer_app import dialogs, settings
from composer_app.continuation.comping import install_comping
from composer_app.continuation.confidence_view import ConfidenceView
from composer_app.continuation.controls import ModelAbilities
from composer_app.continuation.model_panel import ModelPanel
from composer_app.continuation.panel_actions import button_actions
from composer_app.continuation.panel_prompt import JobInputs, KeyEstimator
from composer_app.continuation.panel_status import StatusView, StatusWidgets
from composer_app.continuation.prompt import PromptError, build_prompt
from composer_app.continuation.sampling_panel import SamplingPanel
from composer_app.continuation.worker import BundleCache, ContinueWorker
from composer_app.document import parts
from composer_app.document.document import Document
from composer_app.model.jobs import ContinueJob, ContinueProgress, ContinueResult, MakeRoom
from composer_app.model.selection import Selection
from composer_app.model.session import ContinuationRefused, ContinueSession
from composer_app.model.timeline import Timeline
from composer_app.model.window import MenuSection, WindowHost
from ml_core.keys import key_source, prompt_key
from ml_core.music import Score

__all__ = ["ContinuePanel", "PromptError", "build_prompt", "install_continue", "show_error"]


def show_error(parent: QWidget | None, text: str) -> None:
    """The one place this panel opens an error dialog (tests monkeypatch it)."""
    dialogs.show_error(parent, text)


class ContinuePanel(QWidget):
    """Continue controls over a Document, reading the playhead, loop and selection from
    their models (`Timeline`, `Selection`; absent: no playhead, no selection)."""

    audition_requested = Signal(object)   # Score: the piece with the selected variation
    status_message = Signal(str)
    continuation_added = Signal(list)     # ids of the notes now pending in the document

    def __init__(self, document: Document, timeline: Timeline | None = None,
                 selection: Selection | None = None, *, model_panel: ModelPanel | None = None,
                 sampling_panel: SamplingPanel | None = None,
                 confidence_view: ConfidenceView | None = None, settings: Any = None,
                 cache: BundleCache | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.timeline = timeline
        self.selection = selection
        self.session = ContinueSession(document, lambda *a: parts.add_result(document, *a))
        self.model_panel = model_panel or ModelPanel(self, settings=settings)
        self.sampling_panel = sampling_panel or SamplingPanel(self)
        self.confidence_view = confidence_view or ConfidenceView(self)
        for child in (self.model_panel, self.sampling_panel, self.confidence_view):
            if child.parent() is self:
                child.hide()  # not laid out here; install_continue docks them
        self.worker = ContinueWorker(cache, self)
        self.preview_updates = 0            # streaming previews shown (tests count them)
        self._shut_down = False
        self.abilities = ModelAbilities()   # what the selected model can be asked
        self.inputs = JobInputs(document, self.sampling_panel, timeline, selection)
        self.keys = KeyEstimator(self.inputs, lambda: self.abilities, self)
        self._build_controls()
        self.status = StatusView(self.session, document, StatusWidgets(
            self.continue_button, self.fill_button, self.stop_button, self.reroll_button,
            self.accept_button, self.previous_button, self.next_button, self.audition_button,
            self.variation_label, self.status_label, self.confidence_view, self.progress_bar),
            lambda: self.abilities, self.status_message.emit)
        self._connect()
        # What the model can do, the prompt's key (stay in key is on from the start) and the
        # values its controls follow, shown at once; the model is preloaded so that the
        # first Continue finds it loaded.
        self._on_bundle_changed(self.model_panel.selected_bundle())

    def _button(self, text: str, slot: Any, tip: str = "") -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _build_controls(self) -> None:
        layout = QVBoxLayout(self)
        self.continue_button = self._button(
            "Continue", self.continue_, "Let the model continue the prompt (Ctrl+Return)")
        self.fill_button = self._button("Fill", self.fill)
        self.stop_button = self._button("Stop", self.stop, "Stop; keep what was made")
        self.reroll_button = self._button(
            "Re-roll", self.reroll, "Remove this continuation and try again with a new seed")
        self.accept_button = self._button(
            "Accept", self.accept, "Keep this continuation as ordinary notes")
        self.progress_bar = QProgressBar(minimum=0, maximum=1000, value=0)
        self.progress_bar.setTextVisible(False)
        self.previous_button = self._button(
            "<", lambda: self.select_variation(self.session.selected - 1), "Previous variation")
        self.variation_label = QLabel("No variations yet")
        self.variation_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.next_button = self._button(
            ">", lambda: self.select_variation(self.session.selected + 1), "Next variation")
        self.audition_button = self._button("Audition", self.audition,
                                            "Play the piece with this variation")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        # two lines always shown: "12 generated notes pending: Accept keeps them..." whole
        self.status_label.setMinimumHeight(2 * self.status_label.fontMetrics().lineSpacing())
        # Two rows of three: they fit the dock's width at 1280x760 without clipping.
        buttons = QGridLayout()
        for index, button in enumerate((self.continue_button, self.fill_button, self.stop_button,
                                        self.reroll_button, self.accept_button,
                                        self.audition_button)):
            buttons.addWidget(button, index // 3, index % 3)
        layout.addLayout(buttons)
        for row in ((self.previous_button, self.variation_label, self.next_button),
                    (self.progress_bar,),
                    (self.status_label,)):
            line = QHBoxLayout()
            for widget in row:
                line.addWidget(widget)
            layout.addLayout(line)
        layout.addStretch(1)
        # The same commands as menu actions with shortcuts (install_continue menus them).
        self.actions = button_actions(self, {
            "continue": self.continue_button, "fill": self.fill_button,
            "stop": self.stop_button, "reroll": self.reroll_button,
            "accept": self.accept_button, "previous": self.previous_button,
            "next": self.next_button, "audition": self.audition_button})

    def essential_height(self) -> int:
        """Height of the buttons, the variations row, the progress bar and two lines of the
        status line: what the dock must always show."""
        layout = self.layout()
        margins = layout.contentsMargins()
        rows = [layout.itemAt(index).sizeHint().height() for index in range(4)]
        return sum(rows) + layout.spacing() * len(rows) + margins.top() + margins.bottom()

    def _connect(self) -> None:
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.loaded.connect(self.model_panel.set_device_in_use)
        self.worker.preload_failed.connect(self._on_preload_failed)
        self.model_panel.bundle_changed.connect(self._on_bundle_changed)
        self.model_panel.device_changed.connect(lambda _device: self.preload())
        self.session.changed.connect(self.status.session_changed, owner=self)
        self.session.continuation_added.connect(self.continuation_added.emit, owner=self)
        self._key_timer = QTimer(self, singleShot=True, interval=300)
        self._key_timer.timeout.connect(self.keys.in_background)
        document = self.document
        self._document_connections: list[tuple[Any, Any]] = [
            (document.notes_added, self._on_document_changed),
            (document.notes_removed, self._on_document_changed),
            (document.notes_changed, self._on_document_changed),
            (document.reset, self._on_document_changed),
            (document.reset, self._on_document_reset),
            (document.undo_stack.indexChanged, self.status.update_buttons),
        ]
        for signal, slot in self._document_connections:
            signal.connect(slot)
        # The prompt "up to the playhead" or "selection" moves with them: its key anew.
        if self.timeline is not None:
            self.timeline.playhead_changed.connect(
                lambda _tick: self._on_prompt_moved("playhead"), owner=self)
        if self.selection is not None:
            self.selection.changed.connect(lambda: self._on_prompt_moved("selection"),
                                           owner=self)
        self.sampling_panel.stay_in_key.toggled.connect(lambda _on: self.keys.update())
        # Another prompt (score, selection, playhead): its key and followed values anew.
        self.sampling_panel.prompt_source.currentIndexChanged.connect(
            lambda _i: self._key_timer.start())

    def connect_document(self, signal: Any, slot: Any) -> None:
        """Connect `slot` to a document signal until the panel shuts down (for its parts)."""
        signal.connect(slot)
        self._document_connections.append((signal, slot))

    # ------------------------------------------------------------ state (from the session)
    def is_running(self) -> bool:
        return self.session.running

    def variation_count(self) -> int:
        return self.session.variation_count

    def selected_variation(self) -> int:
        return self.session.selected

    def result(self) -> ContinueResult | None:
        return self.session.result

    def _on_bundle_changed(self, info: Any) -> None:
        """A model was chosen: what it can be asked (controls, Fill), then preload it."""
        self.abilities = ModelAbilities.of(info)
        self.inputs.tracks_aware = self.abilities.tracks
        self.sampling_panel.set_abilities(self.abilities)
        self.fill_button.setToolTip(
            "Regenerate the bars of the selected notes, or of the loop range dragged in the "
            "ruler, from the music around them (Ctrl+Shift+Return)" if self.abilities.fill
            else self.abilities.fill_reason)
        self.status.update_buttons()
        if not self._shut_down:
            self.keys.update()
        self.preload()

    # ------------------------------------------------------------ actions
    def preload(self) -> None:
        """Load the selected bundle ahead of Continue (errors show on the model card)."""
        info = self.model_panel.selected_bundle()
        if info is not None and not self._shut_down:
            self.worker.preload(info.path, self.model_panel.device())

    def continue_(self) -> None:
        """Continue the prompt with a fresh job (a pending continuation is accepted first:
        continuing from it means keeping it)."""
        if self.is_running() or self._shut_down:
            return
        self.session.keep_pending()
        try:
            prompt, offset = self.inputs.prompt()
        except PromptError as error:
            self._fail(str(error))
            return
        if self.sampling_panel.stay_in_key.isChecked():
            self.sampling_panel.set_estimated_key(prompt_key(prompt), key_source(prompt))
        self.start_job(prompt, offset, self.sampling_panel.next_seed())

    def fill(self) -> None:
        """Regenerate the chosen bars from the music around them (`JobInputs.fill_span`)."""
        if self.is_running() or self._shut_down:
            return
        if not self.abilities.fill:
            self._fail(self.abilities.fill_reason)
            return
        self.session.keep_pending()
        try:
            first, end = self.inputs.fill_span()
        except PromptError as error:
            self._fail(str(error))
            return
        score = self.document.score(tracks_wanted=self.inputs.prompt_tracks())
        span = MakeRoom.span(score.bar_start(first), score.bar_start(end))
        self.start_job(score, 0, self.sampling_panel.next_seed(), fill_bars=(first, end),
                       make_room=span)

    def reroll(self) -> None:
        """Remove the pending continuation (or fill) and run the same job with a new seed."""
        job = self.session.withdraw()
        if job is not None:
            self.start_job(job.prompt, job.offset, self.sampling_panel.next_seed(fresh=True),
                           fill_bars=job.fill_bars, make_room=job.make_room, target=job.target,
                           part=job.part, track=job.track)

    def start_job(self, prompt: Score, offset: int, seed: int, *,
                  fill_bars: tuple[int, int] | None = None, make_room: MakeRoom | None = None,
                  **fields: Any) -> None:
        """Start a job on `prompt` (`fields`: other ContinueJob fields, e.g. Add part's)."""
        info = self.model_panel.selected_bundle()
        if info is None:
            self._fail("Choose a model in the model panel first.")
            return
        job = ContinueJob(info.path, self.model_panel.device(), prompt,
                          self.sampling_panel.options(seed), offset,
                          self.inputs.continuation_track(),
                          make_room if fill_bars is not None else self.inputs.make_room(),
                          fill_bars, self.inputs.target())
        job = replace(job, **fields)
        self.preview_updates = 0
        self.progress_bar.setValue(0)
        self.confidence_view.clear()
        if fill_bars is not None:
            first, end = fill_bars
            self.status.say(f"Filling {self.document.meter().bars_label(first, end)} with "
                            f"{info.name} "
                            f"(seed {seed})...")
        else:
            self.status.say(f"Continuing with {info.name} (seed {seed})...")
        self.session.begin(job)
        self.worker.start(job)

    def stop(self) -> None:
        """Ask the running job to stop; it ends within ~100 ms and keeps what it made."""
        if self.is_running():
            self.worker.request_stop()
            self.status.say("Stopping...")

    def accept(self) -> None:
        if self.is_running():
            return
        self.session.accept()
        self.status.say("Continuation accepted.")

    def select_variation(self, index: int) -> None:
        """Show variation `index` (see `ContinueSession.select`)."""
        if self.session.select(index):
            self.status.show_confidence()

    def audition(self) -> None:
        """Emit `audition_requested` with the piece as it would be with this variation."""
        score = self.session.audition_score()
        if score is not None:
            self.audition_requested.emit(score)

    def _on_document_changed(self, *_args: Any) -> None:
        if not self._shut_down and (self.sampling_panel.stay_in_key.isChecked()
                                    or self.abilities.controls):
            self._key_timer.start()  # re-estimate the key once edits settle

    def _on_prompt_moved(self, source: str) -> None:
        if self.sampling_panel.prompt_source_value() == source:
            self._on_document_changed()

    def _on_document_reset(self) -> None:
        if not self._shut_down:
            self.status.resets += 1
            if self.is_running():
                self.worker.request_stop()  # it read the old document
            self.session.forget()
            self.status.update_buttons()

    # ------------------------------------------------------------ worker signals
    def _on_progress(self, progress: ContinueProgress) -> None:
        if self.session.progress(progress):
            self.preview_updates += 1
            self.progress_bar.setValue(int(progress.fraction * 1000))

    def _on_finished(self, result: ContinueResult) -> None:
        if result.job is not self.session.job:
            return
        try:
            message = self.session.finish(result)
        except ContinuationRefused as error:
            self._fail(str(error))
            return
        self.status.say(message)
        self.status.show_confidence()

    def _on_failed(self, job: ContinueJob, message: str) -> None:
        if self.session.fail(job):
            self._fail(message)

    def _on_preload_failed(self, message: str) -> None:
        self.model_panel.set_device_in_use(f"could not load: {message}")

    def _fail(self, message: str) -> None:
        self.status.say(message)
        self.status.update_buttons()
        show_error(self.window() if self.isVisible() else None, message)

    # ------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop and join every worker thread (called when the window closes)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.status.stopped = True
        self._key_timer.stop()
        self.keys.stop()
        for signal, slot in self._document_connections:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already gone at application exit
                pass
        self.worker.stop()
        self.session.abandon()
        try:
            self.document.set_preview(None)
        except RuntimeError:  # the document is already gone at application exit
            pass

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)


def install_continue(window: WindowHost) -> ContinuePanel:
    """Dock the Continue side into the main window: one line of wiring for the lead."""
    panel = ContinuePanel(window.document, window.timeline, window.selection, settings=settings,
                          parent=window)
    # Right column: Continue on top, then Sampling / Model / Confidence as tabs under it,
    # so nothing overlaps from 1280x720 up and the roll keeps most of the width.
    right = Qt.DockWidgetArea.RightDockWidgetArea
    continue_dock = window.add_dock(panel, "Continue", right, scrollable=True)
    continue_dock.widget().setMinimumHeight(panel.essential_height())   # buttons and variations
    sampling = window.add_dock(panel.sampling_panel, "Sampling", right, scrollable=True)
    window.add_dock(panel.model_panel, "Model", right, scrollable=True, tab_with=sampling)
    window.add_dock(panel.confidence_view, "Confidence", right, scrollable=True, tab_with=sampling)
    sampling.raise_()
    for child in (panel.model_panel, panel.sampling_panel, panel.confidence_view):
        child.show()
    for action in panel.actions.values():
        window.add_menu_action(MenuSection.GENERATE, action)
    panel.status_message.connect(window.status)
    panel.continuation_added.connect(window.canvas.reveal_notes)
    # The roll shades the scale of the key Continue stays in (written, estimated or picked).
    sampling, canvas = panel.sampling_panel, window.canvas
    sampling.key_changed.connect(lambda: canvas.set_key(sampling.chosen_key()))
    canvas.set_key(sampling.chosen_key())
    install_comping(window, panel)   # the comp strip and the Generate menu's comp actions
    window.closing.connect(panel.shutdown)   # emitted once a close is confirmed
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(panel.shutdown)
    return panel

"""The Continue panel: Continue / Stop / Re-roll / Accept, progress, and the variations.

Flow: Continue builds the prompt (whole score, selection, or up to the playhead; see the
sampling panel), picks the seed (locked: the shown one; unlocked: a new one) and starts
a `ContinueWorker` job. Notes stream onto the canvas as a preview (`Document.set_preview`,
at most every 40 ms). When the job ends, the selected variation enters the document with
`Document.add_generated` as ONE undo step (one Ctrl+Z removes it all) and the preview is
cleared. Previous/Next swap the pending continuation for another variation (undo of our
own command + add, still one undo step); Audition emits `audition_requested(Score)`;
Accept makes it ordinary notes; Re-roll removes it and continues the same prompt with a
fresh seed.

Stop: the notes generated so far are kept as the pending continuation (one Ctrl+Z removes
them), so a musician can stop once they like what they hear. Errors (a bundle that fails
to load, bad options) open a dialog through `show_error` and the panel stays usable.

`install_continue(window)` docks the model, sampling, Continue and confidence panels into
the main window and connects them to `window.document` / `window.canvas`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from composer_app.continuation.confidence_view import ConfidenceView
from composer_app.continuation.model_panel import ModelPanel
from composer_app.continuation.sampling_panel import SamplingPanel, estimate_key
from composer_app.continuation.worker import (
    BundleCache,
    ContinueJob,
    ContinueProgress,
    ContinueResult,
    ContinueWorker,
)
from ml_core.music import Note, Score, Track

COMMAND_TEXT = "Continue"


class PromptError(ValueError):
    """There is nothing to continue from (empty selection, playhead at the start...)."""


def show_error(parent: QWidget | None, text: str) -> None:
    """The one place this panel opens an error dialog (tests monkeypatch it)."""
    try:
        from composer_app.dialogs import show_error as editor_show_error
    except ImportError:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(parent, "Composer Assistant", text)
        return
    editor_show_error(parent, text)


def build_prompt(score: Score, source: str, selected: list[Note] | None = None,
                 playhead: int = 0) -> tuple[Score, int]:
    """(prompt starting at tick 0, offset of that tick in the document) for a prompt source:
    "score" (everything), "selection" (the selected notes, from the bar the first starts in)
    or "playhead" (notes that start before the playhead, cut there)."""
    if source == "selection":
        if not selected:
            raise PromptError("Select some notes to continue from, or choose another prompt.")
        first = min(n.start for n in selected)
        offset = score.bar_start(score.bar_at(first)[0])
        end = max(n.end for n in selected)
        meter = score.sliced(offset, end + 1, shift=True)
        notes = sorted(Note(n.pitch, n.start - offset, n.duration, n.velocity) for n in selected)
        program = next((t.program for t in score.tracks if not t.is_drum), 0)
        return meter.with_tracks([Track("Prompt", program, False, notes)]), offset
    if source == "playhead":
        if playhead <= 0:
            raise PromptError("Move the playhead after the notes to continue from.")
        prompt = score.sliced(0, playhead, shift=False, clip=True)
        if prompt.is_empty:
            raise PromptError("There are no notes before the playhead to continue from.")
        return prompt, 0
    return score, 0


class _CloseWatcher(QObject):
    """Calls `callback` when the watched window closes."""

    def __init__(self, window: QObject, callback: Any) -> None:
        super().__init__(window)
        self._callback = callback
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Close:
            self._callback()
        return False


class ContinuePanel(QWidget):
    """Continue controls over a Document (and optionally the canvas for selection/playhead)."""

    audition_requested = Signal(object)   # Score: the piece with the selected variation
    status_message = Signal(str)
    continuation_added = Signal(list)     # ids of the notes now pending in the document

    def __init__(self, document: Any, canvas: Any = None, *, model_panel: ModelPanel | None = None,
                 sampling_panel: SamplingPanel | None = None,
                 confidence_view: ConfidenceView | None = None, settings: Any = None,
                 cache: BundleCache | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.canvas = canvas
        self.model_panel = model_panel or ModelPanel(self, settings=settings)
        self.sampling_panel = sampling_panel or SamplingPanel(self)
        self.confidence_view = confidence_view or ConfidenceView(self)
        for child in (self.model_panel, self.sampling_panel, self.confidence_view):
            if child.parent() is self:
                child.hide()  # not laid out here; install_continue docks them
        self.worker = ContinueWorker(cache, self)
        self.preview_updates = 0            # streaming previews shown (tests count them)
        self._job: ContinueJob | None = None
        self._last_job: ContinueJob | None = None
        self._result: ContinueResult | None = None
        self._selected = 0
        self._pending_index: int | None = None  # undo-stack index right after our push
        self._pending_variation: int | None = None
        self._shut_down = False
        self._swapping = False                  # True while we undo/redo our own command

        layout = QVBoxLayout(self)
        buttons = QHBoxLayout()
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Let the model continue the prompt (Ctrl+Return)")
        self.continue_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.stop_button = QPushButton("Stop")
        self.reroll_button = QPushButton("Re-roll")
        self.reroll_button.setToolTip("Remove this continuation and try again with a new seed")
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Keep this continuation as ordinary notes")
        for button in (self.continue_button, self.stop_button, self.reroll_button,
                       self.accept_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.progress_bar = QProgressBar(minimum=0, maximum=1000, value=0)
        self.progress_bar.setTextVisible(False)
        layout.addWidget(self.progress_bar)

        browse = QHBoxLayout()
        self.previous_button = QPushButton("<")
        self.previous_button.setToolTip("Previous variation")
        self.variation_label = QLabel("No variations yet")
        self.variation_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.next_button = QPushButton(">")
        self.next_button.setToolTip("Next variation")
        self.audition_button = QPushButton("Audition")
        for widget in (self.previous_button, self.variation_label, self.next_button,
                       self.audition_button):
            browse.addWidget(widget)
        layout.addLayout(browse)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.continue_button.clicked.connect(self.continue_)
        self.stop_button.clicked.connect(self.stop)
        self.reroll_button.clicked.connect(self.reroll)
        self.accept_button.clicked.connect(self.accept)
        self.previous_button.clicked.connect(lambda: self.select_variation(self._selected - 1))
        self.next_button.clicked.connect(lambda: self.select_variation(self._selected + 1))
        self.audition_button.clicked.connect(self.audition)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.loaded.connect(self.model_panel.set_device_in_use)
        self.worker.preload_failed.connect(self._on_preload_failed)
        self.model_panel.bundle_changed.connect(lambda _info: self.preload())
        self.model_panel.device_changed.connect(lambda _device: self.preload())

        self._key_timer = QTimer(self, singleShot=True, interval=300)
        self._key_timer.timeout.connect(self.update_estimated_key)
        self._document_connections: list[tuple[Any, Any]] = []
        for name in ("notes_added", "notes_removed", "notes_changed", "reset"):
            signal = getattr(document, name, None)
            if signal is not None:
                self._document_connections.append((signal, self._on_document_changed))
        stack = getattr(document, "undo_stack", None)
        if stack is not None:
            self._document_connections.append((stack.indexChanged, self._on_undo_index_changed))
        for signal, slot in self._document_connections:
            signal.connect(slot)
        self.sampling_panel.stay_in_key.toggled.connect(lambda _on: self.update_estimated_key())
        self.update_estimated_key()  # stay in key is on from the start: show the key at once
        self._update_buttons()
        self.preload()  # the first Continue then finds the model loaded

    # ------------------------------------------------------------ state
    def is_running(self) -> bool:
        return self._job is not None

    def variation_count(self) -> int:
        return self._result.variation_count if self._result is not None else 0

    def selected_variation(self) -> int:
        return self._selected

    def result(self) -> ContinueResult | None:
        return self._result

    def _has_pending(self) -> bool:
        """Our continuation is the newest undo step (so swapping or removing it is safe)."""
        stack = self.document.undo_stack
        return (self._pending_index is not None and stack.index() == self._pending_index
                and stack.index() > 0 and stack.text(stack.index() - 1) == COMMAND_TEXT)

    def _update_buttons(self) -> None:
        running = self.is_running()
        has_variations = self.variation_count() > 0
        pending = self._has_pending()
        self.continue_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        # Re-roll replaces the pending continuation (or retries after a stop/error).
        self.reroll_button.setEnabled(not running and self._last_job is not None
                                      and (pending or self._result is None))
        self.accept_button.setEnabled(not running and bool(self.document.generated_ids()))
        many = not running and self.variation_count() > 1
        self.previous_button.setEnabled(many and self._selected > 0)
        self.next_button.setEnabled(many and self._selected < self.variation_count() - 1)
        self.audition_button.setEnabled(not running and has_variations)
        if has_variations:
            self.variation_label.setText(f"Variation {self._selected + 1} / {self.variation_count()}")
        else:
            self.variation_label.setText("No variations yet")

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_message.emit(text)

    def update_estimated_key(self) -> None:
        """Show the key of the current prompt in the sampling panel."""
        try:
            prompt, _ = self._prompt()
            key = estimate_key(prompt)
        except (PromptError, ValueError):
            key = None
        self.sampling_panel.set_estimated_key(key)

    # ------------------------------------------------------------ actions
    def preload(self) -> None:
        """Load the selected bundle ahead of Continue (errors show on the model card)."""
        info = self.model_panel.selected_bundle()
        if info is not None and not self._shut_down:
            self.worker.preload(info.path, self.model_panel.device())

    def _prompt(self) -> tuple[Score, int]:
        source = self.sampling_panel.prompt_source_value()
        selected = None
        playhead = 0
        if self.canvas is not None:
            if source == "selection":
                selected = list(self.canvas.selected_notes())
            playhead = int(getattr(self.canvas, "playhead_tick", 0) or 0)
        return build_prompt(self.document.score(), source, selected, playhead)

    def _continuation_track(self) -> int:
        tracks = self.document.tracks() if hasattr(self.document, "tracks") else []
        return next((i for i, t in enumerate(tracks) if not t.is_drum), 0)

    def continue_(self) -> None:
        """Continue the prompt with a fresh job (a pending continuation is accepted first:
        continuing from it means keeping it)."""
        if self.is_running() or self._shut_down:
            return
        if self._has_pending():
            self.document.accept_generated()
        self._pending_index = None
        try:
            prompt, offset = self._prompt()
        except PromptError as error:
            self._fail(str(error))
            return
        if self.sampling_panel.stay_in_key.isChecked():
            self.sampling_panel.set_estimated_key(estimate_key(prompt))
        self._start(prompt, offset, self.sampling_panel.next_seed())

    def reroll(self) -> None:
        """Remove the pending continuation and continue the same prompt with a new seed."""
        if self.is_running() or self._last_job is None:
            return
        job = self._last_job
        if self._has_pending():
            self._swapping = True
            self.document.undo_stack.undo()
            self._swapping = False
        self._pending_index = None
        self._start(job.prompt, job.offset, self.sampling_panel.next_seed(fresh=True))

    def _start(self, prompt: Score, offset: int, seed: int) -> None:
        info = self.model_panel.selected_bundle()
        if info is None:
            self._fail("Choose a model in the model panel first.")
            return
        job = ContinueJob(info.path, self.model_panel.device(), prompt,
                          self.sampling_panel.option_values(seed), offset,
                          self._continuation_track())
        self._job = self._last_job = job
        self._result = None
        self._selected = 0
        self.preview_updates = 0
        self.progress_bar.setValue(0)
        self.confidence_view.clear()
        self._say(f"Continuing with {info.name} (seed {seed})...")
        self._update_buttons()
        self.worker.start(job)

    def stop(self) -> None:
        """Ask the running job to stop; it ends within ~100 ms and keeps what it made."""
        if self.is_running():
            self.worker.request_stop()
            self._say("Stopping...")

    def accept(self) -> None:
        if self.is_running():
            return
        self.document.accept_generated()
        self._pending_index = None
        self._result = None
        self._last_job = None
        self.confidence_view.clear()
        self._say("Continuation accepted.")
        self._update_buttons()

    def select_variation(self, index: int) -> None:
        """Show variation `index`: it replaces the pending continuation (one undo step),
        or, when the musician has edited since, is shown as a preview."""
        if self._result is None or self.is_running():
            return
        if not 0 <= index < self._result.variation_count:
            return
        self._selected = index
        notes = self._result.new_notes[index]
        if self._has_pending() and self._pending_variation != index:
            self._swapping = True
            try:
                self.document.undo_stack.undo()
                self._add_pending(index)
            finally:
                self._swapping = False
        elif self._pending_variation != index:
            self.document.set_preview(notes, self._result.job.track)
        else:
            self.document.set_preview(None)
        self._show_confidence()
        self._update_buttons()

    def audition(self) -> None:
        """Emit `audition_requested` with the piece as it would be with this variation."""
        if self._result is None:
            return
        score = self.document.score(include_generated=True)
        if self._pending_variation != self._selected or not self._has_pending():
            score = score.copy()
            track = min(self._result.job.track, len(score.tracks) - 1) if score.tracks else 0
            if not score.tracks:
                score.tracks.append(Track("Continuation", 0, False, []))
            score.tracks[track].notes = sorted(score.tracks[track].notes
                                               + self._result.new_notes[self._selected])
        self.audition_requested.emit(score)

    def _add_pending(self, index: int) -> None:
        assert self._result is not None
        notes = self._result.new_notes[index]
        ids = self.document.add_generated(notes, self._result.job.track, text=COMMAND_TEXT)
        self._pending_index = self.document.undo_stack.index() if ids else None
        self._pending_variation = index if ids else None
        self.document.set_preview(None)
        if ids:
            self.continuation_added.emit(ids)

    def _on_document_changed(self, *_args: Any) -> None:
        if not self._shut_down and self.sampling_panel.stay_in_key.isChecked():
            self._key_timer.start()  # re-estimate the key once edits settle

    def _on_undo_index_changed(self, index: int) -> None:
        """Ctrl+Z of our continuation ends its variations session."""
        if self._shut_down:
            return
        if self._swapping or self._pending_index is None:
            self._update_buttons()
            return
        if index < self._pending_index:
            self._pending_index = None
            self._pending_variation = None
            self._result = None
            self.document.set_preview(None)
            self.confidence_view.clear()
        self._update_buttons()

    # ------------------------------------------------------------ worker signals
    def _on_progress(self, progress: ContinueProgress) -> None:
        if progress.job is not self._job:
            return  # a late message from a job that was replaced
        self.preview_updates += 1
        notes = progress.new_notes[self._selected] if progress.new_notes else []
        self.document.set_preview(notes, progress.job.track)
        self.progress_bar.setValue(int(progress.fraction * 1000))

    def _on_finished(self, result: ContinueResult) -> None:
        if result.job is not self._job:
            return
        self._job = None
        self.progress_bar.setValue(1000 if not result.cancelled else self.progress_bar.value())
        self._pending_variation = None
        if not any(result.new_notes):
            self.document.set_preview(None)
            self._result = None
            self._say("Stopped before any note was made." if result.cancelled
                      else "The model made no notes; try again or raise the temperature.")
            self._update_buttons()
            return
        self._result = result
        self._selected = next(i for i, notes in enumerate(result.new_notes) if notes)
        try:
            self._add_pending(self._selected)
        except ValueError as error:  # the document refused a note (DocumentError)
            self.document.set_preview(None)
            self._result = None
            self._fail(f"The continuation could not be added: {error}")
            return
        count = len(result.new_notes[self._selected])
        verb = "Stopped; kept" if result.cancelled else "Added"
        self._say(f"{verb} {count} notes ({result.tokens_generated} tokens in "
                  f"{result.seconds:.1f} s on {result.device}). Ctrl+Z removes them.")
        self._show_confidence()
        self._update_buttons()

    def _on_failed(self, job: ContinueJob, message: str) -> None:
        if job is not self._job:
            return
        self._job = None
        self.document.set_preview(None)
        self.progress_bar.setValue(0)
        self._update_buttons()
        self._fail(message)

    def _on_preload_failed(self, message: str) -> None:
        self.model_panel.set_device_in_use(f"could not load: {message}")

    def _fail(self, message: str) -> None:
        self._say(message)
        self._update_buttons()
        show_error(self.window() if self.isVisible() else None, message)

    def _show_confidence(self) -> None:
        if self._result is None:
            return
        self.confidence_view.show_variations(self._result.confidences, self._result.new_notes,
                                             self.document.meter() if hasattr(self.document, "meter")
                                             else self.document.score(), self._selected)

    # ------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop and join every worker thread (called when the window closes)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._key_timer.stop()
        for signal, slot in self._document_connections:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already gone at application exit
                pass
        self.worker.stop()
        self._job = None
        try:
            self.document.set_preview(None)
        except RuntimeError:  # the document is already gone at application exit
            pass

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)


def install_continue(window: Any) -> ContinuePanel:
    """Dock the Continue side into the main window: one line of wiring for the lead."""
    settings = None
    try:
        from composer_app import settings as settings_module

        settings = settings_module
    except ImportError:
        pass
    panel = ContinuePanel(window.document, getattr(window, "canvas", None), settings=settings)
    window.add_dock(panel.model_panel, "Model", Qt.DockWidgetArea.RightDockWidgetArea)
    window.add_dock(panel.sampling_panel, "Sampling", Qt.DockWidgetArea.RightDockWidgetArea)
    window.add_dock(panel, "Continue", Qt.DockWidgetArea.RightDockWidgetArea)
    window.add_dock(panel.confidence_view, "Confidence", Qt.DockWidgetArea.BottomDockWidgetArea)
    for child in (panel.model_panel, panel.sampling_panel, panel.confidence_view):
        child.show()
    status = getattr(window, "status", None)
    if callable(status):
        panel.status_message.connect(status)
    closing = getattr(window, "closing", None)  # emitted once a close is confirmed
    if closing is not None:
        closing.connect(panel.shutdown)
    else:
        panel._close_watcher = _CloseWatcher(window, panel.shutdown)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(panel.shutdown)
    return panel

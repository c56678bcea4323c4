"""What a Continue or Fill job reads, and the key the sampling panel shows for it.

Two collaborators of `panel.ContinuePanel`, each with a typed interface:

- `JobInputs` turns the document, the timeline and the selection into a job's input: the
  prompt cut from the score (whole, selection, or up to the playhead; see
  `prompt.build_prompt`): Continue's over the active track (`ml_core.tracks`), Fill's over
  the audible tracks, drum tracks only for a drum target; the
  track the continuation goes into (the active one); the room a continuation from inside
  the piece makes (replace or shift what follows the playhead); the bars Fill regenerates
  (of the selected notes, else of the loop range).
- `KeyEstimator` shows the prompt's estimated key and the control values "follow the
  prompt" would force in the sampling panel, at once or built and read on a worker thread
  once edits settle (a newer estimate drops an older one's late answer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from composer_app.continuation.controls import ModelAbilities
from composer_app.continuation.prompt import PromptError, build_prompt
from composer_app.continuation.sampling_panel import SamplingPanel
from composer_app.document.document import Document
from composer_app.model.jobs import MakeRoom
from composer_app.model.selection import Selection
from composer_app.model.timeline import Timeline
from composer_app.workers import threads
from composer_app.workers.threads import WorkerSignals
from ml_core.keys import key_source, prompt_key
from ml_core.music import Note, Score


class KeyEstimates(WorkerSignals):
    """Brings a key estimate made on a worker thread back to the GUI thread."""

    done = Signal(int, object, object, object)   # number, key, its source, followed controls


def _estimate(prompt: Score | None, tokenizer: Any) -> tuple[Any, str, Any]:
    """(key, "written" | "estimated", followed controls) of a prompt: what the sampling
    panel shows."""
    try:
        key = prompt_key(prompt) if prompt is not None else None
        source = key_source(prompt) if key is not None else "estimated"
    except ValueError:
        key, source = None, "estimated"
    followed = None
    if prompt is not None and tokenizer is not None:
        from ml_core.sampling_rules import followed_controls

        followed = followed_controls(tokenizer, prompt)
    return key, source, followed


class JobInputs:
    """The prompt, tracks, target track, room and Fill span a job reads."""

    def __init__(self, document: Document, sampling_panel: SamplingPanel,
                 timeline: Timeline | None = None, selection: Selection | None = None) -> None:
        self.tracks_aware = False   # the model reads tracks (remi_tracks): the others as context
        self.document = document
        self.sampling_panel = sampling_panel
        self.timeline = timeline
        self.selection = selection

    def prompt(self, tracks_wanted: list[bool] | None = None) -> tuple[Score, int]:
        """(prompt starting at tick 0, where it starts in the document) of a Continue job, or
        over `tracks_wanted` (the key shown: `continue_tracks`); PromptError."""
        source = self.sampling_panel.prompt_source_value()
        if tracks_wanted is None and self.over_tracks() and source == "selection":
            raise PromptError("Continuing over tracks reads the whole score or the music up to "
                              "the playhead: choose one of those prompts.")
        selected = self.selected_notes() if source == "selection" else None
        wanted = tracks_wanted or (self.prompt_tracks() if self.over_tracks()
                                   else self.continue_tracks())
        return build_prompt(self.document.score(tracks_wanted=wanted), source, selected,
                            self.playhead())

    def target(self) -> str:
        """Continue's target: "active" or "all" (the sampling panel's Tracks choice)."""
        return self.sampling_panel.target_value()

    def over_tracks(self) -> bool:
        """A Continue job reads the audible tracks as they are (each note keeps its track):
        every audible track is continued, or the model reads the others as context."""
        return self.target() == "all" or self.tracks_aware

    def prompt_tracks(self) -> list[bool]:
        """The tracks Fill reads: the audible ones (unmuted, or the soloed: the chosen
        ones); drum tracks only when the fill goes into a drum track."""
        infos = self.document.track_infos()
        target_is_drum = infos[self.continuation_track()].is_drum
        return [heard and (target_is_drum or not info.is_drum)
                for heard, info in zip(self.document.audible_tracks(), infos, strict=True)]

    def continue_tracks(self) -> list[bool]:
        """The tracks Continue reads: the active track alone when it has notes (it continues
        from its own end, in its own register and density, and the sampling panel's Follow
        values are its own; `ml_core.tracks`, measured on bench/multitrack_continue.py),
        else `prompt_tracks` (an empty track takes up the audible music)."""
        target = self.continuation_track()
        if self.document.track_note_ids(target):
            return [index == target for index in range(self.document.track_count())]
        return self.prompt_tracks()

    def continuation_track(self) -> int:
        """The track the continuation is written into: the active track."""
        active = self.document.active_track
        return active if active < self.document.track_count() else 0

    def selected_notes(self) -> list[Note]:
        """The selected notes (the selection's ids still in the document), in time order."""
        if self.selection is None:
            return []
        return sorted(self.document.note(i) for i in self.selection.ids if i in self.document)

    def playhead(self) -> int:
        return self.timeline.playhead if self.timeline is not None else 0

    def make_room(self) -> MakeRoom | None:
        """Continuing from the playhead inside the piece: replace or shift what follows."""
        if self.sampling_panel.prompt_source_value() != "playhead" or self.timeline is None:
            return None
        playhead = self.timeline.playhead
        if any(note.start >= playhead for _, note in self.document.notes().values()):
            if self.sampling_panel.after_playhead_value() == "shift":
                return MakeRoom.shift(playhead)
            return MakeRoom.replace(playhead)
        return None

    def fill_span(self) -> tuple[int, int]:
        """The bars Fill regenerates, (first, end) from 0: those of the selected notes or
        those the loop range (dragged in the ruler) touches, whichever was chosen last (the
        musician's latest gesture); PromptError when neither is."""
        meter = self.document.meter()
        selected = self.selected_notes()
        loop = self.timeline.loop if self.timeline is not None else None
        if selected and (loop is None or self.selection.stamp > self.timeline.loop_stamp):
            first, last = min(n.start for n in selected), max(n.start for n in selected)
        elif loop is not None:
            first, end = loop
            last = max(first, end - 1)
        else:
            raise PromptError("Select notes, or drag a range in the ruler, to choose the bars "
                              "to fill.")
        return meter.bar_at(first)[0], meter.bar_at(last)[0] + 1


class KeyEstimator:
    """The key (and followed control values) of the current prompt, in the sampling panel."""

    def __init__(self, inputs: JobInputs, abilities: Callable[[], ModelAbilities],
                 parent: QObject) -> None:
        self.inputs = inputs
        self.sampling_panel = inputs.sampling_panel
        self.abilities = abilities                 # what the selected model can be asked now
        self.signals = KeyEstimates(parent)        # estimates made on a worker come back here
        self.signals.done.connect(self._on_estimated)
        self.number = 0                            # the newest estimate asked for
        self.thread: threading.Thread | None = None
        self.stopped = False

    def _tokenizer(self) -> Any:
        abilities = self.abilities()
        return abilities.tokenizer if abilities.controls else None

    def update(self) -> None:
        """Estimate on the GUI thread, now."""
        try:
            prompt, _ = self.inputs.prompt(self.inputs.continue_tracks())
        except (PromptError, ValueError):
            prompt = None
        self.number += 1   # an estimate in flight read an older prompt
        self._show(*_estimate(prompt, self._tokenizer()))

    def in_background(self) -> None:
        """As `update`, with the prompt built and read on a worker thread (a large piece
        takes tens of milliseconds); the GUI thread only captures the document."""
        self.number += 1
        inputs = self.inputs
        number, snapshot = self.number, inputs.document.snapshot()
        source, tracks_wanted = self.sampling_panel.prompt_source_value(), inputs.continue_tracks()
        selected = inputs.selected_notes() if source == "selection" else None
        playhead, tokenizer = inputs.playhead(), self._tokenizer()

        def run() -> None:
            try:
                prompt, _ = build_prompt(snapshot.score(tracks_wanted=tracks_wanted), source,
                                         selected, playhead)
            except (PromptError, ValueError):
                prompt = None
            key, key_from, followed = _estimate(prompt, tokenizer)
            try:
                self.signals.post("done", number, key, key_from, followed)
            except RuntimeError:   # the panel is gone (application exit)
                pass

        self.thread = threads.start(run, name="estimate-key", cancel=threading.Event())

    def stop(self) -> None:
        """Drop the answer of an estimate in flight and wait for its thread (shutdown)."""
        self.stopped = True
        self.number += 1
        if self.thread is not None:
            threads.stop(self.thread, timeout=5.0)
            self.thread = None

    def _on_estimated(self, number: int, key: Any, source: str, followed: Any) -> None:
        if number == self.number and not self.stopped:
            self._show(key, source, followed)

    def _show(self, key: Any, source: str, followed: Any) -> None:
        self.sampling_panel.set_estimated_key(key, source)
        self.sampling_panel.set_followed(followed)

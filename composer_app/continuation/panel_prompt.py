"""What a Continue or Fill job reads: the prompt, its tracks, its target and the room it makes.

`PromptSources` is the part of `panel.ContinuePanel` that turns the document and the
timeline and selection into a job's input: the prompt cut from the score (whole, selection, or up
to the playhead; see `prompt.build_prompt`) over the audible tracks, drum tracks only for a drum
target; the track the continuation goes into (the active one); the room a continuation
from inside the piece makes (replace or shift what follows the playhead); the bars Fill
regenerates (of the selected notes, else of the loop range); and the prompt's estimated
key and the control values "follow the prompt" would force, shown in the sampling panel.
It is a mixin: the panel owns the document, timeline, selection, sampling panel and model
abilities.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import Signal

from composer_app.continuation.prompt import PromptError, build_prompt
from composer_app.model.jobs import MakeRoom
from composer_app.workers import threads
from composer_app.workers.threads import WorkerSignals
from ml_core.keys import prompt_key
from ml_core.music import Note, Score


class KeyEstimates(WorkerSignals):
    """Brings a key estimate made on a worker thread back to the GUI thread."""

    done = Signal(int, object, object)   # estimate number, key, followed controls


def _estimate(prompt: Score | None, tokenizer: Any) -> tuple[Any, Any]:
    """(key, followed controls) of a prompt: what the sampling panel shows."""
    try:
        key = prompt_key(prompt) if prompt is not None else None
    except ValueError:
        key = None
    followed = None
    if prompt is not None and tokenizer is not None:
        from ml_core.generation import followed_controls

        followed = followed_controls(tokenizer, prompt)
    return key, followed


class PromptSources:
    """Mixin of `ContinuePanel`: the prompt and span a job reads, and the key shown."""

    def update_estimated_key(self) -> None:
        """Show the key of the current prompt in the sampling panel, and the control values
        "follow the prompt" would force."""
        try:
            prompt, _ = self._prompt()
        except (PromptError, ValueError):
            prompt = None
        self._estimate_number += 1   # an estimate in flight read an older prompt
        self._show_estimate(*_estimate(prompt,
                                       self.abilities.tokenizer
                                       if self.abilities.controls else None))

    def estimate_key_in_background(self) -> None:
        """As `update_estimated_key`, with the prompt built and read on a worker thread (a
        large piece takes tens of milliseconds); the GUI thread only captures the document.
        Runs once edits settle; a newer estimate drops an older one's late answer."""
        self._estimate_number += 1
        number, snapshot = self._estimate_number, self.document.snapshot()
        source, tracks_wanted = self.sampling_panel.prompt_source_value(), self._prompt_tracks()
        selected = self._selected_notes() if source == "selection" else None
        playhead = self._playhead()
        tokenizer = self.abilities.tokenizer if self.abilities.controls else None

        def run() -> None:
            try:
                prompt, _ = build_prompt(snapshot.score(tracks_wanted=tracks_wanted), source,
                                         selected, playhead)
            except (PromptError, ValueError):
                prompt = None
            key, followed = _estimate(prompt, tokenizer)
            try:
                self._estimates.post("done", number, key, followed)
            except RuntimeError:   # the panel is gone (application exit)
                pass

        self._estimate_thread = threads.start(run, name="estimate-key", cancel=threading.Event())

    def _stop_estimating(self) -> None:
        """Drop the answer of an estimate in flight and wait for its thread (shutdown)."""
        self._estimate_number += 1
        if self._estimate_thread is not None:
            threads.stop(self._estimate_thread, timeout=5.0)
            self._estimate_thread = None

    def _on_estimated(self, number: int, key: Any, followed: Any) -> None:
        if number == self._estimate_number and not self._shut_down:
            self._show_estimate(key, followed)

    def _show_estimate(self, key: Any, followed: Any) -> None:
        self.sampling_panel.set_estimated_key(key)
        self.sampling_panel.set_followed(followed)

    def _prompt(self) -> tuple[Score, int]:
        source = self.sampling_panel.prompt_source_value()
        selected = self._selected_notes() if source == "selection" else None
        return build_prompt(self.document.score(tracks_wanted=self._prompt_tracks()), source,
                            selected, self._playhead())

    def _prompt_tracks(self) -> list[bool]:
        """The tracks Continue reads: the audible ones (unmuted, or the soloed: the chosen
        ones); drum tracks only when the continuation goes into a drum track."""
        infos = self.document.track_infos()
        target_is_drum = infos[self._continuation_track()].is_drum
        return [heard and (target_is_drum or not info.is_drum)
                for heard, info in zip(self.document.audible_tracks(), infos, strict=True)]

    def _continuation_track(self) -> int:
        """The track the continuation is written into: the active track."""
        active = getattr(self.document, "active_track", 0)
        return active if active < self.document.track_count() else 0

    def _selected_notes(self) -> list[Note]:
        """The selected notes (the selection model's ids still in the document), in time order."""
        if self.selection is None:
            return []
        return sorted(self.document.note(i) for i in self.selection.ids if i in self.document)

    def _playhead(self) -> int:
        return self.timeline.playhead if self.timeline is not None else 0

    def _make_room(self, offset: int) -> MakeRoom | None:
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
        """The bars Fill regenerates, (first, end) from 0: those of the selected notes, else
        those the loop range (dragged in the ruler) touches."""
        meter = self.document.meter()
        selected = self._selected_notes()
        if selected:
            first, last = min(n.start for n in selected), max(n.start for n in selected)
        elif self.timeline is not None and self.timeline.loop is not None:
            first, end = self.timeline.loop
            last = max(first, end - 1)
        else:
            raise PromptError("Select notes, or drag a range in the ruler, to choose the bars to "
                              "fill.")
        return meter.bar_at(first)[0], meter.bar_at(last)[0] + 1

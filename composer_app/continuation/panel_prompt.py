"""What a Continue or Fill job reads: the prompt, its tracks, its target and the room it makes.

`PromptSources` is the part of `panel.ContinuePanel` that turns the document and the
canvas into a job's input: the prompt cut from the score (whole, selection, or up to the
playhead; see `prompt.build_prompt`) over the audible tracks, drum tracks only for a drum
target; the track the continuation goes into (the active one); the room a continuation
from inside the piece makes (replace or shift what follows the playhead); the bars Fill
regenerates (of the selected notes, else of the loop range); and the prompt's estimated
key and the control values "follow the prompt" would force, shown in the sampling panel.
It is a mixin: the panel owns the document, canvas, sampling panel and model abilities.
"""

from __future__ import annotations

from composer_app.continuation.prompt import PromptError, build_prompt
from composer_app.continuation.sampling_panel import estimate_key
from ml_core.music import Score


class PromptSources:
    """Mixin of `ContinuePanel`: the prompt and span a job reads, and the key shown."""

    def update_estimated_key(self) -> None:
        """Show the key of the current prompt in the sampling panel, and the control values
        "follow the prompt" would force."""
        try:
            prompt, _ = self._prompt()
        except (PromptError, ValueError):
            prompt = None
        try:
            key = estimate_key(prompt) if prompt is not None else None
        except ValueError:
            key = None
        self.sampling_panel.set_estimated_key(key)
        followed = None
        if prompt is not None and self.abilities.controls:
            from ml_core.generation import followed_controls

            followed = followed_controls(self.abilities.tokenizer, prompt)
        self.sampling_panel.set_followed(followed)

    def _prompt(self) -> tuple[Score, int]:
        source = self.sampling_panel.prompt_source_value()
        selected = None
        playhead = 0
        if self.canvas is not None:
            if source == "selection":
                selected = list(self.canvas.selected_notes())
            playhead = self.canvas.playhead_tick
        return build_prompt(self.document.score(tracks_wanted=self._prompt_tracks()), source,
                            selected, playhead)

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

    def _make_room(self, offset: int) -> tuple[str, int] | None:
        """Continuing from the playhead inside the piece: replace or shift what follows."""
        if self.sampling_panel.prompt_source_value() != "playhead" or self.canvas is None:
            return None
        playhead = self.canvas.playhead_tick
        if any(note.start >= playhead for _, note in self.document.notes().values()):
            return (self.sampling_panel.after_playhead_value(), playhead)
        return None

    def fill_span(self) -> tuple[int, int]:
        """The bars Fill regenerates, (first, end) from 0: those of the selected notes, else
        those the loop range (dragged in the ruler) touches."""
        meter = self.document.meter()
        selected = list(self.canvas.selected_notes()) if self.canvas is not None else []
        if selected:
            first, last = min(n.start for n in selected), max(n.start for n in selected)
        elif self.canvas is not None and self.canvas.timeline.loop is not None:
            first, end = self.canvas.timeline.loop
            last = max(first, end - 1)
        else:
            raise PromptError("Select notes, or drag a range in the ruler, to choose the bars to fill.")
        return meter.bar_at(first)[0], meter.bar_at(last)[0] + 1

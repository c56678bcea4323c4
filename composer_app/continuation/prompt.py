"""What a Continue continues from: the prompt cut out of the score.

Three sources, chosen in the sampling panel: the whole score, the selected notes (from
the bar the first one starts in), or everything before the playhead.
"""

from __future__ import annotations

from ml_core.music import Note, Score, Track


class PromptError(ValueError):
    """There is nothing to continue from (empty selection, playhead at the start...)."""


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
        pedal = sorted({span for t in meter.tracks if not t.is_drum for span in t.pedal},
                       key=lambda span: (span.start, span.end))   # it sustains them as played
        return meter.with_tracks([Track("Prompt", program, False, notes, [], pedal)]), offset
    if source == "playhead":
        if playhead <= 0:
            raise PromptError("Move the playhead after the notes to continue from.")
        prompt = score.sliced(0, playhead, shift=False, clip=True)
        if prompt.is_empty:
            raise PromptError("There are no notes before the playhead to continue from.")
        return prompt, 0
    return score, 0

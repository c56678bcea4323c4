"""Continue the parts of a multi-track score, each as itself.

Today's models read one stream of notes: given a melody over a bass, a continuation of the
whole score follows the fuller or lower part and starts after the last part ends. Here a
part is continued from ITS OWN end, with its own controls (texture, density, register),
key, Motif material and dynamics, and its new notes go into its own track:

- `continue_track`: the active track. With `context="alone"` the model reads that track
  only; with "merged" it reads every pitched track cut at the active track's end, while the
  controls, the start, the Motif bias and the dynamics follow the active track (a `focus`
  for `ml_core.generation`). DEFAULT_CONTEXT was chosen on `bench/multitrack_continue.py`
  (docs/QUALITY.md): with single-stream models the merged prompt pulls the register and
  density toward the other parts.
- `continue_tracks`: every audible pitched track (or the chosen ones), one generation per
  track, each continued from its own end to one common end bar.

A model with the tokenizer that knows tracks (`remi_tracks`) reads the other parts as
accompaniment instead: `ml_core.multitrack` (the CLI picks it for such a bundle).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ml_core.generation import GenerationResult, at_resolution, continue_score, target_tick
from ml_core.music import Note, Score
from ml_core.options import GenerationError, GenerationOptions

TRACK_MODES = ("active", "all")
CONTEXTS = ("alone", "merged")
DEFAULT_CONTEXT = "alone"


def pitched_tracks(score: Score) -> list[int]:
    """The indices of the tracks a model can continue: pitched, with notes."""
    return [i for i, t in enumerate(score.tracks) if not t.is_drum and t.notes]


def track_prompt(score: Score, index: int, context: str = DEFAULT_CONTEXT
                 ) -> tuple[Score, Score | None]:
    """(prompt, focus) continuing track `index`: the track alone (focus None), or every
    pitched track cut at that track's end with the track itself as the focus."""
    if context not in CONTEXTS:
        raise GenerationError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    if not 0 <= index < len(score.tracks):
        raise GenerationError(f"there is no track {index} (the score has {len(score.tracks)})")
    track = score.tracks[index]
    if track.is_drum:
        raise GenerationError(f"track {index} ({track.name or 'unnamed'}) is a drum track")
    own = score.with_tracks([track.emptied(list(track.notes))])
    if context == "alone":
        return own, None
    end = own.end_tick
    others = score.with_tracks([t for t in score.tracks if not t.is_drum])
    return others.sliced(0, end, shift=False, clip=True) if end else own, own


def bars_until(own: Score, end_tick: int) -> int:
    """How many bars a part that ends at `own.end_tick` continues to reach `end_tick` (a
    bar line), at least 1."""
    first_free = own.bar_at(own.next_bar_start(own.end_tick))[0] if own.end_tick else 0
    return max(1, own.bar_at(end_tick)[0] - first_free)


def _with_new(score: Score, new: dict[int, list[Note]]) -> Score:
    result = score.copy()
    for index, notes in new.items():
        result.tracks[index].notes = sorted(result.tracks[index].notes + notes)
    return result


def continue_track(bundle: Any, score: Score, index: int,
                   options: GenerationOptions | None = None,
                   cancel: threading.Event | None = None, *,
                   context: str = DEFAULT_CONTEXT, bars: int | None = None) -> GenerationResult:
    """Continue track `index` of `score` from its own end (`bars` overrides the options'
    length). The result's scores are `score` with the new notes in that track; its
    new_notes are at `score`'s resolution."""
    options = (options or GenerationOptions()).validated()
    prompt, focus = track_prompt(score, index, context)
    if not prompt.tracks or not score.tracks[index].notes:
        raise GenerationError(f"track {index} has no notes to continue")
    if bars is not None:
        options = replace(options, bars=bars)
    result = continue_score(bundle, prompt, options, cancel, focus=focus)
    new = [at_resolution(notes, score.ticks_per_quarter) for notes in result.new_notes]
    return replace(result, scores=[_with_new(score, {index: notes}) for notes in new],
                   new_notes=new, extra={**result.extra, "track": index})


def continue_tracks(bundle: Any, score: Score, tracks: Sequence[int] | None = None,
                    options: GenerationOptions | None = None,
                    cancel: threading.Event | None = None, *,
                    context: str = DEFAULT_CONTEXT) -> GenerationResult:
    """Continue every track in `tracks` (default: every pitched track with notes), each from
    its own end to the bar `options.bars` bars after the score's end, one generation per
    track. Variation v of the result holds variation v of every track; new_notes lists
    every new note of a variation, `extra["per_track"]` the new notes per track."""
    options = (options or GenerationOptions()).validated()
    chosen = list(pitched_tracks(score) if tracks is None else tracks)
    if not chosen:
        raise GenerationError("the score has no pitched track with notes to continue")
    end = target_tick(score.with_tracks([score.tracks[i] for i in chosen]), options.bars)
    per_track: dict[int, list[list[Note]]] = {}
    parts: list[GenerationResult] = []
    for index in chosen:
        own = score.with_tracks([score.tracks[index]])
        part = continue_track(bundle, score, index, options, cancel, context=context,
                              bars=bars_until(own, end))
        parts.append(part)
        per_track[index] = part.new_notes
        if part.cancelled:
            break
    rows = len(parts[0].new_notes)
    scores = [_with_new(score, {i: notes[v] for i, notes in per_track.items()})
              for v in range(rows)]
    first = parts[0]
    return GenerationResult(
        scores, [sorted(n for notes in per_track.values() for n in notes[v]) for v in range(rows)],
        [[c for part in parts for c in part.confidences[v]] for v in range(rows)],
        sum(p.tokens_generated for p in parts), sum(p.seconds for p in parts),
        any(p.cancelled for p in parts), first.seed, first.key,
        {"per_track": per_track})

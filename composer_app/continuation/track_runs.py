"""Jobs over several tracks, run on the worker thread: which `ml_core` function a job needs.

Qt-free; `worker.ContinueWorker` calls `run` with the loaded bundle. A model that knows
tracks (`ml_core.multitrack.knows_tracks`: the remi_tracks tokenizer) reads the other
tracks as accompaniment:

- Continue, target "active": `multitrack.continue_active` (the active track from its own
  end, the others as context);
- Continue, target "all": `multitrack.continue_all` over the pitched tracks with notes;
- Fill: `multitrack.fill_track` (the active track's span given every other track);
- Add part: `multitrack.add_part` (a new track, the job's `track`, over its bars).

A single-stream model continues "all" with `ml_core.tracks.continue_tracks` (one generation
per track, each from its own end) and does everything else the single-track way (`run`
answers None: the worker goes on with `ml_core.generation`). With `progress`, the
`multitrack` jobs stream: the notes made so far come as `ContinueProgress` snapshots (every
track's notes together, as the preview shows them) while the job runs; `continue_tracks`
gives its notes at the end only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from composer_app.model.jobs import ContinueJob, ContinueProgress, ContinueResult
from ml_core.music import Note
from ml_core.options import GenerationError, GenerationOptions

BASS_PROGRAMS = range(32, 40)
HARMONY_PROGRAMS = (*range(16, 24), *range(48, 56), *range(88, 96))


def part_role(role: str, program: int) -> str:
    """The `multitrack.add_part` role of a PartRequest: "program" (a chosen instrument)
    plays the role its family usually plays (bass, harmony for organs, string ensembles
    and pads, else a counter-melody)."""
    if role != "program":
        return role
    if program in BASS_PROGRAMS:
        return "bass"
    return "harmony" if program in HARMONY_PROGRAMS else "counter"


def run(bundle: Any, job: ContinueJob, options: GenerationOptions,
        cancel: threading.Event,
        progress: Callable[[ContinueProgress], None] | None = None) -> Any:
    """The GenerationResult of a job over tracks (its `extra["per_track"]`: track index ->
    new notes per variation), or None when the single-track path applies. `progress` (on
    the worker thread): the notes so far of a `multitrack` job, while it runs."""
    from ml_core import multitrack, tracks

    streamed = {} if progress is None else {
        "on_update": lambda partial: progress(to_progress(job, partial))}
    aware = multitrack.knows_tracks(bundle.tokenizer)
    score = job.prompt
    if job.part is not None:
        if not aware:
            raise GenerationError(not_track_aware(getattr(bundle, "name", "this model")))
        # A role picks the voice the model learnt for it (a bass: the lowest part of an
        # ensemble); the track plays the chosen instrument either way (`PartRequest.program`).
        part = job.part
        program = part.program if part.role == "program" else None
        return multitrack.add_part(bundle, score, part_role(part.role, part.program),
                                   program=program, bars=part.bars, options=options,
                                   cancel=cancel, **streamed)
    if job.fill_bars is not None:
        if not aware:
            return None
        return multitrack.fill_track(bundle, score, job.track, *job.fill_bars, options, cancel,
                                     **streamed)
    if job.target == "all":
        chosen = tracks.pitched_tracks(score)
        if aware:
            return multitrack.continue_all(bundle, score, chosen, options, cancel, **streamed)
        return tracks.continue_tracks(bundle, score, chosen, options, cancel)
    if aware and 0 <= job.track < len(score.tracks) and score.tracks[job.track].notes \
            and not score.tracks[job.track].is_drum:
        return multitrack.continue_active(bundle, score, job.track, options, cancel,
                                          **streamed)
    return None


def not_track_aware(name: str) -> str:
    """The one line saying why a model cannot add a part, naming the models that can."""
    from ml_core.bundle import find_bundles

    aware = [info.name for info in find_bundles()
             if info.config.get("tokenizer", {}).get("name") == "remi_tracks"]
    if aware:
        return (f"'{name}' reads one stream of notes: Add part needs a model that knows tracks; "
                f"choose {' or '.join(repr(n) for n in aware[:3])} in the Model panel.")
    return (f"'{name}' reads one stream of notes: Add part needs a model trained with the "
            "remi_tracks tokenizer (composer-train prepare --tokenizer remi_tracks).")


def _placed(job: ContinueJob, result: Any) -> tuple[list[list[Note]], list[list[int]]]:
    """(each variation's new notes in document ticks, the track of each)."""
    per_track: dict[int, list[list[Note]]] = result.extra.get("per_track") or {}
    new_notes: list[list[Note]] = []
    note_tracks: list[list[int]] = []
    for row in range(len(result.new_notes)):
        placed = sorted((Note(n.pitch, n.start + job.offset, n.duration, n.velocity), track)
                        for track, variations in per_track.items()
                        if row < len(variations) for n in variations[row])
        new_notes.append([note for note, _ in placed])
        note_tracks.append([track for _, track in placed])
    return new_notes, note_tracks


def to_progress(job: ContinueJob, partial: Any) -> ContinueProgress:
    """A GenerationResult of the notes so far (`multitrack`'s `on_update`) as the worker's
    `ContinueProgress`."""
    new_notes, _ = _placed(job, partial)
    return ContinueProgress(job, new_notes, [list(c) for c in partial.confidences],
                            partial.tokens_generated, float(partial.extra.get("fraction", 0.0)))


def to_result(job: ContinueJob, result: Any, device: str, seconds: float) -> ContinueResult:
    """A GenerationResult over tracks as the worker's `ContinueResult`: each variation's new
    notes in document ticks, with the track of each (`note_tracks`)."""
    new_notes, note_tracks = _placed(job, result)
    return ContinueResult(job, new_notes, [list(c) for c in result.confidences],
                          result.tokens_generated, bool(result.cancelled), device, seconds,
                          list(result.scores), note_tracks)

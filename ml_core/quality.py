"""Continuation quality: does a continuation (or a filled span) follow its prompt?

The figures of `bench/continuation_quality.py` (issue 13) and `bench/performed_prompts.py`
(issue 19), here so that both benchmarks (and the app, if it wants a quick check of a
take) measure the same way. Everything reads notes of pitched tracks, ticks at any
resolution (beats come from the score's meter).

Per continuation (`continuation_figures`):
- `in_scale`: share of new notes whose pitch class is in the prompt's estimated key;
- `prompt_npo`, `new_npo`: notes per onset (1.0 = a single line; onsets within 35 ms,
  a chord played in, count as one);
- `density_ratio`: new notes per beat / the prompt's notes per beat (its beats counted
  from the beat of its first note);
- `register_shift`: |median new pitch - median prompt pitch|, semitones;
- `ioi_overlap`: overlapping area of the two inter-onset-interval histograms;
- `gap_beats`: beats from the prompt's end (when the notes of its last onset end) to the
  first new onset; negative = the continuation started before the prompt ended.
Against the true next bars of a piece (`closeness`): overlapping area of the pitch-class,
pitch-range (3-semitone bands) and IOI distributions.

`criteria(rows)` turns per-prompt figures into issue 13's pass/fail checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml_core.keys import estimate_key, in_scale_share
from ml_core.music import Note, Score, beat_ticks, sustained

IOI_BINS = 17            # inter-onset intervals in sixteenths: 1..16, and 17 = longer
PITCH_BAND = 3           # semitones per bin of the pitch-range distribution
SINGLE_LINE_NPO = 1.2    # issue 13: single-line prompts get continuations under this
DENSITY_BOUNDS = (0.67, 1.5)
REGISTER_BOUND = 5.0     # semitones
IN_SCALE_BOUND = 0.90
GAP_BOUND = 1.0          # beats


def pitched_notes(score: Score) -> list[Note]:
    return sorted(n for t in score.tracks if not t.is_drum for n in t.notes)


def notes_per_onset(notes: Sequence[Note], window: float = 0) -> float:
    """Notes per onset; a note starting within `window` ticks of its onset's first note
    joins that onset (a chord played in: `onset_window`)."""
    starts = sorted(n.start for n in notes)
    if not starts:
        return 0.0
    onsets, first = 1, starts[0]
    for start in starts[1:]:
        if start - first > window:
            onsets, first = onsets + 1, start
    return len(notes) / onsets


def onset_window(score: Score, tick: int) -> float:
    """ONSET_WINDOW_S (ml_core.motif) in ticks of `score` at `tick`."""
    from ml_core.motif import ONSET_WINDOW_S

    return ONSET_WINDOW_S * score.tempo_at(tick) / 60.0 * score.ticks_per_quarter


def is_single_line(notes: Sequence[Note]) -> bool:
    """At most one note per onset (a melody; chords and voices make it not single)."""
    return bool(notes) and notes_per_onset(notes) == 1.0


def beats_between(score: Score, start: int, end: int) -> float:
    """Beats (music.beat_ticks of the meter in force) between two ticks of `score`."""
    total, tick = 0.0, start
    while tick < end:
        segment_end = min(end, score.bar_start(score.bar_at(tick)[0] + 1))
        total += (segment_end - tick) / beat_ticks(score.time_signature_at(tick),
                                                   score.ticks_per_quarter)
        tick = segment_end
    return total


def ioi_histogram(notes: Sequence[Note], ticks_per_quarter: int) -> np.ndarray:
    """Normalised histogram of the intervals between successive distinct onsets, in
    sixteenths (IOI_BINS bins, the last for anything longer); zeros when under two onsets."""
    onsets = np.unique([n.start for n in notes])
    histogram = np.zeros(IOI_BINS)
    if onsets.size < 2:
        return histogram
    sixteenths = np.rint(np.diff(onsets) / (ticks_per_quarter / 4)).astype(int)
    np.add.at(histogram, np.clip(sixteenths, 1, IOI_BINS) - 1, 1)
    return histogram / histogram.sum()


def pitch_class_distribution(notes: Sequence[Note]) -> np.ndarray:
    histogram = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)
    return histogram / histogram.sum() if histogram.sum() else histogram


def pitch_range_distribution(notes: Sequence[Note]) -> np.ndarray:
    histogram = np.bincount([n.pitch // PITCH_BAND for n in notes],
                            minlength=128 // PITCH_BAND + 1).astype(float)
    return histogram / histogram.sum() if histogram.sum() else histogram


def overlap(first: np.ndarray, second: np.ndarray) -> float:
    """Overlapping area of two normalised histograms (1 = the same, 0 = disjoint or empty)."""
    return float(np.minimum(first, second).sum())


def prompt_end(notes: Sequence[Note], score: Score | None = None) -> int:
    """When the notes of the prompt's last onset have ended (where Continue may start).
    With the `score` they come from, a chord played in is one onset and the sustain pedal
    holds a released note on (as Continue measures it)."""
    if score is not None:
        from ml_core.motif import onset_groups

        pedal = [span for t in score.tracks if not t.is_drum for span in t.pedal]
        return max(n.end for n in onset_groups(sustained(notes, pedal), score)[-1])
    last = max(n.start for n in notes)
    return max(n.end for n in notes if n.start == last)


@dataclass(frozen=True)
class Span:
    """Notes over a stretch of a score: what features compare."""

    notes: list[Note]
    beats: float


def span_of(score: Score, start: int, end: int) -> Span:
    """The pitched notes starting in [start, end) of `score` and the beats of that stretch."""
    return Span([n for n in pitched_notes(score) if start <= n.start < end],
                beats_between(score, start, end))


def compare(reference: Span, new: Span, key: tuple[int, str], ticks_per_quarter: int,
            window: float = 0) -> dict[str, float]:
    """Features of `new` music against `reference` (a prompt, or the true bars); onsets
    within `window` ticks are one onset when notes per onset are counted."""
    ref_density = len(reference.notes) / reference.beats if reference.beats else 0.0
    new_density = len(new.notes) / new.beats if new.beats else 0.0
    figures = {
        "in_scale": in_scale_share(new.notes, key),
        "prompt_npo": notes_per_onset(reference.notes, window),
        "new_npo": notes_per_onset(new.notes, window) if new.notes else float("nan"),
        "density_ratio": new_density / ref_density if ref_density else float("nan"),
        "register_shift": abs(float(np.median([n.pitch for n in new.notes]))
                              - float(np.median([n.pitch for n in reference.notes])))
        if new.notes and reference.notes else float("nan"),
        "ioi_overlap": overlap(ioi_histogram(reference.notes, ticks_per_quarter),
                               ioi_histogram(new.notes, ticks_per_quarter)),
    }
    return figures


def closeness(true: Span, new: Span, ticks_per_quarter: int) -> dict[str, float]:
    """How close new music's distributions are to the true bars' (overlapping areas)."""
    return {
        "true_pc_overlap": overlap(pitch_class_distribution(true.notes),
                                   pitch_class_distribution(new.notes)),
        "true_range_overlap": overlap(pitch_range_distribution(true.notes),
                                      pitch_range_distribution(new.notes)),
        "true_ioi_overlap": overlap(ioi_histogram(true.notes, ticks_per_quarter),
                                    ioi_histogram(new.notes, ticks_per_quarter)),
    }


def continuation_figures(prompt: Score, new_notes: Sequence[Note], continuation_end: int, *,
                         reference: Score | None = None,
                         truth: Score | None = None) -> dict[str, float]:
    """Figures of one continuation: `new_notes` (ticks of `prompt`) that were generated
    up to `continuation_end`. Features compare against `reference` (default: the prompt;
    a clean version of a perturbed prompt otherwise); the gap is measured from the end of
    the prompt the model was given. `truth`: the piece's true music after the prompt (same
    ticks as `prompt`), for closeness."""
    reference = reference or prompt
    end_of_prompt = min(prompt_end(pitched_notes(prompt), prompt), continuation_end)
    reference_notes = pitched_notes(reference)
    new_start = min((n.start for n in new_notes), default=None)
    new_span = Span(sorted(new_notes), beats_between(prompt, end_of_prompt, continuation_end))
    # The prompt's beats from the beat of its first note: a rest before it (an upbeat
    # written at the end of a full bar) is no part of its density.
    first = min((n.start for n in reference_notes), default=0)
    first_beat = first - reference.beat_at(first)[2]
    figures = compare(Span(reference_notes, beats_between(reference, first_beat, end_of_prompt)),
                      new_span,
                      estimate_key(reference), prompt.ticks_per_quarter,
                      onset_window(prompt, end_of_prompt))
    figures["gap_beats"] = float("nan") if new_start is None else \
        (new_start - end_of_prompt) / beat_ticks(prompt.time_signature_at(end_of_prompt),
                                                 prompt.ticks_per_quarter)
    figures["new_notes"] = float(len(new_notes))
    if truth is not None:
        figures.update(closeness(span_of(truth, end_of_prompt, continuation_end),
                                 new_span, prompt.ticks_per_quarter))
    return figures


def fill_figures(piece: Score, filled: Score, start: int, end: int) -> dict[str, float]:
    """Figures of a filled span [start, end) of `piece` (ticks): the new bars against the
    true bars, plus whether every note starting outside the span is unchanged."""
    outside = sorted((n.pitch, n.start, n.duration) for n in pitched_notes(piece)
                     if not start <= n.start < end)
    kept = sorted((n.pitch, n.start, n.duration) for n in pitched_notes(filled)
                  if not start <= n.start < end)
    true_span, new_span = span_of(piece, start, end), span_of(filled, start, end)
    figures = compare(true_span, new_span, estimate_key(piece), piece.ticks_per_quarter)
    figures.update(closeness(true_span, new_span, piece.ticks_per_quarter))
    figures["outside_unchanged"] = float(outside == kept)
    figures["new_notes"] = float(len(new_span.notes))
    return figures


def surroundings_density_ratio(piece: Score, start_bar: int, end_bar: int) -> float:
    """The density (notes per beat) of the bar before and the bar after bars `start_bar`
    .. `end_bar - 1` of `piece`, over the true bars' own: what a fill that keeps its
    surroundings' density would score as `density_ratio` (NaN where the true bars are
    empty). The baseline of the fill density check: Fill follows those bars' controls."""
    true = span_of(piece, piece.bar_start(start_bar), piece.bar_start(end_bar))
    around = [span_of(piece, piece.bar_start(max(0, start_bar - 1)), piece.bar_start(start_bar)),
              span_of(piece, piece.bar_start(end_bar), piece.bar_start(end_bar + 1))]
    around = [s for s in around if s.notes]
    if not true.notes or not around or not true.beats:
        return float("nan")
    density = sum(len(s.notes) for s in around) / sum(s.beats for s in around)
    return density / (len(true.notes) / true.beats)


def mean_figures(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-key mean over rows, ignoring NaN (a figure a take could not have)."""
    keys = sorted({k for row in rows for k in row})
    result = {}
    for k in keys:
        values = np.array([row.get(k, np.nan) for row in rows], dtype=float)
        result[k] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return result


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def criteria(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Issue 13's checks over per-prompt rows (figures averaged over seeds; `min_gap_beats`
    the earliest start over seeds; `single_line` whether the prompt is one line)."""
    single = [r for r in rows if r.get("single_line")]
    density = [DENSITY_BOUNDS[0] <= r["density_ratio"] <= DENSITY_BOUNDS[1] for r in rows]
    register = [r["register_shift"] <= REGISTER_BOUND for r in rows]
    in_scale = [r["in_scale"] for r in rows if np.isfinite(r["in_scale"])]
    gaps = [r["min_gap_beats"] for r in rows if np.isfinite(r["min_gap_beats"])]
    checks = {
        "single_line_stays_single": {"value":
                                     _share([r["new_npo"] <= SINGLE_LINE_NPO for r in single]),
                                     "bound": ">= 0.90", "prompts": len(single)},
        "density_ratio_in_bounds": {"value": _share(density), "bound": ">= 0.80"},
        "register_shift_in_bounds": {"value": _share(register), "bound": ">= 0.80"},
        "in_scale_mean": {"value": float(np.mean(in_scale)) if in_scale else float("nan"),
                          "bound": ">= 0.90"},
        "first_note_within_a_beat": {"value": _share([0 <= g <= GAP_BOUND for g in gaps]),
                                     "bound": ">= 0.90"},
        "never_before_prompt_end": {"value": _share([g >= -1e-9 for g in gaps]),
                                    "bound": "== 1.00"},
    }
    for name, check in checks.items():
        value, bound = check["value"], check["bound"]
        threshold = float(bound.split()[-1])
        check["pass"] = bool(np.isfinite(value) and (value >= threshold - 1e-9 if ">=" in bound
                                                     else abs(value - threshold) < 1e-9))
        checks[name] = check
    return checks


# ----------------------------------------------------------------------- benchmark runs
EXAMPLE_GROUP = "example"
# Held-out groups: music21 corpus collections whose pieces are single-line folk tunes,
# four-part chorales, and piano (or piano-and-voice) pieces.
HELD_OUT_GROUPS: dict[str, tuple[str, ...]] = {
    "folk": ("ryansMammoth", "oneills1850", "essenFolksong", "airdsAirs", "miscFolk"),
    "chorale": ("bach",),
    "piano": ("chopin", "beethoven", "mozart", "schubert", "schumann_robert", "schumann_clara",
              "joplin", "haydn", "liliuokalani", "beach"),
}
PROMPT_BARS = 4          # held-out prompts: the first bars of a piece
CONTINUATION_BARS = 8
FILL_BARS = (4, 6)       # held-out fills: these bars (from 0) of the piece's first 12


@dataclass
class Prompt:
    """One benchmark prompt: what the model is given, what features compare against, and
    for a held-out piece, the piece (its first PROMPT_BARS + CONTINUATION_BARS bars)."""

    name: str
    group: str
    score: Score                      # the prompt the model reads (480 ticks per quarter)
    reference: Score | None = None    # a clean version of a perturbed prompt (else the prompt)
    piece: Score | None = None        # held-out: the true piece, same ticks

    @property
    def single_line(self) -> bool:
        return is_single_line(pitched_notes(self.reference or self.score))


def example_prompts() -> list[Prompt]:
    """The bundled example motifs (resources/examples)."""
    from importlib import resources

    from ml_core.midi_io import read_midi

    folder = resources.files("resources") / "examples"
    prompts = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".mid"):
            with resources.as_file(entry) as path:
                prompts.append(Prompt(entry.name[:-4], EXAMPLE_GROUP, _at_480(read_midi(path))))
    return prompts


def _at_480(score: Score) -> Score:
    from ml_core.music import TICKS_PER_QUARTER

    return (score if score.ticks_per_quarter == TICKS_PER_QUARTER
            else score.resampled(TICKS_PER_QUARTER))


def held_out_prompts(per_group: dict[str, int], *, cache: Any = None, val_fraction: float = 0.1,
                     seed: int = 0) -> list[Prompt]:
    """The first PROMPT_BARS bars of validation pieces of `music21:all` (the split
    `composer-train prepare` makes with the same val_fraction and seed, so none is in a
    model trained on that split), `per_group[g]` pieces of each group (HELD_OUT_GROUPS),
    spread over its collections, each with at least 12 bars that have notes in the
    prompt and in the bars that follow."""
    from ml_core.data import DataError, read_pieces, resolve_collections, split_files

    collection_of = resolve_collections(["music21:all"])
    _, val_files = split_files(list(collection_of), val_fraction, seed)
    prompts: list[Prompt] = []
    for group, wanted in per_group.items():
        # Round-robin over the group's collections so that one big collection does not fill it.
        queues = [[p for p in val_files if collection_of[p] == c] for c in HELD_OUT_GROUPS[group]]
        queues = [q for q in queues if q]
        taken = 0
        while taken < wanted and any(queues):
            for queue in queues:
                if not queue or taken >= wanted:
                    continue
                path = queue.pop(0)
                try:
                    pieces = read_pieces(str(path), cache)
                except DataError:
                    continue
                prompt = _held_out(pieces[0] if pieces else None,
                                   _piece_name(path, collection_of[path]), group)
                if prompt is not None:
                    prompts.append(prompt)
                    taken += 1
    return prompts


def _piece_name(path: Any, collection: str) -> str:
    """collection/[folder/]stem: files of one collection may share a name in two folders."""
    return f"{collection}/{path.stem}" if path.parent.name == collection else \
        f"{collection}/{path.parent.name}/{path.stem}"


def _held_out(piece: Score | None, name: str, group: str) -> Prompt | None:
    if piece is None or piece.is_empty:
        return None
    piece = _at_480(piece)
    total = PROMPT_BARS + CONTINUATION_BARS
    end = piece.bar_start(total)
    body = piece.sliced(0, end, shift=True)
    prompt = piece.sliced(0, piece.bar_start(PROMPT_BARS), shift=True)
    after = [n for n in pitched_notes(body) if n.start >= piece.bar_start(PROMPT_BARS)]
    last_bar = piece.bar_start(total - 1)
    if (len(pitched_notes(prompt)) < 4 or len(after) < 8
        or not any(n.start >= last_bar for n in after)):
        return None
    return Prompt(name, group, prompt, None, body)


def benchmark_prompts(quick: bool = False, cache: Any = None) -> list[Prompt]:
    """Issue 13's prompt set: the examples plus held-out pieces (12 folk tunes, 12
    chorales, 8 piano pieces); quick: two examples, one folk tune, one chorale."""
    if quick:
        return example_prompts()[:2] + held_out_prompts({"folk": 1, "chorale": 1}, cache=cache)
    return (example_prompts()
            + held_out_prompts({"folk": 12, "chorale": 12, "piano": 8}, cache=cache))


def measure_model(bundle: Any, prompts: Sequence[Prompt], *, seeds: Sequence[int] = (0, 1),
                  bars: int = CONTINUATION_BARS, fill_bars: tuple[int, int] = FILL_BARS,
                  with_fill: bool = True, sampling: dict[str, Any] | None = None,
                  fill_seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """Continue every prompt `bars` bars once per seed (no key mask, the app's default
    sampling unless `sampling` gives GenerationOptions fields such as temperature or top_p)
    and fill `fill_bars` of every held-out piece once per fill seed (`fill_seeds`, `seeds`
    when None); per-prompt rows (figures averaged over seeds) for continuation and fill,
    and tokens per second."""
    import time

    from ml_core.generation import (
        GenerationOptions,
        continue_score,
        fill_score,
        target_tick,
        trained_with_infilling,
    )
    from ml_core.motif import motif_figures

    sampling = dict(sampling or {})
    rows, fill_rows = [], []
    tokens, seconds = 0, 0.0
    can_fill = with_fill and trained_with_infilling(bundle)
    for prompt in prompts:
        takes = []
        end = target_tick(prompt.score, bars)
        truth = prompt.piece
        for seed in seeds:
            started = time.perf_counter()
            result = continue_score(bundle, prompt.score,
                                    GenerationOptions(bars=bars, seed=seed, **sampling))
            seconds += time.perf_counter() - started
            tokens += result.tokens_generated
            takes.append(continuation_figures(prompt.score, result.new_notes[0], end,
                                              reference=prompt.reference, truth=truth))
            takes[-1].update(motif_figures(pitched_notes(prompt.score), result.new_notes[0],
                                           prompt.score, prompt_bar_end(prompt.score), end))
        row: dict[str, Any] = {"name": prompt.name, "group": prompt.group,
                               "single_line": prompt.single_line,
                               **mean_figures(takes), **truth_figures(prompt, end)}
        gaps = [t["gap_beats"] for t in takes if np.isfinite(t["gap_beats"])]
        row["min_gap_beats"] = min(gaps) if gaps else float("nan")
        rows.append(row)
        if can_fill and truth is not None:
            start, stop = truth.bar_start(fill_bars[0]), truth.bar_start(fill_bars[1])
            fills = [fill_figures(truth, fill_score(bundle, truth, *fill_bars,
                                                    GenerationOptions(seed=seed,
                                                                      **sampling)).scores[0],
                                  start, stop) for seed in (seeds if fill_seeds is None
                                                            else fill_seeds)]
            fill_rows.append({"name": prompt.name, "group": prompt.group,
                              "single_line": is_single_line(pitched_notes(truth)),
                              **mean_figures(fills),
                              "surroundings_density_ratio": surroundings_density_ratio(
                                  truth, *fill_bars),
                              "min_gap_beats": 0.0})
    return {"rows": rows, "fill_rows": fill_rows if can_fill else None,
            "fill_skipped": not with_fill and trained_with_infilling(bundle),
            "tokens_per_s": tokens / seconds if seconds else float("nan")}


def prompt_bar_end(score: Score) -> int:
    """The bar line after the prompt's last onset: where its bars end."""
    notes = pitched_notes(score)
    return score.bar_start(score.bar_at(max(n.start for n in notes))[0] + 1) if notes else 0


def truth_figures(prompt: Prompt, end: int) -> dict[str, float]:
    """A held-out piece's own next bars measured as a continuation would be ("truth_"
    keys): motif figures and density ratio; empty for a prompt without a piece."""
    from ml_core.motif import motif_figures

    if prompt.piece is None:
        return {}
    bar_end = prompt_bar_end(prompt.score)
    true_notes = [n for n in pitched_notes(prompt.piece) if bar_end <= n.start < end]
    figures = motif_figures(pitched_notes(prompt.score), true_notes, prompt.score, bar_end, end)
    measured = continuation_figures(prompt.score, true_notes, end, reference=prompt.reference)
    figures["density_ratio"] = measured["density_ratio"]
    figures["register_shift"] = measured["register_shift"]
    return {f"truth_{k}": v for k, v in figures.items()}


MOTIF_KEYS = ("rhythm_reuse", "figure_reuse", "bass_kept", "density_in_bounds", "verbatim_share",
              "register_in_bounds")


def motif_summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Issue 41's figures over rows (per group and "all"), each with the truth's over
    the same prompts that have a truth: {group: {key: value, "truth_" + key: value}}."""
    def in_bounds(value: float) -> float:
        return (float(DENSITY_BOUNDS[0] <= value <= DENSITY_BOUNDS[1]) if np.isfinite(value)
                else float("nan"))

    def figures(selected: Sequence[dict[str, Any]]) -> dict[str, float]:
        result: dict[str, float] = {"prompts": float(len(selected))}
        for prefix in ("", "truth_"):
            for key in MOTIF_KEYS:
                if key == "density_in_bounds":
                    values = [in_bounds(r.get(prefix + "density_ratio", float("nan")))
                              for r in selected]
                elif key == "register_in_bounds":   # the register criterion, the truth's too
                    values = [float(shift <= REGISTER_BOUND) if np.isfinite(shift)
                              else float("nan")
                              for shift in (r.get(prefix + "register_shift", float("nan"))
                                            for r in selected)]
                else:
                    values = [r.get(prefix + key, float("nan")) for r in selected]
                finite = [v for v in values if np.isfinite(v)]
                result[prefix + key] = float(np.mean(finite)) if finite else float("nan")
        return result

    groups = sorted({r["group"] for r in rows})
    summary = {g: figures([r for r in rows if r["group"] == g]) for g in groups}
    summary["all"] = figures(rows)
    return summary


def summarise(measured: dict[str, Any]) -> dict[str, Any]:
    """Aggregates of measure_model's rows: means overall and per group, issue 13's checks,
    and the same for fills ("not supported" for a model without infilling, "not measured"
    when they were left out)."""
    rows = measured["rows"]
    numeric = [{k: v for k, v in r.items() if isinstance(v, float)} for r in rows]
    summary: dict[str, Any] = {"prompts": len(rows), "mean": mean_figures(numeric),
                               "by_group": {g:
                                            mean_figures([n
                                                          for n, r in zip(numeric, rows,
                                                                          strict=True)
                                                             if r["group"] == g])
                                            for g in sorted({r["group"] for r in rows})},
                               "criteria": criteria(rows), "motif": motif_summary(rows),
                               "tokens_per_s": measured["tokens_per_s"]}
    fill_rows = measured["fill_rows"]
    if fill_rows is None:
        summary["infill"] = "not measured" if measured.get("fill_skipped") else "not supported"
    else:
        fill_checks = criteria(fill_rows)
        fill_checks.pop("first_note_within_a_beat")
        fill_checks.pop("never_before_prompt_end")
        unchanged = _share([r["outside_unchanged"] == 1.0 for r in fill_rows])
        fill_checks["outside_span_unchanged"] = {"value": unchanged, "bound": "== 1.00",
                                                 "pass": unchanged == 1.0}
        surroundings = [r["surroundings_density_ratio"] for r in fill_rows
                        if np.isfinite(r.get("surroundings_density_ratio", float("nan")))]
        fill_checks["density_ratio_in_bounds"]["surroundings"] = _share(
            [DENSITY_BOUNDS[0] <= v <= DENSITY_BOUNDS[1] for v in surroundings])
        summary["infill"] = {"pieces": len(fill_rows),
                             "mean": mean_figures([{k: v for k, v in r.items()
                                                    if isinstance(v, float)}
                                                   for r in fill_rows]),
                             "criteria": fill_checks}
    return summary


def json_ready(value: Any, digits: int | None = 4) -> Any:
    """Figures as plain JSON, inside dicts and lists: NumPy scalars as Python's, NaN and
    infinities (a figure a take could not have) as null, floats rounded to `digits` places
    (None: as they are)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v, digits) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return (None if not math.isfinite(value) else value if digits is None
                else round(value, digits))
    return value

"""The results study's measurements of a trained bundle.

`measure` evaluates it on the validation split (`ml_core.evaluation.evaluate`), scores whole
validation pieces for bits per note and per-class precision / recall / F1
(`validation_scores`, through `ml_core.evaluation.score_windows`, the one held-out scoring
loop) and continues the held-out prompt.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.results_plan import NOT_COMPARABLE, ModelRun


def token_class(name: str) -> str:
    """A vocabulary entry's class: note, duration, offset, ... or special (PAD, BOS, xxsep)."""
    head = name.split("_")[0]
    if head.startswith("xx") or head.isupper():
        return "special"
    head = head.rstrip("0123456789")
    return ({"n": "note", "d": "duration", "pitch": "note", "noteon": "note"}.get(head.lower(),
                                                                                  head.lower()))


def notes_of_tokens(encoder: Any, vocab: int) -> np.ndarray:
    """The notes each token id sounds (a pitch token 1, a chord word its pitches, others 0)."""
    return np.asarray([len(encoder.pitches_of(i)) for i in range(vocab)], np.int64)


def _positions(split: Any, window: int, pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows tiling the first `pieces` pieces with stride `window`: each target once."""
    chosen, starts = [], []
    for piece in range(pieces):
        length = int(split.lengths[piece])
        for start in range(0, length - 1, window) if length >= 2 else ():
            chosen.append(piece)
            starts.append(start)
    return np.asarray(chosen, np.int64), np.asarray(starts, np.int64)


def validation_scores(model: Any, dataset: Any, window: int, *, max_pieces: int | None = None,
                      batch_size: int = 8, device: Any = "cpu") -> dict[str, Any]:
    """Whole validation pieces scored with the model: total NLL, the notes those tokens hold,
    bits per note = nats / notes / ln 2 (comparable across vocabularies), and for token
    models per-class precision / recall / F1 by token class (the sequential-models report's
    macro scores over note and duration classes, F1 = 2PR / (P + R)).

    Frame models: the summed BCE over keys and steps per struck note where the frames mark
    note onsets (note_state's articulate channel), else "not comparable" with the reason."""
    from torch import no_grad

    from ml_core.data import WindowSampler
    from ml_core.evaluation import score_windows
    from ml_core.models.base import preceding_ids

    split = dataset.val if dataset.val.pieces else dataset.train
    pieces = split.pieces if not max_pieces else min(split.pieces, max_pieces)
    limit = getattr(model, "max_context", None)
    window = min(window, limit) if limit else window
    encoder = dataset.encoder()
    frame = dataset.kind == "frame"
    shape = tuple(dataset.manifest.get("feature_shape") or ())
    onsets = frame and len(shape) == 2 and shape[-1] == 2   # (keys, [sound, onset])
    name = dataset.manifest["tokenizer"]["name"]
    if frame and not onsets:
        return {"bits_per_note": None, "pieces": pieces,
                "reason": NOT_COMPARABLE.get(name, "the frames do not mark where notes start")}
    sampler = WindowSampler(split, window, 0 if frame else dataset.pad_id,
                            preceding=preceding_ids(model))
    chosen, starts = _positions(split, window, pieces)
    vocab = int(dataset.vocab_size or 0)
    model.eval()
    with no_grad():
        scores = score_windows(model, sampler, chosen, starts, kind=dataset.kind, vocab=vocab,
                               batch_size=batch_size, device=device,
                               notes_of=None if frame else notes_of_tokens(encoder, vocab))
    nats, notes, count = scores.nats, scores.notes, scores.steps
    report: dict[str, Any] = {"pieces": pieces, "nats": nats, "notes": notes,
                              ("frames" if frame else "tokens"): count,
                              "bits_per_note": nats / notes / math.log(2) if notes else None}
    if not frame:
        report["nats_per_token"] = nats / max(count, 1)
        classes = [token_class(encoder.vocab.string(i)) for i in range(vocab)]
        report["classes"] = class_scores(scores.true_counts, scores.predicted, scores.hits, classes)
    return report


def class_scores(true_counts: np.ndarray, predicted: np.ndarray, hits: np.ndarray,
                 classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per token class: macro precision and recall over its ids that occur, F1 of the two."""
    labels = np.asarray(classes)
    present = true_counts > 0
    precision = np.divide(hits, predicted, out=np.zeros(len(hits)), where=predicted > 0)
    recall = np.divide(hits, true_counts, out=np.zeros(len(hits)), where=present)
    scores = {}
    for name in dict.fromkeys(classes):
        chosen = present & (labels == name)
        if name == "special" or not chosen.any():
            continue
        p, r = float(precision[chosen].mean()), float(recall[chosen].mean())
        scores[name] = {"precision": p, "recall": r,
                        "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0,
                        "ids": int(chosen.sum())}
    return scores


def measure(run: ModelRun, bundle_dir: Path, data_dir: Path, prompt,
            args: argparse.Namespace) -> dict[str, Any]:
    """Validation metrics, whole-piece scores and continuations of one trained bundle."""
    from ml_core import bundle as bundles
    from ml_core.data import load_dataset
    from ml_core.evaluation import evaluate, musical_statistics
    from ml_core.generation import GenerationOptions, continue_score
    from ml_core.models.presets import get_preset

    device = args.device if args.device != "auto" else ("cuda" if _cuda() else "cpu")
    loaded = bundles.load(bundle_dir, device)
    dataset = load_dataset(data_dir)
    window = ((loaded.config.get("training") or {}).get("recipe") or {}).get("window") \
        or get_preset(run.preset).window - 1
    report = evaluate(loaded, dataset, samples=args.samples, sample_tokens=args.sample_tokens,
                      window=window, max_windows=args.eval_windows, seed=args.seed)
    report["whole_pieces"] = validation_scores(loaded.model, dataset, window,
                                               max_pieces=args.score_pieces or None, device=device)
    if device != "cpu":
        loaded = bundles.load(bundle_dir, "cpu")   # tokens/s: the app's CPU decoding
    single = continue_score(loaded, prompt, GenerationOptions(
        bars=args.bars, temperature=1.0, seed=args.seed, variations=1, device="cpu"))
    several = continue_score(loaded, prompt, GenerationOptions(
        bars=args.bars, temperature=1.0, seed=args.seed + 1, variations=args.variations,
        device="cpu"))
    statistics = [musical_statistics(prompt, score) for score in several.scores]
    report.update({
        "parameters": loaded.config.get("parameter_count"),
        "tokens_per_s": single.tokens_per_s,
        "generated_tokens": single.tokens_generated,
        "prompt_in_scale_ratio": _mean([s["in_scale_ratio"] for s in statistics if s["notes"]]),
        "prompt_continuation_notes": _mean([s["notes"] for s in statistics]),
    })
    return {"report": report, "continuation": single.new_notes[0]}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None

"""Measuring a trained model, and reading a training run's log.

`evaluate(bundle, dataset)` reports, on the validation split:
- token models: NLL (nats/token) and perplexity (the symbolic-music report's test NLL),
  top-1 accuracy, macro precision / recall / F1 over the token classes (the LSTM-with-
  attention report's per-class scores);
- frame models: BCE per key-step and the density of notes per step, real vs. predicted
  ("Deep Musician");
- from N sampled continuations of validation prompts: grammar errors per 100 tokens
  sampled WITHOUT the grammar mask (and with it, which must be 0), and musical
  statistics: pitch-class entropy, ratio of notes in the prompt's key, polyphony.

`plot_loss_curve` draws the metrics.jsonl the trainer writes (read by `ml_core.metrics_log`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml_core.data import DataError, Dataset, WindowSampler
from ml_core.files import atomic_path
from ml_core.losses import IGNORE_INDEX, frame_bce_sums, token_nll_sums
from ml_core.metrics_log import read_metrics, training_loss, validation_nll
from ml_core.models.base import preceding_ids, window_logits
from ml_core.music import Note, Score

PROMPT_TOKENS = 32  # prompt length (tokens or frames) for sampled continuations


# ---------------------------------------------------------------- the loss curve


def plot_loss_curve(metrics_path: Path, image_path: Path) -> None:
    """Training loss per logged step and validation NLL per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    records = read_metrics(metrics_path)
    steps, epochs = training_loss(records), validation_nll(records)
    figure, axes = pyplot.subplots(figsize=(7, 4), dpi=100)
    if steps[0]:
        axes.plot(*steps, label="training loss", color="tab:blue", alpha=0.7)
    if epochs[0]:
        axes.plot(*epochs, label="validation NLL", color="tab:orange", marker="o")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats)")
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(image_path, suffix=".png") as temporary:
        figure.savefig(temporary)
    pyplot.close(figure)


# ---------------------------------------------------------------- likelihood metrics


def _windows(model, dataset: Dataset, window: int, max_windows: int
             ) -> tuple[WindowSampler, np.ndarray, np.ndarray]:
    split = dataset.val if dataset.val.pieces else dataset.train
    pad = dataset.pad_id if dataset.kind == "token" else 0
    sampler = WindowSampler(split, window, pad, preceding=preceding_ids(model))
    pieces, starts = sampler.validation_positions(max_windows)
    if len(pieces) == 0:
        raise DataError("the dataset has no validation piece long enough to evaluate on")
    return sampler, pieces, starts


@dataclass
class HeldOutScores:
    """Sums over scored held-out windows: the one scoring loop behind `evaluate` and the
    results study's whole-piece scores (bench/results_measure.py)."""

    nats: float = 0.0          # summed NLL (tokens) or BCE over keys x steps (frames)
    terms: int = 0             # what `nats` sums over: tokens, or keys x steps
    steps: int = 0             # positions scored (tokens or frames)
    notes: int = 0             # notes the targets hold: `notes_of` per token, struck keys per frame
    true_counts: np.ndarray | None = None   # tokens: per id, how often it is the target
    predicted: np.ndarray | None = None     # tokens: per id, how often it is the argmax
    hits: np.ndarray | None = None          # tokens: per id, target == argmax
    sounding_real: float = 0.0              # frames: keys sounding in the targets
    sounding_predicted: float = 0.0         # frames: keys sounding where p >= 0.5


def score_windows(model, sampler: WindowSampler, pieces: np.ndarray, starts: np.ndarray, *,
                  kind: str, vocab: int = 0, batch_size: int = 8, device: Any = "cpu",
                  notes_of: np.ndarray | None = None) -> HeldOutScores:
    """Score the windows (`pieces[i]`, `starts[i]`) of `sampler`'s split with `model`: token
    models by NLL and argmax hits per id, frame models by BCE and sounding keys."""
    scores = HeldOutScores()
    if kind == "token":
        scores.true_counts, scores.predicted, scores.hits = (np.zeros(vocab, np.int64)
                                                             for _ in range(3))
    for begin in range(0, len(pieces), batch_size):
        batch = sampler.gather(pieces[begin:begin + batch_size], starts[begin:begin + batch_size])
        items = torch.from_numpy(batch.items).to(device)
        valid = torch.from_numpy(batch.valid[:, 1:]).to(device)
        logits = window_logits(model, items[:, :-1], batch.preceding)   # (B, T, V) or (B, T, *F)
        valid_rows = batch.valid[:, 1:]
        scores.steps += int(valid_rows.sum())
        if kind == "token":
            targets = items[:, 1:].masked_fill(~valid, IGNORE_INDEX)
            part_nll, part_count = token_nll_sums(logits, targets)
            truth = targets.cpu().numpy()[valid_rows]
            guess = logits.argmax(-1).cpu().numpy()[valid_rows]
            scores.true_counts += np.bincount(truth, minlength=vocab)
            scores.predicted += np.bincount(guess, minlength=vocab)
            scores.hits += np.bincount(truth[truth == guess], minlength=vocab)
            if notes_of is not None:
                scores.notes += int(notes_of[truth].sum())
        else:
            targets = items[:, 1:]                                       # (B, T, *F)
            part_nll, part_count = frame_bce_sums(logits, targets, valid)
            scores.sounding_real += float(_sounding(targets)[valid].sum())
            guessed = (torch.sigmoid(logits.float()) >= 0.5).float()
            scores.sounding_predicted += float(_sounding(guessed)[valid].sum())
            if targets.dim() == 4 and targets.shape[-1] == 2:            # (key, [sound, onset])
                struck = (targets[..., 0] >= 0.5) & (targets[..., 1] >= 0.5)
                scores.notes += int(struck.sum(-1).cpu().numpy()[valid_rows].sum())
        scores.nats += part_nll
        scores.terms += part_count
    return scores


def _token_metrics(model, dataset: Dataset, window: int, max_windows: int, batch_size: int,
                   device: torch.device) -> dict[str, Any]:
    sampler, pieces, starts = _windows(model, dataset, window, max_windows)
    vocab = int(dataset.vocab_size)
    scores = score_windows(model, sampler, pieces, starts, kind="token", vocab=vocab,
                           batch_size=batch_size, device=device)
    true_counts, predicted_counts, hits = scores.true_counts, scores.predicted, scores.hits
    count = scores.terms
    present = true_counts > 0
    precision = np.divide(hits, predicted_counts, out=np.zeros(vocab), where=predicted_counts > 0)
    recall = np.divide(hits, true_counts, out=np.zeros(vocab), where=present)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(vocab),
                   where=(precision + recall) > 0)
    nll = scores.nats / max(count, 1)
    return {
        "nll": nll, "perplexity": math.exp(nll) if nll < 50 else None,  # None: off the scale
        "accuracy": float(hits.sum() / max(count, 1)),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "classes": int(present.sum()), "tokens": count, "windows": int(len(pieces)),
    }


def _frame_metrics(model, dataset: Dataset, window: int, max_windows: int, batch_size: int,
                   device: torch.device) -> dict[str, Any]:
    sampler, pieces, starts = _windows(model, dataset, window, max_windows)
    scores = score_windows(model, sampler, pieces, starts, kind="frame",
                           batch_size=batch_size, device=device)
    bce, steps = scores.nats / max(scores.terms, 1), scores.steps
    return {"bce": bce, "nll": bce, "density_real": scores.sounding_real / max(steps, 1),
            "density_predicted": scores.sounding_predicted / max(steps, 1), "steps": steps,
            "windows": int(len(pieces))}


def _sounding(frames: torch.Tensor) -> torch.Tensor:
    """Keys sounding per step (B, T): the first channel when frames carry (key, channel)."""
    sounding = frames[..., 0] if frames.dim() == 4 else frames
    return sounding.flatten(2).sum(-1)


# ---------------------------------------------------------------- sampled continuations


def _prompts(dataset: Dataset, count: int, length: int) -> list[np.ndarray]:
    split = dataset.val if dataset.val.pieces else dataset.train
    candidates = [i for i in range(split.pieces) if split.lengths[i] > length]
    if not candidates:
        candidates = [i for i in range(split.pieces) if split.lengths[i] >= 2]
    return [np.asarray(split.piece(candidates[i % len(candidates)])[:length]) for i in range(count)]


def musical_statistics(prompt: Score, full: Score) -> dict[str, float]:
    """Statistics of the notes `full` has beyond `prompt`: pitch-class entropy (bits),
    ratio of notes in the prompt's estimated key, mean notes sounding at each onset."""
    from ml_core.keys import in_scale_share, prompt_key

    old = Counter(n for t in prompt.tracks if not t.is_drum for n in t.notes)
    new: list[Note] = []
    for note in sorted(n for t in full.tracks if not t.is_drum for n in t.notes):
        if old[note] > 0:
            old[note] -= 1
        else:
            new.append(note)
    if not new:
        return {"notes": 0, "pitch_class_entropy": 0.0, "in_scale_ratio": 0.0, "polyphony": 0.0}
    histogram = np.bincount([n.pitch % 12 for n in new], minlength=12).astype(float)
    probabilities = histogram[histogram > 0] / histogram.sum()
    starts = np.array([n.start for n in new])
    ends = np.array([n.end for n in new])
    polyphony = float(np.mean([np.sum((starts <= s) & (ends > s)) for s in starts]))
    return {"notes": len(new),
            "pitch_class_entropy": float(-(probabilities * np.log2(probabilities)).sum()),
            "in_scale_ratio": in_scale_share(new, prompt_key(prompt)),
            "polyphony": polyphony}


def _token_sample_metrics(model, tokenizer, dataset: Dataset, samples: int, sample_tokens: int,
                          seed: int, device: torch.device) -> dict[str, Any]:
    limit = getattr(model, "max_context", None)
    if limit is not None:
        sample_tokens = max(1, min(sample_tokens, limit - PROMPT_TOKENS))
    prompts = _prompts(dataset, samples, PROMPT_TOKENS)
    length = min(len(p) for p in prompts)
    prompts = [[int(t) for t in p[:length]] for p in prompts]
    from ml_core.generation import sample_continuations

    report: dict[str, Any] = {"samples": samples, "sample_tokens": sample_tokens}
    for masked in (False, True):
        sequences = sample_continuations(model, tokenizer, prompts, sample_tokens, masked=masked,
                                         seed=seed + masked, device=device)
        errors = sum(tokenizer.validate(p + s) - tokenizer.validate(p)
                     for p, s in zip(prompts, sequences, strict=True))
        name = "masked" if masked else "unmasked"
        report[f"grammar_errors_per_100_{name}"] = 100.0 * errors / (samples * sample_tokens)
    statistics = [musical_statistics(tokenizer.decode(p), tokenizer.decode(p + s))
                  for p, s in zip(prompts, sequences, strict=True)]
    for name in ("notes", "pitch_class_entropy", "in_scale_ratio", "polyphony"):
        report[f"sample_{name}"] = float(np.mean([s[name] for s in statistics]))
    return report


def _frame_sample_metrics(model, representation, dataset: Dataset, samples: int,
                          sample_steps: int, seed: int, device: torch.device) -> dict[str, Any]:
    prompts = _prompts(dataset, samples, PROMPT_TOKENS)
    length = min(len(p) for p in prompts)
    batch = torch.tensor(np.stack([p[:length] for p in prompts]), dtype=torch.float32,
                         device=device)
    generator = torch.Generator().manual_seed(seed)
    logits, state = model(batch)
    frame, frames = batch[:, -1], []
    for _ in range(sample_steps):
        if hasattr(model, "sample_next"):
            frame, state = model.sample_next(state, frame, 1.0, generator)
        else:
            frame = (torch.bernoulli(torch.sigmoid(logits[:, -1].float().cpu()),
                                     generator=generator).to(device))
            logits, state = model(frame.unsqueeze(1), state)
        frames.append(frame.float().cpu())
    generated = torch.stack(frames, dim=1)  # (B, steps, *F)
    statistics = []
    for row in range(len(prompts)):
        prompt_array = batch[row].cpu().numpy()
        full = np.concatenate([prompt_array, generated[row].numpy()])
        statistics.append(musical_statistics(representation.decode(prompt_array),
                                             representation.decode(full)))
    report = {"samples": samples, "sample_steps": sample_steps,
              "sample_density": float(_sounding(generated).mean())}
    for name in ("notes", "pitch_class_entropy", "in_scale_ratio", "polyphony"):
        report[f"sample_{name}"] = float(np.mean([s[name] for s in statistics]))
    return report


# ---------------------------------------------------------------- entry point


def check_compatible(bundle: Any, dataset: Dataset) -> None:
    model_kind = getattr(bundle.model, "kind", "token")
    if model_kind != dataset.kind:
        raise DataError(f"model '{bundle.name}' reads {model_kind} data but the dataset holds "
                        f"{dataset.kind} data")
    ours = dataset.manifest.get("tokenizer", {})
    theirs = bundle.tokenizer.to_dict() if hasattr(bundle.tokenizer, "to_dict") else ours
    theirs = json.loads(json.dumps(theirs))  # as stored in JSON: tuples become lists
    if ours != theirs:
        raise DataError(f"model '{bundle.name}' uses tokenizer {theirs.get('name')} "
                        f"{theirs.get('config', {})}, "
                        f"the dataset {ours.get('name')} {ours.get('config', {})}: prepare the "
                        f"data with the model's tokenizer")


@torch.no_grad()
def evaluate(bundle: Any, dataset: Dataset, *, samples: int = 4, sample_tokens: int = 128,
             window: int = 256, max_windows: int = 256, batch_size: int = 8, seed: int = 0,
             device: torch.device | None = None) -> dict[str, Any]:
    """All metrics of `bundle` (from `ml_core.bundle.load`) on `dataset`'s validation split."""
    if samples < 0 or sample_tokens < 1 or window < 1 or max_windows < 1:
        raise ValueError("samples must be >= 0; sample tokens, window and max windows >= 1")
    check_compatible(bundle, dataset)
    model = bundle.model
    device = device or next(model.parameters()).device
    model.eval()
    limit = getattr(model, "max_context", None)
    window = min(window, limit) if limit else window
    report: dict[str, Any] = {"model": bundle.name, "arch": getattr(model, "arch", None),
                              "kind": dataset.kind, "data": str(dataset.directory),
                              "split": "val" if dataset.val.pieces else "train"}
    if dataset.kind == "token":
        report.update(_token_metrics(model, dataset, window, max_windows, batch_size, device))
        if samples:
            report.update(_token_sample_metrics(model, bundle.tokenizer, dataset, samples,
                                                sample_tokens, seed, device))
    else:
        report.update(_frame_metrics(model, dataset, window, max_windows, batch_size, device))
        if samples:
            report.update(_frame_sample_metrics(model, bundle.tokenizer, dataset, samples,
                                                sample_tokens, seed, device))
    return report


def format_report(report: dict[str, Any]) -> str:
    """A readable two-column table of an evaluation report."""
    width = max(len(k) for k in report)
    lines = []
    for key, value in report.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key.replace('_', ' '):<{width}}  {shown}")
    return "\n".join(lines)

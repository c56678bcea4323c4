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


def _token_metrics(model, dataset: Dataset, window: int, max_windows: int, batch_size: int,
                   device: torch.device) -> dict[str, Any]:
    sampler, pieces, starts = _windows(model, dataset, window, max_windows)
    vocab = int(dataset.vocab_size)
    true_counts = np.zeros(vocab, np.int64)
    predicted_counts = np.zeros(vocab, np.int64)
    hits = np.zeros(vocab, np.int64)
    total_nll, count = 0.0, 0
    for begin in range(0, len(pieces), batch_size):
        batch = sampler.gather(pieces[begin:begin + batch_size], starts[begin:begin + batch_size])
        items = torch.from_numpy(batch.items).to(device)
        valid = torch.from_numpy(batch.valid[:, 1:]).to(device)
        inputs = items[:, :-1]                                  # (B, T)
        targets = items[:, 1:].masked_fill(~valid, IGNORE_INDEX)
        logits = window_logits(model, inputs, batch.preceding)  # (B, T, V)
        part_nll, part_count = token_nll_sums(logits, targets)
        total_nll += part_nll
        count += part_count
        valid = valid.cpu().numpy()
        truth = targets.cpu().numpy()[valid]
        guess = logits.argmax(-1).cpu().numpy()[valid]
        true_counts += np.bincount(truth, minlength=vocab)
        predicted_counts += np.bincount(guess, minlength=vocab)
        hits += np.bincount(truth[truth == guess], minlength=vocab)
    present = true_counts > 0
    precision = np.divide(hits, predicted_counts, out=np.zeros(vocab), where=predicted_counts > 0)
    recall = np.divide(hits, true_counts, out=np.zeros(vocab), where=present)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(vocab),
                   where=(precision + recall) > 0)
    nll = total_nll / max(count, 1)
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
    total, count, steps = 0.0, 0, 0
    real_notes, predicted_notes = 0.0, 0.0
    for begin in range(0, len(pieces), batch_size):
        batch = sampler.gather(pieces[begin:begin + batch_size], starts[begin:begin + batch_size])
        items = torch.from_numpy(batch.items).to(device)
        valid = torch.from_numpy(batch.valid[:, 1:]).to(device)
        inputs, targets = items[:, :-1], items[:, 1:]           # (B, T, *F)
        logits, _ = model(inputs)
        part_total, part_count = frame_bce_sums(logits, targets, valid)
        total += part_total
        count += part_count
        steps += int(valid.sum())
        real_notes += float(_sounding(targets)[valid].sum())
        predicted_notes += float(_sounding((torch.sigmoid(logits.float()) >= 0.5).float())[valid].sum())
    bce = total / max(count, 1)
    return {"bce": bce, "nll": bce, "density_real": real_notes / max(steps, 1),
            "density_predicted": predicted_notes / max(steps, 1), "steps": steps,
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


def _sample_tokens(model, tokenizer, prompts: list[list[int]], count: int, masked: bool,
                   generator: torch.Generator, device: torch.device) -> list[list[int]]:
    """`count` tokens after each prompt, sampled at temperature 1 (prompts of equal length)."""
    from ml_core.sampling import sample

    grammar = tokenizer.grammar()
    states = []
    for prompt in prompts:
        state = grammar.start()
        for token in prompt:
            if grammar.allowed(state)[token]:
                state = grammar.advance(state, token)
        states.append(state)
    logits, model_state = model(torch.tensor(prompts, dtype=torch.long, device=device))
    logits = logits[:, -1]
    generated: list[list[int]] = [[] for _ in prompts]
    for _ in range(count):
        mask = None
        if masked:
            mask = torch.from_numpy(np.stack([grammar.allowed(s) for s in states]))
        chosen, _ = sample(logits.float().cpu(), temperature=1.0, top_k=0, top_p=1.0, mask=mask,
                           generator=generator)
        for row, token in enumerate(chosen.tolist()):
            generated[row].append(token)
            if masked:
                states[row] = grammar.advance(states[row], token)
        logits, model_state = model(chosen.view(-1, 1).to(device), model_state)
        logits = logits[:, -1]
    return generated


def musical_statistics(prompt: Score, full: Score) -> dict[str, float]:
    """Statistics of the notes `full` has beyond `prompt`: pitch-class entropy (bits),
    ratio of notes in the prompt's estimated key, mean notes sounding at each onset."""
    from ml_core.keys import estimate_key, scale_pitch_classes

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
    key = estimate_key(prompt) if not prompt.is_empty else None
    scale = set(scale_pitch_classes(*key)) if key else set(range(12))
    starts = np.array([n.start for n in new])
    ends = np.array([n.end for n in new])
    polyphony = float(np.mean([np.sum((starts <= s) & (ends > s)) for s in starts]))
    return {"notes": len(new), "pitch_class_entropy": float(-(probabilities * np.log2(probabilities)).sum()),
            "in_scale_ratio": float(np.mean([n.pitch % 12 in scale for n in new])),
            "polyphony": polyphony}


def _token_sample_metrics(model, tokenizer, dataset: Dataset, samples: int, sample_tokens: int,
                          seed: int, device: torch.device) -> dict[str, Any]:
    limit = getattr(model, "max_context", None)
    if limit is not None:
        sample_tokens = max(1, min(sample_tokens, limit - PROMPT_TOKENS))
    prompts = _prompts(dataset, samples, PROMPT_TOKENS)
    length = min(len(p) for p in prompts)
    prompts = [[int(t) for t in p[:length]] for p in prompts]
    generator = torch.Generator().manual_seed(seed)
    report: dict[str, Any] = {"samples": samples, "sample_tokens": sample_tokens}
    for masked in (False, True):
        sequences = _sample_tokens(model, tokenizer, prompts, sample_tokens, masked, generator, device)
        errors = sum(tokenizer.validate(p + s) - tokenizer.validate(p) for p, s in zip(prompts, sequences, strict=True))
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
    batch = torch.tensor(np.stack([p[:length] for p in prompts]), dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(seed)
    logits, state = model(batch)
    frame, frames = batch[:, -1], []
    for _ in range(sample_steps):
        if hasattr(model, "sample_next"):
            frame, state = model.sample_next(state, frame, 1.0, generator)
        else:
            frame = torch.bernoulli(torch.sigmoid(logits[:, -1].float().cpu()), generator=generator).to(device)
            logits, state = model(frame.unsqueeze(1), state)
        frames.append(frame.float().cpu())
    generated = torch.stack(frames, dim=1)  # (B, steps, *F)
    statistics = []
    for row in range(len(prompts)):
        prompt_array = batch[row].cpu().numpy()
        full = np.concatenate([prompt_array, generated[row].numpy()])
        statistics.append(musical_statistics(representation.decode(prompt_array), representation.decode(full)))
    report = {"samples": samples, "sample_steps": sample_steps,
              "sample_density": float(_sounding(generated).mean())}
    for name in ("notes", "pitch_class_entropy", "in_scale_ratio", "polyphony"):
        report[f"sample_{name}"] = float(np.mean([s[name] for s in statistics]))
    return report


# ---------------------------------------------------------------- entry point


def check_compatible(bundle: Any, dataset: Dataset) -> None:
    model_kind = getattr(bundle.model, "kind", "token")
    if model_kind != dataset.kind:
        raise DataError(f"model '{bundle.name}' reads {model_kind} data but the dataset holds {dataset.kind} data")
    ours = dataset.manifest.get("tokenizer", {})
    theirs = bundle.tokenizer.to_dict() if hasattr(bundle.tokenizer, "to_dict") else ours
    theirs = json.loads(json.dumps(theirs))  # as stored in JSON: tuples become lists
    if ours != theirs:
        raise DataError(f"model '{bundle.name}' uses tokenizer {theirs.get('name')} {theirs.get('config', {})}, "
                        f"the dataset {ours.get('name')} {ours.get('config', {})}: prepare the data with the model's tokenizer")


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

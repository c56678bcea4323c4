"""Training losses for token and frame models.

Token models predict the next token at every position of a window; padded positions
carry the target IGNORE_INDEX and never count (not every scheme has a PAD token). The choices come
from the research reports:

- `ce`           next-token cross entropy (the symbolic-music report's NLL objective);
- `weighted-ce`  cross entropy with class weights inversely proportional to token
                 frequency in the training split ("Making Music with LSTMs");
- `focal`        focal loss -(1 - p)^gamma * log p (gamma 0 is plain CE; "Deep Musician");
- `last-n`       cross entropy on the last N real positions of each window only
                 (the deep-dive report's loss on the final events).

Frame models (piano rolls) predict independent on/off probabilities per key and step,
trained with binary cross entropy on logits or its focal variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = -100  # target of padded positions
TOKEN_LOSSES = ("ce", "weighted-ce", "focal", "last-n")
FRAME_LOSSES = ("bce", "focal")


@dataclass(frozen=True)
class LossConfig:
    name: str = "ce"            # one of TOKEN_LOSSES (token models) or FRAME_LOSSES (frame models)
    focal_gamma: float = 2.0    # 2 is the usual focal default; 0 turns focal into (B)CE
    last_n: int = 1             # positions counted by `last-n`; 1 = the final event only


def class_weights_from_counts(counts: np.ndarray) -> torch.Tensor:
    """Weights inversely proportional to frequency, scaled so the average weight of a
    training token is 1. Classes never seen get weight 0 (they never appear as targets)."""
    counts = np.asarray(counts, dtype=np.float64)
    seen = counts > 0
    weights = np.zeros_like(counts)
    if seen.any():
        weights[seen] = counts.sum() / (seen.sum() * counts[seen])
    return torch.tensor(weights, dtype=torch.float32)


def _last_n_mask(valid: torch.Tensor, n: int) -> torch.Tensor:
    """Of the valid positions (B, T) keep the last `n` of each row."""
    from_right = valid.flip(-1).long().cumsum(-1).flip(-1)  # valid positions at or after t
    return valid & (from_right <= n)


def token_loss(logits: torch.Tensor, targets: torch.Tensor,
               config: LossConfig = LossConfig(),
               class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss over the counted positions. logits (B, T, V), targets (B, T) with
    IGNORE_INDEX on padding."""
    vocab = logits.shape[-1]
    flat_logits = logits.reshape(-1, vocab).float()  # (B*T, V); fp32 for a stable softmax
    flat_targets = targets.reshape(-1)
    valid = targets != IGNORE_INDEX
    if config.name == "ce":
        return F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE_INDEX)
    if config.name == "weighted-ce":
        if class_weights is None:
            raise ValueError("weighted-ce needs class weights")
        return F.cross_entropy(flat_logits, flat_targets, weight=class_weights.to(logits.device),
                               ignore_index=IGNORE_INDEX)
    if config.name == "focal":
        log_probs = F.log_softmax(flat_logits, dim=-1)
        safe_targets = flat_targets.clamp(0, vocab - 1)
        target_log_prob = log_probs.gather(1, safe_targets[:, None]).squeeze(1)  # (B*T,)
        modulating = (1.0 - target_log_prob.exp()).clamp(min=0.0) ** config.focal_gamma
        losses = -modulating * target_log_prob
        mask = valid.reshape(-1).float()
        return (losses * mask).sum() / mask.sum().clamp(min=1.0)
    if config.name == "last-n":
        if config.last_n < 1:
            raise ValueError("last-n needs N >= 1")
        counted = _last_n_mask(valid, config.last_n).reshape(-1)
        losses = F.cross_entropy(flat_logits, flat_targets.clamp(0, vocab - 1), reduction="none")
        mask = counted.float()
        return (losses * mask).sum() / mask.sum().clamp(min=1.0)
    raise ValueError(f"unknown token loss '{config.name}' (choose from {', '.join(TOKEN_LOSSES)})")


def _expand_valid(valid: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, T) step mask -> float mask shaped like (B, T, *features)."""
    return valid.reshape(*valid.shape, *([1] * (like.dim() - valid.dim()))).float().expand_as(like)


def frame_loss(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
               config: LossConfig = LossConfig("bce")) -> torch.Tensor:
    """Mean loss per feature and step over valid steps. logits/targets (B, T, *F), valid (B, T)."""
    logits = logits.float()
    targets = targets.float()
    elementwise = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (B, T, F)
    if config.name == "focal":
        probs = torch.sigmoid(logits)
        target_prob = probs * targets + (1.0 - probs) * (1.0 - targets)
        elementwise = (1.0 - target_prob) ** config.focal_gamma * elementwise
    elif config.name not in ("bce", "ce"):
        raise ValueError(f"unknown frame loss '{config.name}' (choose from "
                         f"{', '.join(FRAME_LOSSES)})")
    mask = _expand_valid(valid, elementwise)
    return (elementwise * mask).sum() / mask.sum().clamp(min=1.0)


def token_nll_sums(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, int]:
    """(summed NLL in nats, counted positions) for exact validation averages across batches."""
    vocab = logits.shape[-1]
    flat_targets = targets.reshape(-1)
    total = F.cross_entropy(logits.reshape(-1, vocab).float(), flat_targets,
                            ignore_index=IGNORE_INDEX, reduction="sum")
    return float(total), int((flat_targets != IGNORE_INDEX).sum())


def frame_bce_sums(logits: torch.Tensor, targets: torch.Tensor,
                   valid: torch.Tensor) -> tuple[float, int]:
    """(summed BCE over valid keys x steps, counted elements)."""
    elementwise = F.binary_cross_entropy_with_logits(logits.float(), targets.float(),
                                                     reduction="none")
    mask = _expand_valid(valid, elementwise)
    return float((elementwise * mask).sum()), int(mask.sum())

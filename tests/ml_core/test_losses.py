"""The training losses against hand computations."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_core.losses import (
    IGNORE_INDEX,
    LossConfig,
    class_weights_from_counts,
    frame_bce_sums,
    frame_loss,
    token_loss,
    token_nll_sums,
)


@pytest.fixture()
def batch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=generator)          # (B, T, V)
    targets = torch.tensor([[1, 2, 3, 4, 5], [6, 0, 1, IGNORE_INDEX, IGNORE_INDEX]])
    return logits, targets


def _manual_nll(logits, targets):
    """Per-position NLL computed from a softmax by hand, None where ignored."""
    values = []
    for row in range(targets.shape[0]):
        for column in range(targets.shape[1]):
            target = int(targets[row, column])
            if target == IGNORE_INDEX:
                values.append(None)
                continue
            scores = logits[row, column].tolist()
            log_total = math.log(sum(math.exp(s) for s in scores))
            values.append(log_total - scores[target])
    return values


def test_cross_entropy_ignores_padding(batch):
    logits, targets = batch
    nll = [v for v in _manual_nll(logits, targets) if v is not None]
    assert float(token_loss(logits, targets,
                            LossConfig("ce"))) == pytest.approx(sum(nll) / len(nll), rel=1e-5)
    total, count = token_nll_sums(logits, targets)
    assert count == 8
    assert total == pytest.approx(sum(nll), rel=1e-5)


def test_weighted_cross_entropy_equals_manual_computation(batch):
    logits, targets = batch
    weights = torch.tensor([0.5, 1.0, 2.0, 0.25, 3.0, 1.5, 0.75])
    nll = _manual_nll(logits, targets)
    flat_targets = targets.reshape(-1).tolist()
    numerator = sum(weights[t] * v for t, v in zip(flat_targets, nll, strict=True) if v is not None)
    denominator = sum(weights[t] for t, v in zip(flat_targets, nll, strict=True) if v is not None)
    loss = token_loss(logits, targets, LossConfig("weighted-ce"), class_weights=weights)
    assert float(loss) == pytest.approx(float(numerator / denominator), rel=1e-5)


def test_focal_with_gamma_zero_is_cross_entropy(batch):
    logits, targets = batch
    focal = token_loss(logits, targets, LossConfig("focal", focal_gamma=0.0))
    plain = token_loss(logits, targets, LossConfig("ce"))
    assert float(focal) == pytest.approx(float(plain), rel=1e-6)


def test_focal_down_weights_confident_predictions():
    logits = torch.tensor([[[8.0, 0.0, 0.0], [0.0, 0.2, 0.0]]])   # easy, then hard
    targets = torch.tensor([[0, 0]])
    per_position_ce = F.cross_entropy(logits[0], targets[0], reduction="none")
    focal = token_loss(logits, targets, LossConfig("focal", focal_gamma=2.0))
    probability = torch.softmax(logits[0], -1)[torch.arange(2), targets[0]]
    expected = ((1 - probability) ** 2 * per_position_ce).mean()
    assert float(focal) == pytest.approx(float(expected), rel=1e-5)
    assert float(focal) < float(per_position_ce.mean())


def test_last_n_counts_only_the_last_real_positions(batch):
    logits, targets = batch
    nll = _manual_nll(logits, targets)
    # row 0: 5 real positions -> last 2 are columns 3, 4; row 1: real columns 0..2 -> 1, 2
    expected = (nll[3] + nll[4] + nll[5 + 1] + nll[5 + 2]) / 4
    loss = token_loss(logits, targets, LossConfig("last-n", last_n=2))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    logits = logits.clone().requires_grad_(True)
    token_loss(logits, targets, LossConfig("last-n", last_n=2)).backward()
    touched = logits.grad.abs().sum(-1) > 0
    assert touched.tolist() == [[False, False, False, True, True],
                                [False, True, True, False, False]]


def test_unknown_loss_is_a_clear_error(batch):
    logits, targets = batch
    with pytest.raises(ValueError, match="unknown token loss"):
        token_loss(logits, targets, LossConfig("hinge"))
    with pytest.raises(ValueError, match="class weights"):
        token_loss(logits, targets, LossConfig("weighted-ce"))


def test_class_weights_are_inverse_frequency():
    counts = np.array([10, 30, 0, 60])
    weights = class_weights_from_counts(counts)
    assert weights[2] == 0.0                                   # never seen, never a target
    assert float(weights[0] / weights[1]) == pytest.approx(3.0)
    assert float(weights[0] / weights[3]) == pytest.approx(6.0)
    # the average weight of a training token is 1
    assert float((weights.numpy() * counts).sum() / counts.sum()) == pytest.approx(1.0)


def test_frame_losses_skip_padded_steps_and_focal_zero_is_bce():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 4, 2, generator=generator)      # (B, T, keys, channels)
    targets = (torch.rand(2, 3, 4, 2, generator=generator) > 0.5).float()
    valid = torch.tensor([[True, True, False], [True, False, False]])
    elementwise = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    expected = elementwise[valid].mean()
    assert float(frame_loss(logits, targets, valid,
                            LossConfig("bce"))) == pytest.approx(float(expected), rel=1e-5)
    focal = frame_loss(logits, targets, valid, LossConfig("focal", focal_gamma=0.0))
    assert float(focal) == pytest.approx(float(expected), rel=1e-5)
    total, count = frame_bce_sums(logits, targets, valid)
    assert count == 3 * 8
    assert total / count == pytest.approx(float(expected), rel=1e-5)

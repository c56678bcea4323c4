"""Sampling functions on small exact examples; seeded sampling is reproducible."""

from __future__ import annotations

import math

import pytest
import torch

from ml_core.sampling import (
    SamplingError,
    apply_mask,
    apply_temperature,
    sample,
    sample_keys,
    top_k_filter,
    top_p_filter,
)

INF = float("-inf")


def test_temperature_divides_logits() -> None:
    logits = torch.tensor([[1.0, 2.0, -4.0]])
    assert apply_temperature(logits, 2.0).tolist() == [[0.5, 1.0, -2.0]]
    assert apply_temperature(logits, 1.0) is logits
    with pytest.raises(SamplingError):
        apply_temperature(logits, 0.0)


def test_top_k_keeps_the_k_largest_and_ties() -> None:
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [5.0, 2.0, 2.0, 1.0]])
    assert top_k_filter(logits, 2).tolist() == [[INF, 3.0, 2.0, INF], [5.0, 2.0, 2.0, INF]]
    assert top_k_filter(logits, 0) is logits
    assert top_k_filter(logits, 9) is logits
    with pytest.raises(SamplingError):
        top_k_filter(logits, -1)


def test_top_p_keeps_the_smallest_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.15, 0.5, 0.05, 0.3]]))
    assert torch.isinf(top_p_filter(logits, 0.7)).tolist() == [[True, False, True, False]]
    assert torch.isinf(top_p_filter(logits, 0.5)).tolist() == [[True, False, True, True]]
    assert torch.isinf(top_p_filter(logits, 0.81)).tolist() == [[False, False, True, False]]
    assert top_p_filter(logits, 1.0) is logits
    for bad in (0.0, 1.5):
        with pytest.raises(SamplingError):
            top_p_filter(logits, bad)


def test_mask_forbids_tokens_and_refuses_an_empty_row() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, False, True], [False, True, False]])
    assert apply_mask(logits, mask).tolist() == [[1.0, INF, 3.0], [INF, 2.0, INF]]
    assert apply_mask(logits, torch.tensor([True, True, False])).tolist() == [
        [1.0, 2.0, INF], [1.0, 2.0, INF]]
    with pytest.raises(SamplingError, match="allows no token"):
        apply_mask(logits, torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(SamplingError, match="boolean"):
        apply_mask(logits, torch.ones(3))


def test_greedy_picks_the_best_allowed_token() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    ids, probabilities = sample(logits, temperature=0.0)
    assert ids.tolist() == [1, 0]
    expected = torch.softmax(logits, dim=-1)[[0, 1], [1, 0]]
    torch.testing.assert_close(probabilities, expected)
    masked, _ = sample(logits, temperature=0.0, mask=torch.tensor([True, False, True]))
    assert masked.tolist() == [2, 0]


def test_top_k_one_is_deterministic_with_probability_one() -> None:
    logits = torch.tensor([[0.1, 0.4, 0.2]] * 5)
    ids, probabilities = sample(logits, top_k=1, generator=torch.Generator().manual_seed(3))
    assert ids.tolist() == [1] * 5
    assert probabilities.tolist() == [1.0] * 5


def test_seeded_sampling_is_reproducible() -> None:
    logits = torch.randn(4, 50)
    first = sample(logits, temperature=0.9, top_p=0.95, generator=torch.Generator().manual_seed(11))
    second = sample(logits, temperature=0.9, top_p=0.95,
                    generator=torch.Generator().manual_seed(11))
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[1], second[1])


def test_samples_follow_the_distribution_and_the_mask() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2, 1e-9]])).repeat(20000, 1)
    mask = torch.tensor([True, True, True, False])
    ids, probabilities = sample(logits, mask=mask, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(ids, minlength=4).float() / ids.numel()
    assert counts[3] == 0
    assert torch.allclose(counts[:3], torch.tensor([0.5, 0.3, 0.2]), atol=0.02)
    expected = torch.tensor([0.5, 0.3, 0.2, 0.0])[ids] / (1 - 1e-9)
    torch.testing.assert_close(probabilities, expected, atol=1e-5, rtol=1e-5)


def test_temperature_sharpens_the_reported_probability() -> None:
    logits = torch.tensor([[math.log(0.6), math.log(0.4)]])
    _, cold = sample(logits, temperature=0.5, top_k=1)
    ids, warm = sample(logits, temperature=2.0, generator=torch.Generator().manual_seed(0))
    assert cold.item() == 1.0
    tempered = torch.softmax(logits / 2.0, dim=-1)[0, ids.item()]
    assert warm.item() == pytest.approx(tempered.item())


def test_bad_sampling_arguments_are_refused() -> None:
    with pytest.raises(SamplingError, match="temperature"):
        sample(torch.zeros(1, 3), temperature=-1.0)
    with pytest.raises(SamplingError, match="shape"):
        sample(torch.zeros(3))


def test_key_sampling() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.0, -3.0]])
    assert sample_keys(logits, 0.0).tolist() == [[1.0, 0.0, 0.0, 0.0]]
    many = logits.repeat(20000, 1)
    draws = sample_keys(many, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(draws.mean(0), torch.sigmoid(logits[0]), atol=0.02, rtol=0)
    again = sample_keys(many, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


# ------------------------------------------------------------------ sample_numpy
def test_numpy_sampling_follows_the_distribution_and_reports_probabilities() -> None:
    import numpy as np

    from ml_core.sampling import sample_numpy

    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]] * 4000))
    ids, probabilities = sample_numpy(logits, rng=np.random.default_rng(0))
    frequencies = np.bincount(ids, minlength=4) / len(ids)
    assert frequencies == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.03)
    assert probabilities == pytest.approx(np.array([0.1, 0.2, 0.3, 0.4])[ids])
    again, _ = sample_numpy(logits, rng=np.random.default_rng(0))
    assert (again == ids).all()                                   # same seed, same draws


def test_numpy_sampling_applies_mask_top_k_top_p_and_greedy_like_torch() -> None:
    import numpy as np

    from ml_core.sampling import sample_numpy

    logits = np.array([[2.0, 1.0, 0.5, 3.0, -1.0]])
    rows = np.repeat(logits, 2000, axis=0)
    mask = np.array([True, True, True, False, True])
    ids, probabilities = sample_numpy(rows, mask=mask, rng=np.random.default_rng(1))
    assert 3 not in ids
    _, torch_probabilities = sample(torch.tensor(logits), mask=torch.tensor(mask),
                                    generator=torch.Generator().manual_seed(0))
    masked = np.where(mask, logits[0], -np.inf)
    expected = np.exp(masked) / np.exp(masked).sum()
    assert probabilities == pytest.approx(expected[ids])
    assert set(np.unique(sample_numpy(rows, top_k=2, rng=np.random.default_rng(2))[0])) == {0, 3}
    # top-p 0.6: token 3 (0.61 of the mass) alone already covers it
    assert set(np.unique(sample_numpy(rows, top_p=0.6, rng=np.random.default_rng(3))[0])) == {3}
    greedy, greedy_probability = sample_numpy(logits, temperature=0, mask=mask)
    assert greedy.tolist() == [0]
    assert greedy_probability[0] == pytest.approx(expected[0])
    hot, _ = sample_numpy(rows, temperature=5.0, rng=np.random.default_rng(4))
    cold, _ = sample_numpy(rows, temperature=0.2, rng=np.random.default_rng(4))
    assert len(np.unique(hot)) == 5 and (cold == 3).mean() > 0.95
    assert float(torch_probabilities[0]) in [pytest.approx(p) for p in expected[expected > 0]]


def test_one_masked_row_draws_what_the_whole_vocabulary_draws() -> None:
    # a single row samples among its allowed tokens only: the same token with the same
    # probability as masking the whole vocabulary (two rows take the whole-vocabulary path)
    import numpy as np

    from ml_core.sampling import sample_numpy

    rng = np.random.default_rng(5)
    for case in range(300):
        logits = rng.normal(0, 3, (1, 97)).astype(np.float32)
        mask = rng.random((1, 97)) < rng.choice([0.05, 0.3, 0.9])
        mask[0, rng.integers(97)] = True
        settings = [{"top_p": 0.95}, {"top_k": 5}, {"top_k": 200}, {"temperature": 0.7},
                    {"temperature": 0}, {"top_k": 3, "top_p": 0.8}][case % 6]
        one = sample_numpy(logits, mask=mask, rng=np.random.default_rng(case), **settings)
        both = sample_numpy(np.repeat(logits, 2, axis=0), mask=np.repeat(mask, 2, axis=0),
                            rng=np.random.default_rng(case), **settings)
        assert mask[0, one[0][0]]
        assert one[0][0] == both[0][0]
        assert one[1][0] == pytest.approx(both[1][0], rel=1e-6)


def test_numpy_sampling_errors_are_clear() -> None:
    import numpy as np

    from ml_core.sampling import sample_numpy

    logits = np.zeros((1, 3))
    for kwargs, message in (({"mask": np.zeros((1, 3), bool)}, "allows no token"),
                            ({"mask": np.ones((1, 4), bool)}, "mask has 4 entries"),
                            ({"mask": np.ones((1, 3))}, "must be boolean"),
                            ({"temperature": -1.0}, "must not be negative"),
                            ({"top_p": 0.0}, "top-p must be in"),
                            ({"top_k": -2}, "top-k must not be negative")):
        with pytest.raises(SamplingError, match=message):
            sample_numpy(logits, **kwargs)
    with pytest.raises(SamplingError, match="shape"):
        sample_numpy(np.zeros(3))

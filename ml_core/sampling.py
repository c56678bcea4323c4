"""Choosing the next token from logits: temperature, top-k, top-p, grammar masks.

Small pure torch functions on (B, V) logits; `sample` chains them in the order
mask -> temperature -> top-k -> top-p -> draw. A mask comes from the tokenizer's grammar
(True = allowed); a row with nothing allowed is a bug upstream (the grammar always
allows something), so it raises SamplingError instead of silently sampling a forbidden
token. `sample_keys` draws the independent on/off keys of frame (piano roll) models.
"""

from __future__ import annotations

import numpy as np
import torch

NEGATIVE_INFINITY = float("-inf")


class SamplingError(ValueError):
    """Sampling options or inputs that cannot be used."""


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / temperature (temperature > 0; 0 = greedy is handled by `sample`)."""
    if not temperature > 0:
        raise SamplingError(f"temperature must be positive here, got {temperature}")
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (ties with the k-th are kept), -inf elsewhere.
    k = 0 (or k >= V) keeps everything."""
    if k < 0:
        raise SamplingError(f"top-k must not be negative, got {k}")
    if k == 0 or k >= logits.shape[-1]:
        return logits
    threshold = torch.topk(logits, k, dim=-1).values[..., -1:]     # (B, 1)
    return logits.masked_fill(logits < threshold, NEGATIVE_INFINITY)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the most likely tokens whose probabilities add up to at least
    p (the most likely token is always kept), -inf elsewhere. p = 1 keeps everything."""
    if not 0.0 < p <= 1.0:
        raise SamplingError(f"top-p must be in (0, 1], got {p}")
    if p == 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probabilities = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probabilities, dim=-1) - probabilities  # mass of better tokens
    drop_sorted = before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, NEGATIVE_INFINITY)


def apply_mask(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """-inf where `mask` (bool, (V,) or (B, V), True = allowed) is False. SamplingError if
    a row allows nothing."""
    if mask.dtype != torch.bool:
        raise SamplingError(f"mask must be boolean, got {mask.dtype}")
    if mask.shape[-1] != logits.shape[-1]:
        raise SamplingError(f"mask has {mask.shape[-1]} entries, logits {logits.shape[-1]}")
    mask = mask.to(logits.device)
    if not bool(mask.any(dim=-1).all()):
        raise SamplingError("the mask allows no token in some row")
    return logits.masked_fill(~mask, NEGATIVE_INFINITY)


def sample(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           mask: torch.Tensor | None = None, generator: torch.Generator | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per row of `logits` (B, V).

    Returns (ids (B,) long, probabilities (B,)): each chosen token's probability in the
    distribution it was drawn from (after mask, temperature, top-k and top-p). Temperature
    0 is greedy (argmax); its probabilities are those of the filtered distribution at
    temperature 1. The same generator state gives the same tokens."""
    if logits.dim() != 2:
        raise SamplingError(f"logits must have shape (batch, vocab), got {tuple(logits.shape)}")
    if temperature < 0:
        raise SamplingError(f"temperature must not be negative, got {temperature}")
    logits = logits.float()
    if mask is not None:
        logits = apply_mask(logits, mask)
    if temperature > 0:
        logits = apply_temperature(logits, temperature)
    logits = top_p_filter(top_k_filter(logits, top_k), top_p)
    probabilities = torch.softmax(logits, dim=-1)                   # (B, V)
    if temperature == 0:
        ids = torch.argmax(logits, dim=-1)
    else:
        ids = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
    return ids, probabilities.gather(1, ids.unsqueeze(1)).squeeze(1)


def sample_keys(logits: torch.Tensor, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Independent on/off draws (float 0/1, same shape) from per-key logits (sigmoid).
    Temperature 0 switches on exactly the keys with probability above one half."""
    if temperature < 0:
        raise SamplingError(f"temperature must not be negative, got {temperature}")
    if temperature == 0:
        return (logits > 0).to(logits.dtype)
    probabilities = torch.sigmoid(logits.float() / temperature)
    device = generator.device if generator is not None else probabilities.device
    draws = torch.rand(probabilities.shape, generator=generator, device=device)
    return (draws.to(probabilities.device) < probabilities).to(logits.dtype)


def sample_numpy(logits: np.ndarray, *, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, mask: np.ndarray | None = None,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`sample` for NumPy logits (B, V), the same steps in the same order, drawing with a
    NumPy generator (generation's hot loop: a handful of NumPy calls instead of ~15 torch
    calls per token). Returns (ids (B,) int64, probabilities (B,) float64)."""
    if logits.ndim != 2:
        raise SamplingError(f"logits must have shape (batch, vocab), got {tuple(logits.shape)}")
    if temperature < 0:
        raise SamplingError(f"temperature must not be negative, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise SamplingError(f"top-p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise SamplingError(f"top-k must not be negative, got {top_k}")
    if mask is not None:
        if mask.dtype != np.bool_:
            raise SamplingError(f"mask must be boolean, got {mask.dtype}")
        if mask.shape[-1] != logits.shape[-1]:
            raise SamplingError(f"mask has {mask.shape[-1]} entries, logits {logits.shape[-1]}")
        if not np.logical_or.reduce(mask, axis=-1).all():
            raise SamplingError("the mask allows no token in some row")
        if logits.shape[0] == 1:
            # one row (a Continue): only its allowed tokens, often a few dozen of the
            # vocabulary; masked tokens have zero weight in every step below, so the draw
            # is the same token with the same probability
            allowed = np.flatnonzero(mask.reshape(-1, mask.shape[-1])[0])
            ids, probabilities = sample_numpy(logits[:, allowed], temperature=temperature,
                                              top_k=top_k, top_p=top_p, rng=rng)
            return allowed[ids], probabilities
        x = np.where(mask, logits, -np.inf)            # a new array: the caller's is untouched
    else:
        x = np.array(logits, dtype=np.float32)
    if temperature > 0 and temperature != 1.0:
        x /= temperature
    vocab = x.shape[-1]
    if 0 < top_k < vocab:
        threshold = np.partition(x, vocab - top_k, axis=-1)[:, vocab - top_k:vocab - top_k + 1]
        x = np.where(x < threshold, -np.inf, x)
    if top_p < 1.0:
        order = np.argsort(-x, axis=-1, kind="stable")
        ordered = np.take_along_axis(x, order, axis=-1)
        probabilities = _softmax(ordered)
        before = np.cumsum(probabilities, axis=-1) - probabilities   # mass of better tokens
        drop = np.zeros_like(before, dtype=bool)
        np.put_along_axis(drop, order, before >= top_p, axis=-1)
        x = np.where(drop, -np.inf, x)
    weights = np.exp(x - np.maximum.reduce(x, axis=-1, keepdims=True))   # unnormalised
    cumulative = np.cumsum(weights, axis=-1, dtype=np.float64)
    totals = cumulative[:, -1]
    if temperature == 0:
        ids = np.argmax(x, axis=-1)
    else:
        rng = rng if rng is not None else np.random.default_rng()
        thresholds = rng.random(x.shape[0]) * totals
        # the first token whose cumulative mass passes the draw: never a zero-mass token
        ids = np.argmax(cumulative > thresholds[:, None], axis=-1)
    rows = np.arange(x.shape[0])
    return ids.astype(np.int64), weights[rows, ids].astype(np.float64) / totals


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)

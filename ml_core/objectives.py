"""Training objectives applied to batches of token windows before each step.

The trainer draws windows of plain token sequences; `BatchTransform` rewrites some rows:

- control dropout: each attribute-control token (REMI `Texture_*`, `Density_*`,
  `Register_*`) becomes its kind's `*_any` token with probability `control_dropout`, so
  the model also learns to write bars with a value left open. A dropped control is read
  but never a target (`scored` False there): "any" is what a musician or Fill forces, never
  what a piece holds, and a model taught to predict it put the dropout's 0.29 of its
  probability on "any" at every real control (0.06 nats a token of validation NLL,
  docs/PRESETS.md);
- bar infilling: with probability `infill_rate` a row whose window holds at least two
  bar lines is rearranged to

      <before> Hole <after> FillStart <the missing bars> FillEnd

  where the missing bars are 1 to `max_fill_bars` whole bars of the window (starting with
  their Bar token), <before> the tokens ahead of them and <after> the tokens behind.
  The three extra tokens are paid for by dropping the oldest tokens of <before> (or the
  last of <after> when <before> is short), so the row keeps its length; the loss covers
  the whole row, the fill included.

`for_training(tokenizer_description, ...)` builds the transform for a dataset's tokenizer,
or None when nothing applies (another scheme, rate 0, no control tokens);
`describe()` is what the bundle records, and `generation.fill` checks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_CONTROL_DROPOUT = 0.3   # share of control tokens shown as "any"
DEFAULT_MAX_FILL_BARS = 4       # the longest span an infilling example leaves out


@dataclass
class BatchTransform:
    """Rewrites token windows (items (B, T+1) int, valid (B, T+1) bool) into new arrays,
    with `scored` (B, T+1) bool: the items that count as targets (valid, not a dropped
    control)."""

    vocab_size: int
    bar_id: int
    pad_id: int
    any_of: np.ndarray              # (V,) the "any" id of each control token, -1 elsewhere
    infill_ids: tuple[int, ...]     # Hole, FillStart, FillEnd (empty: no infilling)
    control_dropout: float = 0.0
    infill_rate: float = 0.0
    max_fill_bars: int = DEFAULT_MAX_FILL_BARS

    def describe(self) -> dict[str, Any]:
        controls = bool((self.any_of >= 0).any())
        return {"control_dropout": self.control_dropout if controls else 0.0,
                "dropped_controls_scored": False if controls else None,
                "infill_rate": self.infill_rate if self.infill_ids else 0.0,
                "max_fill_bars": self.max_fill_bars}

    def __call__(self, items: np.ndarray, valid: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items, valid = items.copy(), valid.copy()
        if self.infill_rate > 0 and self.infill_ids:
            for row in np.flatnonzero(rng.random(items.shape[0]) < self.infill_rate):
                rearranged = self.infill_row(items[row][valid[row]], rng)
                if rearranged is not None:
                    items[row, :] = self.pad_id
                    items[row, :rearranged.size] = rearranged
                    valid[row, :] = False
                    valid[row, :rearranged.size] = True
        scored = valid.copy()
        if self.control_dropout > 0:
            replacement = self.any_of[items]
            drop = (replacement >= 0) & valid & (rng.random(items.shape) < self.control_dropout)
            items[drop] = replacement[drop]
            scored &= ~drop
        return items, valid, scored

    def infill_row(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """One window as an infilling example, or None when it holds under two bar lines."""
        bars = np.flatnonzero(tokens == self.bar_id)
        if bars.size < 2:
            return None
        first = int(rng.integers(0, bars.size - 1))
        last = int(rng.integers(first + 1, min(bars.size - 1, first + self.max_fill_bars) + 1))
        start, end = int(bars[first]), int(bars[last])
        before, missing, after = tokens[:start], tokens[start:end], tokens[end:]
        hole, fill_start, fill_end = self.infill_ids
        excess = 3
        cut_before = min(excess, before.size)
        before = before[cut_before:]
        if excess - cut_before:
            after = after[:max(0, after.size - (excess - cut_before))]
        return (np.concatenate([before, [hole], after, [fill_start], missing,
                                [fill_end]]).astype(tokens.dtype))


def for_training(tokenizer_description: dict[str, Any], *, infill_rate: float = 0.0,
                 control_dropout: float = DEFAULT_CONTROL_DROPOUT,
                 max_fill_bars: int = DEFAULT_MAX_FILL_BARS) -> BatchTransform | None:
    """The transform for a dataset's tokenizer (its manifest's `tokenizer` entry), or None
    when it changes nothing. ValueError when infilling is asked of a tokenizer without the
    infilling tokens."""
    if not 0 <= infill_rate <= 1 or not 0 <= control_dropout <= 1:
        raise ValueError("--infill-rate and the control dropout must lie between 0 and 1")
    from ml_core.tokenizers import from_dict

    try:
        tokenizer = from_dict(tokenizer_description)
    except ValueError:
        tokenizer = None
    control_ids = getattr(tokenizer, "control_ids", None) or {}
    infill_ids = tuple(getattr(tokenizer, "infill_ids", ()) or ())
    if infill_rate > 0 and not infill_ids:
        raise ValueError("--infill-rate needs a REMI dataset prepared with the infilling tokens "
                         "(use_infill, on by default for new datasets)")
    if tokenizer is None or (not control_ids and infill_rate == 0):
        return None
    any_of = np.full(tokenizer.vocab_size, -1, dtype=np.int64)
    for ids in control_ids.values():
        for token in ids.values():
            any_of[token] = ids[-1]  # -1: the ANY value's key
    return BatchTransform(tokenizer.vocab_size, tokenizer.bar_id, tokenizer.pad_id,
                          any_of, infill_ids,
                          control_dropout if control_ids else 0.0, infill_rate, max_fill_bars)

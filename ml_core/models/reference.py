"""The Transformer's forward pass written out as the papers describe it, op by op.

No fused kernels and no shortcuts: scores are `q k^T / sqrt(d)`, the Music Transformer's
relative logits are Q against one embedding per distance (an index lookup) and skewed,
RealFormer adds the previous layer's raw scores, the causal mask is a `masked_fill`, then
softmax, (attention dropout where the config has it) and the weighted sum. It reads the
weights of a `TransformerModel`, so it computes the same function with the same
parameters. Two uses:
- the oracle of the equivalence tests (the fast attention must agree with it);
- the baseline "reference loop" of `bench/train_throughput.py` (the symbolic-music
  report's training, written plainly: fp32, eager, batch 8, Adamax).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ml_core.models.transformer import TransformerModel


def _skew(relative_logits: torch.Tensor) -> torch.Tensor:
    """(B, H, T, T) with column m = distance T-1-m into column j = key j (Huang et al.)."""
    batch, heads, length, keys = relative_logits.shape
    padded = F.pad(relative_logits, (1, 0)).reshape(batch, heads, keys + 1, length)
    return padded[:, :, 1:].reshape(batch, heads, length, keys)


def _rotate(x: torch.Tensor, start: int, head_dim: int, base: float) -> torch.Tensor:
    """Rotary embedding of x (B, T, H, head_dim) with complex arithmetic."""
    length = x.shape[1]
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
    angles = (torch.arange(start, start + length,
                           dtype=torch.float64).unsqueeze(1) / (base ** exponents))
    rotation = torch.polar(torch.ones_like(angles), angles).to(torch.complex64).view(length, 1, -1)
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rotation.to(x.device)).flatten(-2).to(x.dtype)


def reference_forward(model: TransformerModel, tokens: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) of `model` for `tokens` (B, T) from scratch, written out."""
    config = model.config
    batch, length = tokens.shape
    heads, head_dim = config.num_heads, config.d_model // config.num_heads
    training = model.training
    x = model.embedding(tokens)
    if config.positions == "absolute":
        x = x + model.position_embedding.weight[:length]
    x = F.dropout(x, config.dropout, training)
    future = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), 1)
    previous_scores = None
    for block in model.blocks:
        attention = block.attention
        attention_in = block.attention_norm(x) if config.norm == "pre" else x
        qkv = attention.qkv(attention_in).view(batch, length, 3, heads, head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]                    # (B, T, H, hd)
        if config.positions == "rope":
            q = _rotate(q, 0, head_dim, config.rope_base)
            k = _rotate(k, 0, head_dim, config.rope_base)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)   # (B, H, T, hd)
        scores = torch.matmul(q, k.transpose(-1, -2)) / head_dim ** 0.5      # (B, H, T, T)
        if config.positions == "relative":
            distances = torch.arange(length - 1, -1, -1, device=tokens.device)
            distances = distances.clamp(max=config.max_relative_distance)
            table = attention.relative[distances]                            # (T, hd)
            scores = scores + _skew(torch.matmul(q, table.transpose(0, 1))) / head_dim ** 0.5
        if config.realformer and previous_scores is not None:
            scores = scores + previous_scores
        previous_scores = scores
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        weights = F.dropout(weights, config.attention_dropout, training)
        attended = torch.matmul(weights, v).transpose(1, 2).reshape(batch, length, config.d_model)
        attended = F.dropout(attention.out(attended), config.dropout, training)
        if config.norm == "pre":
            x = x + attended
            hidden = block.activation(block.feed_forward_in(block.feed_forward_norm(x)))
            x = x + F.dropout(block.feed_forward_out(F.dropout(hidden, config.dropout, training)),
                              config.dropout, training)
        else:
            x = block.attention_norm(x + attended)
            hidden = block.activation(block.feed_forward_in(x))
            x = block.feed_forward_norm(
                x + F.dropout(block.feed_forward_out(F.dropout(hidden, config.dropout, training)),
                              config.dropout, training))
    if model.final_norm is not None:
        x = model.final_norm(x)
    return model.head(x)

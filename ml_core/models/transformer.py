"""Decoder-only causal Transformer with a KV cache, three position schemes and RealFormer.

Positions (`positions`):
- `relative`: Music Transformer relative embeddings. Each layer learns E (D+1, head_dim)
  for distances 0..D (D = max_relative_distance, farther keys share E[D]), shared by all
  heads; S_rel[i, j] = q_i . E[min(i - j, D)] is added to q_i . k_j before the softmax.
  S_rel comes from Q E^T with the "skewing" trick (pad one column, reshape, drop a row),
  generalised to a query chunk that follows a cache (Transformer-XL's shift).
- `rope`: rotary embeddings applied to queries and keys.
- `absolute`: a learned table of `context` positions added to the token embeddings.
With rope/absolute the attention is torch's scaled_dot_product_attention; with relative
positions the relative logits enter SDPA as an additive float mask.

RealFormer (`realformer=True`): a layer's pre-softmax scores are added to the next
layer's. Only the current query rows are needed, so the KV cache is all it takes.

The state (`TransformerState`) holds one buffer per layer, keys and values stacked
(2, B, heads, capacity, head_dim), sized to the context window and written in place, plus how many
positions they hold and the absolute position of the next token. A state is used up by the call it
is passed to (its buffers are reused); `select_state` makes an independent copy (e.g. for batched
variations). `crop_state` keeps the last `keep` positions for relative/rope (the distances between
kept positions do not change; deeper layers' cached keys still carry what they saw of the dropped
tokens, which is sliding-window attention, as for any KV-cache crop) and returns None for absolute
positions, whose window must be re-encoded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ml_core.models.base import ModelConfig, ModelConfigError, SequenceModel, check_tokens


@dataclass(frozen=True)
class TransformerConfig(ModelConfig):
    vocab_size: int
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 8
    ff_size: int = 1024
    context: int = 512                # window the model is trained on / attends to
    positions: str = "rope"           # relative | rope | absolute
    max_relative_distance: int = 239  # relative only: distances beyond share one embedding
    realformer: bool = False          # residual attention scores between layers
    norm: str = "pre"                 # pre-LN (stable) or post-LN (the original layout)
    final_norm: bool = True           # LayerNorm before the output layer (pre-LN needs it)
    tie_embeddings: bool = False      # output weights = token embedding
    activation: str = "gelu"          # relu | gelu
    dropout: float = 0.1              # embeddings, residual branches, feed-forward
    # Dropout on the attention weights: in neither the paper's Transformer nor Vaswani et
    # al.'s, and it costs 4-10x the fused attention on a CPU (no flash kernel with it).
    attention_dropout: float = 0.0
    rope_base: float = 10000.0

    def validate(self) -> None:
        self._positive("vocab_size", "d_model", "num_layers", "num_heads", "ff_size",
                       "context", "max_relative_distance")
        self._choice("positions", ("relative", "rope", "absolute"))
        self._choice("norm", ("pre", "post"))
        self._choice("activation", ("relu", "gelu"))
        self._probability("dropout", "attention_dropout")
        if self.d_model % self.num_heads:
            raise ModelConfigError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")
        if self.positions == "rope" and (self.d_model // self.num_heads) % 2:
            raise ModelConfigError("rope needs an even head size (d_model / num_heads)")
        if self.rope_base <= 1:
            raise ModelConfigError(f"rope_base must be greater than 1, got {self.rope_base}")


@dataclass
class TransformerState:
    caches: list[torch.Tensor]   # per layer: keys and values (2, B, heads, capacity, head_dim)
    length: int                  # valid cache positions
    position: int                # absolute position of the next token

    @property
    def batch_size(self) -> int:
        return self.caches[0].shape[1]


def _skew(relative_logits: torch.Tensor) -> torch.Tensor:
    """(B, H, L, K) logits whose column m is distance K-1-m, into (B, H, L, K) logits
    whose column j is key j for query i at key position K-L+i (valid for j <= K-L+i;
    the rest is garbage that the causal mask removes)."""
    batch, heads, length, keys = relative_logits.shape
    padded = F.pad(relative_logits, (1, 0))                     # (B, H, L, K+1)
    padded = padded.reshape(batch, heads, keys + 1, length)
    return padded[:, :, 1:].reshape(batch, heads, length, keys)


class Attention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.heads = config.num_heads
        self.head_dim = config.d_model // config.num_heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.dropout = config.attention_dropout
        self.realformer = config.realformer
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)  # fused q, k, v
        self.out = nn.Linear(config.d_model, config.d_model)
        self.relative: nn.Parameter | None = None
        if config.positions == "relative":
            self.max_distance = config.max_relative_distance
            self.relative = nn.Parameter(
                torch.randn(config.max_relative_distance + 1, self.head_dim) * 0.02)

    def relative_logits(self, q: torch.Tensor, keys: int) -> torch.Tensor:
        """S_rel (B, H, L, keys) for queries at the last L of `keys` positions: Q against
        the `keys` distance embeddings (farther ones repeat E[D]), then skewed."""
        table = self.relative[:keys].flip(0)                       # distances keys-1 .. 0
        if keys > self.max_distance + 1:                            # (keys, head_dim)
            # slices and a flip, not index_select: its backward is a slow scatter on CPUs
            far = self.relative[self.max_distance:].expand(keys - self.max_distance - 1, -1)
            table = torch.cat([far, table])
        logits = q @ table.transpose(0, 1)                          # (B, H, L, keys)
        return logits if q.shape[2] == 1 else _skew(logits)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None, past: int,
                rotation: torch.Tensor | None, residual: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x (B, L, d) at cache slots past..past+L-1 -> (output, cache, scores)."""
        batch, length, _ = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, self.head_dim)
        qk = rotate(qkv[:, :, :2], rotation) if rotation is not None else qkv[:, :, :2]
        q = qk[:, :, 0].transpose(1, 2)                             # (B, H, L, hd)
        k, v = qk[:, :, 1].transpose(1, 2), qkv[:, :, 2].transpose(1, 2)
        total = past + length
        if cache is None:
            cache = torch.stack([k, v])                             # (2, B, H, L, hd)
        else:
            cache[0, :, :, past:total] = k
            cache[1, :, :, past:total] = v
        keys, values = cache[0, :, :, :total], cache[1, :, :, :total]
        dropout = self.dropout if self.training else 0.0
        if self.relative is None and not self.realformer:
            # The fused kernels: flash attention with is_causal when nothing is cached.
            if length == 1 or past == 0:
                attended = F.scaled_dot_product_attention(
                    q, keys, values, is_causal=length > 1, dropout_p=dropout)
            else:
                attended = F.scaled_dot_product_attention(
                    q, keys, values, attn_mask=~_future(past, length, x.device), dropout_p=dropout)
            return self._project(attended), cache, None
        scores = self._scores(q, keys, past, residual)
        weights = torch.softmax(scores, dim=-1)
        if dropout:
            weights = F.dropout(weights, dropout, True)
        return self._project(weights @ values), cache, scores if self.realformer else None

    def _scores(self, q: torch.Tensor, keys: torch.Tensor, past: int,
                residual: torch.Tensor | None) -> torch.Tensor:
        """Pre-softmax scores (B, H, L, total): q.k / sqrt(hd) + S_rel / sqrt(hd) + the
        previous layer's scores (RealFormer), future keys at -inf. One GEMM adds the
        relative logits, the residual and the mask as its bias, so the only B x H x L x T
        tensors are S_rel (skewed), their sum with the residual and the scores."""
        batch, heads, length, head_dim = q.shape
        total = keys.shape[2]
        # (B, H, L, hd): cheaper than scaling scores
        q = q * self.scale
        bias: torch.Tensor | None = None
        if self.relative is not None:
            bias = self.relative_logits(q, total)                   # (B, H, L, total), scaled
        if residual is not None:
            # the residual carries the causal mask already: its scores were masked the same way
            bias = residual if bias is None else bias + residual
        elif length > 1:
            mask = torch.zeros(length, total, device=q.device, dtype=q.dtype).masked_fill_(
                _future(past, length, q.device), float("-inf"))     # (L, total)
            bias = mask if bias is None else bias + mask
        queries = q.reshape(batch * heads, length, head_dim)
        keys_t = keys.reshape(batch * heads, total, head_dim).transpose(1, 2)
        if bias is None:
            scores = torch.bmm(queries, keys_t)
        else:
            scores = torch.baddbmm(bias.reshape(-1, length, total) if bias.dim() == 4 else bias,
                                   queries, keys_t)
        return scores.view(batch, heads, length, total)

    def _project(self, attended: torch.Tensor) -> torch.Tensor:
        batch, _, length, _ = attended.shape
        return self.out(attended.transpose(1, 2).reshape(batch, length, -1))  # (B, L, d)


def _future(past: int, length: int, device: torch.device) -> torch.Tensor:
    """(L, past + L) True where key j lies after query i (query i sits at slot past + i)."""
    query_slots = torch.arange(past, past + length, device=device).unsqueeze(1)
    return torch.arange(past + length, device=device).unsqueeze(0) > query_slots


class RotaryTable:
    """Rotary embeddings as rotations by the angle p w per position p and frequency w
    (adjacent pairs of a head's features form one 2-D point), kept as cos and sin in real
    arithmetic (compilers fuse it; complex tensors they cannot). A plain attribute, not a
    buffer: never saved, never cast by `model.to(dtype)`, grown on demand."""

    def __init__(self, head_dim: int, base: float) -> None:
        exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
        self.frequencies = 1.0 / (base ** exponents)                  # (head_dim / 2,)
        self.table = torch.empty(0, head_dim // 2, 2)

    def rotations(self, start: int, length: int, device: torch.device) -> torch.Tensor:
        """cos and sin (L, 1, 1, head_dim / 2, 2) for positions start..start+length-1."""
        end = start + length
        if self.table.shape[0] < end or self.table.device != device:
            size = max(end, 2 * self.table.shape[0], 1024)
            angles = torch.arange(size, dtype=torch.float64).unsqueeze(1) * self.frequencies
            self.table = torch.stack([angles.cos(), angles.sin()], dim=-1).float().to(device)
        return self.table[start:end].view(length, 1, 1, -1, 2)


def rotate(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """x (B, L, ..., head_dim) rotated by `rotation` (L, 1, ..., head_dim / 2, 2)."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    first, second = pairs[..., 0], pairs[..., 1]
    cos, sin = rotation[..., 0], rotation[..., 1]
    rotated = torch.stack([first * cos - second * sin, first * sin + second * cos], dim=-1)
    return rotated.flatten(-2).to(x.dtype)


class Block(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.pre_norm = config.norm == "pre"
        self.attention = Attention(config)
        self.attention_norm = nn.LayerNorm(config.d_model)
        self.feed_forward_in = nn.Linear(config.d_model, config.ff_size)
        self.activation = F.gelu if config.activation == "gelu" else F.relu
        self.feed_forward_out = nn.Linear(config.ff_size, config.d_model)
        self.feed_forward_norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x) if self.training else x  # no module call per step in eval

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feed_forward_out(self._drop(self.activation(self.feed_forward_in(x))))

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None, past: int,
                rotation: torch.Tensor | None, residual: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self.pre_norm:
            attended, cache, scores = self.attention(self.attention_norm(x), cache, past,
                                                     rotation, residual)
            x = x + self._drop(attended)
            x = x + self._drop(self.feed_forward(self.feed_forward_norm(x)))
        else:
            attended, cache, scores = self.attention(x, cache, past, rotation, residual)
            x = self.attention_norm(x + self._drop(attended))
            x = self.feed_forward_norm(x + self._drop(self.feed_forward(x)))
        return x, cache, scores


class TransformerModel(SequenceModel):
    arch = "transformer"
    kind = "token"
    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = (nn.Embedding(config.context, config.d_model)
                                   if config.positions == "absolute" else None)
        self.rope = (RotaryTable(config.d_model // config.num_heads, config.rope_base)
                     if config.positions == "rope" else None)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.final_norm = nn.LayerNorm(config.d_model) if config.final_norm else None
        self.head = nn.Linear(config.d_model, config.vocab_size)
        self.trained_window: int | None = None   # see max_context
        self.apply(_init_weights)
        if config.tie_embeddings:
            self.head.weight = self.embedding.weight

    @property
    def max_context(self) -> int:
        """The longest context generation reads: `config.context`, or the window the model
        was trained on when that was shorter (`trained_window`, set by `bundle.load` from
        the card). Positions past the trained window were never seen in training, and
        reading them makes the model worse, not better: the shipped models trained on
        256-token windows read held-out pieces at 4.22 bits per note when no token sees
        more than 256 before it, 4.56 when the last of 512 see all 511 (`default-next`)."""
        trained = self.trained_window
        return min(self.config.context, trained) if trained else self.config.context

    def forward(self, tokens: torch.Tensor, state: TransformerState | None = None
                ) -> tuple[torch.Tensor, TransformerState]:
        check_tokens(tokens, self.config.vocab_size)
        batch, length = tokens.shape
        if state is not None and state.batch_size != batch:
            raise ValueError(f"state is for batch size {state.batch_size}, tokens have {batch}")
        past = state.length if state is not None else 0
        position = state.position if state is not None else 0
        x = self.embedding(tokens)                                   # (B, L, d)
        if self.position_embedding is not None:
            if position + length > self.config.context:
                raise ValueError(
                    f"{position + length} positions exceed the model's context of "
                    f"{self.config.context}; re-encode a shorter window")
            x = x + self.position_embedding.weight[position:position + length]
        if self.training:
            x = self.embedding_dropout(x)
        rotation = (self.rope.rotations(position, length, x.device)
                    if self.rope is not None else None)
        caches = self._grown(state, past + length) if state is not None else None
        new_caches = []
        residual = None
        for index, block in enumerate(self.blocks):
            cache = caches[index] if caches is not None else None
            x, cache, residual = block(x, cache, past, rotation, residual)
            new_caches.append(cache)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return self.head(x), TransformerState(new_caches, past + length, position + length)

    def _grown(self, state: TransformerState, needed: int) -> list[torch.Tensor]:
        """The state's caches, moved to bigger buffers when `needed` positions do not fit."""
        capacity = state.caches[0].shape[3]
        if needed <= capacity:
            return state.caches
        capacity = max(needed,
                       self.config.context if needed <= self.config.context else 2 * capacity)
        return [self._copy_cache(cache, 0, state.length, capacity) for cache in state.caches]

    @staticmethod
    def _copy_cache(cache: torch.Tensor, start: int, end: int, capacity: int) -> torch.Tensor:
        """A new buffer of `capacity` slots holding cache slots start..end-1 at the front."""
        buffer = cache.new_empty(*cache.shape[:3], capacity, cache.shape[4])
        buffer[:, :, :, :end - start] = cache[:, :, :, start:end]
        return buffer

    def crop_state(self, state: Any, keep: int) -> TransformerState | None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        if self.config.positions == "absolute":
            return None
        if keep >= state.length:
            return state
        capacity = max(self.config.context, keep)
        caches = [self._copy_cache(cache, state.length - keep, state.length, capacity)
                  for cache in state.caches]
        return TransformerState(caches, keep, state.position)

    def select_state(self, state: Any, rows: torch.Tensor) -> TransformerState:
        caches = [cache[:, :, :, :state.length].index_select(1, rows.to(cache.device))
                  for cache in state.caches]
        return TransformerState(caches, state.length, state.position)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

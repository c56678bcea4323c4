"""The Transformer: relative attention against a naive O(L^2) reference, the KV cache,
RealFormer, crop_state and the position schemes."""

from __future__ import annotations

import math

import pytest
import torch

from ml_core.models import build_model

VOCAB = 23


def small(positions: str = "relative", **overrides):
    hparams = dict(vocab_size=VOCAB, d_model=32, num_layers=2, num_heads=4, ff_size=48,
                   context=64, positions=positions, max_relative_distance=5, dropout=0.0)
    hparams.update(overrides)
    torch.manual_seed(0)
    model = build_model("transformer", **hparams).eval()
    with torch.no_grad():  # sharper attention than the 0.02 init, so differences show
        for block in model.blocks:
            block.attention.qkv.weight.normal_(0, 0.4)
            if positions == "relative":
                block.attention.relative.normal_(0, 1.0)
    return model


def naive_attention(attention, x: torch.Tensor, residual: torch.Tensor | None):
    """Relative attention written out: S_rel[i, j] = q_i . E[min(i - j, D)] for j <= i."""
    batch, length, _ = x.shape
    heads, head_dim = attention.heads, attention.head_dim
    q, k, v = attention.qkv(x).view(batch, length, 3, heads, head_dim).unbind(2)
    scores = torch.zeros(batch, heads, length, length)
    for i in range(length):
        for j in range(length):
            distance = min(i - j, attention.max_distance) if j <= i else 0
            content = (q[:, i] * k[:, j]).sum(-1)                      # (B, H)
            relative = (q[:, i] * attention.relative[distance]).sum(-1)
            scores[:, :, i, j] = (content + relative) / math.sqrt(head_dim)
    if residual is not None:
        scores = scores + residual
    future = torch.ones(length, length, dtype=torch.bool).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    attended = torch.einsum("bhij,bjhd->bihd", weights, v).reshape(batch, length, -1)
    return attention.out(attended), scores


def naive_forward(model, tokens: torch.Tensor) -> torch.Tensor:
    x = model.embedding(tokens)
    residual = None
    for block in model.blocks:
        if block.pre_norm:
            attended, scores = naive_attention(block.attention, block.attention_norm(x), residual)
            x = x + attended
            x = x + block.feed_forward(block.feed_forward_norm(x))
        else:
            attended, scores = naive_attention(block.attention, x, residual)
            x = block.attention_norm(x + attended)
            x = block.feed_forward_norm(x + block.feed_forward(x))
        residual = scores if model.config.realformer else None
    if model.final_norm is not None:
        x = model.final_norm(x)
    return model.head(x)


def step_by_step(model, tokens: torch.Tensor, chunks: list[int] | None = None) -> torch.Tensor:
    bounds = chunks or list(range(1, tokens.shape[1] + 1))
    state, outputs, start = None, [], 0
    for end in bounds:
        logits, state = model(tokens[:, start:end], state)
        outputs.append(logits)
        start = end
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("realformer", [False, True])
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_relative_attention_matches_naive_reference(realformer: bool, norm: str) -> None:
    model = small(realformer=realformer, norm=norm, final_norm=norm == "pre")
    tokens = torch.randint(0, VOCAB, (2, 14))  # longer than max distance 5: clipping matters
    with torch.no_grad():
        expected = naive_forward(model, tokens)
        full, _ = model(tokens)
        stepped = step_by_step(model, tokens)
        chunked = step_by_step(model, tokens, [3, 4, 11, 14])
    torch.testing.assert_close(full, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(stepped, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunked, expected, atol=1e-4, rtol=1e-4)


def test_relative_distance_clipping_changes_output() -> None:
    tokens = torch.randint(0, VOCAB, (1, 12))
    far_model = small(max_relative_distance=11)
    near_model = small(max_relative_distance=2)
    weights = far_model.state_dict()
    for key in weights:
        if key.endswith("relative"):
            weights[key] = weights[key][:3]  # same E for distances 0..2
    near_model.load_state_dict(weights)
    with torch.no_grad():
        near, _ = near_model(tokens)
        far, _ = far_model(tokens)
    # Positions 0..2 see distances <= 2 only: identical. Later ones differ by clipping.
    torch.testing.assert_close(near[:, :3], far[:, :3], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(near[:, -1], far[:, -1], atol=1e-3)


@pytest.mark.parametrize("positions", ["relative", "rope", "absolute"])
def test_realformer_residual_scores_change_the_output(positions: str) -> None:
    tokens = torch.randint(0, VOCAB, (2, 10))
    plain = small(positions, realformer=False)
    residual = small(positions, realformer=True)
    residual.load_state_dict(plain.state_dict())
    with torch.no_grad():
        plain_logits, _ = plain(tokens)
        residual_logits, _ = residual(tokens)
        stepped = step_by_step(residual, tokens)
    assert (plain_logits - residual_logits).abs().max() > 1e-3
    torch.testing.assert_close(plain_logits[:, 0], residual_logits[:, 0])  # one key: same
    torch.testing.assert_close(stepped, residual_logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("positions", ["relative", "rope"])
def test_crop_state_equals_reencoding_the_kept_tokens(positions: str) -> None:
    # One layer: its cached keys/values depend on each token alone, so a cropped cache is
    # exactly the cache of the kept tokens encoded afresh (positions are relative).
    model = small(positions, num_layers=1)
    tokens = torch.randint(0, VOCAB, (3, 20))
    keep = 7
    with torch.no_grad():
        _, state = model(tokens[:, :15])
        cropped = model.crop_state(state, keep)
        continued, _ = model(tokens[:, 15:], cropped)
        _, fresh_state = model(tokens[:, 15 - keep:15])
        fresh, _ = model(tokens[:, 15:], fresh_state)
    assert cropped.length == keep
    torch.testing.assert_close(continued, fresh, atol=1e-4, rtol=1e-4)


def test_crop_state_repeated_is_sliding_window_attention() -> None:
    # Deeper layers: cropping every step to the last `window` positions gives the same
    # logits as a full pass in which each token sees only the `window` latest tokens.
    model = small("relative", num_layers=2)
    tokens = torch.randint(0, VOCAB, (1, 16))
    window = 5
    with torch.no_grad():
        state, outputs = None, []
        for t in range(16):
            if state is not None:
                state = model.crop_state(state, window - 1)
            logits, state = model(tokens[:, t:t + 1], state)
            outputs.append(logits)
        stepped = torch.cat(outputs, dim=1)
        # reference: recompute each position from scratch on a band-limited attention
        band = (torch.ones(16, 16, dtype=torch.bool).triu(1) | torch.ones(16, 16,
                                                                          dtype=torch.bool).tril(-window))
        reference = _banded_forward(model, tokens, band)
    torch.testing.assert_close(stepped, reference, atol=1e-4, rtol=1e-4)


def _banded_forward(model, tokens, blocked):
    """Full pass where position i may attend to j only where blocked[i, j] is False."""
    x = model.embedding(tokens)
    for block in model.blocks:
        attention = block.attention
        inner = block.attention_norm(x) if block.pre_norm else x
        batch, length, _ = inner.shape
        q, k, v = attention.qkv(inner).view(batch, length, 3, attention.heads, -1).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        bias = attention.relative_logits(q, length) * attention.scale
        scores = q @ k.transpose(-1, -2) * attention.scale + bias
        weights = torch.softmax(scores.masked_fill(blocked, float("-inf")), dim=-1)
        attended = attention.out((weights @ v).transpose(1, 2).reshape(batch, length, -1))
        if block.pre_norm:
            x = x + attended
            x = x + block.feed_forward(block.feed_forward_norm(x))
        else:
            x = block.attention_norm(x + attended)
            x = block.feed_forward_norm(x + block.feed_forward(x))
    if model.final_norm is not None:
        x = model.final_norm(x)
    return model.head(x)


def test_absolute_positions_cannot_crop_and_refuse_overflow() -> None:
    model = small("absolute", context=8)
    _, state = model(torch.randint(0, VOCAB, (1, 8)))
    assert model.crop_state(state, 4) is None
    with pytest.raises(ValueError, match="context"):
        model(torch.randint(0, VOCAB, (1, 1)), state)


def test_rope_and_relative_run_past_the_context_window() -> None:
    for positions in ("rope", "relative"):
        model = small(positions, context=8)
        tokens = torch.randint(0, VOCAB, (1, 20))
        with torch.no_grad():
            full, _ = model(tokens)
            stepped = step_by_step(model, tokens)  # the cache grows past its 8 slots
        torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


def test_state_rows_are_independent_and_selectable() -> None:
    model = small("rope")
    tokens = torch.randint(0, VOCAB, (3, 9))
    with torch.no_grad():
        _, state = model(tokens[:, :6])
        picked = model.select_state(state, torch.tensor([2, 2, 0]))
        batched, _ = model(tokens[[2, 2, 0], 6:], picked)
        alone, _ = model(tokens[2:3])
    torch.testing.assert_close(batched[0], alone[0, 6:], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(batched[1], alone[0, 6:], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="batch size"):
        model(tokens[:2, 6:7], state)


def test_tied_embeddings_share_one_tensor_and_count_once() -> None:
    tied = small("rope", tie_embeddings=True)
    untied = small("rope", tie_embeddings=False)
    assert tied.head.weight is tied.embedding.weight
    assert untied.parameter_count() - tied.parameter_count() == VOCAB * 32

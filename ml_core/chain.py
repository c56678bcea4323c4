"""Training chains: each session trains on from the last shipped weights (`train --init-from`).

`init_weights(model, bundle_folder)` copies a bundle's weights into a freshly built model
of the same architecture that may be larger in three ways, each of which leaves what the
old model computes unchanged:

- a grown vocabulary: each old token's row of the embedding and the output layer is
  copied to the row of the token with the same name in the new vocabulary (a tokenizer
  option may insert tokens anywhere: REMI's 16-quarter bars add positions and durations
  in the middle), the new tokens' rows keep their fresh initialisation, so old-vocabulary
  inputs give the old logits for the old tokens;
- a wider feed-forward block (`ff_size`): the old hidden units are copied, the new ones
  get fresh input weights and zero output weights (they add nothing until trained);
- more layers (Transformer): the new blocks start with zero output projections in
  attention and feed-forward, so each adds nothing to the residual stream at first.

Everything else (model width, heads, positions, norms) must match. The model card of every
link records its own figures and the links before it (`chain_record`), so a card says how
many tokens, steps, seconds and which machines went into the weights it ships.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

# hparams a link may change: these three grow, the rest only shape training or inference
GROWABLE = ("vocab_size", "ff_size", "num_layers")
FREE = ("context",)   # and every dropout (`dropout`, `attention_dropout`, the LSTM's three)
# weights that write into the residual stream: zero in a new block, zero on new inputs
_RESIDUAL_WRITERS = ("attention.out", "feed_forward_out")
_BLOCK = re.compile(r"^blocks\.(\d+)\.")
# modules whose first dimension is the vocabulary (token embedding, output layer)
_VOCAB_ROWS = ("embedding", "head")


class InitError(ValueError):
    """A bundle whose weights cannot start this model (one line)."""


def check_compatible(old: dict[str, Any], new: dict[str, Any], old_arch: str,
                     new_arch: str) -> None:
    """InitError unless `new` hparams only grow `old` along GROWABLE (or change FREE ones)."""
    if old_arch != new_arch:
        raise InitError(f"--init-from: the bundle is a {old_arch}, the model to train a {new_arch}")
    for name in sorted(set(old) | set(new)):
        if name in FREE or name.endswith("dropout"):
            continue
        before, after = _plain(old.get(name)), _plain(new.get(name))
        if name in GROWABLE:
            if before is not None and after is not None and after < before:
                raise InitError(f"--init-from: {name} can grow but not shrink ({before} -> "
                                f"{after})")
        elif before != after:
            raise InitError(f"--init-from: {name} differs ({before} in the bundle, {after} here); "
                            f"only {', '.join(GROWABLE)} may change")


def _plain(value: Any) -> Any:
    """A value as its card stores it: sequences as lists (a preset's `(512,)` is the card's
    `[512]`)."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def token_rows(old_tokens: list[str], new_tokens: list[str]) -> tuple[list[int], list[int]]:
    """(new ids, old ids) of the tokens both vocabularies name; InitError if the new vocabulary
    drops one of the old tokens (the bundle's knowledge of it would be lost silently)."""
    new_ids = {token: index for index, token in enumerate(new_tokens)}
    lost = [token for token in old_tokens if token not in new_ids]
    if lost:
        raise InitError(f"--init-from: the new vocabulary lacks {len(lost)} of the bundle's "
                        f"tokens ({', '.join(lost[:3])}...); prepare with options that keep them")
    return [new_ids[token] for token in old_tokens], list(range(len(old_tokens)))


def _bundle_tokens(config: dict[str, Any]) -> list[str] | None:
    from ml_core.data import build_encoder

    try:
        vocab = getattr(build_encoder(config["tokenizer"]), "vocab", None)
    except Exception:  # noqa: BLE001 - a frame representation or an old card: rows by index
        return None
    return list(vocab.tokens) if vocab is not None else None


def init_weights(model: torch.nn.Module, folder: str | Path,
                 tokens: list[str] | None = None) -> dict[str, int]:
    """Load the bundle at `folder` into `model` (see the module docstring); returns counts of
    tensors copied whole, copied into a larger tensor, and left new. `tokens`: the new
    model's vocabulary (id order); with it, rows move by token name, else by index."""
    from ml_core import bundle

    folder = Path(folder)
    config = bundle.read_config(folder)
    check_compatible(config["hparams"], dict(vars(model.config)), config["arch"], model.arch)
    old = bundle._read_weights(folder / bundle.WEIGHTS_FILE)
    old_vocab = int(config["hparams"].get("vocab_size", 0))
    old_tokens = _bundle_tokens(config) if tokens is not None else None
    rows = None
    if tokens is not None and old_tokens is not None and len(old_tokens) == old_vocab:
        rows = token_rows(old_tokens, list(tokens))
    counts = {"copied": 0, "grown": 0, "new": 0}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            source = old.get(name)
            if (rows is not None and source is not None and name.split(".")[0] in _VOCAB_ROWS
                    and source.shape[0] == old_vocab and tensor.shape[0] == len(tokens)):
                source = _moved_rows(source, tensor, rows)
            if source is None:
                counts["new"] += 1
                if _BLOCK.match(name) and any(f".{w}." in name for w in _RESIDUAL_WRITERS):
                    tensor.zero_()
                continue
            if source.dim() != tensor.dim() or any(s > t
                                                   for s, t in zip(source.shape, tensor.shape,
                                                                   strict=True)):
                raise InitError(f"--init-from: '{name}' has shape {tuple(source.shape)} in the "
                                f"bundle "
                                f"and {tuple(tensor.shape)} here")
            if source.shape == tensor.shape:
                tensor.copy_(source)
                counts["copied"] += 1
                continue
            if any(f".{w}." in name for w in _RESIDUAL_WRITERS) and name.endswith("weight"):
                tensor[..., source.shape[-1]:] = 0   # new inputs (hidden units) write nothing yet
            tensor[tuple(slice(0, size) for size in source.shape)] = source
            counts["grown"] += 1
    return counts


def _moved_rows(source: torch.Tensor, tensor: torch.Tensor,
                rows: tuple[list[int], list[int]]) -> torch.Tensor:
    """`source` laid out in the new vocabulary's order: the old rows at their tokens' new ids,
    the new tokens' rows as the fresh model has them (so they count as grown, not copied)."""
    placed = tensor[(slice(None),) + tuple(slice(0, size) for size in source.shape[1:])].clone()
    new_ids, old_ids = rows
    placed[new_ids] = source[old_ids].to(placed.dtype)
    return placed


def link_record(*, source: str | None, data: list[str] | None, tokens_seen: int, steps: int,
                wall_seconds: float, machine: str, precision: str, compiled: bool,
                parameters: int, parts: dict[str, int] | None = None) -> dict[str, Any]:
    """One link of a chain as the model card stores it; `parts`: how many bar sections of
    each part (a remi_tracks `Track_*` token) its training data held."""
    record = {"init_from": source, "data": data, "tokens_seen": int(tokens_seen),
              "steps": int(steps), "wall_seconds": round(float(wall_seconds), 2),
              "machine": machine, "precision": precision,
              "compiled": bool(compiled), "parameters": int(parameters)}
    if parts:
        record["parts"] = {name: int(count) for name, count in parts.items()}
    return record


def earlier_links(folder: str | Path) -> list[dict[str, Any]]:
    """The links that made the bundle at `folder`: its card's chain, or for a card from
    before chains one link read from its metrics and training record."""
    from ml_core import bundle

    config = bundle.read_config(folder)
    training = config.get("training") or {}
    chain = training.get("chain")
    if isinstance(chain, dict) and isinstance(chain.get("links"), list):
        return [dict(link) for link in chain["links"]]
    metrics = config.get("metrics") or {}
    data = (training.get("data") or {}).get("sources")
    return [link_record(source=None, data=data, tokens_seen=metrics.get("tokens_seen") or 0,
                        steps=metrics.get("steps") or 0,
                        wall_seconds=metrics.get("wall_seconds") or 0.0,
                        machine="not recorded", precision=training.get("precision", "not recorded"),
                        compiled=bool(training.get("compiled")),
                        parameters=config.get("parameter_count") or 0)]


def chain_record(links: list[dict[str, Any]]) -> dict[str, Any]:
    """The card's `training.chain`: every link plus the totals over them."""
    machines: list[str] = []
    for link in links:
        if link.get("machine") and link["machine"] not in machines:
            machines.append(link["machine"])
    totals = {"links": len(links),
              "tokens_seen": sum(int(link.get("tokens_seen") or 0) for link in links),
              "steps": sum(int(link.get("steps") or 0) for link in links),
              "wall_seconds": round(sum(float(link.get("wall_seconds") or 0)
                                        for link in links), 2),
              "machines": machines}
    parts = _parts(links)
    if parts:
        totals["parts"] = parts
    return {"links": links, "totals": totals}


def _parts(links: list[dict[str, Any]]) -> dict[str, int]:
    """The bar sections of each part over every link's data, most first."""
    total: dict[str, int] = {}
    for link in links:
        for name, count in (link.get("parts") or {}).items():
            total[name] = total.get(name, 0) + int(count)
    return dict(sorted(total.items(), key=lambda item: -item[1]))

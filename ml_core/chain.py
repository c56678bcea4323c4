"""Training chains: each session trains on from the last shipped weights (`train --init-from`).

`init_weights(model, bundle_folder)` copies a bundle's weights into a freshly built model
of the same architecture that may be larger in three ways, each of which leaves what the
old model computes unchanged:

- a grown vocabulary: the old token rows of the embedding and the output layer are
  copied, the new rows keep their fresh initialisation (old-vocabulary inputs give the
  old logits for the old tokens);
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
FREE = ("dropout", "attention_dropout", "context")
# weights that write into the residual stream: zero in a new block, zero on new inputs
_RESIDUAL_WRITERS = ("attention.out", "feed_forward_out")
_BLOCK = re.compile(r"^blocks\.(\d+)\.")


class InitError(ValueError):
    """A bundle whose weights cannot start this model (one line)."""


def check_compatible(old: dict[str, Any], new: dict[str, Any], old_arch: str,
                     new_arch: str) -> None:
    """InitError unless `new` hparams only grow `old` along GROWABLE (or change FREE ones)."""
    if old_arch != new_arch:
        raise InitError(f"--init-from: the bundle is a {old_arch}, the model to train a {new_arch}")
    for name in sorted(set(old) | set(new)):
        if name in FREE:
            continue
        before, after = old.get(name), new.get(name)
        if name in GROWABLE:
            if before is not None and after is not None and after < before:
                raise InitError(f"--init-from: {name} can grow but not shrink ({before} -> "
                                f"{after})")
        elif before != after:
            raise InitError(f"--init-from: {name} differs ({before} in the bundle, {after} here); "
                            f"only {', '.join(GROWABLE)} may change")


def init_weights(model: torch.nn.Module, folder: str | Path) -> dict[str, int]:
    """Load the bundle at `folder` into `model` (see the module docstring); returns counts of
    tensors copied whole, copied into a larger tensor, and left new."""
    from ml_core import bundle

    folder = Path(folder)
    config = bundle.read_config(folder)
    check_compatible(config["hparams"], dict(vars(model.config)), config["arch"], model.arch)
    old = bundle._read_weights(folder / bundle.WEIGHTS_FILE)
    counts = {"copied": 0, "grown": 0, "new": 0}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            source = old.get(name)
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


def link_record(*, source: str | None, data: list[str] | None, tokens_seen: int, steps: int,
                wall_seconds: float, machine: str, precision: str, compiled: bool,
                parameters: int) -> dict[str, Any]:
    """One link of a chain as the model card stores it."""
    return {"init_from": source, "data": data, "tokens_seen": int(tokens_seen), "steps": int(steps),
            "wall_seconds": round(float(wall_seconds), 2), "machine": machine,
            "precision": precision,
            "compiled": bool(compiled), "parameters": int(parameters)}


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
    return {"links": links,
            "totals": {"links": len(links),
                       "tokens_seen": sum(int(link.get("tokens_seen") or 0) for link in links),
                       "steps": sum(int(link.get("steps") or 0) for link in links),
                       "wall_seconds": round(sum(float(link.get("wall_seconds") or 0)
                                                 for link in links), 2),
                       "machines": machines}}

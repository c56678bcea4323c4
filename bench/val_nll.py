"""Validation NLL of several bundles on the very same windows of one prepared dataset
(issue 43: a chain link against the shipped default on common held-out data).

The validation split's pieces are grouped by collection (`--group NAME=COLL,COLL,...`;
every collection not named falls in "rest"), and every model reads the same fixed windows
of each group (`WindowSampler.validation_positions`, the windows training validates on),
each with the tokens before it in its piece where the model reads a fixed window.

    .venv/bin/python -m bench.val_nll --data /work/data/next-v1 --models default PATH ...
        [--group pop909=pop909] [--window 256] [--max-windows 256]

Models must share the dataset's vocabulary. Ends with one JSON line:
{"bench": "val_nll", "data": ..., "windows": {GROUP: n}, "models": {NAME: {GROUP: nats/token}}}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ml_core import bundle as bundle_module
from ml_core.data import Split, WindowSampler, load_dataset
from ml_core.losses import IGNORE_INDEX, token_nll_sums
from ml_core.models.base import preceding_ids, window_logits


def group_split(split: Split, keep: np.ndarray) -> Split:
    """The pieces of `split` where `keep` is true, as a split of their own."""
    pieces = [split.piece(i) for i in np.flatnonzero(keep)]
    offsets = np.zeros(len(pieces) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pieces])
    data = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
    return Split(data, offsets, np.zeros(len(pieces), np.int32))


@torch.no_grad()
def mean_nll(model, split: Split, window: int, max_windows: int, pad: int,
             batch: int = 16) -> float:
    sampler = WindowSampler(split, window, pad, preceding=preceding_ids(model))
    pieces, starts = sampler.validation_positions(max_windows)
    total, count = 0.0, 0
    for begin in range(0, len(pieces), batch):
        gathered = sampler.gather(pieces[begin:begin + batch], starts[begin:begin + batch])
        items = torch.from_numpy(np.asarray(gathered.items))
        valid = torch.from_numpy(np.asarray(gathered.valid))[:, 1:]
        targets = items[:, 1:].masked_fill(~valid, IGNORE_INDEX)
        logits = window_logits(model, items[:, :-1], gathered.preceding)
        part_total, part_count = token_nll_sums(logits, targets)
        total += part_total
        count += part_count
    return total / max(count, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="prepared dataset folder (its validation split)")
    parser.add_argument("--models", nargs="+", default=["default"], help="bundle names or folders")
    parser.add_argument("--group", action="append", default=[], metavar="NAME=COLL,...",
                        help="collections scored together (repeatable); the others form 'rest'")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--max-windows", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dataset = load_dataset(Path(args.data))
    names = dataset.collection_names
    labels = np.asarray(dataset.val.collections)
    named: dict[str, set[int]] = {}
    for text in args.group:
        group, _, members = text.partition("=")
        named[group] = {names.index(m) for m in members.split(",") if m in names}
    taken = set().union(*named.values()) if named else set()
    groups = {group: np.isin(labels, sorted(ids)) for group, ids in named.items()}
    groups["rest"] = ~np.isin(labels, sorted(taken))
    groups = {group: keep for group, keep in groups.items() if keep.any()}
    splits = {group: group_split(dataset.val, keep) for group, keep in groups.items()}
    results: dict[str, dict[str, float]] = {}
    for name in args.models:
        folder = bundle_module.resolve(name)
        if bundle_module.read_config(folder)["hparams"].get("vocab_size") != dataset.vocab_size:
            print(f"error: {name} has another vocabulary than {args.data}", file=sys.stderr)
            return 2
        loaded = bundle_module.load(folder)
        results[name] = {group: round(mean_nll(loaded.model, split, args.window, args.max_windows,
                                                dataset.pad_id), 4)
                         for group, split in splits.items()}
        print(f"{name}: " + ", ".join(f"{g} {v:.4f}" for g, v in results[name].items()),
              file=sys.stderr)
    windows = {group: int(len(WindowSampler(split, args.window, dataset.pad_id)
                              .validation_positions(args.max_windows)[0]))
                              for group, split in splits.items()}
    print(json.dumps({"bench": "val_nll", "data": str(args.data), "window": args.window,
                      "windows": windows, "models": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

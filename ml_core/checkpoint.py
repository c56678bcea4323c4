"""Atomic, pickle-free training checkpoints.

A run folder (`.<name>.training/` beside the bundle) holds the run's metrics.jsonl log
(`RunLog`; the schema is in `ml_core.metrics_log`) and a checkpoint of two files:

    checkpoint-<step>.safetensors   model weights + optimizer tensors
    checkpoint.json                 step counters, optimizer hyper-parameters, loop state,
                                    and the name of the tensor file it goes with

The tensor file is written first (atomically, `ml_core.files`), then `checkpoint.json`
(same way), then older tensor files are deleted. A kill at any moment therefore
leaves a `checkpoint.json` that names a complete tensor file: `train --resume`
always finds a consistent pair. Nothing is unpickled on load.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ml_core.files import atomic_path, atomic_write_text
from ml_core.metrics_log import METRICS_FILE, read_metrics

CHECKPOINT_JSON = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, or belongs to another model."""


def _split_optimizer_state(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor],
                                                                dict[str, Any]]:
    """Optimizer state -> (tensors keyed `optimizer.<param>.<name>`, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for param_index, values in state_dict["state"].items():
        plain: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_index}.{name}"] = (
                    value.detach().cpu().contiguous().clone())
            else:
                plain[name] = value
        plain_state[str(param_index)] = plain
    return tensors, {"state": plain_state, "param_groups": state_dict["param_groups"]}


def _join_optimizer_state(tensors: dict[str, torch.Tensor],
                          plain: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in plain["state"].items()}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param_index, name = key.split(".", 2)
            state.setdefault(int(param_index), {})[name] = value
    return {"state": state, "param_groups": plain["param_groups"]}


def save_checkpoint(directory: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any], scaler: Any = None) -> Path:
    """Write a checkpoint of `model` (unwrapped, not DDP), `optimizer` and the JSON-able
    loop `state` (which must hold an integer 'step'). Returns the JSON path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    step = int(state["step"])
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone()
               for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_plain = _split_optimizer_state(optimizer.state_dict())
    tensors.update(optimizer_tensors)
    tensor_name = f"checkpoint-{step:09d}.safetensors"
    with atomic_path(directory / tensor_name) as temporary:
        save_file(tensors, str(temporary), metadata={"step": str(step)})
    document = {
        "format_version": FORMAT_VERSION,
        "tensors": tensor_name,
        "optimizer": optimizer_plain,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "state": state,
    }
    json_path = directory / CHECKPOINT_JSON
    atomic_write_text(json_path, json.dumps(document, indent=1))
    for old in directory.glob("checkpoint-*.safetensors"):
        if old.name != tensor_name:
            old.unlink(missing_ok=True)
    return json_path


def has_checkpoint(directory: Path) -> bool:
    return (Path(directory) / CHECKPOINT_JSON).is_file()


def load_checkpoint(directory: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: Any = None) -> dict[str, Any]:
    """Restore model and optimizer in place; return the loop state saved with them."""
    json_path = Path(directory) / CHECKPOINT_JSON
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint to resume in {directory}") from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {json_path} is unreadable: {error}") from None
    if document.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {json_path} has an unknown format version")
    tensor_path = Path(directory) / document["tensors"]
    try:
        tensors = load_file(str(tensor_path))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"checkpoint weights {tensor_path} are unreadable: {error}") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(_join_optimizer_state(tensors, document["optimizer"]))
    except (RuntimeError, KeyError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint in {directory} does not fit this model/optimizer: "
            f"{str(error).splitlines()[0]}"
        ) from None
    if scaler is not None and document.get("scaler"):
        scaler.load_state_dict(document["scaler"])
    return document["state"]


def run_folder(bundle_dir: Path) -> Path:
    """Where a training run keeps its checkpoints and log: a hidden sibling of the bundle
    folder (saving a bundle replaces its whole folder; model lists skip dot-folders)."""
    bundle_dir = Path(bundle_dir)
    return bundle_dir.parent / f".{bundle_dir.name}.training"


class RunLog:
    """The run's metrics.jsonl (one JSON object per line) in the run folder, mirrored into
    the bundle folder, where the app reads it, whenever the bundle exists."""

    FILE = METRICS_FILE

    def __init__(self, run_dir: Path, bundle_dir: Path) -> None:
        self.path = Path(run_dir) / self.FILE
        self.bundle_dir = Path(bundle_dir)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
        if (self.bundle_dir / "config.json").is_file():
            with open(self.bundle_dir / self.FILE, "a", encoding="utf-8") as handle:
                handle.write(line)

    def records(self) -> list[dict[str, Any]]:
        return read_metrics(self.path, max_lines=sys.maxsize)

    def trim(self, step: int) -> None:
        """Forget records logged after `step` (a resumed run logs them again)."""
        kept = [r for r in self.records() if r.get("step", 0) <= step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.mirror()

    def mirror(self, *extra_files: Path) -> None:
        """Copy the log (and `extra_files`) into the bundle folder, if it exists."""
        if not (self.bundle_dir / "config.json").is_file():
            return
        for source in (self.path, *extra_files):
            if source.is_file():
                with atomic_path(self.bundle_dir / source.name) as temporary:
                    shutil.copyfile(source, temporary)

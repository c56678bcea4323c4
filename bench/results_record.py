"""The study's record (docs/results/results.json) and work-dir entries: how they are read
and written, and which entry of a model stands when runs come and go across machines.

Pure data rules, no training and no command line: bench/results.py decides what to run and
calls these to keep what each run measured."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def json_ready(value: Any) -> Any:
    """Numbers JSON can hold, unrounded (ml_core.quality.json_ready)."""
    from ml_core.quality import json_ready as plain

    return plain(value, digits=None)


def entry_path(work_dir: Path, key: str) -> Path:
    return work_dir / "entries" / f"{key}.json"


def save_entry(work_dir: Path, entry: dict[str, Any]) -> None:
    """Keep a measured entry in the work dir (what --report-only and the queue read)."""
    from ml_core.files import atomic_write_text

    path = entry_path(work_dir, entry["key"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(json_ready(entry), indent=1))


def cached_entry(work_dir: Path, key: str, training: dict[str, Any]) -> dict[str, Any] | None:
    """The entry measured earlier for a finished run at this very step, or None."""
    try:
        entry = json.loads(entry_path(work_dir, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = entry.get("training", {}).get("steps") == training["steps"] and training.get("stopped")
    return entry if same and "report" in entry else None


def read_record(path: Path) -> dict[str, Any] | None:
    """The committed record (results.json beside the page's pictures), or None when there is
    none or it cannot be read."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("results"), list) else None


def trained_steps(entry: dict[str, Any]) -> int:
    """How many steps an entry's run trained (0 when it has no training)."""
    return int((entry.get("training") or {}).get("steps") or 0)


def keep_lost_run(entry: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """A measured `entry`, carrying as its "earlier_run" the training of a run of the same
    model that went further but was never measured (its checkpoint went with an earlier
    machine): `old` itself when it is such a run, or the one `old` already carries. So a
    restart stopped sooner, and measured, does not erase the longer learning curve."""
    if "report" not in entry or not old:
        return entry
    candidates = [old.get("earlier_run")] + ([old.get("training")] if "report" not in old else [])
    longer = [{"training": run} for run in candidates
              if isinstance(run, dict) and trained_steps({"training": run}) > trained_steps(entry)]
    return {**entry, "earlier_run": max(longer, key=trained_steps)["training"]} if longer else entry


def merge_results(earlier: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]],
                  order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The record's entries after this run: each new entry replaces the one of its model,
    except that nothing unmeasured (in progress, failed) replaces a measured one, nor an
    unmeasured one that trained further (a run whose checkpoint was lost, until its restart
    passes it); a measured restart that stopped sooner keeps that run as its "earlier_run".
    Models this run did not touch keep theirs. Sorted by `order` (model keys), others last."""
    by_key = {entry["key"]: entry for entry in earlier if isinstance(entry, dict)
              and "key" in entry}
    for entry in new:
        old = by_key.get(entry["key"])
        passes_unmeasured = (old is not None and "report" not in old
                             and trained_steps(entry) >= trained_steps(old))
        if old is None or "report" in entry or passes_unmeasured:
            by_key[entry["key"]] = keep_lost_run(entry, old)
    at = {key: index for index, key in enumerate(order)}
    return sorted(by_key.values(), key=lambda entry: at.get(entry["key"], len(at)))

"""Crash protection: the open composition is written to a recovery file as you work.

The file (`recovery.json` in the user data folder) is written atomically every 60 s and
3 s after the last edit, but only while there are unsaved changes. It is deleted on a
clean exit and after a successful save; if it is still there when the app starts, the
last session ended badly and the app offers to restore it.

The format is a small JSON document of our own (tempo map, tracks, notes, the file the
work came from), lossless for everything the editor holds and readable without Qt.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from composer_app.document.document import Document
from composer_app.workers.stepwise_json import loads_in_steps
from ml_core.files import atomic_open
from ml_core.music import Score
from ml_core.paths import user_data_dir
from ml_core.score_codec import score_from_dict, score_to_dict

FORMAT_VERSION = 1
PERIOD_MS = 60_000
IDLE_MS = 3_000
MAX_RECOVERY_BYTES = 256 * 2**20   # a million notes take about 25 MB


class RecoveryError(Exception):
    """The recovery file exists but cannot be read back."""


def recovery_path() -> Path:
    return user_data_dir() / "recovery.json"


def write_recovery(score: Score, source: Path | None) -> Path:
    """Write the recovery file atomically (`ml_core.files`)."""
    path = recovery_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, "source": str(source) if source else None,
               "score": score_to_dict(score)}
    with atomic_open(path, "w") as stream:
        json.dump(payload, stream, separators=(",", ":"))
    return path


def read_recovery() -> tuple[Score, Path | None] | None:
    """(score, the file it came from) if a recovery file exists; RecoveryError if unreadable.
    Decoded in small steps (`loads_in_steps`): it runs on a worker beside the GUI thread."""
    path = recovery_path()
    if not path.exists():
        return None
    try:
        if path.stat().st_size > MAX_RECOVERY_BYTES:
            raise ValueError(f"larger than {MAX_RECOVERY_BYTES // 2**20} MB")
        payload = loads_in_steps(path.read_text(encoding="utf-8"))
        if payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown format {payload.get('format')!r}")
        source = Path(payload["source"]) if payload.get("source") else None
        return score_from_dict(payload["score"]), source
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise RecoveryError(f"the recovery file could not be read ({error})") from None


def remove_recovery() -> None:
    recovery_path().unlink(missing_ok=True)


class Autosaver(QObject):
    """Writes the document's recovery file periodically and when editing pauses."""

    saved = Signal(object)     # Path of the recovery file
    failed = Signal(str)       # a one-line reason (disk full, no permission...)

    def __init__(self, document: Document, parent: QObject | None = None,
                 period_ms: int = PERIOD_MS, idle_ms: int = IDLE_MS) -> None:
        super().__init__(parent)
        self._document = document
        self._dirty = False
        self._period = QTimer(self)
        self._period.setInterval(period_ms)
        self._period.timeout.connect(self.save_now)
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(idle_ms)
        self._idle.timeout.connect(self.save_now)
        document.undo_stack.indexChanged.connect(self._on_edit)
        document.meta_changed.connect(self._on_edit)
        document.reset.connect(self._on_reset)
        self._period.start()

    def _on_edit(self, *_args: object) -> None:
        self._dirty = True
        self._idle.start()     # restarts: fires once editing has paused

    def _on_reset(self) -> None:
        self._dirty = False
        self._idle.stop()

    def save_now(self) -> Path | None:
        """Write the recovery file if there are unsaved changes; returns its path then."""
        if not self._dirty:
            return None
        if not self._document.is_modified:   # edits undone back to the saved state
            self.discard()
            return None
        try:
            path = write_recovery(self._document.score(include_generated=True), self._document.path)
        except OSError as error:
            self.failed.emit(f"Autosave failed: {error.strerror or error}")
            return None
        self._dirty = False
        self.saved.emit(path)
        return path

    def discard(self) -> None:
        """Work is safe elsewhere (saved, or deliberately discarded): drop the recovery file."""
        self._dirty = False
        self._idle.stop()
        remove_recovery()

    def stop(self) -> None:
        self._period.stop()
        self._idle.stop()

"""Persistent user settings: an INI file in the user data folder, read through typed getters.

Every module reads and writes settings through these functions with plain string keys,
so one file on disk holds them all and tests (which redirect the data folder through
COMPOSER_ASSISTANT_DATA_DIR) never touch a person's real settings.

Keys in use: `window/geometry`, `window/state`, `editor/grid`, `files/last_folder`,
`files/recent`, `soundfont` (playback), `device` (model panel).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ml_core.paths import user_data_dir

SOUNDFONT = "soundfont"
DEVICE = "device"
GRID = "editor/grid"
LAST_FOLDER = "files/last_folder"
RECENT_FILES = "files/recent"
WINDOW_GEOMETRY = "window/geometry"
WINDOW_STATE = "window/state"
METRONOME = "playback/metronome"
NOTE_PREVIEW = "editor/note_preview"
SNAP_TO_SCALE = "editor/snap_to_scale"
MIDI_INPUT = "recording/midi_input"
MAX_RECENT_FILES = 10


def settings_path() -> Path:
    return user_data_dir() / "settings.ini"


def _store() -> QSettings:
    # Built per call: cheap, and it follows the data folder if the environment changes.
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


def get_value(key: str, default: object = None) -> object:
    return _store().value(key, default)


def get_str(key: str, default: str = "") -> str:
    value = _store().value(key, default)
    return default if value is None else str(value)


def get_int(key: str, default: int = 0) -> int:
    try:
        return int(_store().value(key, default))
    except (TypeError, ValueError):
        return default


def get_float(key: str, default: float = 0.0) -> float:
    try:
        return float(_store().value(key, default))
    except (TypeError, ValueError):
        return default


def get_bool(key: str, default: bool = False) -> bool:
    value = _store().value(key, default)
    if isinstance(value, str):   # INI files store booleans as text
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def get_bytes(key: str) -> QByteArray | None:
    value = _store().value(key)
    return value if isinstance(value, QByteArray) else None


def get_list(key: str) -> list[str]:
    """A list of strings stored as JSON (QSettings' own lists lose shape in INI files)."""
    try:
        value = json.loads(get_str(key, "[]"))
    except json.JSONDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def set_value(key: str, value: object) -> None:
    set_values({key: value})


def set_values(values: dict[str, object]) -> None:
    """Store several settings with one write of the file (each write is flushed to disk, a
    few milliseconds or more on a busy disk)."""
    store = _store()
    for key, value in values.items():
        if isinstance(value, (list, tuple)):
            value = json.dumps([str(v) for v in value])
        elif isinstance(value, Path):
            value = str(value)
        store.setValue(key, value)
    store.sync()


def remove(key: str) -> None:
    store = _store()
    store.remove(key)
    store.sync()


def recent_files() -> list[str]:
    return get_list(RECENT_FILES)


def add_recent_file(path: str | Path, also: dict[str, object] | None = None) -> list[str]:
    """Put `path` first in the recent files list (no duplicates, at most 10); `also`: other
    settings written in the same go (the last folder...). Returns the new list."""
    path = str(Path(path).resolve())
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT_FILES]
    set_values({RECENT_FILES: files, **(also or {})})
    return files

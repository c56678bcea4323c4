"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every writer of the project goes through here (scores, WAV exports, recovery files,
checkpoints, bundles, plots, datasets). The data goes to a temporary file in the target's
own folder (so the final move never crosses file systems), is flushed to the disk, and
then `os.replace` puts it in place; on any error the temporary file is removed and the
old file is untouched. The new file gets the permissions a plain `open(path, "w")` would
give: those of the file it replaces, or for a new file 0o666 minus the umask (never the
private 0o600 of `tempfile.mkstemp`).

    atomic_write_text(path, text)         atomic_write_bytes(path, data)
    with atomic_open(path, "wb") as f:    f.write(...)
    with atomic_path(path) as temp:       library.save(temp)   # a writer that wants a name
    replace_folder(new_folder, folder)    # a whole folder (model bundles)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_BINARY = getattr(os, "O_BINARY", 0)   # Windows: no newline translation


def _create_temporary(target: Path, suffix: str) -> Path:
    """An empty new file beside `target`, made with mode 0o666 so the umask applies."""
    for _ in range(100):
        temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp{suffix}"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
        except FileExistsError:
            continue
        os.close(descriptor)
        return temporary
    raise FileExistsError(f"no free temporary name beside {target}")


def _flush_to_disk(path: Path) -> None:
    descriptor = os.open(path, os.O_RDWR | _BINARY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; folders cannot be opened on Windows)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name; when the block
    ends without an error it replaces `path`. `suffix` (default: the target's own) ends
    the temporary name, for writers that pick a format from it (matplotlib, NumPy)."""
    target = Path(path)
    temporary = _create_temporary(target, target.suffix if suffix is None else suffix)
    try:
        yield temporary
        if target.exists():   # overwriting keeps the file's mode, as open() would
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
        _flush_to_disk(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb",
                encoding: str | None = None) -> Iterator[IO[Any]]:
    """An open file (mode "w", "wb", "x"...) whose content replaces `path` on success."""
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as temporary, open(temporary, mode, encoding=encoding) as handle:
        yield handle


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def replace_folder(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    """Move the folder `source` to `destination`; an existing destination is swapped out
    first and put back if the move fails, then deleted."""
    source, destination = Path(source), Path(destination)
    if not destination.exists():
        os.replace(source, destination)
        _sync_folder(destination.parent)
        return
    if not destination.is_dir():
        raise OSError(f"{destination} exists and is not a folder")
    backup = destination.parent / f".{destination.name}.old-{secrets.token_hex(4)}"
    os.replace(destination, backup)
    try:
        os.replace(source, destination)
    except OSError:
        os.replace(backup, destination)
        raise
    _sync_folder(destination.parent)
    shutil.rmtree(backup, ignore_errors=True)

"""SIGTERM handled as Ctrl-C, for the commands that train (composer-train, bench/results.py)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a `kill`, a job scheduler, a machine shutting down) handled as Ctrl-C while
    a command runs: training saves its checkpoint and exits 130 instead of dying between
    checkpoints. The previous handler is restored afterwards; off the main thread (where
    signals cannot be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

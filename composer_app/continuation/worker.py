"""Continue off the GUI thread: load a bundle (cached), run generation, stream updates.

A `ContinueWorker` lives in the GUI thread; `start(job)` runs the job on a registered
worker thread (`composer_app.workers.threads`) that does everything heavy, bundle loading and
torch import included, and posts back (`WorkerSignals.post`: the signals are emitted on
the GUI thread):

    loaded(str)          the device the model runs on ("cpu", "cuda:0")
    progress(object)     a `ContinueProgress`, at most one per `interval_s`
    finished(object)     a `ContinueResult` (also after Stop: `cancelled` is then True)
    failed(object, str)  the job and a one-line message for a dialog (bad bundle, bad options)
    preload_failed(str)  a bundle preloaded on selection could not be loaded

The job and its messages are Qt-free values of the model layer (`composer_app.model.jobs`).

`preload(path, device)` loads a bundle into the cache ahead of the first Continue, so the
first note appears sooner.

`stop()` sets the cancel event that `ml_core.generation.generate` polls, then joins the
thread. The GUI thread only ever does cheap signal handling.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from composer_app.continuation import track_runs
from composer_app.model.jobs import ContinueJob, ContinueProgress, ContinueResult
from composer_app.workers import threads
from ml_core.music import Note

PROGRESS_INTERVAL_S = 0.04  # ~25 canvas refreshes a second: smooth, yet cheap for the GUI thread
# Intra-op threads for CPU generation. One step of a batch-1 model is a handful of small
# matmuls that gain nothing from more threads, while spinning thread pools starve the GUI
# thread and, on a busy 2-core machine, made generation ~9x slower (measured).
CPU_GENERATION_THREADS = 1


class BundleCache:
    """Loaded bundles keyed by (path, device, file times): a second Continue reuses the model,
    and a bundle retrained in place is reloaded. Safe to use from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bundles: dict[tuple, Any] = {}
        self.loads = 0  # how many real loads happened (tests check the cache works)

    @staticmethod
    def _key(path: Path, device: str) -> tuple:
        stamps = []
        for name in ("config.json", "model.safetensors"):
            try:
                stamps.append((path / name).stat().st_mtime_ns)
            except OSError:
                stamps.append(None)
        return (str(Path(path).resolve()), device, tuple(stamps))

    def get(self, path: Path, device: str) -> Any:
        """The bundle at `path` on `device` ("cpu", "cuda"...), loading it on first use."""
        key = self._key(Path(path), device)
        with self._lock:
            bundle = self._bundles.get(key)
            if bundle is not None:
                return bundle
            from ml_core import bundle as bundle_module

            bundle = bundle_module.load(Path(path), device=device)
            # Keep one entry per (path, device): an older version of the same files goes.
            for old in [k for k in self._bundles if k[:2] == key[:2]]:
                del self._bundles[old]
            self._bundles[key] = bundle
            self.loads += 1
            return bundle

    def clear(self) -> None:
        with self._lock:
            self._bundles.clear()


def _shifted(notes: list[Note], offset: int) -> list[Note]:
    if offset == 0:
        return list(notes)
    return [Note(n.pitch, n.start + offset, n.duration, n.velocity) for n in notes]


class ContinueWorker(threads.WorkerSignals):
    """Runs one Continue job at a time on a worker thread; see the module docstring."""

    loaded = Signal(str)
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object, str)
    preload_failed = Signal(str)

    def __init__(self, cache: BundleCache | None = None, parent: QObject | None = None,
                 interval_s: float = PROGRESS_INTERVAL_S) -> None:
        super().__init__(parent)
        self.cache = cache if cache is not None else BundleCache()
        self.interval_s = interval_s
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._preloads: list[threading.Thread] = []

    # ------------------------------------------------------------ GUI-thread API
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, job: ContinueJob) -> None:
        """Start `job`; a job still running is stopped first."""
        if self.is_running():
            self.stop()
        self._cancel = threading.Event()
        cancel = self._cancel
        self._thread = threads.start(lambda: self._run(job, cancel), name="continue", cancel=cancel)

    def preload(self, bundle_path: Path, device: str) -> None:
        """Load a bundle into the cache on a worker thread (errors: `preload_failed`)."""
        self._preloads = [t for t in self._preloads if t.is_alive()]
        path = Path(bundle_path)
        thread = threads.start(lambda: self._load(path, device), name="preload",
                               cancel=threading.Event())
        self._preloads.append(thread)

    def stop(self, timeout: float = 2.0) -> bool:
        """Cancel the running job, join it and any preload; True when all have ended."""
        self._cancel.set()
        thread = self._thread
        ended = True
        if thread is not None:
            ended = threads.stop(thread, timeout)
            if ended:
                self._thread = None
        for preload in self._preloads:
            preload.join(timeout)
        self._preloads = [t for t in self._preloads if t.is_alive()]
        return ended and not self._preloads

    def request_stop(self) -> None:
        """Cancel without waiting (the thread ends on its own and emits `finished`)."""
        self._cancel.set()

    def wait(self, timeout: float = 5.0) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    # ------------------------------------------------------------ worker thread
    def _load(self, path: Path, device: str) -> None:
        try:
            from ml_core import generation

            resolved = str(generation.resolve_device(device))
            self.cache.get(path, resolved)
            self.post("loaded", resolved)
        except Exception as error:
            self.post("preload_failed", _describe(error))

    def _run(self, job: ContinueJob, cancel: threading.Event) -> None:
        began = time.perf_counter()
        try:
            from ml_core import generation

            device = str(generation.resolve_device(job.device))
            if device == "cpu":
                _limit_torch_threads()
            bundle = self.cache.get(job.bundle_path, device)
            if cancel.is_set():
                self.post("finished", ContinueResult(job, [], [], 0, True, device,
                                                  time.perf_counter() - began))
                return
            self.post("loaded", device)
            options = replace(job.options, device=device)
            over_tracks = track_runs.run(bundle, job, options, cancel,
                                         progress=lambda shown: self.post("progress", shown))
            if over_tracks is not None:   # a job over tracks: streamed, then its notes placed
                self.post("finished", track_runs.to_result(job, over_tracks, device,
                                                           time.perf_counter() - began))
                return
            last = None
            # generate() itself yields at most one update per interval: forward each one
            if job.fill_bars is not None:
                updates = generation.fill(bundle, job.prompt, *job.fill_bars, options, cancel,
                                          update_interval=self.interval_s)
            else:
                updates = generation.generate(bundle, job.prompt, options, cancel=cancel,
                                              update_interval=self.interval_s)
            for update in updates:
                last = update
                if update.done or update.cancelled:
                    break
                self.post("progress", ContinueProgress(
                    job, [_shifted(notes, job.offset) for notes in update.new_notes],
                    [list(c) for c in update.confidences],
                    update.tokens_generated, float(update.fraction)))
            cancelled = cancel.is_set() or (last is not None and last.cancelled)
            if last is None:
                result = ContinueResult(job, [], [], 0, cancelled, device,
                                        time.perf_counter() - began)
            else:
                result = ContinueResult(
                    job, [_shifted(notes, job.offset) for notes in last.new_notes],
                    [list(c) for c in last.confidences], last.tokens_generated, cancelled,
                    device, time.perf_counter() - began, list(last.scores))
            self.post("finished", result)
        except Exception as error:  # every failure becomes a dialog, never a dead thread
            self.post("failed", job, _describe(error))


def _limit_torch_threads() -> None:
    import torch

    if torch.get_num_threads() > CPU_GENERATION_THREADS:
        torch.set_num_threads(CPU_GENERATION_THREADS)


def _describe(error: Exception) -> str:
    """One line for a person: the message of our own errors, the type for anything else."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    known = type(error).__name__ in ("BundleError", "GenerationError", "TokenizerError",
                                     "FileNotFoundError", "ValueError")
    if known and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__

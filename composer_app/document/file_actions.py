"""New / Open / Save / Save As / Export, with the unsaved-changes prompt and error reporting.

Every failure (a corrupt file, a failed write) becomes one sentence in an error box and
leaves the open document exactly as it was. Saves go through ml_core.midi_io, whose
writes are atomic. Dialogs come from composer_app.dialogs so tests can answer them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from composer_app import dialogs, settings
from composer_app.document.autosave import Autosaver
from composer_app.document.document import Document, DocumentError, PreparedScore
from composer_app.document.loader import FileOpener
from ml_core.midi_io import (
    MIDI_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    MidiFileError,
    write_midi,
    write_musicxml,
)
from ml_core.music import Score

UNTITLED = "Untitled"
AFTER_OPEN_MS = 20   # recent files and status line, this long after the new document is in


def _reason(error: Exception, name: str) -> str:
    """The error's message without a repeated file name at its start."""
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
    marker = text.find(f"{name}: ")
    if 0 <= marker <= 20:   # "song.mid: ..." or "cannot write song.mid: ..."
        text = text[marker + len(name) + 2:]
    return text.rstrip(".")


def pending_left_out(document: Document) -> str:
    """The note an export's status line adds when unaccepted generated notes were left out."""
    count = len(document.generated_ids())
    if not count:
        return ""
    return f" without the {count} pending continuation notes (Accept them to include them)"


def is_supported(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


class FileActions(QObject):
    """File commands acting on one Document on behalf of one window."""

    recent_changed = Signal(list)
    status = Signal(str)
    open_finished = Signal(bool)   # a background open ended: True when the document holds the file

    def __init__(self, window: QWidget, document: Document,
                 autosaver: Autosaver | None = None) -> None:
        super().__init__(window)
        self._window = window
        self._document = document
        self._autosaver = autosaver
        self.opener = FileOpener(window)   # reads off the GUI thread; see document/loader.py
        self.opener.finished.connect(self._on_read)
        self._opened = False

    # ------------------------------------------------------------------ names and folders
    def display_name(self) -> str:
        path = self._document.path
        return path.name if path is not None else UNTITLED

    def _folder(self) -> str:
        path = self._document.path
        if path is not None:
            return str(path.parent)
        return settings.get_str(settings.LAST_FOLDER, str(Path.home()))

    def suggested_path(self, suffix: str) -> str:
        """Where a Save As or export dialog starts: the document's name with `suffix`, in its
        folder (untitled: the last folder used)."""
        return str(Path(self._folder()) / (Path(self.display_name()).stem + suffix))

    def _remember(self, path: Path) -> None:
        """The last folder and the recent files, in one write of the settings file."""
        self.recent_changed.emit(settings.add_recent_file(path,
                                                          {settings.LAST_FOLDER: str(path.parent)}))

    # ------------------------------------------------------------------ the prompt
    def confirm_discard(self, doing: str = "closing it") -> bool:
        """True when the current work may be replaced: saved, unmodified, or discarded. A
        continuation still pending (left out of the saved file) is asked about too: it
        exists nowhere else."""
        if self._document.is_modified:
            answer = dialogs.ask_save_changes(self._window, self.display_name(), doing)
            if answer == "discard":
                return True
            if answer != "save" or not self.save():
                return False
        pending = len(self._document.generated_ids())
        return not pending or dialogs.ask_discard_pending(self._window, pending)

    # ------------------------------------------------------------------ commands
    def new(self) -> bool:
        if not self.confirm_discard("starting a new one"):
            return False
        self._document.load_score(Score([]))   # a fresh piece: default tempo and meter
        self._discard_recovery()
        self.status.emit("New composition")
        return True

    def open(self, path: str | Path | None = None) -> bool:
        """Ask about unsaved work, then open `path` (or ask for one)."""
        if not self.confirm_discard("opening another file"):
            return False
        if path is None:
            path = dialogs.get_open_path(self._window, self._folder())
            if path is None:
                return False
        return self.load(path)

    def load(self, path: str | Path) -> bool:
        """Start reading `path` in the background (True: started). The document changes only
        once the whole file is read (`open_finished(True)`); a failure shows why and changes
        nothing; Cancel in the progress box leaves everything as it was."""
        self.opener.start(path)
        return True

    def wait_until_opened(self, timeout_s: float = 120.0) -> bool:
        """Run the event loop until the open in flight ends (scripts, tests); its outcome."""
        if self.opener.is_busy():
            loop, limit = QEventLoop(), QTimer()
            limit.setSingleShot(True)
            limit.timeout.connect(self.opener.cancel)
            self.open_finished.connect(loop.exit)
            limit.start(int(timeout_s * 1000))
            loop.exec()
            limit.stop()
            self.open_finished.disconnect(loop.exit)
        return self._opened

    def _on_read(self, path: Path, score: PreparedScore | None, error: Exception | None) -> None:
        self._opened = False
        if score is None:
            if error is not None:
                dialogs.show_error(self._window,
                                   f"Could not open {path.name}: {_reason(error, path.name)}.")
            else:
                self.status.emit(f"Did not open {path.name}")
            self.open_finished.emit(False)
            return
        try:
            self._document.load_score(score, path)
        except DocumentError as error:
            dialogs.show_error(self._window,
                               f"Could not open {path.name}: {_reason(error, path.name)}.")
            self.open_finished.emit(False)
            return
        self._opened = True
        message = f"Opened {path.name} ({score.note_count} notes)"
        if score.repairs:
            message = f"Opened {path.name} (repaired: {'; '.join(score.repairs)})"
        # A turn of its own, after the new document's first slice of items and first paint:
        # the settings file is written and flushed to disk there.
        QTimer.singleShot(AFTER_OPEN_MS, self, lambda: self._after_open(path, message))

    def _after_open(self, path: Path, message: str) -> None:
        self._discard_recovery()
        self._remember(path)
        self.status.emit(message)
        self.open_finished.emit(True)

    def save(self) -> bool:
        path = self._document.path
        if path is None or path.suffix.lower() not in MIDI_EXTENSIONS:
            return self.save_as()   # never overwrite a MusicXML source with MIDI bytes
        return self._save_to(path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            suggested = self.suggested_path(".mid")
            path = dialogs.get_save_path(self._window, "Save As", suggested, dialogs.MIDI_FILTER)
            if path is None:
                return False
        path = Path(path)
        if path.suffix.lower() not in MIDI_EXTENSIONS:
            path = path.with_name(path.name + ".mid")
        return self._save_to(path)

    def export_midi(self, path: str | Path | None = None) -> bool:
        """Write a MIDI copy; the document keeps its own file and modified state."""
        return self._export(path, ".mid", dialogs.MIDI_FILTER, write_midi)

    def export_musicxml(self, path: str | Path | None = None) -> bool:
        """Write MusicXML titled with the document's name (the exported file's, if untitled)."""
        title = Path(self._document.path).stem if self._document.path is not None else None

        def write(score, target: Path) -> None:
            write_musicxml(score, target, title=title)

        return self._export(path, ".musicxml", dialogs.MUSICXML_FILTER, write)

    # ------------------------------------------------------------------ internals
    def _save_to(self, path: Path) -> bool:
        """Write the composition; pending (unaccepted) generated notes are asked about:
        accepted first (one undo step), or left out as exports leave them out."""
        left_out = ""
        if self._document.generated_ids():
            answer = dialogs.ask_pending_notes(self._window, len(self._document.generated_ids()))
            if answer == "cancel":
                return False
            if answer == "accept":
                self._document.accept_generated()
            else:
                left_out = pending_left_out(self._document)
        if not self._write(write_midi, path, "save", include_pending=False):
            return False
        self._document.mark_saved(path)
        self._discard_recovery()
        self._remember(path)
        self.status.emit(f"Saved {path.name}{left_out}")
        return True

    def _export(self, path: str | Path | None, suffix: str, file_filter: str, writer) -> bool:
        if path is None:
            suggested = self.suggested_path(suffix)
            path = dialogs.get_save_path(self._window, "Export", suggested, file_filter)
            if path is None:
                return False
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(suffix)
        if not self._write(writer, path, "export", include_pending=False):
            return False
        settings.set_value(settings.LAST_FOLDER, str(path.parent))
        self.status.emit(f"Exported {path.name}{pending_left_out(self._document)}")
        return True

    def _write(self, writer, path: Path, verb: str, include_pending: bool = True) -> bool:
        try:
            writer(self._document.score(include_generated=include_pending), path)
        except (MidiFileError, OSError, ValueError) as error:
            dialogs.show_error(self._window,
                               f"Could not {verb} {path.name}: {_reason(error, path.name)}.")
            return False
        return True

    def _discard_recovery(self) -> None:
        if self._autosaver is not None:
            self._autosaver.discard()

"""Playback wiring: the FluidSynth Player connected to the editor window.

Space plays from the timeline's playhead (inside its loop region when one is set) or
stops; the player moves the timeline's playhead along the audio clock; clicking a piano
key sounds it; the soundfont comes from the settings (or Transport > Choose Soundfont);
File > Export WAV renders offline through the same synth on a worker thread that is
joined on close.

The playback schedule is built when playback starts. Edits only mark it stale, except
while something plays: then the player takes the edited piece at once, so what is heard
follows the edit.

What plays is `Document.playback_score()` (muted or un-soloed tracks silent, each track
on its own GM instrument), plus the metronome's clicks when Transport > Metronome is on.
Drawing, clicking or moving a note sounds it on its track's instrument when Transport >
Preview Notes is on. Both switches are remembered in the settings.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLabel

from composer_app import dialogs, settings
from composer_app.document.file_actions import pending_left_out
from composer_app.model.window import MenuSection, WindowHost
from composer_app.playback.audio import AudioError, SoundfontError, write_wav
from composer_app.playback.metronome import with_metronome
from composer_app.playback.midi_out_menu import install_midi_output
from composer_app.playback.player import Player
from composer_app.workers import threads
from ml_core.music import Score


class Transport(threads.WorkerSignals):
    """Owns the Player for one window and the Export WAV worker."""

    export_finished = Signal(str)   # a status line, emitted from the worker thread

    def __init__(self, window: WindowHost) -> None:
        super().__init__(window)
        self.window = window
        soundfont = settings.get_str(settings.SOUNDFONT, "") or None
        self.timeline = window.timeline
        self.player = Player(window, soundfont=soundfont, timeline=self.timeline)
        if (soundfont and self.player.soundfont is not None
            and str(self.player.soundfont) != soundfont):
            window.status(f"Soundfont {Path(soundfont).name} could not be loaded; using the "
                          f"default")
        self._export_thread: threading.Thread | None = None
        self._score_stale = True     # the player's score is older than the document's
        self._connect()
        self._declare_actions()
        window.status(self.player.audio_status)
        if not self.player.audio_available:   # stays in sight, not only for a few seconds
            self.audio_label = QLabel("No audio device")
            self.audio_label.setToolTip(self.player.audio_status)
            window.statusBar().addPermanentWidget(self.audio_label)

    # ------------------------------------------------------------------ wiring
    def _connect(self) -> None:
        window, document, canvas = self.window, self.window.document, self.window.canvas
        window.play_action.triggered.connect(self.toggle)
        self.player.error.connect(window.status)
        canvas.key_pressed.connect(self._preview_key)
        canvas.view.note_sounded.connect(self.preview_note)
        for signal in (document.notes_added, document.notes_removed, document.notes_changed,
                       document.meta_changed, document.reset, document.tracks_changed):
            signal.connect(self._on_document_changed)
        self.export_finished.connect(window.status)
        window.closing.connect(self.shutdown)

    def _declare_actions(self) -> None:
        """Export WAV and the soundfont it (and playback) use in the File menu, as the README
        says; the metronome and note preview under Transport."""
        self.export_wav_action = QAction("Export &WAV…", self.window)
        self.export_wav_action.triggered.connect(self.export_wav_dialog)
        self.window.add_menu_action(MenuSection.FILE_EXPORT, self.export_wav_action)
        self.metronome_action = QAction("&Metronome", self.window)
        self.metronome_action.setCheckable(True)
        self.metronome_action.setChecked(settings.get_str(settings.METRONOME, "false") == "true")
        self.metronome_action.setStatusTip("Click every beat of the meter while playing")
        self.metronome_action.toggled.connect(self._on_metronome)
        self.window.add_menu_action(MenuSection.TRANSPORT, self.metronome_action)
        self.preview_action = QAction("Preview &Notes", self.window)
        self.preview_action.setCheckable(True)
        self.preview_action.setChecked(settings.get_str(settings.NOTE_PREVIEW, "true") == "true")
        self.preview_action.setStatusTip("Sound a note when it is drawn, clicked or moved")
        self.preview_action.toggled.connect(
            lambda on: settings.set_value(settings.NOTE_PREVIEW, "true" if on else "false"))
        self.window.add_menu_action(MenuSection.TRANSPORT, self.preview_action)
        self.soundfont_action = QAction("Choose Sound&font…", self.window)
        self.soundfont_action.triggered.connect(self.choose_soundfont_dialog)
        self.window.add_menu_action(MenuSection.FILE_EXPORT, self.soundfont_action)

    def _on_document_changed(self, *_args: object) -> None:
        self._score_stale = True
        if self.player.is_playing:
            self._sync_score()

    def _sync_score(self) -> None:
        self.player.set_score(self.playback_score())
        self._score_stale = False

    def playback_score(self) -> Score:
        """What Play plays: the audible tracks, plus the metronome when it is on (clicking
        to the end of the last bar, or of the loop)."""
        document = self.window.document
        score = document.playback_score(include_generated=True)
        if not self.metronome_action.isChecked():
            return score
        end = max(score.end_tick, self.timeline.loop[1] if self.timeline.loop else 0, 1)
        bar, offset = score.bar_at(end)
        return with_metronome(score, score.bar_start(bar + (1 if offset else 0)))

    def _on_metronome(self, on: bool) -> None:
        settings.set_value(settings.METRONOME, "true" if on else "false")
        self._on_document_changed()

    # ------------------------------------------------------------------ note preview
    def preview_note(self, pitch: int, velocity: int = 100, track: int = 0) -> None:
        """Sound a note on `track`'s instrument (when note preview is on)."""
        if not self.preview_action.isChecked() or self.player.is_playing:
            return
        document = self.window.document
        info = document.track_info(track) if 0 <= track < document.track_count() else None
        try:
            self.player.preview_note(pitch, velocity, program=info.program if info else 0,
                                     is_drum=bool(info and info.is_drum))
        except RuntimeError:   # shut down
            pass

    def _preview_key(self, pitch: int) -> None:
        """A click on the keyboard: the active track's instrument (always sounds)."""
        document = self.window.document
        info = document.track_info(document.active_track)
        try:
            self.player.preview_note(pitch, program=info.program, is_drum=info.is_drum)
        except RuntimeError:
            pass

    @property
    def schedule_is_stale(self) -> bool:
        """True when the next Play has to build the schedule from the document again."""
        return self._score_stale

    # ------------------------------------------------------------------ playback
    def toggle(self) -> None:
        if self.player.is_playing:
            self.player.stop()
            return
        self.play()

    def play(self, score: Score | None = None) -> None:
        """Play the document (or `score`, e.g. a variation being auditioned) from the playhead."""
        if score is not None:
            self.player.set_score(score)
            self._score_stale = True   # the document plays again next time
        elif self._score_stale:
            self._sync_score()
        end = score.end_tick if score is not None else self.window.document.end_tick()
        start = self.timeline.start_of_playback(end)
        try:
            self.player.play(start, self.timeline.loop)
        except (ValueError, RuntimeError) as error:
            self.window.status(f"Cannot play: {error}")
            return
        if not self.player.audio_available:
            self.window.status(self.player.audio_status)   # Space says why nothing is heard

    # ------------------------------------------------------------------ soundfont and WAV
    def set_soundfont(self, path: str) -> bool:
        try:
            self.player.set_soundfont(path)
        except SoundfontError as error:
            dialogs.show_error(self.window, str(error))
            return False
        settings.set_value(settings.SOUNDFONT, str(path))
        self.window.status(f"Soundfont: {Path(path).name}")
        return True

    def choose_soundfont_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Choose a SoundFont", "",
                                              "SoundFont (*.sf2)")
        if path:
            self.set_soundfont(path)

    def export_wav_dialog(self) -> None:
        suggested = self.window.files.suggested_path(".wav")   # where MIDI exports start too
        path = dialogs.get_save_path(self.window, "Export WAV", suggested, "WAV audio (*.wav)")
        if path:
            self.export_wav(path)

    def export_wav(self, path: str | Path) -> threading.Thread | None:
        """Render the composition to `path` on a worker thread (one export at a time)."""
        if self._export_thread is not None and self._export_thread.is_alive():
            self.window.status("An export is already running")
            return None
        document = self.window.document
        score = document.playback_score(include_generated=False)   # what was accepted and is heard
        soundfont = self.player.soundfont
        left_out = pending_left_out(document)

        def work() -> None:
            try:
                write_wav(score, path, soundfont=soundfont)
                self.post("export_finished", f"Exported {Path(path).name}{left_out}")
            except (AudioError, OSError) as error:
                self.post("export_finished", f"Export failed: {error}")

        self._export_thread = threading.Thread(target=work, name="export-wav")
        self._export_thread.start()
        return self._export_thread

    def shutdown(self) -> None:
        if self._export_thread is not None:
            self._export_thread.join()
            self._export_thread = None
        self.player.shutdown()


def install_playback(window: WindowHost) -> Transport:
    """Playback for `window` (a child of it: it lives and shuts down with the window), with
    its Transport > MIDI Output."""
    transport = Transport(window)
    transport.midi_output = install_midi_output(window, transport.player)
    return transport

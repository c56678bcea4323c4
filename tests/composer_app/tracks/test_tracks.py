"""Tracks: the panel edits the document's tracks; notes take their track's colour; drums
get a drum lane; mute and solo decide what is rendered; the metronome clicks on the beats."""

import numpy as np
import pytest

from composer_app import dialogs
from composer_app.canvas.note_item import track_hue
from composer_app.main_window import MainWindow
from composer_app.playback import audio
from composer_app.playback.transport import install_playback
from composer_app.tracks.panel import INSTRUMENT, MUTE, NAME, SOLO, install_tracks
from ml_core.music import Note, Score, Track

RATE = 22050


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    qtbot.addWidget(window)
    window.tracks_panel = install_tracks(window)
    window.transport = install_playback(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.transport.shutdown()


def two_tracks() -> Score:
    return Score([Track("Melody", 0, False, [Note(72, 0, 480, 100)]),
                  Track("Bass", 32, False, [Note(40, 960, 480, 100)])], 120.0)


def energy(samples: np.ndarray, start_s: float, end_s: float) -> float:
    part = samples[int(start_s * RATE):int(end_s * RATE)]
    return float(np.sqrt(np.mean(part ** 2))) if len(part) else 0.0


def test_panel_adds_renames_reinstruments_and_deletes_with_undo(window):
    panel, document = window.tracks_panel, window.document
    panel.add_button.click()
    assert document.track_count() == 2 and document.active_track == 1
    panel.table.item(1, NAME).setText("Strings")
    panel.table.cellWidget(1, INSTRUMENT).setCurrentIndex(48)
    info = document.track_info(1)
    assert (info.name, info.program) == ("Strings", 48)
    panel.add_drums_button.click()
    assert document.track_info(2).is_drum and window.canvas.keyboard.drum_mode
    assert window.canvas.keyboard.row_label(38) == "Acoustic Snare"
    document.add_notes([Note(60, 0, 480)], track=1)
    panel.table.selectRow(1)
    assert document.active_track == 1 and not window.canvas.keyboard.drum_mode
    panel.delete_active()
    assert document.track_count() == 2 and not document.notes()
    document.undo()
    assert document.track_count() == 3 and [t for t, _ in document.notes().values()] == [1]
    assert panel.table.item(1, NAME).text() == "Strings"


def test_notes_are_drawn_in_their_track_colour(window):
    window.document.load_score(two_tracks())
    window.document.change_track(1, color="#3aa66a")
    hues = {window.document.entry(i)[0]: window.canvas.view.item_for(i).hue
            for i in window.document.notes()}
    assert hues == {0: track_hue(window.document.track_info(0).color), 1: track_hue("#3aa66a")}
    assert hues[0] != hues[1]


def test_drawn_notes_go_into_the_active_track(window, qtbot):
    window.document.load_score(two_tracks())
    window.document.set_active_track(1)
    view = window.canvas.view
    from PySide6.QtCore import Qt
    start = view.viewport().rect().center()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    tracks = sorted(t for t, _ in window.document.notes().values())
    assert tracks == [0, 1, 1]


def test_mute_and_solo_decide_what_is_rendered(window):
    window.document.load_score(two_tracks())
    panel = window.tracks_panel

    def rendered():
        return audio.render(window.transport.playback_score(), sample_rate=RATE, tail_seconds=0.2)

    both = rendered()
    assert energy(both, 0.05, 0.45) > 1e-3 and energy(both, 1.05, 1.45) > 1e-3
    panel.checkbox(1, MUTE).setChecked(True)          # bass muted
    muted = rendered()
    assert energy(muted, 0.05, 0.45) > 1e-3 and energy(muted, 1.05, 1.45) < 1e-5
    panel.checkbox(1, MUTE).setChecked(False)
    panel.checkbox(1, SOLO).setChecked(True)          # bass alone
    solo = rendered()
    assert energy(solo, 0.05, 0.45) < 1e-5 and energy(solo, 1.05, 1.45) > 1e-3
    assert window.transport.playback_score().tracks[1].program == 32   # its own instrument


def test_mute_and_solo_show_on_the_roll_as_faint_notes(window):
    window.document.load_score(two_tracks())
    panel, view = window.tracks_panel, window.canvas.view
    melody, bass = sorted(window.document.notes(), key=lambda i: window.document.entry(i)[0])

    def opacities():
        return view.item_for(melody).opacity(), view.item_for(bass).opacity()

    assert opacities() == (1.0, 1.0)
    panel.checkbox(1, MUTE).setChecked(True)          # bass muted: drawn faint
    faint_bass = opacities()
    assert faint_bass[0] == 1.0 and faint_bass[1] < 0.5
    assert view.item_for(bass).flags() & view.item_for(bass).GraphicsItemFlag.ItemIsSelectable
    panel.checkbox(1, MUTE).setChecked(False)
    panel.checkbox(0, SOLO).setChecked(True)          # melody alone: the bass faint again
    assert opacities() == faint_bass
    panel.checkbox(0, SOLO).setChecked(False)
    assert opacities() == (1.0, 1.0)


def test_a_track_added_after_a_delete_takes_a_colour_no_other_track_has(window):
    document = window.document
    for _ in range(3):
        document.add_track()
    document.delete_track(1)
    document.add_track()
    colours = [document.track_info(i).color for i in range(document.track_count())]
    assert len(set(colours)) == len(colours), colours


def test_metronome_clicks_on_each_beat_of_the_meter(window):
    window.document.set_time_signature(3, 4)
    window.transport.metronome_action.setChecked(True)
    score = window.transport.playback_score()
    clicks = score.tracks[-1]
    assert clicks.is_drum and [n.start for n in clicks.notes] == [0, 480, 960]
    assert clicks.notes[0].pitch != clicks.notes[1].pitch == clicks.notes[2].pitch   # accent
    samples = audio.render(score, sample_rate=RATE, tail_seconds=0.3)
    for beat in (0.0, 0.5, 1.0):                     # 120 BPM: a beat every 0.5 s
        assert energy(samples, beat, beat + 0.05) > 10 * energy(samples, beat + 0.3,
                                                                beat + 0.45) + 1e-6
    window.transport.metronome_action.setChecked(False)
    assert len(window.transport.playback_score().tracks) == 1


def test_note_preview_sounds_the_tracks_instrument_and_can_be_switched_off(window, monkeypatch):
    heard = []
    monkeypatch.setattr(window.transport.player, "preview_note",
                        lambda pitch, velocity=100, *a, program=0, is_drum=False, **k:
                        heard.append((pitch, program, is_drum)))
    window.document.load_score(two_tracks())
    from PySide6.QtCore import Qt
    view = window.canvas.view
    bass_id = next(i for i, (t, _) in window.document.notes().items() if t == 1)
    view.ensureVisible(view.item_for(bass_id))
    center = view.mapFromScene(view.item_for(bass_id).rect().center())
    from PySide6.QtTest import QTest
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, center)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, center)
    assert heard == [(40, 32, False)]
    window.transport.preview_action.setChecked(False)
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, center)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier, center)
    assert heard == [(40, 32, False)]
    window.transport.preview_action.setChecked(True)

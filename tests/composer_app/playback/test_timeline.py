"""The shared Timeline: views and the player observe it, the document never hears of it;
the transport builds its schedule when playback starts, and declares its menu entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from composer_app import dialogs, settings
from composer_app.canvas.canvas import PianoRollCanvas
from composer_app.document.document import Document
from composer_app.main_window import MainWindow
from composer_app.model.timeline import Timeline, normalized_loop
from composer_app.playback.player import Player
from composer_app.playback.transport import install_playback
from ml_core.music import Note, Score, Track


def motif() -> Score:
    return Score([Track("Piano", 0, False, [Note(60 + i, i * 480, 480, 90) for i in range(8)])])


def test_timeline_events_fire_once_per_real_change():
    timeline = Timeline()
    seen = []
    timeline.playhead_changed.connect(lambda tick: seen.append(("playhead", tick)))
    timeline.loop_changed.connect(lambda loop: seen.append(("loop", loop)))
    timeline.set_playhead(960)
    timeline.set_playhead(960)
    timeline.set_playhead(-5)             # clamped to the start
    timeline.set_loop((2400, 480))        # given backwards: put in order
    timeline.set_loop((480, 2400))
    timeline.set_loop((300, 300))         # empty: no loop
    assert seen == [("playhead", 960), ("playhead", 0), ("loop", (480, 2400)), ("loop", None)]
    assert normalized_loop((-10, 100)) == (0, 100)


def test_start_of_playback_respects_loop_and_end():
    timeline = Timeline()
    timeline.set_playhead(5000)
    assert timeline.start_of_playback(end_tick=3840) == 0      # past the end: from the top
    timeline.set_loop((960, 1920))
    assert timeline.start_of_playback(end_tick=3840) == 960    # outside the loop: its start
    timeline.set_playhead(1200)
    assert timeline.start_of_playback(end_tick=3840) == 1200


def test_moving_the_timeline_does_not_touch_the_document(qtbot):
    document = Document()
    document.load_score(motif())
    canvas = PianoRollCanvas(document)
    qtbot.addWidget(canvas)
    canvas.resize(800, 500)
    canvas.show()
    qtbot.waitExposed(canvas)
    heard = []
    for name in ("notes_added", "notes_removed", "notes_changed", "meta_changed", "reset",
                 "preview_changed", "modified_changed"):
        getattr(document, name).connect(lambda *args, name=name: heard.append(name))
    before = document.score(include_generated=True)

    timeline = canvas.timeline
    timeline.set_playhead(1920)
    timeline.set_loop((480, 2400))
    timeline.set_playing(True)
    timeline.set_playhead(30000)
    timeline.set_follow_playback(False)
    ruler = canvas.ruler
    QTest.mouseClick(ruler, Qt.MouseButton.LeftButton, pos=QPoint(int(ruler.x_of(960)) + 2, 10))
    QTest.mouseClick(ruler, Qt.MouseButton.RightButton, pos=QPoint(10, 10))

    assert heard == []
    assert document.undo_stack.count() == 0 and not document.is_modified
    assert document.score(include_generated=True).tracks[0].notes == before.tracks[0].notes
    assert timeline.playhead == 960 and timeline.loop is None


def test_roll_and_ruler_draw_what_the_timeline_says(qtbot):
    document = Document()
    document.load_score(motif())
    timeline = Timeline()
    canvas = PianoRollCanvas(document, timeline=timeline)
    qtbot.addWidget(canvas)
    canvas.resize(800, 500)
    canvas.show()
    qtbot.waitExposed(canvas)
    timeline.set_playhead(1440)
    timeline.set_loop((480, 960))
    view = canvas.view
    assert view._playhead.line().x1() == 1440
    assert view._loop.isVisible() and view._loop.rect().left() == 480
    assert view._loop.rect().width() == 480
    assert canvas.playhead_tick == 1440 and canvas.loop_range == (480, 960)
    timeline.set_loop(None)
    assert not view._loop.isVisible()


def test_the_roll_follows_the_playhead_only_while_playing_and_following(qtbot):
    document = Document()
    document.load_score(motif())
    canvas = PianoRollCanvas(document)
    qtbot.addWidget(canvas)
    canvas.resize(800, 500)
    canvas.show()
    qtbot.waitExposed(canvas)
    timeline, bar = canvas.timeline, canvas.view.horizontalScrollBar()
    far = 480 * 4 * 40
    timeline.set_playhead(far)                       # stopped: the view stays
    assert bar.value() == 0
    timeline.set_playing(True)
    timeline.set_playhead(far + 1)
    visible = canvas.view.visible_scene_rect()
    assert visible.left() <= far + 1 < visible.right()
    timeline.set_follow_playback(False)
    canvas.view.scroll_to(0)
    timeline.set_playhead(far + 2)
    assert bar.value() == 0


def test_the_player_writes_the_timeline_not_a_view(qtbot):
    timeline = Timeline()
    player = Player(drivers=[], timeline=timeline)
    try:
        player.set_score(motif())
        player.play(from_tick=960)
        assert timeline.playing and timeline.playhead >= 960
        qtbot.waitUntil(lambda: timeline.playhead > 1000, timeout=3000)
        player.stop()
        assert not timeline.playing
        assert timeline.playhead == player.position
    finally:
        player.shutdown()


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setenv("COMPOSER_ASSISTANT_AUDIO_DRIVER", "none")
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    made = MainWindow()
    qtbot.addWidget(made)
    made.document.load_score(motif())
    return made


def test_transport_builds_the_schedule_when_playback_starts(window, monkeypatch):
    transport = install_playback(window)
    built = []
    original = transport.player.set_score
    monkeypatch.setattr(transport.player, "set_score",
                        lambda score: (built.append(score.note_count), original(score)))
    for index in range(5):                           # editing while stopped builds nothing
        window.document.add_notes([Note(72, 4000 + index * 240, 240, 80)])
    assert built == [] and transport.schedule_is_stale
    transport.play()
    assert built == [13] and not transport.schedule_is_stale
    window.document.add_notes([Note(74, 6000, 240, 80)])    # while playing, playback follows
    assert built == [13, 14]
    transport.player.stop()
    transport.play()                                 # nothing changed since: reused
    assert built == [13, 14]
    transport.player.stop()
    transport.shutdown()


def test_transport_actions_sit_in_their_declared_menus(window):
    transport = install_playback(window)
    menus = {action.text(): action.menu() for action in window.menuBar().actions()}
    file_actions = menus["&File"].actions()
    position = file_actions.index(transport.export_wav_action)
    assert file_actions[position - 1] is window.export_musicxml_action
    assert file_actions[-1] is window.quit_action
    # where the README says: File > Choose Soundfont, next to Export WAV
    assert file_actions[position + 1] is transport.soundfont_action
    assert transport.soundfont_action not in menus["&Transport"].actions()
    assert window.follow_action in menus["&Transport"].actions()
    transport.shutdown()


def test_every_export_dialog_starts_in_the_documents_folder(window, monkeypatch, tmp_path):
    transport = install_playback(window)
    asked: list[str] = []
    monkeypatch.setattr(dialogs, "get_save_path", lambda parent, title, suggested, _filter:
                        asked.append(suggested))
    settings.set_value(settings.LAST_FOLDER, str(tmp_path / "last"))
    transport.export_wav_dialog()                    # untitled: in the last folder used
    window.files.export_midi()
    assert [Path(p).parent for p in asked] == [tmp_path / "last"] * 2
    asked.clear()
    window.document.load_score(motif(), tmp_path / "song.mid")
    transport.export_wav_dialog()
    window.files.export_midi()
    window.files.export_musicxml()
    assert [Path(p) for p in asked] == [tmp_path / "song.wav", tmp_path / "song.mid",
                                        tmp_path / "song.musicxml"]
    transport.shutdown()

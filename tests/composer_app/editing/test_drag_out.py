"""Out to a DAW: the selection or the accepted piece dragged out as a `.mid` file."""

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt, QUrl
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from composer_app import dialogs
from composer_app.editing.drag_out import install_drag_out, mime_for_file
from composer_app.editing.midi_clip import ClipError, clip_file_name, clip_score, write_clip
from composer_app.main_window import MainWindow
from ml_core.midi_io import read_midi
from ml_core.music import KeySignature, Note, Score, Track

BAR = 1920   # 4/4 at 480 ticks per quarter


def piece() -> Score:
    return Score([Track("Piano", 0, False, [Note(60, 0, 480), Note(62, BAR + 240, 240, 70),
                                            Note(64, 2 * BAR + 480, 960, 90)]),
                  Track("Strings", 48, False, [Note(48, BAR + 960, 480, 60)])],
                 tempo_bpm=96.0, time_signature=(4, 4), key_signatures=[KeySignature(0, -2)])


@pytest.fixture
def window(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    qtbot.addWidget(window)
    window.drag = install_drag_out(window, folder=tmp_path)
    window.document.load_score(piece(), path=tmp_path / "Song.mid")
    return window


def ids_of(document, *pitches):
    return [i for i in document.note_ids() if document.note(i).pitch in pitches]


def notes_by_track(score):
    return {(t.name, t.program): [(n.pitch, n.start, n.duration, n.velocity) for n in t.notes]
            for t in score.tracks}


def test_the_selection_goes_out_from_its_first_bar_with_tempo_meter_key_and_programs(window):
    document = window.document
    selected = ids_of(document, 62, 48, 64)
    path = write_clip(document.snapshot(), selected, "Song.mid", window.drag._folder)
    assert path.name == "Song - selection.mid"
    back = read_midi(path)
    assert notes_by_track(back) == {("Piano", 0): [(62, 240, 240, 70), (64, BAR + 480, 960, 90)],
                                    ("Strings", 48): [(48, 960, 480, 60)]}
    assert back.tempo_bpm == pytest.approx(96.0) and back.time_signature == (4, 4)
    assert [(k.tick, k.fifths) for k in back.key_signatures] == [(0, -2)]


def test_without_a_selection_the_accepted_piece_goes_out_never_the_pending_take(window, tmp_path):
    document = window.document
    document.add_generated([Note(72, 3 * BAR, 480)], track=0)
    score, is_selection = clip_score(document.snapshot(), ())
    assert not is_selection
    path = write_clip(document.snapshot(), (), "Song.mid", tmp_path)
    assert path.name == "Song.mid"
    back = notes_by_track(read_midi(path))
    assert back[("Piano", 0)] == [(60, 0, 480, 80), (62, BAR + 240, 240, 70),
                                  (64, 2 * BAR + 480, 960, 90)]
    assert back[("Strings", 48)] == [(48, BAR + 960, 480, 60)]
    generated = sorted(document.generated_ids())
    with pytest.raises(ClipError, match="accept the take first"):
        clip_score(document.snapshot(), generated)
    mixed, _ = clip_score(document.snapshot(), generated + ids_of(document, 60))
    assert [n.pitch for n in mixed.notes()] == [60]     # the pending note stays behind


def test_an_empty_document_has_nothing_to_drag(qtbot, tmp_path):
    window = MainWindow()
    qtbot.addWidget(window)
    handle = install_drag_out(window, folder=tmp_path)
    messages = []
    window.status = messages.append
    assert handle.write_file() is None
    assert messages == ["There are no accepted notes to drag out."]
    assert list(tmp_path.iterdir()) == []


def test_the_drag_carries_exactly_the_written_file(window):
    window.canvas.view.scene().clearSelection()
    window.selection.set(ids_of(window.document, 64))
    drags = []
    window.drag.exec_drag = drags.append       # the drag is built but not exec'd
    assert window.drag.start_drag()
    (drag,) = drags
    (url,) = drag.mimeData().urls()
    path = Path(url.toLocalFile())
    assert path.parent == window.drag._folder and path.name == "Song - selection.mid"
    assert notes_by_track(read_midi(path)) == {("Piano", 0): [(64, 480, 960, 90)]}


def mouse(kind, x, buttons):
    button = Qt.MouseButton.LeftButton
    return QMouseEvent(kind, QPointF(x, 5), QPointF(x, 5), button, buttons,
                       Qt.KeyboardModifier.NoModifier)


def test_pressing_and_moving_on_the_handle_starts_the_drag_a_click_only_explains(window):
    handle, drags, messages = window.drag, [], []
    handle.exec_drag = drags.append
    window.status = messages.append
    handle.click()
    assert drags == [] and "DAW" in messages[-1]
    held = Qt.MouseButton.LeftButton
    QApplication.sendEvent(handle, mouse(QEvent.Type.MouseButtonPress, 5, held))
    far = 5 + QApplication.startDragDistance() + 2
    QApplication.sendEvent(handle, mouse(QEvent.Type.MouseMove, far, held))
    assert len(drags) == 1 and messages[-1] == "Dragged out Song.mid"


def test_the_mime_data_is_one_local_file_url(tmp_path):
    path = tmp_path / "Song - selection.mid"
    mime = mime_for_file(path)
    assert mime.urls() == [QUrl.fromLocalFile(str(path.resolve()))]
    assert mime.urls()[0].isLocalFile()


def test_file_names_follow_the_document():
    assert clip_file_name("Song.mid", True) == "Song - selection.mid"
    assert clip_file_name("Song.mid", False) == "Song.mid"
    assert clip_file_name("Untitled", False) == "Untitled.mid"
    assert clip_file_name('a b:c?.xml', True) == "a b c - selection.mid"
    assert clip_file_name("", True) == "Untitled - selection.mid"


def test_building_the_file_imports_no_qt():
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", "import sys, composer_app.editing.midi_clip as m; "
         "assert 'PySide6' not in sys.modules, 'PySide6 loaded'"],
        capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stderr


class FakeDrop:
    def __init__(self, mime, source):
        self._mime, self._source = mime, source

    def mimeData(self):  # noqa: N802 (Qt's name)
        return self._mime

    def source(self):
        return self._source


def test_dropping_our_own_drag_back_on_the_window_opens_nothing(window, tmp_path):
    mime = mime_for_file(tmp_path / "Song.mid")
    assert window._dropped_path(FakeDrop(mime, None)) == str((tmp_path / "Song.mid").resolve())
    assert window._dropped_path(FakeDrop(mime, window.drag)) is None

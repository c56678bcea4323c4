"""Continue's fixes: room after the playhead in one step, status that follows undo and New,
the view going to new notes, exports without pending notes, New resetting the tempo."""

import pytest

from composer_app import dialogs
from composer_app.continuation.panel import ContinuePanel
from composer_app.document.document import Document
from composer_app.document.file_actions import FileActions
from composer_app.main_window import MainWindow
from composer_app.model.jobs import MakeRoom, RoomKind
from composer_app.model.session import SessionState
from ml_core.midi_io import read_midi
from ml_core.music import Note, Score, Track

BAR = 1920


def piece() -> Score:
    return Score([Track("Piano", 0, False, [Note(60, 0, 480), Note(62, 2 * BAR, 480),
                                             Note(64, 3 * BAR, 480)])])


@pytest.mark.parametrize("mode", ["replace", "shift"])
def test_continuing_at_the_playhead_makes_room_in_one_undo_step(mode):
    document = Document()
    document.load_score(piece())
    new = [Note(67, 2 * BAR, 480), Note(69, 2 * BAR + 960, 480)]   # ends inside bar 3
    document.add_generated(new, 0, make_room=MakeRoom(RoomKind(mode), 2 * BAR))
    notes = sorted(n for _, n in document.notes().values())
    if mode == "replace":   # the notes under the continuation are gone, the later one stays
        assert notes == sorted([Note(60, 0, 480), *new, Note(64, 3 * BAR, 480)])
    else:                   # everything from the playhead moved one bar later
        assert notes == sorted([Note(60, 0, 480), *new, Note(62, 3 * BAR, 480),
                                Note(64, 4 * BAR, 480)])
    assert document.undo_stack.count() == 1
    document.undo()
    assert sorted(n for _, n in document.notes().values()) == sorted(piece().tracks[0].notes)


@pytest.mark.parametrize("mode", ["replace", "shift"])
def test_a_note_sounding_across_the_playhead_is_cut_there_in_the_prompt_and_the_piece(qtbot, mode):
    from composer_app.canvas.canvas import PianoRollCanvas

    document = Document()
    held = Note(55, BAR, 2 * BAR)                       # from bar 2 to the end of bar 3
    document.load_score(Score([Track("Piano", 0, False,
                                     [Note(60, 0, 480), held, Note(64, 3 * BAR, 480)])]))
    canvas = PianoRollCanvas(document)
    panel = ContinuePanel(document, canvas.timeline, canvas.selection)
    qtbot.addWidget(panel)
    qtbot.addWidget(canvas)
    panel.sampling_panel.prompt_source.setCurrentIndex(panel.sampling_panel.prompt_source.findData("playhead"))
    canvas.set_playhead(2 * BAR)
    prompt, offset = panel.inputs.prompt()
    assert offset == 0 and Note(55, BAR, BAR) in prompt.tracks[0].notes   # cut at the playhead
    assert prompt.end_tick == 2 * BAR
    document.add_generated([Note(67, 2 * BAR, 480)], 0, make_room=MakeRoom(RoomKind(mode), 2 * BAR))
    assert Note(55, BAR, BAR) in [n for _, n in document.notes().values()]
    document.undo()
    assert held in [n for _, n in document.notes().values()]


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_status_and_buttons_follow_undo_and_new(window, qtbot):
    panel = ContinuePanel(window.document, window.timeline, window.selection)
    qtbot.addWidget(panel)
    window.document.load_score(piece())
    session = panel.session
    session.last_job = object()          # as after a finished job
    session.command = window.document.add_continuation([Note(65, 4 * BAR, 480)], 0, owner=session)
    session.state = SessionState.PENDING
    panel.status.say("Added 1 notes. Ctrl+Z removes them.")
    panel.status.update_buttons()
    assert panel.reroll_button.isEnabled()
    window.document.undo()
    assert panel.status_label.text() == "Continuation undone."
    window.document.undo_stack.redo()      # the notes are back, pending, without variations
    assert "not accepted yet" in panel.status_label.text()
    assert panel.accept_button.isEnabled()
    assert panel.variation_label.text() == "Pending (no variations)"
    window.files.new()
    assert panel.status_label.text() == "" and not panel.reroll_button.isEnabled()
    panel.shutdown()


def test_new_notes_far_away_are_brought_into_view(window):
    window.document.load_score(piece())
    far = 108 * BAR
    ids = window.document.add_notes([Note(70, far, 480)])
    assert not window.canvas.view.visible_scene_rect().contains(far + 1, 0.5 + 127 - 70)
    window.canvas.reveal_notes(ids)
    visible = window.canvas.view.visible_scene_rect()
    assert visible.left() <= far < visible.right()


def test_exports_leave_pending_notes_out_and_new_resets_the_tempo(window, tmp_path):
    files: FileActions = window.files
    window.document.load_score(piece())
    window.document.set_tempo(90)
    window.document.add_generated([Note(72, 4 * BAR, 480)], 0)
    said = []
    files.status.connect(said.append)
    assert files.export_midi(tmp_path / "out.mid")
    written = read_midi(tmp_path / "out.mid").tracks[0].notes
    assert Note(72, 4 * BAR, 480) not in written and len(written) == 3
    assert "pending" in said[-1]
    files.new()
    assert window.document.tempo_bpm == 120.0


def test_the_key_shown_follows_the_playhead_when_the_prompt_ends_there(qtbot):
    from composer_app.canvas.canvas import PianoRollCanvas

    document = Document()
    e_flat_minor = [63, 66, 70, 68, 65, 62, 63, 70]     # from bar 4 on
    document.load_score(Score([Track("Piano", 0, False,
                                     [Note(p, 4 * BAR + i * 480, 480) for i, p in
                                      enumerate(e_flat_minor * 2)])]))
    canvas = PianoRollCanvas(document)
    panel = ContinuePanel(document, canvas.timeline, canvas.selection)
    qtbot.addWidget(panel)
    qtbot.addWidget(canvas)
    sampling = panel.sampling_panel
    sampling.prompt_source.setCurrentIndex(sampling.prompt_source.findData("playhead"))
    canvas.set_playhead(2 * BAR)                        # nothing before it: an empty prompt
    qtbot.waitUntil(lambda: "empty prompt" in sampling.key.itemText(0), timeout=5000)
    canvas.set_playhead(9 * BAR)                        # moved on: the key is estimated anew
    qtbot.waitUntil(lambda: "empty prompt" not in sampling.key.itemText(0), timeout=5000)
    assert sampling.estimated_key() is not None
    panel.shutdown()

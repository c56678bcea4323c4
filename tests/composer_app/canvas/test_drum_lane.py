"""While the drum lane is shown (a drum track is active), the other tracks' notes are drawn
faint on the drum rows and cannot be clicked or selected; back to normal afterwards."""

from PySide6.QtCore import QPoint

from composer_app.canvas import geometry
from composer_app.canvas.canvas import PianoRollCanvas
from composer_app.canvas.note_item import DIMMED_OPACITY
from composer_app.document.document import Document
from ml_core.music import Note, Score, Track


def test_other_tracks_are_dimmed_and_out_of_reach_under_the_drum_lane(qtbot):
    document = Document()
    document.load_score(Score([Track("Bass", 33, False, [Note(38, 0, 480)]),
                               Track("Drums", 0, True, [Note(36, 0, 120), Note(42, 480, 60)])]))
    canvas = PianoRollCanvas(document)
    qtbot.addWidget(canvas)
    canvas.resize(900, 500)
    canvas.show()
    view = canvas.view
    bass_id = document.track_note_ids(0)[0]
    drum_ids = document.track_note_ids(1)
    assert view.item_for(bass_id).opacity() == 1.0

    document.set_active_track(1)
    assert canvas.keyboard.drum_mode
    bass = view.item_for(bass_id)
    assert bass.dimmed and bass.opacity() == DIMMED_OPACITY
    assert not any(view.item_for(i).dimmed for i in drum_ids)
    view.select_all()
    assert view.selected_ids() == sorted(drum_ids)          # the bass note cannot be picked
    view.scroll_to(0, 38)
    at = view.mapFromScene(geometry.note_rect(Note(38, 0, 480)).center())
    assert view.note_item_at(QPoint(at.x(), at.y())) is None   # nor clicked (snare row, D2)

    document.set_active_track(0)
    assert not bass.dimmed and bass.opacity() == 1.0


def test_the_notes_a_fill_replaces_are_faint_while_its_preview_streams(qtbot):
    document = Document()
    document.load_score(Score([Track("Piano", 0, False, [Note(60, 0, 480), Note(62, 1920, 480),
                                                         Note(64, 3840, 480)]),
                               Track("Bass", 33, False, [Note(40, 1920, 480)])]))
    canvas = PianoRollCanvas(document)
    qtbot.addWidget(canvas)
    view = canvas.view
    items = {document.note(i): view.item_for(i) for i in document.notes()}
    document.set_preview([Note(67, 1920, 240)], 0, replaces=(1920, 3840))
    assert [n for n, item in items.items() if item.dimmed] == [Note(62, 1920, 480)]
    document.set_preview([Note(67, 1920, 240), Note(65, 2160, 240)], 0, replaces=(1920, 3840))
    assert items[Note(62, 1920, 480)].dimmed and not items[Note(40, 1920, 480)].dimmed
    document.set_preview(None)
    assert not any(item.dimmed for item in items.values())


def test_the_drum_lane_opens_on_kick_snare_and_hi_hats(qtbot):
    document = Document()
    document.load_score(Score([Track("Lead", 0, False, [Note(84, 0, 480), Note(96, 480, 480)]),
                               Track("Drums", 0, True, [Note(36, 0, 120), Note(81, 480, 60),
                                                        Note(78, 960, 60)])]))
    canvas = PianoRollCanvas(document)
    qtbot.addWidget(canvas)
    canvas.resize(900, 500)
    canvas.show()
    qtbot.waitExposed(canvas)

    def rows_in_view(*pitches):
        visible = canvas.view.visible_scene_rect()
        return all(visible.top() <= geometry.pitch_to_row(p) + 0.5 <= visible.bottom()
                   for p in pitches)

    assert not rows_in_view(36, 38)            # the lead's high notes are in view first
    document.set_active_track(1)
    assert rows_in_view(36, 38, 42, 46)        # kick, snare, closed and open hi-hat
    document.set_active_track(0)
    document.load_score(document.score())      # opened again with the drums active: same
    document.set_active_track(1)
    canvas._after_reset()
    assert rows_in_view(36, 38, 42, 46)

"""The key's scale on the roll: its rows shaded, notes outside it outlined, in step with
edits, previews and the key shown; View > Show Scale turns it off."""

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from composer_app.canvas import geometry
from composer_app.canvas.grid import BLACK_ROW, SCALE_ROW, TONIC_ROW, WHITE_ROW, paint_rows
from ml_core.music import Note, Score, Track


def test_the_rows_of_the_scale_are_shaded_and_the_tonic_deeper(qapp):
    def row_colours(scale):
        image = QImage(4, geometry.ROW_COUNT * 10, QImage.Format.Format_RGB32)
        painter = QPainter(image)
        painter.scale(1, 10)                               # 10 pixels a row, as on screen
        paint_rows(painter, QRectF(0, 0, 4, geometry.ROW_COUNT), scale)
        painter.end()
        return {p: image.pixelColor(1, geometry.pitch_to_row(p) * 10 + 5).rgb()
                for p in (60, 61, 62, 66)}

    plain = row_colours(None)
    assert plain[60] == WHITE_ROW.rgb() and plain[61] == BLACK_ROW.rgb()
    d_major = row_colours((2, frozenset({2, 4, 6, 7, 9, 11, 1})))
    assert d_major[62] == TONIC_ROW.rgb() and d_major[66] == SCALE_ROW.rgb()
    assert d_major[61] == SCALE_ROW.rgb()                  # C# is in D major
    assert d_major[60] == WHITE_ROW.rgb()                  # C is not


def test_notes_outside_the_key_are_marked_and_follow_edits(shown_canvas):
    canvas = shown_canvas(900, 500)
    document = canvas.document
    document.load_score(Score([Track("Piano", 0, False, [Note(60, 0, 480), Note(61, 480, 480)]),
                               Track("Drums", 0, True, [Note(37, 0, 60)])]))
    ids = {document.note(i).pitch: i for i in document.notes()}
    view = canvas.view

    def outside():
        return {p for p, i in ids.items() if view.item_for(i).outside}

    assert outside() == set() and view.scale is None
    canvas.set_key((0, "major"))
    assert outside() == {61}                                # drums are never marked
    assert view.scale[0] == 0 and 4 in view.scale[1]
    document.change_notes({ids[61]: Note(62, 480, 480)})    # moved into the scale
    assert outside() == set()
    document.set_preview([Note(63, 960, 480), Note(64, 1440, 480)])
    assert [item.outside for item in view._preview_items] == [True, False]
    document.set_preview(None)
    canvas.set_scale_shown(False)
    assert view.scale is None and outside() == set()
    canvas.set_scale_shown(True)
    canvas.set_key((9, "minor"))                            # A minor with its G#
    assert view.scale is not None and 8 in view.scale[1] and outside() == set()


def test_no_scale_is_shaded_under_the_drum_lane(shown_canvas):
    canvas = shown_canvas(900, 500)
    document = canvas.document
    document.load_score(Score([Track("Piano", 0, False, [Note(61, 0, 480)]),
                               Track("Drums", 0, True, [Note(36, 0, 60)])]))
    canvas.set_key((0, "major"))
    assert canvas.view.scale is not None
    document.set_active_track(1)
    assert canvas.view.scale is None
    document.set_active_track(0)
    assert canvas.view.scale is not None and canvas.view.scale[0] == 0

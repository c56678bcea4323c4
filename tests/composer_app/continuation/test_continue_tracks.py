"""Continue on one track of a multi-track piece (issue 42): the active track continues from
its own end, in its own register, into its own track; the Follow values are its own."""

from __future__ import annotations

import statistics

from continuation_helpers import make_panel
from PySide6.QtCore import Qt

from ml_core.music import Note, Score, Track

Q = 480
BAR = 4 * Q


def melody_over_bass() -> Score:
    """The issue's case: a 10-bar melody (quarters around C5) over a 13-bar bass (half notes
    between E2 and B2)."""
    melody = [Note(72 + (0, 2, 4, 5, 7, 5, 4, 2)[i % 8], i * Q, Q, 80) for i in range(40)]
    bass = [Note((40, 43, 45, 47)[i % 4], i * 2 * Q, 2 * Q, 70) for i in range(26)]
    return Score([Track("Melody", 0, False, melody), Track("Bass", 33, False, bass)],
                 120.0, (4, 4), Q)


def test_continuing_the_melody_writes_into_it_in_its_register_from_its_end(qtbot):
    panel = make_panel(qtbot, melody_over_bass(), "default")
    document = panel.document
    document.set_active_track(0)
    assert panel.inputs.continue_tracks() == [True, False]
    assert panel.inputs.prompt_tracks() == [True, True]      # Fill still reads both
    panel.keys.update()
    register = panel.sampling_panel.control_boxes["register"].itemText(0)
    assert "below C3" not in register and register.startswith("Follow the prompt: ")
    assert "half notes" not in panel.sampling_panel.control_boxes["density"].itemText(0)
    panel.sampling_panel.bars.setValue(2)
    before = sorted(document.notes().items())
    with qtbot.waitSignal(panel.worker.finished, timeout=60000):
        qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
    added = [document.notes()[i] for i in document.generated_ids()]
    assert added
    assert {track for track, _ in added} == {0}               # all in the melody's track
    starts = [n.start for _, n in added]
    melody_end = 10 * BAR
    assert melody_end <= min(starts) < melody_end + Q         # from where the melody ends
    assert max(starts) < 12 * BAR                             # not after the bass's end
    assert statistics.median(n.pitch for _, n in added) >= 67  # the melody's register
    assert "Continue" in document.undo_stack.undoText()
    document.undo()                                           # one undo step
    assert sorted(document.notes().items()) == before


def test_an_empty_active_track_reads_the_audible_tracks(qtbot):
    score = melody_over_bass()
    score.tracks.append(Track("New", 0, False, []))
    panel = make_panel(qtbot, score, "default")
    panel.document.set_active_track(2)
    assert panel.inputs.continue_tracks() == panel.inputs.prompt_tracks() == [True] * 3

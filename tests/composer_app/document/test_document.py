"""The Document: notes with stable ids, one undo step per edit, generated notes, preview."""

import pytest

from composer_app.document.document import Document, DocumentError
from ml_core.music import Note, Score, TimeSignatureChange, Track


@pytest.fixture
def document(qapp):
    return Document()


def motif() -> Score:
    notes = [Note(60, 0, 480, 90), Note(64, 480, 480, 80), Note(67, 960, 960, 70)]
    bass = [Note(36, 0, 1920, 100)]
    return Score([Track("Melody", 0, False, notes), Track("Bass", 32, False, bass)], 96.0, (3, 4),
                 time_signature_changes=[TimeSignatureChange(2880, 4, 4)])


def test_load_score_gives_every_note_an_id_and_round_trips(document):
    document.load_score(motif(), "/tmp/motif.mid")
    notes = document.notes()
    assert len(notes) == 4 and len(set(notes)) == 4
    assert sorted(track for track, _ in notes.values()) == [0, 0, 0, 1]
    score = document.score()
    assert [t.notes for t in score.tracks] == [t.notes for t in motif().tracks]
    assert (score.tempo_bpm, score.time_signature) == (96.0, (3, 4))
    assert score.time_signature_changes == motif().time_signature_changes
    assert [(t.name, t.program) for t in score.tracks] == [("Melody", 0), ("Bass", 32)]
    assert str(document.path) == "/tmp/motif.mid"
    assert not document.is_modified and document.undo_stack.count() == 0


def test_each_edit_is_one_undo_step_and_ids_survive_undo(document):
    ids = document.add_notes([Note(60, 0, 240), Note(62, 240, 240)])
    assert document.undo_stack.count() == 1 and document.is_modified
    document.change_notes({ids[0]: Note(61, 120, 240, 50)}, text="Move notes")
    assert document.note(ids[0]) == Note(61, 120, 240, 50)
    document.remove_notes([ids[1]])
    assert set(document.notes()) == {ids[0]}

    document.undo_stack.undo()                   # delete undone: same id comes back
    assert document.note(ids[1]) == Note(62, 240, 240)
    document.undo_stack.undo()                   # move undone
    assert document.note(ids[0]) == Note(60, 0, 240)
    document.undo_stack.undo()                   # add undone
    assert document.notes() == {}
    assert not document.is_modified
    document.undo_stack.redo()
    document.undo_stack.redo()
    assert document.note(ids[0]) == Note(61, 120, 240, 50)


def test_signals_report_exactly_what_changed(document):
    seen = []
    document.notes_added.connect(lambda ids: seen.append(("added", ids)))
    document.notes_removed.connect(lambda ids: seen.append(("removed", ids)))
    document.notes_changed.connect(lambda ids: seen.append(("changed", ids)))
    [note_id] = document.add_notes([Note(60, 0, 240)])
    document.change_notes({note_id: Note(60, 0, 480)})
    document.undo_stack.undo()
    document.remove_notes([note_id])
    assert seen == [("added", [note_id]), ("changed", [note_id]), ("changed", [note_id]),
                    ("removed", [note_id])]


def test_generated_notes_are_one_command_excluded_from_score_until_accepted(document):
    document.add_notes([Note(60, 0, 480)])
    ids = document.add_generated([Note(62, 480, 240), Note(64, 720, 240)], text="Continue")
    assert document.generated_ids() == set(ids)
    assert [n.pitch for n in document.score().tracks[0].notes] == [60]
    assert len(document.score(include_generated=True).tracks[0].notes) == 3
    assert len(document.notes()) == 3
    assert document.undo_stack.undoText() == "Continue"

    document.undo_stack.undo()                   # one Ctrl+Z removes the whole continuation
    assert len(document.notes()) == 1 and document.generated_ids() == set()
    document.undo_stack.redo()
    assert document.generated_ids() == set(ids)

    document.accept_generated()
    assert document.generated_ids() == set()
    assert [n.pitch for n in document.score().tracks[0].notes] == [60, 62, 64]
    document.undo_stack.undo()                   # accepting is undoable too
    assert document.generated_ids() == set(ids)
    document.discard_generated()
    assert len(document.notes()) == 1


def test_preview_is_outside_the_undo_stack_and_the_score(document):
    changes = []
    document.preview_changed.connect(lambda: changes.append(len(document.preview())))
    document.set_preview([Note(70, 0, 120)], track=0)
    document.set_preview([Note(70, 0, 120), Note(72, 120, 120)])
    assert document.preview() == [Note(70, 0, 120), Note(72, 120, 120)]
    assert document.undo_stack.count() == 0 and not document.is_modified
    assert document.score().is_empty and document.notes() == {}
    document.set_preview(None)
    assert document.preview() == [] and changes == [1, 2, 0]


def test_tempo_and_meter_are_undoable(document):
    meta = []
    document.meta_changed.connect(lambda: meta.append((document.tempo_bpm,
                                                       document.time_signature)))
    document.set_tempo(90)
    document.set_time_signature(6, 8)
    assert document.score().time_signature == (6, 8) and document.score().tempo_bpm == 90
    assert document.meter().bar_start(1) == 1440
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert (document.tempo_bpm, document.time_signature) == (120.0, (4, 4))
    assert meta[-1] == (120.0, (4, 4)) and len(meta) == 4
    document.set_tempo(120)                      # no change, no command
    assert document.undo_stack.index() == 0


@pytest.mark.parametrize("call, message", [
    (lambda d: d.add_notes([Note(128, 0, 10)]), "pitch 128"),
    (lambda d: d.add_notes([Note(60, -5, 10)]), "before the beginning"),
    (lambda d: d.add_notes([Note(60, 0, 0)]), "at least one tick"),
    (lambda d: d.add_notes([Note(60, 0, 10)], track=3), "no track 3"),
    (lambda d: d.set_tempo(0), "tempo must be between"),
    (lambda d: d.set_time_signature(4, 3), "not a valid time signature"),
])
def test_bad_edits_are_refused_with_a_clear_error_and_change_nothing(document, call, message):
    with pytest.raises(DocumentError, match=message):
        call(document)
    assert document.notes() == {} and document.undo_stack.count() == 0


def test_merge_key_folds_consecutive_nudges_into_one_step(document):
    [note_id] = document.add_notes([Note(60, 0, 240)])
    for pitch in (61, 62, 63):
        document.change_notes({note_id: Note(pitch, 0, 240)}, text="Move notes", merge_key="nudge")
    assert document.undo_stack.count() == 2
    document.undo_stack.undo()
    assert document.note(note_id) == Note(60, 0, 240)


def test_load_score_resets_undo_history_and_modified_flag(document):
    flags = []
    document.modified_changed.connect(flags.append)
    document.add_notes([Note(60, 0, 240)])
    document.load_score(motif())
    assert document.undo_stack.count() == 0 and not document.is_modified
    assert flags == [True, False]
    document.mark_modified()
    assert document.is_modified


def test_empty_score_still_has_a_track_to_draw_into(document):
    document.load_score(Score([]))
    assert document.track_count() == 1
    document.add_notes([Note(60, 0, 240)])
    assert document.score().tracks[0].notes == [Note(60, 0, 240)]


def test_other_resolutions_are_resampled_to_480(document):
    score = Score([Track("x", 0, False, [Note(60, 96, 96)])], ticks_per_quarter=96)
    document.load_score(score)
    assert list(document.notes().values()) == [(0, Note(60, 480, 480))]


def test_loaded_files_get_silent_or_zero_length_notes_mended(document):
    document.load_score(Score([Track("x", 0, False, [Note(60, 0, 0, 0), Note(61, 0, 10, 200)])]))
    assert sorted(n for _, n in document.notes().values()) == [Note(60, 0, 1, 1),
                                                               Note(61, 0, 10, 127)]
    with pytest.raises(DocumentError, match="pitch 130"):
        document.load_score(Score([Track("x", 0, False, [Note(130, 0, 10)])]))
    assert len(document.notes()) == 2                    # a refused load changes nothing


def test_end_tick_follows_loads_edits_undo_and_redo(document):
    def counted() -> int:
        return max((n.end for _, n in document.notes().values()), default=0)

    assert document.end_tick() == 0
    document.load_score(motif())                 # the melody's last note and the bass end together
    assert document.end_tick() == counted() == 1920
    bass = next(i for i, (track, _) in document.notes().items() if track == 1)
    document.change_notes({bass: document.note(bass).moved(duration=240)})
    assert document.end_tick() == counted() == 1920   # the melody still ends there
    melody_last = max(document.track_note_ids(0), key=lambda i: document.note(i).end)
    document.change_notes({melody_last: document.note(melody_last).moved(duration=240)})
    assert document.end_tick() == counted() == 1200
    ids = document.add_notes([Note(72, 3840, 480)], track=1)
    assert document.end_tick() == 4320
    document.remove_notes(ids)
    assert document.end_tick() == counted() == 1200
    document.undo()
    assert document.end_tick() == 4320
    document.undo()
    document.undo()                              # the melody's last note long again
    assert document.end_tick() == counted() == 1920
    document.undo_stack.redo()
    assert document.end_tick() == counted() == 1200
    document.delete_track(0)
    assert document.end_tick() == counted() == 240
    document.undo()
    assert document.end_tick() == counted() == 1200
    document.remove_notes(list(document.notes()))
    assert document.end_tick() == 0


def test_a_snapshot_keeps_the_score_of_its_moment(document):
    document.load_score(motif())
    snapshot = document.snapshot()
    before = document.score(include_generated=True)
    document.add_generated([Note(72, 2880, 480)], track=0)
    document.set_tempo(120)
    document.remove_notes([next(iter(document.notes()))])
    assert snapshot.score(include_generated=True) == before
    assert document.snapshot().score() == document.score()
    assert document.snapshot().score(include_generated=True, tracks_wanted=[True, False]) == \
        document.score(include_generated=True, tracks_wanted=[True, False])

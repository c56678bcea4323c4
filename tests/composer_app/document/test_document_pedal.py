"""A performer's sustain pedal (MIDI CC64) lives in the document: open, add bars and save
gives it back exactly; undo, the recovery file and Continue's prompt keep it; the velocity
lane shows it."""

import json

import mido

from composer_app.continuation.prompt import build_prompt
from composer_app.document.autosave import read_recovery, recovery_path, write_recovery
from composer_app.document.document import Document
from ml_core.midi_io import read_midi
from ml_core.music import Note, PedalSpan, Score, Track


def pedal_events(path) -> list[tuple[int, bool]]:
    """(absolute tick, down) of each CC64 change that flips the pedal, over the whole file."""
    events, down = [], False
    for track in mido.MidiFile(path).tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "control_change" and message.control == 64:
                pressed = message.value >= 64
                if pressed != down:
                    events.append((tick, pressed))
                    down = pressed
    return sorted(events)


def write_performance(path) -> None:
    """A played piano phrase: arpeggiated chords, off-grid pedal changes at 64..127 and 0..63."""
    track = mido.MidiTrack()
    events = []
    for bar in range(4):
        base = bar * 1920
        for k, pitch in enumerate((48, 55, 64, 67)):
            start = base + 7 * k + 3
            events += [(start, mido.Message("note_on", note=pitch, velocity=70 + k)),
                       (start + 400, mido.Message("note_off", note=pitch, velocity=0))]
        events += [(base + 17, mido.Message("control_change", control=64, value=100)),
                   (base + 1890, mido.Message("control_change", control=64, value=12))]
    events.sort(key=lambda event: (event[0], event[1].type != "control_change"))
    tick = 0
    for at, message in events:
        track.append(message.copy(time=at - tick))
        tick = at
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


def test_open_add_eight_bars_and_save_gives_the_pedal_back_exactly(window, tmp_path):
    source, target = tmp_path / "played.mid", tmp_path / "longer.mid"
    write_performance(source)
    assert window.files.load(source) and window.files.wait_until_opened()
    spans = read_midi(source).tracks[0].pedal
    assert len(spans) == 4 and window.document.track_info(0).pedal == tuple(spans)
    new_bars = [Note(60 + bar % 5, 7680 + bar * 1920, 960) for bar in range(8)]
    window.document.add_generated(new_bars)
    window.document.accept_generated()
    assert window.files.save_as(target) and window.errors == []
    assert pedal_events(target) == pedal_events(source)
    assert read_midi(target).tracks[0].pedal == spans
    assert window.document.score().tracks[0].pedal == spans


def pedalled_document() -> Document:
    """A piano track with two pedal spans over a bass track without."""
    notes = [Note(60, 0, 400), Note(64, 480, 400), Note(67, 960, 400)]
    piano = Track("Piano", 0, False, notes, [], [PedalSpan(10, 900), PedalSpan(950, 1800)])
    document = Document()
    document.load_score(Score([piano, Track("Bass", 32, False, [Note(36, 0, 1920)])],
                              100.0, (4, 4)))
    return document


def test_undo_of_a_track_delete_and_of_a_continuation_keeps_the_pedal(qapp):
    document = pedalled_document()
    spans = (PedalSpan(10, 900), PedalSpan(950, 1800))
    document.delete_track(0)
    assert all(not info.pedal for info in document.track_infos())
    document.undo()
    assert document.track_info(0).pedal == spans
    document.add_generated([Note(72, 1920, 480)])
    document.change_track(0, name="Grand")
    document.undo()
    document.undo()
    assert document.track_info(0).pedal == spans and document.score().tracks[0].pedal == list(spans)
    assert document.score().tracks[1].pedal == []


def test_the_recovery_file_keeps_the_pedal_and_an_older_one_without_it_still_reads(qapp, tmp_path):
    document = pedalled_document()
    write_recovery(document.score(), tmp_path / "song.mid")
    restored, _ = read_recovery()
    assert restored.tracks[0].pedal == [PedalSpan(10, 900), PedalSpan(950, 1800)]
    payload = json.loads(recovery_path().read_text())
    for track in payload["score"]["tracks"]:
        del track["pedal"]                  # written before the document kept the pedal
    recovery_path().write_text(json.dumps(payload))
    older, _ = read_recovery()
    assert older.tracks[0].pedal == [] and older.note_count == 4


def test_continues_prompt_holds_the_pedal_whole_up_to_the_playhead_and_in_a_selection(qapp):
    score = pedalled_document().score(tracks_wanted=[True, False])
    whole, _ = build_prompt(score, "score")
    assert whole.tracks[0].pedal == [PedalSpan(10, 900), PedalSpan(950, 1800)]
    before, _ = build_prompt(score, "playhead", playhead=1200)
    assert before.tracks[0].pedal == [PedalSpan(10, 900), PedalSpan(950, 1200)]
    selection, _ = build_prompt(score, "selection", [Note(64, 480, 400)])
    assert selection.tracks[0].pedal == [PedalSpan(10, 881)]      # the selection's span, cut
    assert selection.tracks[0].sounding_notes()[0].end == 881


def test_the_velocity_lane_draws_the_active_tracks_pedal(qtbot):
    from composer_app.canvas.canvas import PianoRollCanvas

    document = pedalled_document()
    canvas = PianoRollCanvas(document)
    qtbot.addWidget(canvas)
    canvas.resize(900, 500)
    canvas.show()
    lane = canvas.velocity_lane
    rects = lane.pedal_rects()
    assert len(rects) == 2 and rects[0].left() < rects[1].left()
    assert rects[0].bottom() == lane.height() and rects[0].height() < 5
    document.set_active_track(1)
    assert lane.pedal_rects() == []
    lane.grab()                             # paints with and without a pedal


def test_continuing_inside_the_piece_with_shift_moves_the_pedal_and_undo_puts_it_back(qapp):
    from composer_app.document.parts import add_parts
    from composer_app.model.jobs import MakeRoom

    document = pedalled_document()
    spans = (PedalSpan(10, 900), PedalSpan(950, 1800))
    document.add_generated([Note(72, 960, 480)], make_room=MakeRoom.shift(960))
    moved = document.track_info(0).pedal
    assert moved == (PedalSpan(10, 900), PedalSpan(950, 960), PedalSpan(960 + 1920, 1800 + 1920))
    assert document.score(include_generated=True).tracks[0].notes[-1] == Note(67, 960 + 1920, 400)
    document.undo()
    assert document.track_info(0).pedal == spans
    add_parts(document, {0: [Note(72, 480, 240)], 1: [Note(40, 480, 240)]},
              make_room=MakeRoom.shift(480))
    assert document.track_info(0).pedal == (PedalSpan(10, 480), PedalSpan(480 + 1920, 900 + 1920),
                                            PedalSpan(950 + 1920, 1800 + 1920))
    document.undo()
    assert document.track_info(0).pedal == spans and document.track_count() == 2


def test_the_continue_panels_prompt_reads_the_active_tracks_pedal(qtbot):
    from composer_app.continuation.panel_prompt import JobInputs
    from composer_app.continuation.sampling_panel import SamplingPanel

    document = pedalled_document()
    panel = SamplingPanel()
    qtbot.addWidget(panel)
    prompt, offset = JobInputs(document, panel).prompt()
    assert offset == 0 and prompt.tracks[0].pedal == [PedalSpan(10, 900), PedalSpan(950, 1800)]
    assert prompt.tracks[0].sounding_notes()[-1].end == 1800    # the pedal holds its last note

"""The Continue side of the app with a small real model bundle (see conftest.py).

Covers: clicking Continue streams a preview then adds the continuation as one undo step;
Stop ends the worker quickly and keeps the partial continuation; a corrupt bundle shows an
error and the next Continue works; variations are browsed, auditioned and accepted;
re-roll; the bundle cache; prompts from the selection / playhead; shutdown joins workers.
"""

from __future__ import annotations

import time

import pytest
from continuation_helpers import make_panel
from PySide6.QtCore import Qt

from composer_app.continuation import panel as continue_panel
from composer_app.continuation.panel import PromptError, build_prompt
from ml_core.music import Note, Score, Track

PROMPT_END = 2 * 1920  # the two-bar motif
LAST_ONSET = PROMPT_END - 240  # the model may add a chord tone at the prompt's last onset


@pytest.fixture
def errors(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(continue_panel, "show_error", lambda parent, text: shown.append(text))
    return shown


@pytest.fixture
def panel(qtbot, tiny_bundle, errors, motif_score):
    return make_panel(qtbot, motif_score(2), "tiny", seed=1234)


@pytest.fixture
def slow_steps(monkeypatch):
    """Each generated token takes at least 2 ms: the tiny model alone writes 64 bars in a
    fraction of a second, too fast for tests that act while a continuation is running."""
    from ml_core import generation

    real = generation.make_stepper

    def make_slow_stepper(*args, **kwargs):
        stepper = real(*args, **kwargs)
        step = stepper.step

        def slow_step(*step_args):
            time.sleep(0.002)
            return step(*step_args)

        stepper.step = slow_step
        return stepper

    monkeypatch.setattr(generation, "make_stepper", make_slow_stepper)


def run_continue(qtbot, panel, timeout=20000):
    with qtbot.waitSignal(panel.worker.finished, timeout=timeout) as blocker:
        qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def generated_notes(document) -> list[Note]:
    return sorted(document.note(i) for i in document.generated_ids())


def test_continue_streams_then_one_undo_removes_the_continuation(qtbot, panel, errors, motif_score):
    document = panel.document
    panel.sampling_panel.bars.setValue(8)
    previews: list[int] = []
    document.preview_changed.connect(lambda: previews.append(len(document.preview())))
    result = run_continue(qtbot, panel)

    assert errors == []
    assert not result.cancelled
    assert panel.preview_updates > 1                 # notes arrived before the end
    assert any(count > 0 for count in previews)      # ...and were drawn as a preview
    assert document.preview() == []                  # the preview is gone once added
    added = generated_notes(document)
    assert len(added) > 4
    assert all(LAST_ONSET <= n.start < PROMPT_END + 8 * 1920 for n in added)
    assert len(document.notes()) == 16 + len(added)
    assert panel.accept_button.isEnabled() and panel.reroll_button.isEnabled()
    assert panel.model_panel.device_in_use.text() == "cpu"

    document.undo_stack.undo()                       # one Ctrl+Z
    assert document.generated_ids() == set()
    assert sorted(n for _, n in document.notes().values()) == sorted(motif_score(2).tracks[0].notes)
    assert not panel.accept_button.isEnabled()
    document.undo_stack.redo()
    assert generated_notes(document) == added


def test_same_locked_seed_gives_the_same_continuation_and_reuses_the_loaded_bundle(qtbot, panel):
    panel.sampling_panel.bars.setValue(2)
    panel.sampling_panel.seed.setValue(1234)
    first = run_continue(qtbot, panel)
    loads = panel.worker.cache.loads  # the bundled default may have been preloaded at start
    panel.document.undo_stack.undo()
    second = run_continue(qtbot, panel)
    assert panel.sampling_panel.seed.value() == 1234
    assert first.new_notes == second.new_notes and first.new_notes[0]
    assert panel.worker.cache.loads == loads  # the second Continue did not reload


def test_stop_ends_the_worker_quickly_and_keeps_the_partial_continuation(qtbot, panel, slow_steps):
    panel.sampling_panel.bars.setValue(64)
    panel.worker.interval_s = 0.04
    with qtbot.waitSignal(panel.worker.progress, timeout=20000):
        panel.continue_()
    # Stop once some notes have streamed in (the first update may come before any note).
    qtbot.waitUntil(lambda: len(panel.document.preview()) > 0, timeout=20000)
    thread = panel.worker._thread  # noqa: SLF001
    assert panel.stop_button.isEnabled()
    began = time.perf_counter()
    with qtbot.waitSignal(panel.worker.finished, timeout=5000) as blocker:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
        thread.join(2.0)
        ended = time.perf_counter() - began
    assert ended < 0.25, f"the worker took {ended * 1000:.0f} ms to stop"
    result = blocker.args[0]
    assert result.cancelled
    kept = generated_notes(panel.document)
    assert kept and max(n.start for n in kept) < PROMPT_END + 64 * 1920
    assert kept == sorted(result.new_notes[0])
    assert panel.continue_button.isEnabled() and not panel.stop_button.isEnabled()
    panel.document.undo_stack.undo()
    assert panel.document.generated_ids() == set() and len(panel.document.notes()) == 16


def test_a_corrupt_bundle_shows_an_error_and_the_next_continue_works(qtbot, panel, errors,
                                                                     broken_bundle):
    panel.model_panel.refresh()
    assert panel.model_panel.select("broken")
    with qtbot.waitSignal(panel.worker.failed, timeout=20000):
        qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
    assert len(errors) == 1 and "model.safetensors" in errors[0]
    assert panel.document.generated_ids() == set() and panel.document.preview() == []
    assert panel.continue_button.isEnabled() and not panel.is_running()

    assert panel.model_panel.select("tiny")
    panel.sampling_panel.bars.setValue(2)
    run_continue(qtbot, panel)
    assert len(errors) == 1
    assert panel.document.generated_ids()


def test_variations_can_be_browsed_auditioned_and_one_accepted(qtbot, panel, motif_score):
    document = panel.document
    sampling = panel.sampling_panel
    sampling.bars.setValue(4)
    sampling.variations.setValue(3)
    sampling.temperature.setValue(2.0)
    result = run_continue(qtbot, panel)
    assert panel.variation_count() == 3 == len(result.new_notes)
    assert generated_notes(document) == sorted(result.new_notes[0])
    assert panel.variation_label.text() == "Variation 1 / 3"
    assert not panel.previous_button.isEnabled() and panel.next_button.isEnabled()

    steps = document.undo_stack.count()
    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    assert panel.selected_variation() == 1
    assert generated_notes(document) == sorted(result.new_notes[1])
    assert document.undo_stack.count() == steps          # swapped, still one undo step
    assert len(panel.confidence_view.summary) == 3

    auditioned: list[Score] = []
    panel.audition_requested.connect(auditioned.append)
    qtbot.mouseClick(panel.audition_button, Qt.MouseButton.LeftButton)
    assert sorted(auditioned[0].notes()) == sorted(motif_score(2).tracks[0].notes
                                                   + result.new_notes[1])

    qtbot.mouseClick(panel.accept_button, Qt.MouseButton.LeftButton)
    assert document.generated_ids() == set()
    assert sorted(n for _, n in document.notes().values()) == sorted(
        motif_score(2).tracks[0].notes + result.new_notes[1])
    assert not panel.accept_button.isEnabled() and not panel.reroll_button.isEnabled()


def test_reroll_replaces_the_pending_continuation_with_a_new_seed(qtbot, panel):
    panel.sampling_panel.bars.setValue(2)
    run_continue(qtbot, panel)
    seed = panel.sampling_panel.seed.value()
    with qtbot.waitSignal(panel.worker.finished, timeout=20000) as blocker:
        qtbot.mouseClick(panel.reroll_button, Qt.MouseButton.LeftButton)
    assert panel.sampling_panel.seed.value() != seed
    assert generated_notes(panel.document) == sorted(blocker.args[0].new_notes[0])
    texts = [panel.document.undo_stack.text(i) for i in range(panel.document.undo_stack.count())]
    assert texts == ["Continue"]                          # the first take is gone, not stacked
    panel.document.undo_stack.undo()
    assert len(panel.document.notes()) == 16


def test_continue_from_the_selection_places_the_continuation_after_it(qtbot, panel, errors):
    canvas = panel._test_keep[1]
    first_bar = [i for i, (_, n) in panel.document.notes().items() if n.start < 1920]
    canvas.select_ids(first_bar)
    panel.sampling_panel.prompt_source.setCurrentIndex(1)  # selection
    panel.sampling_panel.bars.setValue(1)
    result = run_continue(qtbot, panel)
    assert result.job.prompt.note_count == 8 and result.job.offset == 0
    assert all(1920 - 240 <= n.start < 2 * 1920 for n in generated_notes(panel.document))

    canvas.select_ids([])
    panel.continue_()
    assert errors and "Select some notes" in errors[-1]
    assert not panel.is_running()


def test_build_prompt_sources():
    score = Score([Track("Piano", 0, False, [Note(60, 0, 480), Note(62, 1920 * 3 + 240, 480),
                                             Note(64, 1920 * 4, 960)])])
    whole, offset = build_prompt(score, "score")
    assert whole is score and offset == 0

    selection, offset = build_prompt(score, "selection", [Note(62, 1920 * 3 + 240, 480)])
    assert offset == 1920 * 3
    assert list(selection.notes()) == [Note(62, 240, 480)]

    before, offset = build_prompt(score, "playhead", playhead=1920 * 4)
    assert offset == 0 and sorted(before.notes()) == [Note(60, 0, 480), Note(62, 6000, 480)]
    for source, kwargs in (("selection", {}), ("playhead", {"playhead": 0}),
                           ("playhead", {"playhead": 100000})):
        if kwargs.get("playhead") == 100000:
            kwargs = {"playhead": 1}  # nothing starts before tick 1 except the first note
            assert build_prompt(score, source, **kwargs)[0].note_count == 1
            continue
        with pytest.raises(PromptError):
            build_prompt(score, source, **kwargs)


def test_shutdown_while_generating_joins_the_worker(qtbot, panel, slow_steps):
    panel.sampling_panel.bars.setValue(64)
    with qtbot.waitSignal(panel.worker.progress, timeout=20000):
        panel.continue_()
    # Stop once some notes have streamed in (the first update may come before any note).
    qtbot.waitUntil(lambda: len(panel.document.preview()) > 0, timeout=20000)
    thread = panel.worker._thread  # noqa: SLF001
    began = time.perf_counter()
    panel.shutdown()
    assert not thread.is_alive()
    assert time.perf_counter() - began < 1.0
    assert panel.document.preview() == []
    panel.continue_()                                     # a closed panel starts nothing
    assert not panel.is_running()


def test_install_continue_docks_the_panels_and_stops_on_close(qtbot, tiny_bundle, monkeypatch,
                                                             motif_score, slow_steps):
    from PySide6.QtWidgets import QDockWidget

    from composer_app import dialogs
    from composer_app.main_window import MainWindow

    monkeypatch.setattr(dialogs, "ask_save_changes", lambda *args, **kwargs: "discard")
    window = MainWindow()
    qtbot.addWidget(window)
    panel = continue_panel.install_continue(window)
    titles = sorted(dock.windowTitle() for dock in window.findChildren(QDockWidget))
    assert {"Model", "Sampling", "Continue", "Confidence"} <= set(titles)
    assert panel.document is window.document and panel.timeline is window.timeline
    assert panel.selection is window.selection
    window.document.load_score(motif_score(2))
    assert panel.model_panel.select("tiny")
    panel.sampling_panel.bars.setValue(64)
    with qtbot.waitSignal(panel.worker.progress, timeout=20000):
        panel.continue_()
    window.close()
    assert panel._shut_down and not panel.is_running()  # noqa: SLF001
    assert not panel.worker._thread or not panel.worker._thread.is_alive()  # noqa: SLF001


def test_stay_in_key_shows_the_prompts_estimated_key(qtbot, panel):
    from ml_core.keys import key_name
    from ml_core.keys import prompt_key as estimate_key
    from ml_core.tokenizers.augment import scale_pitch_classes

    key = estimate_key(panel.document.score())
    panel.sampling_panel.stay_in_key.setChecked(True)
    assert panel.sampling_panel.key.itemText(0) == f"Estimated: {key_name(key)}"
    panel.sampling_panel.bars.setValue(2)
    result = run_continue(qtbot, panel)
    assert result.job.options.stay_in_key and result.job.options.key == key
    scale = scale_pitch_classes(*key)
    assert result.new_notes[0] and all(n.pitch % 12 in scale for n in result.new_notes[0])


def test_a_file_opened_while_continuing_gets_none_of_the_old_documents_notes(qtbot, panel,
                                                                             slow_steps,
                                                                             motif_score):
    """The job read the old document: once another one is loaded its notes must not land."""
    document = panel.document
    panel.sampling_panel.bars.setValue(16)
    with qtbot.waitSignal(panel.worker.finished, timeout=30000):
        qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.preview_updates > 0, timeout=10000)
        opened = motif_score(1)
        document.load_score(opened)
    qtbot.wait(50)
    assert sorted(document.score(include_generated=True).notes()) == sorted(opened.notes())
    assert not document.preview() and not document.generated_ids()
    assert not panel.session.running and panel.continue_button.isEnabled()


def test_the_estimated_key_follows_a_newly_opened_piece_estimated_off_the_gui_thread(qtbot, panel):
    from ml_core.keys import key_name
    from ml_core.keys import prompt_key as estimate_key
    from ml_core.music import Note, Score, Track

    panel.sampling_panel.stay_in_key.setChecked(True)
    e_major = [Note(pitch, i * 240, 240, 80)
               for i, pitch in enumerate([64, 66, 68, 69, 71, 73, 75, 76] * 4)]
    panel.document.load_score(Score([Track("Piano", 0, False, e_major)]))
    key = estimate_key(panel.document.score())
    assert key == (4, "major")
    qtbot.waitUntil(lambda: panel.sampling_panel.key.itemText(0) == f"Estimated: {key_name(key)}",
                    timeout=10_000)
    assert panel.keys.thread is not None   # it was a worker's estimate

"""Steering and Fill in the app, with a tiny model trained with controls and infilling
(see conftest.py): the sampling panel's texture/density/register reach GenerationOptions
and the new bars follow a chosen texture; Fill regenerates only the chosen bars as one
undo step; models without controls or infilling get disabled controls that say why."""

from __future__ import annotations

import pytest
from continuation_helpers import chord_bar, line_bar, make_panel
from PySide6.QtCore import Qt

from composer_app.continuation import panel as continue_panel
from ml_core.generation import GenerationOptions
from ml_core.music import Score, Track
from ml_core.tokenizers.remi_controls import BarControls


@pytest.fixture
def errors(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(continue_panel, "show_error", lambda parent, text: shown.append(text))
    return shown


def chords(bars: int) -> Score:
    return Score([Track("Piano", 0, False, [n for bar in range(bars) for n in chord_bar(bar, 64)])])


def lines_and_chords(bars: int = 6) -> Score:
    notes = [n for bar in range(bars)
             for n in (line_bar(bar, 60) if bar % 2 == 0 else chord_bar(bar, 62))]
    return Score([Track("Piano", 0, False, notes)])


def notes_per_onset(notes) -> float:
    return len(notes) / len({n.start for n in notes})


def test_controls_reach_the_options_and_the_new_bars_follow_a_chosen_texture(qtbot,
                                                                             steerable_bundle,
                                                                             errors):
    panel = make_panel(qtbot, chords(2), "steerable")
    sampling = panel.sampling_panel
    assert all(box.isEnabled() for box in sampling.control_boxes.values())
    # "Follow the prompt" shows what it follows: three-note chords on quarters, around E4.
    assert sampling.texture.itemText(0) == "Follow the prompt: 3 voices"
    assert sampling.density.itemText(0) == "Follow the prompt: calm (quarters)"
    assert sampling.option_values()["texture"] is None
    # Up to the playhead, after the first beat of chords: still three voices, but quarters
    # measured over the whole of bar 1 are fewer onsets per beat.
    panel._test_keep[1].set_playhead(480)
    sampling.prompt_source.setCurrentIndex(sampling.prompt_source.findData("playhead"))
    qtbot.waitUntil(lambda: sampling.density.itemText(0) == "Follow the prompt: sparse (half "
                    "notes)")
    assert sampling.texture.itemText(0) == "Follow the prompt: 3 voices"
    sampling.prompt_source.setCurrentIndex(sampling.prompt_source.findData("score"))

    sampling.set_control("texture", 1)
    sampling.set_control("density", 2.0)
    sampling.set_control("register", "any")
    values = sampling.option_values()
    assert (values["texture"], values["density"], values["register"]) == (1, 2.0, "any")
    assert GenerationOptions(**values).validated().texture == 1

    sampling.bars.setValue(2)
    single = []
    for seed in (1, 2, 3):
        sampling.seed.setValue(seed)
        with qtbot.waitSignal(panel.worker.finished, timeout=30000) as blocker:
            qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
        new = blocker.args[0].new_notes[0]
        assert blocker.args[0].job.options.texture == 1     # what the worker was given
        assert new and min(n.start for n in new) >= 2 * 1920
        single.append(notes_per_onset(new))
        panel.document.undo()
    assert errors == []
    # The prompt is all chords; asked for a single line, the model writes (nearly) one.
    assert max(single) < 1.5, single


def test_fill_changes_only_the_span_and_one_undo_restores_it(qtbot, steerable_bundle, errors):
    score = lines_and_chords(6)
    panel = make_panel(qtbot, score, "steerable")
    document, canvas = panel.document, panel._test_keep[1]
    assert (panel.fill_button.isEnabled()
            and panel.actions["fill"].shortcut().toString() == "Ctrl+Shift+Return"
            and panel.actions["fill"].isEnabled())
    before = sorted(document.notes().items())
    span = (2 * 1920, 4 * 1920)                 # bars 3 and 4
    canvas.timeline.set_loop((2 * 1920 + 100, 4 * 1920 - 100))   # a ruler drag inside them
    assert panel.inputs.fill_span() == (2, 4)
    panel.sampling_panel.variations.setValue(3)
    with qtbot.waitSignal(panel.worker.finished, timeout=30000) as blocker:
        qtbot.mouseClick(panel.fill_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert errors == [] and result.job.fill_bars == (2, 4)
    assert result.variation_count == 3
    after = list(document.score(include_generated=True).notes())
    outside = [n for n in score.notes() if not span[0] <= n.start < span[1]]
    assert sorted(n for n in after if not span[0] <= n.start < span[1]) == sorted(outside)
    filled = sorted(n for n in after if span[0] <= n.start < span[1])
    assert filled and filled == sorted(result.new_notes[panel.session.selected])
    assert all(n.end <= span[1] for n in filled)
    # Browse the variations: still one undo step, still only the span changes.
    panel.select_variation(1)
    assert sorted(n for n in document.score(include_generated=True).notes()
                  if not span[0] <= n.start < span[1]) == sorted(outside)
    assert "Fill" in document.undo_stack.undoText()
    document.undo()
    assert sorted(document.notes().items()) == before
    assert document.undo_stack.index() == 0


def test_a_model_without_controls_or_infilling_says_why(qtbot, tiny_bundle, errors, motif_score):
    """The tiny conftest model has control tokens but learned no infilling; the bundled
    chorale model (bach-chorales) has neither."""
    panel = make_panel(qtbot, motif_score(2), "tiny")
    assert not panel.fill_button.isEnabled()
    assert "not trained to fill" in panel.fill_button.toolTip()
    assert panel.model_panel.select("bach-chorales")
    sampling = panel.sampling_panel
    assert not any(box.isEnabled() for box in sampling.control_boxes.values())
    assert "without texture, density and register" in sampling.texture.toolTip()
    assert sampling.control_values() == {"texture": None, "density": None, "register": None}
    panel.fill()
    assert errors and "not trained to fill" in errors[-1]


def test_follow_the_prompt_shows_what_generation_forces():
    from ml_core.sampling_rules import followed_controls
    from ml_core.tokenizers.remi import RemiTokenizer

    assert followed_controls(RemiTokenizer(), chords(2)) == BarControls(3, 2, 2)


def test_fill_takes_the_selected_notes_bars_and_rerolls_and_auditions_the_same_span(
        qtbot, steerable_bundle, errors):
    score = lines_and_chords(6)
    panel = make_panel(qtbot, score, "steerable")
    document, canvas = panel.document, panel._test_keep[1]
    in_bar_4 = [i for i, (_, n) in document.notes().items() if 3 * 1920 <= n.start < 4 * 1920]
    canvas.view.select_ids(in_bar_4[:2])
    assert panel.inputs.fill_span() == (3, 4)
    span = (3 * 1920, 4 * 1920)
    outside = sorted(n for n in score.notes() if not span[0] <= n.start < span[1])
    with qtbot.waitSignal(panel.worker.finished, timeout=30000):
        panel.fill()
    canvas.view.select_ids([])
    assert panel.reroll_button.isEnabled()
    with qtbot.waitSignal(panel.worker.finished, timeout=30000) as blocker:
        qtbot.mouseClick(panel.reroll_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].job.fill_bars == (3, 4) and errors == []
    assert document.undo_stack.count() == 1        # the first take was taken out again
    with qtbot.waitSignal(panel.audition_requested) as heard:
        panel.audition()
    auditioned = list(heard.args[0].notes())
    assert sorted(n for n in auditioned if not span[0] <= n.start < span[1]) == outside
    assert sorted(n for n in auditioned
                  if span[0] <= n.start < span[1]) == sorted(panel.session.selected_notes())
    panel.accept()
    assert not document.generated_ids()


def test_fill_without_a_range_says_how_to_choose_one(qtbot, steerable_bundle, errors):
    panel = make_panel(qtbot, lines_and_chords(4), "steerable")
    panel.fill()
    assert errors and "drag a range in the ruler" in errors[-1]
    assert not panel.is_running() and panel.document.undo_stack.count() == 0


def test_the_bundled_default_writes_a_chosen_texture_through_the_panel(qtbot, errors):
    """The shipped default has controls: asked for a single line under chords, it writes one."""
    panel = make_panel(qtbot, chords(2), "default")
    sampling = panel.sampling_panel
    assert all(box.isEnabled() for box in sampling.control_boxes.values())
    assert sampling.texture.itemText(0) == "Follow the prompt: 3 voices"
    sampling.set_control("texture", 1)
    sampling.bars.setValue(2)
    sampling.seed.setValue(1)
    with qtbot.waitSignal(panel.worker.finished, timeout=60000) as blocker:
        qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].job.options.texture == 1
    new = blocker.args[0].new_notes[0]
    assert new and len({n.start for n in new}) == len(new), "a chord in a single line"
    assert not errors


def test_the_motif_choice_reaches_the_options(qtbot) -> None:
    from composer_app.continuation.sampling_panel import SamplingPanel
    from ml_core.motif import DEFAULT_MOTIF

    sampling = SamplingPanel()
    qtbot.addWidget(sampling)
    assert sampling.option_values()["motif"] == DEFAULT_MOTIF
    sampling.motif.setCurrentIndex(sampling.motif.findData("repeat"))
    assert sampling.options().motif == "repeat"

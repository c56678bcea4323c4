"""Continue's target (active track / all audible tracks), Fill and Add part in the app with a
model that knows tracks (issue 42), and Generate > Add Part with a single-stream model."""

from __future__ import annotations

import pytest
import torch
from continuation_helpers import make_panel

from composer_app.continuation.add_part import SHORTCUT, AddPartAction, AddPartDialog
from composer_app.model.jobs import PartRequest
from ml_core import bundle, paths
from ml_core.models import build_model
from ml_core.music import Note
from ml_core.tokenizers.remi_tracks import RemiTracksConfig, RemiTracksTokenizer
from tests.ml_core.test_multitrack_generation import trio  # 3-bar soprano, 4-bar alto, tenor

Q = 480
BAR = 4 * Q


@pytest.fixture(scope="module")
def tracks_bundle_source(tmp_path_factory):
    """A randomly initialised remi_tracks bundle (structure only, no music)."""
    tokenizer = RemiTracksTokenizer(RemiTracksConfig(use_velocity=False))
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                        num_layers=1, num_heads=2, ff_size=64, context=512)
    return bundle.save(tmp_path_factory.mktemp("tracks") / "tracks", model.eval(),
                       tokenizer.to_dict(), name="tracks")


@pytest.fixture
def tracks_bundle(tracks_bundle_source):
    import shutil

    destination = paths.user_models_dir() / "tracks"
    shutil.copytree(tracks_bundle_source, destination)
    return destination


def _run(qtbot, panel, start) -> None:
    with qtbot.waitSignal(panel.worker.finished, timeout=60000):
        start()


def _added(document) -> list[tuple[int, Note]]:
    return [document.notes()[i] for i in document.generated_ids()]


def test_active_continues_only_the_active_track_from_its_own_end(qtbot, tracks_bundle):
    panel = make_panel(qtbot, trio(), "tracks")
    assert panel.abilities.tracks and panel.sampling_panel.target_value() == "active"
    panel.sampling_panel.bars.setValue(2)
    panel.document.set_active_track(0)
    _run(qtbot, panel, panel.continue_)
    added = _added(panel.document)
    assert added and {track for track, _ in added} == {0}
    # from its own end (bar 4), not after the others' end: a random model's first note
    # falls somewhere in that bar (ml_core's tests check the schedule itself)
    assert 3 * BAR <= min(n.start for _, n in added) < 4 * BAR
    assert panel.session.result.job.target == "active"


def test_all_writes_into_every_audible_track_and_none_into_muted_ones(qtbot, tracks_bundle):
    panel = make_panel(qtbot, trio(), "tracks")
    document = panel.document
    document.set_track_muted(1, True)
    panel.sampling_panel.target.setCurrentIndex(panel.sampling_panel.target.findData("all"))
    panel.sampling_panel.bars.setValue(2)
    before = sorted(document.notes().items())
    _run(qtbot, panel, panel.continue_)
    added = _added(document)
    assert {track for track, _ in added} == {0, 2}          # the muted alto got nothing
    assert min(n.start for t, n in added if t == 2) >= 4 * BAR   # the bass from its own end
    assert len(panel.session.audition_score().tracks) == 3
    document.undo()                                         # one undo step for all of them
    assert sorted(document.notes().items()) == before
    # Re-roll repeats the same target
    _run(qtbot, panel, panel.reroll)
    assert panel.session.result.job.target == "all"
    assert {track for track, _ in _added(document)} == {0, 2}


def test_all_with_a_single_stream_model_continues_each_track(qtbot, tiny_bundle):
    panel = make_panel(qtbot, trio(), "tiny")
    assert not panel.abilities.tracks
    panel.sampling_panel.target.setCurrentIndex(panel.sampling_panel.target.findData("all"))
    panel.sampling_panel.bars.setValue(1)
    panel.sampling_panel.variations.setValue(2)
    _run(qtbot, panel, panel.continue_)
    added = _added(panel.document)
    assert added and {track for track, _ in added} <= {0, 1, 2}
    assert panel.session.result.note_tracks
    assert panel.session.select(1) or panel.variation_count() == 1   # variations still swap
    panel.accept()
    assert not panel.document.generated_ids()


def test_fill_with_a_track_model_rewrites_the_active_tracks_span(qtbot, tracks_bundle):
    panel = make_panel(qtbot, trio(), "tracks")
    document = panel.document
    document.set_active_track(1)
    assert panel.abilities.fill          # fill_track: any model that knows tracks
    panel.timeline.set_loop((BAR, 3 * BAR))
    _run(qtbot, panel, panel.fill)
    added = _added(document)
    assert added and {track for track, _ in added} == {1}
    assert all(BAR <= n.start < 3 * BAR for _, n in added)


def test_add_part_makes_one_new_track_in_the_span_and_one_undo_removes_it(qtbot,
                                                                          tracks_bundle):
    panel = make_panel(qtbot, trio(), "tracks")
    document = panel.document
    action = AddPartAction(panel)
    assert action.action.isEnabled()
    before = sorted(document.notes().items())
    _run(qtbot, panel, lambda: action.run(PartRequest("bass", 33, "New bass", (1, 3))))
    assert document.track_count() == 4
    info = document.track_info(3)
    assert (info.name, info.program) == ("New bass", 33)
    added = _added(document)
    assert added and {track for track, _ in added} == {3}
    assert all(BAR <= n.start < 3 * BAR for _, n in added)
    assert "Add part" in document.undo_stack.undoText()
    document.undo()                                         # one Ctrl+Z: track and notes go
    assert document.track_count() == 3
    assert sorted(document.notes().items()) == before


def test_add_part_is_disabled_with_a_single_stream_model(qtbot, tiny_bundle, monkeypatch,
                                                         tmp_path):
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: tmp_path)  # no model knows tracks
    panel = make_panel(qtbot, trio(), "tiny")
    action = AddPartAction(panel)
    assert not action.action.isEnabled()
    assert "remi_tracks" in action.action.toolTip()
    assert len(action.action.toolTip().splitlines()) == 1
    assert action.action.shortcut().toString() == SHORTCUT
    assert not action.run(PartRequest("bass", 33, "Bass"))
    assert panel.document.track_count() == 3


def test_the_dialog_defaults_the_instrument_and_name_from_the_role(qtbot):
    dialog = AddPartDialog({"piece": None, "selection": None, "loop": (2, 4)})
    qtbot.addWidget(dialog)
    assert dialog.request() == PartRequest("bass", 33, "Bass", (2, 4))   # the loop first
    assert not dialog.span.model().item(dialog.span.findData("selection")).isEnabled()
    dialog.span.setCurrentIndex(dialog.span.findData("piece"))
    assert dialog.request().bars is None
    dialog.role.setCurrentIndex(dialog.role.findData("harmony"))
    dialog.span.setCurrentIndex(dialog.span.findData("loop"))
    assert dialog.request() == PartRequest("harmony", 48, "Harmony", (2, 4))
    dialog.role.setCurrentIndex(dialog.role.findData("program"))
    dialog.instrument.setCurrentIndex(73)
    assert dialog.request() == PartRequest("program", 73, "Flute", (2, 4))


def test_add_part_variations_swap_and_accept_keeps_the_track(qtbot, tracks_bundle):
    panel = make_panel(qtbot, trio(), "tracks")
    document = panel.document
    panel.sampling_panel.variations.setValue(2)
    action = AddPartAction(panel)
    _run(qtbot, panel, lambda: action.run(PartRequest("harmony", 48, "Strings")))
    assert panel.variation_count() == 2 and document.track_count() == 4
    assert panel.session.select(1)                          # swapped: still one new track
    assert document.track_count() == 4
    assert {track for track, _ in _added(document)} == {3}
    assert len(panel.session.audition_score().tracks) == 4
    panel.accept()
    assert document.track_count() == 4 and document.track_note_ids(3)   # kept, accepted
    assert not document.generated_ids()


def test_add_part_names_the_models_that_know_tracks(qtbot, tiny_bundle, tracks_bundle,
                                                    monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: tmp_path)
    panel = make_panel(qtbot, trio(), "tiny")
    action = AddPartAction(panel)
    assert not action.action.isEnabled()
    tip = action.action.toolTip()
    assert "choose 'tracks'" in tip and len(tip.splitlines()) == 1

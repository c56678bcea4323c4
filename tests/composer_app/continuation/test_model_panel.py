"""The model panel (bundle list, card, training curve, device, folder watching), the
sampling panel (options, seed lock, key) and the confidence view's numbers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from composer_app.continuation.confidence_view import ConfidenceView, density_per_bar, smoothed
from composer_app.continuation.model_panel import ModelPanel, card_fields
from composer_app.continuation.sampling_panel import KEYS, SamplingPanel, key_name
from ml_core.keys import prompt_key as estimate_key
from ml_core.music import Note, Score, Track


@pytest.fixture
def model_panel(qtbot, tiny_bundle):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_the_card_shows_the_bundle_and_its_training_curve(model_panel, tiny_bundle):
    names = [info.name for info in model_panel.bundles()]
    assert "tiny" in names
    assert model_panel.select("tiny")
    info = model_panel.selected_bundle()
    assert info.source == "user" and info.path == tiny_bundle
    text = model_panel.card.text()
    for expected in ("tiny", "transformer", "remi", "nats/token", "A one-layer test model"):
        assert expected in text
    assert f"{info.config['parameter_count'] / 1e3:.1f} k" in text
    assert model_panel.curve_plot.isVisibleTo(model_panel)
    curves = model_panel.curve_plot.getPlotItem().listDataItems()
    assert len(curves) == 1 and len(curves[0].getData()[0]) == 60


def test_a_bundle_saved_into_the_user_folder_appears_without_refresh(qtbot, model_panel,
                                                                     tiny_bundle):
    count = len(model_panel.bundles())
    copy = tiny_bundle.parent / "second"
    shutil.copytree(tiny_bundle, copy)
    config = json.loads((copy / "config.json").read_text())
    config["name"] = "second"
    (copy / "config.json").write_text(json.dumps(config))
    qtbot.waitUntil(lambda: len(model_panel.bundles()) == count + 1, timeout=5000)
    assert model_panel.select("second")
    shutil.rmtree(copy)
    qtbot.waitUntil(lambda: len(model_panel.bundles()) == count, timeout=5000)
    assert model_panel.selected_bundle().name != "second"


def test_refresh_keeps_the_selection_and_emits_when_it_goes(qtbot, model_panel, tiny_bundle):
    model_panel.select("tiny")
    with qtbot.assertNotEmitted(model_panel.bundle_changed):
        model_panel.refresh_button.click()
    assert model_panel.selected_bundle().name == "tiny"
    shutil.rmtree(tiny_bundle)
    with qtbot.waitSignal(model_panel.bundle_changed, timeout=2000):
        model_panel.refresh()
    assert all(info.name != "tiny" for info in model_panel.bundles())


def test_device_choice_is_remembered_and_cuda_follows_availability(qtbot, tiny_bundle):
    import torch

    from composer_app import settings

    panel = ModelPanel(settings=settings)
    qtbot.addWidget(panel)
    cuda_index = panel.device_combo.findData("cuda")
    assert panel.device_combo.model().item(cuda_index).isEnabled() == torch.cuda.is_available()
    with qtbot.waitSignal(panel.device_changed) as blocker:
        panel.set_device("cpu")
    assert blocker.args == ["cpu"] and panel.device() == "cpu"
    assert settings.get_str("device", "") == "cpu"
    again = ModelPanel(settings=settings)
    qtbot.addWidget(again)
    assert again.device() == "cpu"
    again.set_device_in_use("cpu")
    assert again.device_in_use.text() == "cpu"


def test_card_fields_from_a_config():
    fields = dict(card_fields({"arch": "lstm", "hparams": {"hidden_size": 512},
                               "parameter_count": 4_426_457,
                               "tokenizer": {"name": "bar_offset", "config": {}},
                               "training": {"pieces": 120, "source": "music21:bach"},
                               "metrics": {"test_nll": 1.425}}))
    assert fields["Parameters"] == "4.43 M"
    assert fields["Test NLL"] == "1.425 nats/token"
    assert "hidden_size: 512" in fields["Architecture"]
    assert "music21:bach" in fields["Training data"]
    assert dict(card_fields({}))["Test NLL"] == "not measured"
    trained = dict(card_fields({"training":
                                {"data": {"sources": ["music21:bach"], "train_files": 372,
                                                      "train_tokens": 4_045_992},
                                             "recipe": {"optimizer": "adamw"}}}))
    assert trained["Training data"] == "music21:bach, 372 files, 4.05 M tokens"


# ---------------------------------------------------------------- sampling panel
def test_a_fresh_panel_samples_as_the_library_does(qtbot):
    from ml_core.generation import GenerationOptions

    panel = SamplingPanel()
    qtbot.addWidget(panel)
    defaults, options = GenerationOptions(), panel.options(seed=1, device="cpu")
    assert (options.temperature, options.top_k, options.top_p) == \
        (defaults.temperature, defaults.top_k, defaults.top_p) == (1.0, 0, 0.95)


def test_sampling_options_and_seed_lock(qtbot):
    from ml_core.generation import GenerationOptions

    panel = SamplingPanel()
    qtbot.addWidget(panel)
    panel.bars.setValue(4)
    panel.temperature.setValue(0.8)
    panel.top_k.setValue(20)
    panel.top_p.setValue(0.9)
    panel.variations.setValue(3)
    assert panel.stay_in_key.isChecked()                  # on by default
    panel.stay_in_key.setChecked(False)
    panel.seed_lock.setChecked(True)
    panel.seed.setValue(77)
    assert panel.next_seed() == 77 == panel.next_seed()
    fresh = panel.next_seed(fresh=True)
    assert panel.seed.value() == fresh
    panel.seed_lock.setChecked(False)
    seeds = {panel.next_seed() for _ in range(5)}
    assert len(seeds) > 1 and panel.seed.value() in seeds
    options = panel.options(seed=5, device="cpu")
    assert options == GenerationOptions(bars=4, temperature=0.8, top_k=20, top_p=0.9, seed=5,
                                        variations=3, stay_in_key=False, key=None, device="cpu")


def test_stay_in_key_uses_the_estimate_or_the_override(qtbot):
    panel = SamplingPanel()
    qtbot.addWidget(panel)
    motif = Score([Track("p", 0, False, [Note(p, i * 480, 480) for i, p in
                                         enumerate((57, 60, 64, 69, 64, 60, 57, 52))])])
    key = estimate_key(motif)
    assert key == (9, "minor")
    panel.set_estimated_key(key)
    assert "A minor" in panel.key.itemText(0)
    panel.stay_in_key.setChecked(False)
    assert panel.option_values()["key"] is None            # stay in key is off
    assert not panel.key.isEnabled()
    panel.stay_in_key.setChecked(True)
    assert panel.key.isEnabled() and panel.option_values()["key"] == (9, "minor")
    panel.key.setCurrentIndex(1 + KEYS.index((2, "major")))
    assert panel.option_values()["key"] == (2, "major")
    assert key_name((2, "major")) == "D major" and len(KEYS) == 24
    assert estimate_key(Score([])) is None


# ---------------------------------------------------------------- confidence view
def test_smoothing_and_density_numbers():
    np.testing.assert_allclose(smoothed([1.0, 0.0, 1.0, 0.0], window=2), [1.0, 0.5, 0.5, 0.5])
    assert smoothed([]).size == 0
    score = Score([])
    notes = [Note(60, 0, 240), Note(62, 240, 240), Note(64, 1920 * 2, 240)]
    assert density_per_bar(notes, score) == ([1, 2, 3], [2, 0, 1])
    assert density_per_bar([], score) == ([], [])


def test_confidence_view_summarises_each_variation(qtbot):
    view = ConfidenceView()
    qtbot.addWidget(view)
    notes = [[Note(60, 0, 240), Note(62, 1920, 240)], [Note(60, 0, 240)] * 4]
    view.show_variations([[0.5, 1.0], [0.25, 0.25, 0.25]], notes, Score([]), selected=1)
    assert view.summary == [(0.75, 1.0), (0.25, 4.0)]
    assert len(view.confidence_plot.listDataItems()) == 2
    view.clear()
    assert view.summary == [] and not view.confidence_plot.listDataItems()


def test_confidence_view_takes_the_themes_colours(qtbot):
    from PySide6.QtGui import QColor, QPalette

    view = ConfidenceView()
    qtbot.addWidget(view)
    base = view.palette().color(QPalette.ColorRole.Base)
    assert view.graphics.backgroundBrush().color() == base          # not pyqtgraph's black
    dark = QPalette(view.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor(30, 30, 34))
    dark.setColor(QPalette.ColorRole.Text, QColor(230, 230, 230))
    view.setPalette(dark)                                            # a theme change follows
    assert view.graphics.backgroundBrush().color() == QColor(30, 30, 34)
    assert view.confidence_plot.getAxis("left").textPen().color() == QColor(230, 230, 230)

"""The bundled models continue held-out prompts (our own example motifs, never in the
training data: major and minor, 4/4, 3/4, 6/8, 7/8) in key and meter, out of the box."""

from pathlib import Path

import pytest

from ml_core.bundle import find_bundles, load, resolve
from ml_core.evaluation import musical_statistics
from ml_core.generation import GenerationOptions, continue_score, target_tick
from ml_core.midi_io import read_midi
from resources import EXAMPLES_DIR, MODELS_DIR

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.mid"))
BUNDLED = ["default", "lstm", "bach-chorales", "default-next"]


def test_examples_cover_keys_and_meters():
    names = {path.stem for path in EXAMPLES}
    assert {"c_major_4-4", "a_minor_3-4", "d_major_6-8"} <= names
    meters = {read_midi(path).time_signature for path in EXAMPLES}
    assert {(4, 4), (3, 4), (6, 8)} <= meters


@pytest.mark.parametrize("name", BUNDLED)
def test_bundle_is_shipped_and_listed(name):
    path = MODELS_DIR / name
    assert (path / "model.safetensors").is_file() and (path / "config.json").is_file()
    assert resolve(name) == path
    listed = {info.name: info for info in find_bundles()}
    assert listed[name].source == "bundled"
    card = listed[name].config
    assert card["metrics"]["test_nll"] > 0 and card["training"]
    assert Path(path / "model.safetensors").stat().st_size < 30 * 2**20


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_continues_examples_in_key_and_meter(name):
    bundle = load(MODELS_DIR / name)
    ratios = []
    for path in EXAMPLES:
        prompt = read_midi(path)
        result = continue_score(bundle, prompt, GenerationOptions(bars=4, seed=0, stay_in_key=True))
        out, new = result.scores[0], result.new_notes[0]
        assert new, f"{name} made no continuation of {path.name}"
        assert out.time_signature == prompt.time_signature and out.tempo_bpm == prompt.tempo_bpm
        for original, track in zip(prompt.tracks, out.tracks, strict=False):
            assert set(original.notes) <= set(track.notes)
        assert all(n.start < target_tick(prompt, 4) for n in new)
        ratios.append(musical_statistics(prompt, out)["in_scale_ratio"])
    assert sum(ratios) / len(ratios) >= 0.85


def test_the_app_starts_with_the_bundled_default_selected(qtbot):
    from composer_app.continuation.model_panel import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    selected = panel.selected_bundle()
    assert selected is not None and selected.name == "default-next"
    assert selected.source == "bundled"


def test_the_default_writes_a_chosen_texture_and_fills_bars():
    """The default was trained with attribute controls and infilling: a chord prompt asked
    for a single line gets one, and a filled span changes only its own bars."""
    from ml_core.generation import fill_score, trained_with_infilling
    from ml_core.music import bar_ticks
    from ml_core.quality import notes_per_onset

    bundle = load(MODELS_DIR / "default")
    assert bundle.tokenizer.config.use_controls and trained_with_infilling(bundle)
    prompt = read_midi(EXAMPLES_DIR / "e_minor_chorale_4-4.mid")
    single = continue_score(bundle, prompt,
                            GenerationOptions(bars=4, seed=0, variations=2, texture=1))
    for new in single.new_notes:
        assert new and notes_per_onset(new) <= 1.2
    bar = bar_ticks(prompt.time_signature, prompt.ticks_per_quarter)
    filled = fill_score(bundle, prompt, 1, 2, GenerationOptions(seed=0))
    outside = [n for t in prompt.tracks for n in t.notes if not bar <= n.start < 2 * bar]
    kept = [n for t in filled.scores[0].tracks for n in t.notes if not bar <= n.start < 2 * bar]
    assert sorted(kept) == sorted(outside)
    assert filled.new_notes[0] and all(bar <= n.start < 2 * bar for n in filled.new_notes[0])


def test_without_the_app_default_the_older_default_is_selected(qtbot, monkeypatch):
    from composer_app.continuation.model_panel import ModelPanel
    from ml_core import bundle

    everything = bundle.find_bundles
    monkeypatch.setattr(bundle, "find_bundles", lambda problems=None: [
        info for info in everything(problems) if info.name != bundle.APP_DEFAULT_NAME])
    panel = ModelPanel()
    qtbot.addWidget(panel)
    selected = panel.selected_bundle()
    assert selected is not None and selected.name == "default" and selected.source == "bundled"


def test_headless_generate_uses_the_app_default(monkeypatch, tmp_path):
    from ml_core import bundle
    from ml_core.midi_io import write_midi
    from ml_core.music import Note, Score, Track
    from training_cli.__main__ import main

    assert bundle.app_default() == bundle.APP_DEFAULT_NAME == "default-next"
    prompt = tmp_path / "motif.mid"
    write_midi(Score([Track("Piano", 0, False, [Note(60 + i, i * 480, 480, 90)
                                                for i in range(8)])], 120.0, (4, 4)), prompt)
    loaded = []
    real_load = bundle.load
    monkeypatch.setattr(bundle, "load", lambda folder, *a, **k: (loaded.append(Path(folder).name),
                                                                 real_load(folder, *a, **k))[1])
    out = tmp_path / "out.mid"
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--bars", "1",
                 "--seed", "1"]) == 0
    assert loaded == ["default-next"] and out.is_file()
    everything = bundle.find_bundles
    monkeypatch.setattr(bundle, "find_bundles", lambda problems=None: [
        info for info in everything(problems) if info.name != bundle.APP_DEFAULT_NAME])
    assert bundle.app_default() == "default"

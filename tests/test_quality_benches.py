"""bench/continuation_quality.py and bench/performed_prompts.py in quick mode on a tiny
model: they read held-out corpus pieces, continue and fill them, and report real figures."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ml_core import bundle
from ml_core.models import build_model
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer


@pytest.fixture(scope="module")
def score_cache(tmp_path_factory) -> Path:
    """Parsed corpus pieces, shared by the two benchmarks' runs."""
    return tmp_path_factory.mktemp("scores")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Two untrained one-layer REMI models: one without velocity tokens that claims the
    infilling objective, one plain (old-style) without it. Bars of up to 8 quarters (the
    shipped layout): with 16, this seed's untrained model ends every bar at once."""
    folder = tmp_path_factory.mktemp("bench-models")
    made = {}
    for name, config, infill in (("fills", RemiConfig(use_velocity=False, max_bar_quarters=8), 0.5),
                                 ("plain", RemiConfig(use_controls=False, use_infill=False), 0.0)):
        tokenizer = RemiTokenizer(config)
        torch.manual_seed(0)
        model = build_model("transformer", vocab_size=tokenizer.vocab_size,
                            d_model=32, num_layers=1,
                            num_heads=2, ff_size=64, context=256)
        made[name] = bundle.save(folder / name, model.eval(), tokenizer.to_dict(), name=name,
                                 training={"objectives": {"infill_rate": infill}})
    return made


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_continuation_quality_quick(tiny_models, capsys, score_cache) -> None:
    script = importlib.import_module("bench.continuation_quality")
    assert script.main(["--quick", "--models", str(tiny_models["fills"]), str(tiny_models["plain"]),
                        "--score-cache", str(score_cache), "--record"]) == 0
    output = capsys.readouterr().out
    report = last_json(output)
    assert report["prompts"] == 4 and set(report["models"]) == {"fills", "plain"}
    for name, summary in report["models"].items():
        assert f"== {name}: continuations" in output
        checks = summary["criteria"]
        # Continue never starts before the prompt has ended: the check must hold for any model.
        assert (checks["never_before_prompt_end"]["value"] == 1.0
                and checks["never_before_prompt_end"]["pass"])
        assert 0.0 <= checks["in_scale_mean"]["value"] <= 1.0
        assert set(summary["by_group"]) == {"example", "folk", "chorale"}
        assert summary["mean"]["new_notes"] > 0
        # the register criterion beside what the held-out pieces' own next bars do
        held_out = summary["motif"]["chorale"]
        assert 0.0 <= held_out["register_in_bounds"] <= 1.0
        assert 0.0 <= held_out["truth_register_in_bounds"] <= 1.0
    assert report["models"]["plain"]["infill"] == "not supported"
    fills = report["models"]["fills"]["infill"]
    assert fills["pieces"] == 2
    assert fills["criteria"]["outside_span_unchanged"]["value"] == 1.0
    # --record: each model card now carries its own figures, and the bundle still loads.
    card = bundle.load(tiny_models["fills"]).config["metrics"]["continuation_quality"]
    assert card["criteria"] == {k: v["value"]
                                for k, v in report["models"]["fills"]["criteria"].items()}
    assert card["fill_criteria"]["outside_span_unchanged"] == 1.0
    # a later run without fills keeps the card's fill figures (it did not measure them)
    assert script.main(["--quick", "--models", str(tiny_models["fills"]), "--no-fill",
                        "--score-cache", str(score_cache), "--record"]) == 0
    assert last_json(capsys.readouterr().out)["models"]["fills"]["infill"] == "not measured"
    kept = bundle.read_config(tiny_models["fills"])["metrics"]["continuation_quality"]
    assert kept["fill_criteria"] == card["fill_criteria"]
    assert (
        bundle.read_config(tiny_models["plain"])["metrics"]["continuation_quality"]["fill_criteria"]
        == "not supported"
    )


def test_performed_prompts_quick(tiny_models, capsys, score_cache) -> None:
    script = importlib.import_module("bench.performed_prompts")
    assert script.main(["--quick", "--models", str(tiny_models["plain"]), str(tiny_models["fills"]),
                        "--score-cache", str(score_cache), "--record"]) == 0
    report = last_json(capsys.readouterr().out)
    plain, fills = report["models"]["plain"], report["models"]["fills"]
    for figures in (plain, fills):
        assert set(figures["bits_per_note"]) == {"clean", "performed", "app",
                                                 "performed_v80", "app_v80"}
        assert all(v > 0 and math.isfinite(v) for v in figures["bits_per_note"].values())
        assert abs(sum(figures["loss_share"]["performed"].values()) - 1) < 1e-3
        assert set(figures["continuation"]) == {"clean", "performed", "app",
                                                "max_points_from_clean"}
    # Drawn in the app, a notation piece differs only by its velocity (100, not 80): set
    # back to 80 it reads exactly as the clean piece; a tokenizer without velocity tokens
    # never sees the difference at all.
    assert plain["bits_per_note"]["app_v80"] == pytest.approx(plain["bits_per_note"]["clean"])
    assert plain["bits_per_note"]["app"] != pytest.approx(plain["bits_per_note"]["clean"])
    assert "Velocity" not in fills["loss_share"]["performed"]
    assert fills["bits_per_note"]["app"] == fills["bits_per_note"]["app_v80"]
    # the tiny models carry no trained window: generation reads what the first window reads
    for figures in (plain, fills):
        for which in ("clean", "performed", "app"):
            assert figures["bits_per_note_generated"][which] == pytest.approx(
                figures["bits_per_note"][which])
    card = bundle.read_config(tiny_models["plain"])["metrics"]["performed_prompts"]
    assert card["bits_per_note"] == plain["bits_per_note"]
    points = "max_points_from_clean"
    assert card["continuation"][points] == plain["continuation"][points]


def test_continuation_quality_skips_the_data_groups_without_the_data(tmp_path, score_cache) -> None:
    from bench import continuation_quality as script

    prompts, skipped = script.data_prompts(tmp_path / "no-data", 1, score_cache)
    assert any(line.startswith("pop, pop-mel: skipped") for line in skipped)
    assert any(line.startswith("ff: skipped") for line in skipped)
    performed = [p for p in prompts if p.group == "perf"]
    assert performed and all(p.reference is not None and p.piece is not None for p in performed)
    assert {p.group for p in prompts} <= {"perf", "dense"}


def test_windowed_reading_gives_each_token_the_window_it_would_be_generated_from() -> None:
    """reach 8 over 20 ids: targets 1-8 from the first window, then each window of 9 ids
    every 4 scores only the targets that have at least 4 ids before them in it."""
    script = importlib.import_module("bench.performed_prompts")
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=40, d_model=16, num_layers=1, num_heads=2,
                        ff_size=32, context=32, dropout=0.0).eval()
    ids = [int(t) for t in torch.randint(0, 40, (20,))]
    expected = np.concatenate([script._token_nll(model, ids[0:9]),         # targets ids[1..8]
                               script._token_nll(model, ids[4:13])[4:],    # ids[9..12]
                               script._token_nll(model, ids[8:17])[4:],    # ids[13..16]
                               script._token_nll(model, ids[12:20])[4:]])  # ids[17..19]
    got = script.windowed_nll(model, ids, 8)
    assert got.shape == (19,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # every token far enough in reads less than all before it: not the one-pass reading
    assert not np.allclose(got[8:], script._token_nll(model, ids)[8:], rtol=1e-3)
    np.testing.assert_allclose(script.windowed_nll(model, ids, 32), script._token_nll(model, ids),
                               rtol=1e-5)


def test_surroundings_density_ratio_is_the_bars_around_over_the_true_bars() -> None:
    from ml_core import quality
    from ml_core.music import Note, Score, Track

    bar = 4 * 480   # 4/4 at 480 ticks a quarter

    def notes_in(index: int, count: int) -> list[Note]:
        return [Note(60 + k, index * bar + k * (bar // count), bar // count)
                for k in range(count)]

    # bar 3: 4 notes, bars 4-5 (the span): 8 notes each, bar 6: 2 notes
    piece = Score([Track("p", 0, False,
                         notes_in(3, 4) + notes_in(4, 8) + notes_in(5, 8) + notes_in(6, 2))])
    # around: 6 notes over 8 beats; the true bars: 16 notes over 8 beats
    assert quality.surroundings_density_ratio(piece, 4, 6) == pytest.approx((6 / 8) / (16 / 8))
    # an empty bar on one side is left out (the other side's density alone): bar 6's 8
    # notes over 4 beats against the span's 4 notes over 8
    sparse = Score([Track("p", 0, False, notes_in(4, 4) + notes_in(6, 8))])
    assert quality.surroundings_density_ratio(sparse, 4, 6) == pytest.approx(2.0 / 0.5)
    # nothing to compare with: empty true bars
    assert math.isnan(quality.surroundings_density_ratio(sparse, 5, 6))


def test_continuation_quality_fills_with_their_own_seeds(tiny_models, capsys, score_cache) -> None:
    script = importlib.import_module("bench.continuation_quality")
    assert script.main(["--quick", "--models", str(tiny_models["fills"]), "--fill-seeds", "0", "1",
                        "--score-cache", str(score_cache)]) == 0
    output = capsys.readouterr().out
    report = last_json(output)
    assert report["seeds"] == [0] and report["fill_seeds"] == [0, 1]
    density = report["models"]["fills"]["infill"]["criteria"]["density_ratio_in_bounds"]
    # the baseline beside the check: how often the surroundings' own density is in bounds
    assert 0.0 <= density["surroundings"] <= 1.0
    assert "the surroundings' own density" in output

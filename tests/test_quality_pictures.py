"""docs/quality_pictures.py on a tiny untrained model: one continued prompt and the fill
picture are drawn as PNGs of the promised size, and pictures.json lists their figures."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from ml_core import bundle
from ml_core.models import build_model
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pictures():
    from docs import quality_pictures

    return quality_pictures


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    """An untrained one-layer REMI Transformer whose config claims the infilling objective."""
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32, num_layers=1,
                        num_heads=2, ff_size=64, context=256)
    return bundle.save(tmp_path / "tiny", model.eval(), tokenizer.to_dict(), name="tiny",
                       training={"objectives": {"infill_rate": 0.5}})


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_waltz_and_fill_pictures(pictures, tiny_model, tmp_path, capsys) -> None:
    out = tmp_path / "quality"
    assert pictures.main(["--models", str(tiny_model), str(tmp_path / "no-such-model"),
                          "--out", str(out),
                          "--pictures", "waltz", "fill", "--bars", "2", "--seed", "3",
                          "--score-cache", str(tmp_path / "scores")]) == 0
    assert "skipped model" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["fill.png", "pictures.json", "waltz.png"]
    for name in ("waltz.png", "fill.png"):
        assert png_size(out / name) == pictures.figure_pixels(1)
        assert pictures.figure_pixels(1)[0] == 1100

    report = json.loads((out / "pictures.json").read_text())
    assert report["seed"] == 3 and report["models"] == ["tiny"]
    waltz, fill = report["pictures"]
    assert waltz["picture"] == "waltz.png" and waltz["prompt"]["meter"] == "3/4"
    assert fill["picture"] == "fill.png" and fill["prompt"]["group"] == "folk"
    assert fill["prompt"]["fill_bars"] == [4, 6]
    for entry in (waltz, fill):
        (take,) = entry["takes"]
        assert take["model"] == "tiny" and take["seed"] == 3
        assert {"in_scale", "new_npo", "prompt_npo", "density_ratio",
                "register_shift"} <= set(take["figures"])
    assert (waltz["takes"][0]["figures"]["gap_beats"] is None
            or waltz["takes"][0]["figures"]["gap_beats"] >= 0)
    assert fill["takes"][0]["figures"]["outside_unchanged"] == 1.0

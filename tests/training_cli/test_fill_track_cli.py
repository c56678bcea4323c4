"""`composer-train generate --fill-bars A:B --track N`: one track's bars rewritten given the
others (ml_core.multitrack.fill_track), with a tiny remi_tracks model."""

from __future__ import annotations

import torch

from ml_core import bundle
from ml_core.midi_io import read_midi, write_midi
from ml_core.models import build_model
from ml_core.music import Score
from tests.training_cli.test_add_part_cli import _tiny
from tests.training_cli.test_tracks_cli import three_tracks
from training_cli.__main__ import main

Q = 480
BAR = 4 * Q
SPAN = range(BAR, 3 * BAR)     # --fill-bars 2:4: bars 2 and 3, 1-based


def _prompt(tmp_path) -> tuple[str, Score]:
    write_midi(three_tracks(), tmp_path / "prompt.mid")
    return str(tmp_path / "prompt.mid"), read_midi(tmp_path / "prompt.mid")


def _only_track_one_in_the_span_changed(before: Score, after: Score) -> None:
    assert [t.name for t in after.tracks] == [t.name for t in before.tracks]
    assert after.tracks[0].notes == before.tracks[0].notes
    assert after.tracks[2].notes == before.tracks[2].notes
    old, new = before.tracks[1].notes, after.tracks[1].notes
    assert [n for n in new if n.start not in SPAN] == [n for n in old if n.start not in SPAN]
    filled = [n for n in new if n.start in SPAN]
    assert filled and all(n.end <= SPAN.stop for n in filled)


def test_fill_bars_of_one_track_keeps_everything_else(tmp_path, capsys) -> None:
    model, out = _tiny(tmp_path), tmp_path / "out.mid"
    prompt, before = _prompt(tmp_path)
    assert main(["generate", "--prompt", prompt, "--out", str(out), "--model", str(model),
                 "--fill-bars", "2:4", "--track", "1", "--seed", "1", "--device", "cpu"]) == 0
    assert "wrote" in capsys.readouterr().out
    _only_track_one_in_the_span_changed(before, read_midi(out))


def test_variations_and_voicing_apply_to_a_filled_track(tmp_path) -> None:
    model, out = _tiny(tmp_path), tmp_path / "out.mid"
    prompt, before = _prompt(tmp_path)
    assert main(["generate", "--prompt", prompt, "--out", str(out), "--model", str(model),
                 "--fill-bars", "2:4", "--track", "1", "--seed", "2", "--device", "cpu",
                 "--variations", "2", "--voicing", "0"]) == 0
    assert not out.exists()
    for index in (1, 2):
        _only_track_one_in_the_span_changed(before, read_midi(tmp_path / f"out-{index}.mid"))


def test_fill_track_flags_refuse_in_one_line(tmp_path, capsys) -> None:
    from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer

    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    torch.manual_seed(0)
    plain = bundle.save(tmp_path / "plain", build_model(
        "transformer", vocab_size=tokenizer.vocab_size, d_model=16, num_layers=1, num_heads=2,
        ff_size=32, context=64).eval(), tokenizer.to_dict(), name="plain")
    prompt, _ = _prompt(tmp_path)
    out = tmp_path / "out.mid"
    base = ["generate", "--prompt", prompt, "--out", str(out), "--device", "cpu"]

    def refused(*flags: str) -> str:
        assert main([*base, *flags]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error:") and len(error.strip().splitlines()) == 1
        return error

    # a single-stream model: the line names the bundled model that knows tracks
    error = refused("--model", str(plain), "--fill-bars", "2:4", "--track", "1")
    assert "'plain'" in error and "remi_tracks" in error and "default-next" in error
    assert "--track 7" in refused("--fill-bars", "2:4", "--track", "7")
    assert "--track -1" in refused("--fill-bars", "2:4", "--track", "-1")
    assert "has 4 bars" in refused("--fill-bars", "9:11", "--track", "1")
    assert "--fill-bars expects" in refused("--fill-bars", "3:3", "--track", "1")
    assert "--tracks all" in refused("--fill-bars", "2:4", "--track", "1", "--tracks", "all")
    assert not out.exists()

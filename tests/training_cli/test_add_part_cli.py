"""`composer-train generate --add-part ROLE [--program P] [--bars A:B]` (issue 42)."""

from __future__ import annotations

import torch

from ml_core import bundle
from ml_core.midi_io import read_midi, write_midi
from ml_core.models import build_model
from ml_core.music import Note, Score, Track
from ml_core.tokenizers.remi_tracks import RemiTracksConfig, RemiTracksTokenizer
from training_cli.__main__ import main

Q = 480
BAR = 4 * Q


def _tiny(tmp_path):
    tokenizer = RemiTracksTokenizer(RemiTracksConfig(use_velocity=False))
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                        num_layers=1, num_heads=2, ff_size=64, context=512)
    return bundle.save(tmp_path / "tiny", model.eval(), tokenizer.to_dict(), name="tiny")


def _melody(tmp_path):
    notes = [Note(72 + i % 5, i * Q, Q, 80) for i in range(16)]
    write_midi(Score([Track("Melody", 0, False, notes)], 120.0, (4, 4), Q),
               tmp_path / "melody.mid")
    return tmp_path / "melody.mid"


def test_add_part_writes_a_new_track_over_the_chosen_bars(tmp_path) -> None:
    model, prompt, out = _tiny(tmp_path), _melody(tmp_path), tmp_path / "out.mid"
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--model", str(model),
                 "--add-part", "bass", "--program", "33", "--bars", "2:4", "--seed", "1",
                 "--device", "cpu"]) == 0
    before, after = read_midi(prompt), read_midi(out)
    assert len(after.tracks) == 2 and after.tracks[0].notes == before.tracks[0].notes
    added = after.tracks[1]
    assert added.program == 33 and added.notes
    assert all(BAR <= n.start < 3 * BAR for n in added.notes)   # bars 2 and 3, 1-based


def test_add_part_needs_a_model_that_knows_tracks(tmp_path, capsys) -> None:
    from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer

    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=16,
                        num_layers=1, num_heads=2, ff_size=32, context=64)
    plain = bundle.save(tmp_path / "plain", model.eval(), tokenizer.to_dict(), name="plain")
    prompt, out = _melody(tmp_path), tmp_path / "out.mid"
    base = ["generate", "--prompt", str(prompt), "--out", str(out), "--device", "cpu"]
    assert main([*base, "--model", str(plain), "--add-part", "bass"]) == 2
    error = capsys.readouterr().err
    assert "remi_tracks" in error and len(error.strip().splitlines()) == 1
    assert main([*base, "--add-part", "bass", "--bars", "x"]) == 2
    assert "--bars" in capsys.readouterr().err
    assert main([*base, "--program", "33"]) == 2
    assert not out.exists()


def test_a_model_that_knows_tracks_continues_each_track_given_the_others(tmp_path) -> None:
    from tests.training_cli.test_tracks_cli import three_tracks

    model, out = _tiny(tmp_path), tmp_path / "out.mid"
    write_midi(three_tracks(), tmp_path / "three.mid")
    base = ["generate", "--prompt", str(tmp_path / "three.mid"), "--out", str(out), "--model",
            str(model), "--bars", "2", "--seed", "3", "--device", "cpu"]
    assert main([*base, "--tracks", "all"]) == 0
    before, after = read_midi(tmp_path / "three.mid"), read_midi(out)
    for old, new in zip(before.tracks, after.tracks, strict=True):
        added = sorted(set(new.notes) - set(old.notes))
        assert added and min(n.start for n in added) >= max(n.end for n in old.notes) - Q
    assert main([*base, "--tracks", "active", "--track", "1"]) == 0
    after = read_midi(out)
    assert after.tracks[0].notes == before.tracks[0].notes
    assert after.tracks[2].notes == before.tracks[2].notes
    assert len(after.tracks[1].notes) > len(before.tracks[1].notes)


def test_voicing_keeps_the_new_part_under_the_melody(tmp_path, capsys) -> None:
    model, prompt, out = _tiny(tmp_path), _melody(tmp_path), tmp_path / "out.mid"
    base = ["generate", "--prompt", str(prompt), "--out", str(out), "--model", str(model),
            "--add-part", "bass", "--seed", "3", "--device", "cpu", "--top-p", "1"]
    melody = read_midi(prompt).tracks[0].notes

    def crossings(voicing: str) -> int:
        assert main([*base, "--voicing", voicing]) == 0
        added = read_midi(out).tracks[1].notes
        assert added
        return sum(any(m.start <= n.start < m.end and n.pitch >= m.pitch for m in melody)
                   for n in added)

    assert crossings("0") > 0 and crossings("10") == 0
    assert main([*base, "--voicing", "-1"]) == 2
    error = capsys.readouterr().err
    assert "voicing" in error and len(error.strip().splitlines()) == 1

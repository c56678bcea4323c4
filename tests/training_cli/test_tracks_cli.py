"""`composer-train generate --tracks all|active --track N` (issue 42)."""

from __future__ import annotations

from ml_core.midi_io import read_midi, write_midi
from ml_core.music import Note, Score, Track
from training_cli.__main__ import main

Q = 480
BAR = 4 * Q


def three_tracks() -> Score:
    """A 3-bar melody, a 4-bar chordal middle part and a 4-bar bass."""
    melody = [Note(72 + (i % 4) * 2, i * Q, Q, 80) for i in range(12)]
    middle = [Note(p, i * BAR, BAR, 70) for i in range(4) for p in (60, 64, 67)]
    bass = [Note(36 + (i % 2) * 7, i * 2 * Q, 2 * Q, 70) for i in range(8)]
    return Score([Track("Melody", 0, False, melody), Track("Pad", 48, False, middle),
                  Track("Bass", 33, False, bass)], 120.0, (4, 4), Q)


def _run(tmp_path, *flags: str) -> tuple[Score, Score]:
    prompt = three_tracks()
    write_midi(prompt, tmp_path / "prompt.mid")
    out = tmp_path / "out.mid"
    assert main(["generate", "--prompt", str(tmp_path / "prompt.mid"), "--out", str(out),
                 "--bars", "2", "--seed", "2", "--device", "cpu", *flags]) == 0
    return read_midi(tmp_path / "prompt.mid"), read_midi(out)


def test_all_tracks_each_get_new_notes_from_their_own_end(tmp_path) -> None:
    prompt, out = _run(tmp_path, "--tracks", "all")
    assert [t.name for t in out.tracks] == [t.name for t in prompt.tracks]
    for before, after in zip(prompt.tracks, out.tracks, strict=True):
        new = sorted(set(after.notes) - set(before.notes))
        assert new, f"no new notes in {before.name}"
        assert all(n.start >= before.notes[-1].start for n in new)
        assert all(n.start < 6 * BAR for n in new)      # two bars after the piece's end
    assert after.program == 33


def test_the_default_for_a_multi_track_prompt_is_every_track(tmp_path) -> None:
    prompt, out = _run(tmp_path)
    pairs = zip(prompt.tracks, out.tracks, strict=True)
    assert all(len(after.notes) > len(before.notes) for before, after in pairs)


def test_the_active_track_alone_from_its_own_end(tmp_path) -> None:
    prompt, out = _run(tmp_path, "--tracks", "active", "--track", "0")
    assert out.tracks[1].notes == prompt.tracks[1].notes
    assert out.tracks[2].notes == prompt.tracks[2].notes
    new = sorted(set(out.tracks[0].notes) - set(prompt.tracks[0].notes))
    assert new
    own_end = max(n.end for n in prompt.tracks[0].notes)     # bar 3, before the others end
    assert own_end == 3 * BAR
    assert own_end <= min(n.start for n in new) < own_end + Q   # within a beat of its end
    assert max(n.start for n in new) < 5 * BAR


def test_track_flags_refuse_clearly(tmp_path, capsys) -> None:
    write_midi(three_tracks(), tmp_path / "prompt.mid")
    base = ["generate", "--prompt", str(tmp_path / "prompt.mid"), "--out",
            str(tmp_path / "out.mid"), "--device", "cpu"]
    assert main([*base, "--track", "7"]) == 2
    assert "--track 7" in capsys.readouterr().err
    assert main([*base, "--tracks", "all", "--track", "1"]) == 2
    assert "--tracks active" in capsys.readouterr().err
    assert main([*base, "--tracks", "all", "--fill-bars", "1:2"]) == 2
    assert "--tracks applies to a continuation" in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()

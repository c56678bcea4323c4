"""ml_core.tracks (issue 42): each part continued as itself, from its own end."""

from __future__ import annotations

import statistics

import pytest

from ml_core.generation import GenerationError, GenerationOptions
from ml_core.music import Note, Score, Track
from ml_core.tracks import bars_until, continue_track, continue_tracks, track_prompt

Q = 480
BAR = 4 * Q


def two_parts() -> Score:
    """A 4-bar melody (quarters around C5) over an 6-bar bass (half notes around C2)."""
    melody = [Note(72 + (i % 5), i * Q, Q, 80) for i in range(16)]
    bass = [Note(36 + (i % 3) * 2, i * 2 * Q, 2 * Q, 70) for i in range(12)]
    return Score([Track("Melody", 0, False, melody), Track("Bass", 33, False, bass)],
                 120.0, (4, 4), Q)


@pytest.fixture(scope="module")
def bundle():
    from ml_core.bundle import load
    from resources import MODELS_DIR

    return load(MODELS_DIR / "default")


def test_the_prompt_is_the_track_alone_or_all_parts_cut_at_its_end() -> None:
    score = two_parts()
    alone, focus = track_prompt(score, 0, "alone")
    assert focus is None and len(alone.tracks) == 1 and alone.end_tick == 4 * BAR
    merged, focus = track_prompt(score, 0, "merged")
    assert focus is not None and focus.end_tick == 4 * BAR
    assert merged.end_tick == 4 * BAR and len(merged.tracks) == 2
    with pytest.raises(GenerationError):
        track_prompt(score, 5)
    with pytest.raises(GenerationError):
        track_prompt(score, 0, "mixed")


def test_bars_until_reaches_the_common_end() -> None:
    own = two_parts().with_tracks([two_parts().tracks[0]])
    assert bars_until(own, 8 * BAR) == 4


@pytest.mark.parametrize("context", ["alone", "merged"])
def test_the_active_track_continues_from_its_own_end_in_its_register(bundle, context) -> None:
    score = two_parts()
    result = continue_track(bundle, score, 0, GenerationOptions(bars=2, seed=3),
                            context=context)
    new = result.new_notes[0]
    assert new, "no notes were written"
    assert min(n.start for n in new) < 4 * BAR + Q       # within a beat of the melody's end
    assert max(n.start for n in new) < 6 * BAR
    assert statistics.median(n.pitch for n in new) >= 60  # the melody's register, not C2
    out = result.scores[0]
    assert out.tracks[1].notes == score.tracks[1].notes   # the bass is untouched
    assert len(out.tracks[0].notes) == 16 + len(new)


def test_all_tracks_each_get_their_own_notes(bundle) -> None:
    score = two_parts()
    result = continue_tracks(bundle, score, None, GenerationOptions(bars=2, seed=1))
    out = result.scores[0]
    melody_new = out.tracks[0].notes[16:]
    bass_new = out.tracks[1].notes[12:]
    assert melody_new and bass_new
    assert min(n.start for n in melody_new) < 4 * BAR + Q
    assert min(n.start for n in bass_new) < 6 * BAR + Q
    end = 8 * BAR   # two bars after the score's end (bar 6)
    assert all(n.start < end for n in melody_new + bass_new)
    assert statistics.median(n.pitch for n in melody_new) > \
        statistics.median(n.pitch for n in bass_new)
    assert sorted(result.extra["per_track"]) == [0, 1]

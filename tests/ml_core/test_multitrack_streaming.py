"""Multi-track generation streams: `ml_core.multitrack`'s `on_update`."""

from __future__ import annotations

import pytest

from ml_core import multitrack
from ml_core.generation import GenerationOptions, GenerationResult
from tests.ml_core.test_multitrack_generation import tiny_bundle, trio

OPTIONS = GenerationOptions(bars=2, seed=1, device="cpu", temperature=1.0, top_p=1.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bundle(tmp_path_factory.mktemp("tiny_streaming"))


@pytest.fixture
def every_step(monkeypatch):
    monkeypatch.setattr(multitrack, "UPDATE_INTERVAL_S", 0.0)   # an update per token


def test_parts_continued_together_stream_their_notes(tiny, every_step) -> None:
    seen: list[GenerationResult] = []
    final = multitrack.continue_all(tiny, trio(), options=OPTIONS, on_update=seen.append)
    assert len(seen) > 3
    fractions = [partial.extra["fraction"] for partial in seen]
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0
    done = final.extra["per_track"]
    counts = [sum(len(rows[0]) for rows in partial.extra["per_track"].values())
              for partial in seen]
    assert counts == sorted(counts) and 0 < counts[-1] <= sum(len(r[0]) for r in done.values())
    def struck(notes) -> set[tuple[int, int]]:
        return {(n.pitch, n.start) for n in notes}

    for partial in seen:   # what streamed is what the finished run keeps, track by track
        for index, rows in partial.extra["per_track"].items():   # (a key struck twice at
            assert struck(rows[0]) <= struck(done[index][0])      # once keeps one length)
    # the same seed without streaming: the same notes
    assert multitrack.continue_all(tiny, trio(), options=OPTIONS).extra["per_track"] == done

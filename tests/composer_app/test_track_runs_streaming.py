"""`track_runs.run` with `progress`: a job over tracks shows its notes while it runs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from composer_app.continuation import track_runs
from composer_app.model.jobs import ContinueJob, ContinueProgress, PartRequest
from ml_core import multitrack
from ml_core.generation import GenerationOptions
from tests.ml_core.test_multitrack_generation import BAR, tiny_bundle, trio

OPTIONS = GenerationOptions(bars=2, seed=1, device="cpu", temperature=1.0, top_p=1.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bundle(tmp_path_factory.mktemp("tiny_track_runs"))


def test_an_added_part_streams_through_track_runs(tiny, monkeypatch) -> None:
    monkeypatch.setattr(multitrack, "UPDATE_INTERVAL_S", 0.0)   # an update per token
    job = ContinueJob(Path("tiny"), "cpu", trio(), OPTIONS, offset=BAR, track=3,
                      part=PartRequest("bass", 52, "Bass", (1, 3)))
    shown: list[ContinueProgress] = []
    result = track_runs.run(tiny, job, OPTIONS, threading.Event(), progress=shown.append)
    assert len(shown) > 3 and all(p.job is job for p in shown)
    final = track_runs.to_result(job, result, "cpu", 0.0)
    assert final.new_notes[0] and set(final.note_tracks[0]) == {3}
    assert shown[-1].new_notes[0] and {(n.pitch, n.start) for n in shown[-1].new_notes[0]} \
        <= {(n.pitch, n.start) for n in final.new_notes[0]}
    # in document ticks (the job's offset added), in the part's bars 1..2
    assert all(2 * BAR <= n.start < 4 * BAR for p in shown for n in p.new_notes[0])
    assert 0.0 <= shown[0].fraction <= shown[-1].fraction <= 1.0



def test_the_worker_streams_a_job_over_tracks_before_it_finishes(qtbot, tiny, monkeypatch) -> None:
    from composer_app.continuation.worker import ContinueWorker

    monkeypatch.setattr(multitrack, "UPDATE_INTERVAL_S", 0.0)
    worker = ContinueWorker()
    shown: list[ContinueProgress] = []
    worker.progress.connect(shown.append)
    job = ContinueJob(Path(tiny.path), "cpu", trio(), OPTIONS, offset=BAR, track=3,
                      part=PartRequest("bass", 52, "Bass", (1, 3)))
    with qtbot.waitSignal(worker.finished, timeout=60000) as blocker:
        worker.start(job)
    final = blocker.args[0]
    assert shown and all(p.job is job for p in shown)
    assert final.new_notes[0] and set(final.note_tracks[0]) == {3}
    worker.stop()

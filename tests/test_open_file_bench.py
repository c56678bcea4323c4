"""bench/open_file.py's pieces that need no window: the generated MIDI file and the probe's
arithmetic (its figures are measured by running the bench, never asserted in tests)."""


import pytest

from ml_core.midi_io import read_midi


@pytest.fixture(scope="module")
def bench():
    from bench import open_file

    return open_file


def test_the_generated_midi_file_holds_the_notes_and_tracks_asked_for(bench, tmp_path):
    score = read_midi(bench.generated_midi(tmp_path, notes=2_000, tracks=4))
    assert [len(track.notes) for track in score.tracks] == [500] * 4
    assert [track.is_drum for track in score.tracks] == [False, False, False, True]
    (tmp_path / "again").mkdir()
    again = read_midi(bench.generated_midi(tmp_path / "again", notes=2_000, tracks=4))
    assert again == score                                  # seeded: the same file every run


def test_the_largest_gap_and_the_cpu_inside_it(bench):
    ticks = [0.0, 0.010, 0.020, 0.075, 0.085]
    cpu = [(0.0, 0.0), (0.001, 0.002), (0.002, 0.004), (0.012, 0.034), (0.013, 0.035)]
    assert bench._largest_gap(ticks, -0.005) == pytest.approx(0.055)
    assert bench._largest_gap([0.3], 0.0) == pytest.approx(0.3)      # the wait for the first tick
    gui, others = bench._gap_cpu(ticks, cpu)
    assert gui == pytest.approx(10.0) and others == pytest.approx(20.0)

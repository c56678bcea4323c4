"""bench/midi_out_timing.py's arithmetic: the due times it measures against and the errors
it reports (its figures come from running the bench, never asserted in tests)."""

import mido
import pytest


@pytest.fixture(scope="module")
def bench():
    from bench import midi_out_timing

    return midi_out_timing


def test_due_times_cover_every_note_and_24_clocks_a_quarter(bench):
    score = bench.bench_score(1.0)                   # 8 sixteenths over one chord
    due = bench.expected_times(score)
    ons = sum(len(v) for k, v in due.items() if k[0] == "note_on")
    assert ons == 8 + 2
    clocks = due[("clock", 0, 0)]
    assert len(clocks) == 47 and clocks[24] == pytest.approx(0.5)   # up to the last end (940)


def test_errors_are_the_distance_from_the_due_time_and_a_missing_message_stops_it(bench):
    score = bench.bench_score(1.0)
    port = bench.StampingPort()
    origin = 10.0
    for (kind, channel, pitch), times in bench.expected_times(score).items():
        for at in times:
            message = mido.Message("clock") if kind == "clock" else mido.Message(
                kind, channel=channel, note=pitch)
            port.sent.append((origin + at + 0.002, message))
    errors = bench.errors_ms(port, origin, score)
    assert max(errors) == pytest.approx(2.0) and min(errors) == pytest.approx(2.0)
    port.sent.pop()
    with pytest.raises(SystemExit, match="lacks messages"):
        bench.errors_ms(port, origin, score)

"""How late does MIDI output reach the port? (budget: every message within 10 ms)

Plays a few seconds of sixteenths and chords at 120 BPM, with MIDI clock, through
`composer_app.playback.midi_out.MidiSender` on the real clock to a port that stamps each
message with `time.perf_counter()`, and compares every note-on, note-off and clock pulse
with when the document's tempo says it is due. The baseline, measured in the same run, is
the same sender woken every 10 ms instead of at each message's time (what sending from
the player's 10 ms timer would give). Both run twice: with the main thread idle, and with
it busy running Python (as the GUI thread is while the roll repaints), at the app's GIL
switch interval.

    python -m bench.midi_out_timing [--seconds 4]

Ends with ONE JSON line: {"max_error_ms": ..., "median_error_ms": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from composer_app.app import GIL_SWITCH_INTERVAL_S
from composer_app.playback.midi_out import CLOCKS_PER_QUARTER, MidiPiece, MidiSender
from ml_core.music import Note, Score, Track

BPM = 120.0
POLL_S = 0.010
LEAD_S = 0.05     # playback starts this long after `play` (as the origin is set)


class StampingPort:
    def __init__(self) -> None:
        self.sent: list[tuple[float, object]] = []

    def send(self, message: object) -> None:
        self.sent.append((time.perf_counter(), message))


def bench_score(seconds: float) -> Score:
    """Sixteenths over a two-note chord each half bar, `seconds` long at 120 BPM."""
    sixteenths = int(seconds * BPM / 60 * 4)
    melody = [Note(60 + (i * 7) % 24, i * 120, 100, 90) for i in range(sixteenths)]
    chords = [Note(48 + p, half * 960, 900, 70) for half in range(max(1, sixteenths // 8))
              for p in (0, 7)]
    return Score([Track("Lead", 80, False, melody), Track("Pad", 89, False, chords)], BPM)


def expected_times(score: Score) -> dict[tuple[str, int, int], list[float]]:
    """When each (kind, channel, pitch) is due, in order; clocks under ('clock', 0, 0)."""
    due: dict[tuple[str, int, int], list[float]] = {}
    end = 0
    for channel, track in enumerate(score.tracks):
        for note in track.notes:
            due.setdefault(("note_on", channel, note.pitch), []).append(
                score.seconds_at(note.start))
            due.setdefault(("note_off", channel, note.pitch), []).append(
                score.seconds_at(note.end))
            end = max(end, note.end)
    pulse = score.ticks_per_quarter // CLOCKS_PER_QUARTER
    due[("clock", 0, 0)] = [score.seconds_at(t) for t in range(0, end, pulse)]
    return {key: sorted(times) for key, times in due.items()}


def errors_ms(port: StampingPort, origin: float, score: Score) -> list[float]:
    """|sent - due| of every note and clock message, in ms (a missing one is an error)."""
    sent: dict[tuple[str, int, int], list[float]] = {}
    for at, message in port.sent:
        if message.type in ("note_on", "note_off"):
            key = (message.type, message.channel, message.note)
        elif message.type == "clock":
            key = ("clock", 0, 0)
        else:
            continue
        sent.setdefault(key, []).append(at - origin)
    due = expected_times(score)
    if {k: len(v) for k, v in sent.items()} != {k: len(v) for k, v in due.items()}:
        raise SystemExit("error: the sender's stream lacks messages or has extra ones")
    return [abs(a - b) * 1000 for key in due for a, b in zip(sent[key], due[key], strict=True)]


def run(score: Score, *, polled: bool, busy: bool) -> list[float]:
    port = StampingPort()
    wait = (lambda _seconds: time.sleep(POLL_S)) if polled else None
    sender = MidiSender(port, send_clock=True, wait=wait)
    origin = time.perf_counter() + LEAD_S
    sender.play(MidiPiece.of(score), 0.0, origin)
    while sender.is_playing:
        if busy:   # pure Python on this thread, as a repaint is
            total = 0
            for i in range(20_000):
                total += i * i
        else:
            time.sleep(0.005)
    sender.stop()
    return errors_ms(port, origin, score)


def summary(errors: list[float]) -> dict[str, float]:
    ordered = sorted(errors)
    return {"max": round(ordered[-1], 2), "median": round(statistics.median(ordered), 2),
            "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 2)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    arguments = parser.parse_args(argv)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    score = bench_score(arguments.seconds)
    results = {}
    for name, polled, busy in (("sender", False, False), ("sender_busy", False, True),
                               ("polled_10ms", True, False), ("polled_10ms_busy", True, True)):
        results[name] = summary(run(score, polled=polled, busy=busy))
        print(f"{name:18s} max {results[name]['max']:6.2f} ms  median "
              f"{results[name]['median']:5.2f} ms  p99 {results[name]['p99']:6.2f} ms")
    worst = max(results["sender"]["max"], results["sender_busy"]["max"])
    report = {
        "max_error_ms": worst,
        "median_error_ms": max(results["sender"]["median"], results["sender_busy"]["median"]),
        "idle": results["sender"], "busy": results["sender_busy"],
        "baseline_polled_10ms": results["polled_10ms"],
        "baseline_polled_10ms_busy": results["polled_10ms_busy"],
        "within_10ms": worst <= 10.0,
        "messages": len(sum(expected_times(score).values(), [])),
        "seconds": arguments.seconds,
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()

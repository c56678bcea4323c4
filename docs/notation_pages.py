"""Make docs/notation/: our MusicXML of three pieces as MuseScore 3 prints them.

A C-major tune that stays in C ("Ode to Joy", no key written: the estimated key), Bach's
chorale bwv66.6 (F-sharp minor, a one-beat pickup, four voices) and a two-track song in
G major (a pickup, a chromatic passing note, a bar of rest, a bass part). Each is exported
with `write_musicxml` and rendered to one PNG page:

    apt-get install -y musescore3
    .venv/bin/python -m docs.notation_pages

Writes <name>.musicxml and <name>.png into docs/notation/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ml_core.midi_io import write_musicxml
from ml_core.music import Note, Score, Track
from ml_core.notation_io import score_from_music21

OUTPUT = Path(__file__).resolve().parent / "notation"
RESOLUTION_DPI = 60          # a readable page of about 500 x 700 pixels
Q = 480                      # ticks per quarter


def ode_to_joy() -> Score:
    pitches = [64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62]
    notes = [Note(pitch, index * Q, Q) for index, pitch in enumerate(pitches)]
    notes[-3] = notes[-3].moved(duration=Q * 3 // 2)                     # E, dotted
    notes[-2] = notes[-2].moved(start=notes[-3].end, duration=Q // 2)    # D, an eighth
    notes[-1] = notes[-1].moved(start=notes[-2].end, duration=2 * Q)     # D, a half
    return Score([Track("Melody", 0, False, notes)])


def bwv66_6() -> Score:
    from music21 import corpus

    return score_from_music21(corpus.parse("bach/bwv66.6"))


def two_track_song() -> Score:
    """Nine bars of 3/4 in G major after a one-beat pickup, the last completing it; the
    melody passes through B-flat in bar 3 and rests through bar 5."""
    bar = 3 * Q
    start = bar - Q                                   # the pickup ends bar 0
    melody = [(62, 0, 1)]                             # (pitch, beat from the pickup, beats)
    melody += [(67, 1, 2), (71, 3, 1), (69, 4, 1), (67, 5, 1), (66, 6, 1), (67, 7, 1), (69, 8, 1),
               (70, 9, 1), (71, 10, 3)]               # B-flat: a chromatic passing note
    melody += [(74, 16, 2), (72, 18, 1), (71, 19, 1), (69, 20, 1), (67, 21, 1),
               (64, 22, 1), (62, 23, 1), (66, 24, 1), (67, 25, 2)]
    bass = [(43, 1, 3), (47, 4, 3), (50, 7, 3), (43, 10, 3), (48, 13, 3), (50, 16, 3),
            (45, 19, 3), (50, 22, 3), (43, 25, 2)]
    chords = [(55, 59, 62), (55, 59, 62), (54, 57, 62), (55, 59, 62), (55, 60, 64), (54, 57, 62),
              (52, 57, 60), (54, 57, 62), (55, 59, 62)]
    left = [Note(p, start + b * Q, n * Q, 70) for p, b, n in bass]
    left += [Note(p, start + (b + 1) * Q, 2 * Q if n == 3 else Q, 60)
             for (_, b, n), chord in zip(bass, chords, strict=True) for p in chord]
    return Score([Track("Melody", 73, False,
                        [Note(p, start + b * Q, n * Q, 90) for p, b, n in melody]),
                  Track("Accompaniment", 0, False, sorted(left))], 96.0, (3, 4), pickup_ticks=Q)


def render(name: str, score: Score, title: str) -> Path:
    xml = OUTPUT / f"{name}.musicxml"
    write_musicxml(score, xml, title=title)
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    png = OUTPUT / f"{name}.png"
    subprocess.run(["mscore3", "-r", str(RESOLUTION_DPI), "-o", str(png), str(xml)],
                   check=True, env=environment, capture_output=True, timeout=300)
    pages = sorted(OUTPUT.glob(f"{name}-*.png"))      # MuseScore numbers the pages it writes
    if not pages:
        raise SystemExit(f"MuseScore wrote no page for {name}")
    shutil.move(pages[0], png)
    for extra in pages[1:]:
        extra.unlink()
    return png


def main() -> None:
    if shutil.which("mscore3") is None:
        raise SystemExit("mscore3 not found: apt-get install -y musescore3")
    OUTPUT.mkdir(exist_ok=True)
    for name, score, title in [("c_major_tune", ode_to_joy(), "Ode to Joy"),
                               ("bwv66.6", bwv66_6(), "bwv66.6"),
                               ("two_track_song", two_track_song(), "A song in G")]:
        print(render(name, score, title))


if __name__ == "__main__":
    main()

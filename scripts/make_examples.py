"""Write the example motifs in resources/examples/ (our own short motifs in several keys
and meters). Rerun: `.venv/bin/python scripts/make_examples.py`."""

from __future__ import annotations

from pathlib import Path

from ml_core.midi_io import write_midi
from ml_core.music import Note, Score, Track

OUT = Path(__file__).resolve().parents[1] / "resources" / "examples"
Q = 480  # a quarter note in ticks

# Each motif: (file name, tempo, meter, melody [(pitch, start in quarters, length in quarters)],
#              accompaniment in the same form or [])
MOTIFS = [
    ("c_major_4-4", 100, (4, 4),
     [(60, 0, 1), (64, 1, 1), (67, 2, 1), (72, 3, 1), (71, 4, 0.5), (69, 4.5, 0.5), (67, 5, 1),
      (65, 6, 1), (64, 7, 1)],
     [(48, 0, 4), (52, 0, 4), (55, 0, 4), (43, 4, 4), (50, 4, 4), (53, 4, 4)]),
    ("a_minor_3-4", 132, (3, 4),
     [(69, 0, 1), (72, 1, 1), (76, 2, 1), (74, 3, 1.5), (72, 4.5, 0.5), (71, 5, 1),
      (72, 6, 1), (69, 7, 2)],
     [(45, 0, 1), (52, 1, 1), (57, 2, 1), (40, 3, 1), (47, 4, 1), (52, 5, 1),
      (45, 6, 1), (52, 7, 1), (57, 8, 1)]),
    ("d_major_6-8", 96, (6, 8),
     [(62, 0, 1), (66, 1, 0.5), (69, 1.5, 1), (66, 2.5, 0.5), (67, 3, 1), (71, 4, 0.5),
      (69, 4.5, 1.5)],
     [(50, 0, 1.5), (57, 1.5, 1.5), (43, 3, 1.5), (50, 4.5, 1.5)]),
    ("e_minor_chorale_4-4", 72, (4, 4),
     [(71, 0, 1), (71, 1, 1), (72, 2, 1), (74, 3, 1), (72, 4, 1), (71, 5, 1), (69, 6, 2)],
     [(67, 0, 1), (67, 1, 1), (67, 2, 1), (66, 3, 1), (64, 4, 1), (66, 5, 1), (66, 6, 2),
      (40, 0, 1), (43, 1, 1), (36, 2, 1), (38, 3, 1), (45, 4, 1), (47, 5, 1), (35, 6, 2)]),
    ("g_major_7-8", 150, (7, 8),
     [(67, 0, 0.5), (71, 0.5, 0.5), (74, 1, 0.5), (72, 1.5, 0.5), (71, 2, 0.5), (69, 2.5, 0.5),
      (71, 3, 0.5), (67, 3.5, 1), (66, 4.5, 0.5), (67, 5, 1.5)],
     [(43, 0, 1), (50, 1, 1), (43, 2, 1.5), (43, 3.5, 1), (50, 4.5, 1), (43, 5.5, 1)]),
]


def build(tempo: int, meter: tuple[int, int], melody: list, accompaniment: list) -> Score:
    def notes(spec: list, velocity: int) -> list[Note]:
        return sorted(Note(p, round(s * Q), round(d * Q), velocity) for p, s, d in spec)

    tracks = [Track("Melody", 0, False, notes(melody, 90))]
    if accompaniment:
        tracks.append(Track("Accompaniment", 0, False, notes(accompaniment, 64)))
    return Score(tracks, tempo, meter)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, tempo, meter, melody, accompaniment in MOTIFS:
        write_midi(build(tempo, meter, melody, accompaniment), OUT / f"{name}.mid")
        print(f"wrote {name}.mid")


if __name__ == "__main__":
    main()

"""The values of REMI's attribute controls (`ml_core.tokenizers.remi`): the bins of
texture, density, register and bass, the repetition controls (Rhythm, Figure) that compare
a bar with the bars before it, and `BarControls`, a bar's values (ANY = not given)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ml_core.music import Note

# Control values: bins, with ANY for "not given".
ANY = -1
TEXTURE_LEVELS = (1, 2, 3, 4)                  # mean notes per onset, 4 = four or more
DENSITY_EDGES = (0.75, 1.5, 2.5, 3.5)          # onsets per beat between Density_1.._5
DENSITY_LEVELS = (0, 1, 2, 3, 4, 5)            # 0 = an empty bar
REGISTER_EDGES = (48, 55, 62, 69, 76)          # median pitch between Register_0.._5
REGISTER_LEVELS = (0, 1, 2, 3, 4, 5)
# extended_levels: up to eight voices, and runs of 32nds
TEXTURE_LEVELS_EXTENDED = (1, 2, 3, 4, 5, 6, 7, 8)
DENSITY_EDGES_EXTENDED = DENSITY_EDGES + (5.0, 7.0)
DENSITY_LEVELS_EXTENDED = (0, 1, 2, 3, 4, 5, 6, 7)
REPEAT_BACK = 4                                # bars a repetition control looks back
FIGURE_NONE, FIGURE_MOVED = 0, REPEAT_BACK     # Figure values: 1..4 same, 5..8 moved, k back
BASS_EDGES = (36, 41, 46, 51, 56, 61, 68)      # lowest pitch between Bass_0.._7


def texture_bin(notes_per_onset: float, extended: bool = False) -> int:
    """Texture value of a mean number of notes per onset (1 = one line ... 4 = 4+, or 8 =
    8+ with the extended levels)."""
    return min(8 if extended else 4, max(1, int(notes_per_onset + 0.5)))


def density_bin(onsets_per_beat: float, extended: bool = False) -> int:
    """Density value of a number of onsets per beat (0 only for no onsets)."""
    edges = DENSITY_EDGES_EXTENDED if extended else DENSITY_EDGES
    return 0 if onsets_per_beat <= 0 else 1 + bisect_right(edges, onsets_per_beat)


def bass_bin(lowest_pitch: int) -> int:
    """Bass value of a bar's lowest MIDI pitch."""
    return bisect_right(BASS_EDGES, lowest_pitch)


class BarShape(NamedTuple):
    """What the repetition controls compare: a bar's length (positions), its onset
    positions and its top line (the highest pitch of each onset)."""

    length: int
    positions: tuple[int, ...]
    top: tuple[int, ...]


def repetition_controls(bars: Sequence[BarShape], index: int) -> tuple[int, int]:
    """(Rhythm, Figure) values of bar `index` against the REPEAT_BACK bars before it:
    Rhythm k for the nearest bar k back with the same length and onset positions (0: none);
    Figure k for the nearest with the same top line, else FIGURE_MOVED + k for the nearest
    whose top line has the same intervals at another pitch (two or more onsets), else
    FIGURE_NONE. (ANY, ANY) for a bar without notes."""
    bar = bars[index]
    if not bar.positions:
        return ANY, ANY
    earlier = [(k, bars[index - k]) for k in range(1, min(REPEAT_BACK, index) + 1)]
    rhythm = next((k for k, other in earlier
                   if (other.length, other.positions) == (bar.length, bar.positions)), 0)
    figure = next((k for k, other in earlier if other.top == bar.top), None)
    if figure is None:
        steps = np.diff(bar.top).tolist()
        figure = next((FIGURE_MOVED + k for k, other in earlier if len(bar.top) > 1
                       and len(other.top) == len(bar.top)
                       and np.diff(other.top).tolist() == steps), FIGURE_NONE)
    return rhythm, figure


def register_bin(median_pitch: float) -> int:
    """Register value of a median MIDI pitch."""
    return bisect_right(REGISTER_EDGES, median_pitch)


@dataclass(frozen=True)
class BarControls:
    """The control values of a bar (bins; ANY = not given). None: not set here
    (`control_mask` leaves that kind free); the per-bar controls of new configs (rhythm,
    figure, bass) are None unless set, and encoding fills them in."""

    texture: int | None = ANY
    density: int | None = ANY
    register: int | None = ANY
    rhythm: int | None = None
    figure: int | None = None
    bass: int | None = None

    @staticmethod
    def measure(onsets: int, pitches: Sequence[int], beats: float,
                extended: bool = False) -> BarControls:
        """The values of music with `onsets` distinct onset positions sounding `pitches`
        (one per note) over `beats` beats."""
        if onsets == 0 or not pitches:
            return BarControls(ANY, 0, ANY)
        return BarControls(texture_bin(len(pitches) / onsets, extended),
                           density_bin(onsets / beats, extended),
                           register_bin(float(np.median(pitches))))


def struck_onsets(notes: Sequence[Note], step: int) -> int:
    """Onsets of `notes` as struck: starts more than a third of a grid step apart."""
    starts = sorted(n.start for n in notes)
    return 1 + int(np.count_nonzero(np.diff(starts) > step // 3)) if starts else 0

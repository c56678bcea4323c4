"""REMI with track sections: every part of a multi-track piece keeps its own notes.

A superset of REMI (`ml_core.tokenizers.remi`): the vocabulary is REMI's, token for token
and in the same order, followed by one `Track_<family>_<slot>` token per instrument family
and slot, so a REMI model grows into it by token name (`train --init-from`). A piece with
one pitched track (and no drums) encodes exactly as plain REMI. A piece with more tracks
writes, in each bar, after the bar line and its controls (measured over all pitched notes,
as REMI does), the tempo changes of the bar (`Position_p Tempo_t`), then one section per
track that plays in the bar:

    Bar TimeSig_4_4 Texture_2 Density_3 Register_3 Position_0 Tempo_92
        Track_ensemble_0 Texture_1 Density_2 Register_4 Position_0 Pitch_72 Duration_4 ...
        Track_ensemble_3 Texture_1 Density_1 Register_1 Position_0 Pitch_48 Duration_8 ...

A section's Position tokens start again from the bar's first position; its controls are
REMI's Texture/Density/Register tokens measured on that track's notes in the bar. A track
that is silent in a bar writes no section there; a track appears at most once per bar.

Families are the 16 General MIDI program families (`piano` 0-7, `chromatic`, `organ`,
`guitar`, `bass`, `strings`, `ensemble`, `brass`, `reed`, `pipe`, `lead`, `pad`,
`effects`, `ethnic`, `percussive`, `sfx`) and `drums` (drum tracks are kept, in their own
sections). A track at program 0 whose name says what it is (a choir's `Soprano`, a
quartet's `Viola`, music21 often leaves the program unset) takes that family. The slot
is the track's rank among the piece's tracks of its family, in the file's order, which
in notation and in POP909 is also a role: 0 the top part or melody, 1 the second part
(a counter-melody; POP909's BRIDGE), 2 an inner part or the accompaniment (POP909's
PIANO), 3 the lowest part (a chorale's or a quartet's bass); a fifth track of a family
shares slot 3. `ROLES` names the slots.

Sections come in a canonical order (`canonical_rank`: by slot, i.e. role, then family;
drums last). `prepare` writes a `merge_share` of the multi-track pieces as plain REMI (parts
merged, drums left out) so that a part holding several voices in one track, the app's
single-track prompts, keeps being learnt. Training shuffles the
sections of a share of the bars (`section_shuffle`, through `encode_for_training`, which
`ml_core.data` calls when preparing), so the model learns to write any part given the
others before it: generation puts the part it writes last in each bar and forces the
others' sections (`ml_core.multitrack`).

Decoding gives one Track per track token seen (in token order; a program per family and
slot, e.g. strings 40, 40, 41, 42), after a REMI track for notes outside any section.
The grammar is REMI's plus: after a bar's controls, tempo or a note (where a Bar may
come), any Track token not used in the bar yet; after a Track token its three controls
(with use_controls), then a Position; no Tempo inside a section.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ml_core.music import Note, Score, Track, beat_ticks
from ml_core.tokenizers import register
from ml_core.tokenizers.base import TokenizerError, Vocab, at_standard_resolution, check_ids
from ml_core.tokenizers.remi import (
    AFTER_BOS,
    AFTER_FILL_START,
    K_BAR,
    K_DENSITY,
    K_DURATION,
    K_FILL_START,
    K_PITCH,
    K_REGISTER,
    K_TEMPO,
    K_TEXTURE,
    K_TIMESIG,
    K_VELOCITY,
    UNENCODED_VELOCITY,
    RemiConfig,
    RemiGrammar,
    RemiState,
    RemiTokenizer,
    build_score,
)
from ml_core.tokenizers.remi_controls import BarControls, density_bin, register_bin, texture_bin

FAMILIES = ("piano", "chromatic", "organ", "guitar", "bass", "strings", "ensemble", "brass",
            "reed", "pipe", "lead", "pad", "effects", "ethnic", "percussive", "sfx", "drums")
DRUMS = FAMILIES.index("drums")
ROLES = ("melody", "counter", "harmony", "bass")   # what slots 0..3 hold
SLOTS = len(ROLES)
# The program a decoded track gets, per family and slot (family * 8 where not listed).
FAMILY_PROGRAMS = {"piano": (0, 0, 0, 0), "bass": (33, 33, 33, 33),
                   "strings": (40, 40, 41, 42), "ensemble": (52, 52, 52, 52),
                   "drums": (0, 0, 0, 0)}
# Names of parts at program 0 that say their family (checked in this order).
_NAMED_FAMILIES = (
    ("strings", ("violin", "violino", "viola", "cello", "contrabass", "fiddle")),
    ("ensemble", ("soprano", "alto", "tenor", "bass", "baritone", "cantus", "contratenor",
                  "voice", "voce", "triplum", "motetus", "superius", "choir", "chorus")),
    ("organ", ("organ",)),
    ("guitar", ("guitar", "lute")),
    ("reed", ("oboe", "clarinet", "bassoon", "saxophone")),
    ("pipe", ("flute", "recorder", "piccolo")),
    ("brass", ("trumpet", "horn", "trombone", "tuba")),
)

KNOWN_PART_SECTIONS = 1000   # bar sections of a part in a model's training data that make
                             # it a part the model knows (fewer: it would write it blind)
K_TRACK = 32   # clear of REMI's kinds and phases (its per-bar controls take 17..19)
AFTER_TRACK, AFTER_S_TEXTURE, AFTER_S_DENSITY, AFTER_S_REGISTER = range(32, 36)
_SECTION_NEXT = {K_TEXTURE: AFTER_S_TEXTURE, K_DENSITY: AFTER_S_DENSITY,
                 K_REGISTER: AFTER_S_REGISTER}


def track_family(track: Track) -> int:
    """The family index of a track: drums, its program's family, or for program 0 the
    family its name gives (a part called `Alto` is a voice), else piano."""
    if track.is_drum:
        return DRUMS
    if track.program:
        return track.program // 8
    name = track.name.lower()
    for family, words in _NAMED_FAMILIES:
        if any(word in name for word in words):
            return FAMILIES.index(family)
    return 0


def slot_id(family: int, slot: int) -> int:
    return family * SLOTS + min(slot, SLOTS - 1)


def canonical_rank(slot: int) -> tuple[bool, int, int]:
    """Sort key of the canonical section order: by role (every melody first, the lowest
    parts last), then family; drums after everything."""
    family, rank = divmod(slot, SLOTS)
    return family == DRUMS, rank, family


def slot_program(slot: int) -> int:
    family, rank = divmod(slot, SLOTS)
    return FAMILY_PROGRAMS.get(FAMILIES[family], (family * 8,) * SLOTS)[rank]


def slot_name(slot: int) -> str:
    family, rank = divmod(slot, SLOTS)
    return f"{FAMILIES[family]} {ROLES[rank]}"


@dataclass(frozen=True)
class RemiTracksConfig(RemiConfig):
    # share of bars whose sections `encode_for_training` writes in a random order
    section_shuffle: float = 0.5
    # share of multi-track pieces `encode_for_training` writes as one stream (plain REMI,
    # the parts merged), so that dense music in one track is still learnt
    merge_share: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("use_repeat_controls", "use_bass_control", "extended_levels"):
            if getattr(self, name, False):   # a section's controls are Texture/Density/Register
                raise TokenizerError(f"remi_tracks does not take {name} yet (its sections "
                                     "carry texture, density and register)")
        for name in ("section_shuffle", "merge_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise TokenizerError(f"{name} must lie between 0 and 1, got "
                                     f"{getattr(self, name)}")


class TracksState(NamedTuple):
    phase: int
    bar_positions: int
    position: int
    bar_start: int
    tick: int      # the latest time any section has reached (never goes back)
    section: int   # slot of the section being written, -1 outside sections
    used: int      # bit mask of the slots that have had a section in this bar


class TracksGrammar(RemiGrammar):
    """REMI's state machine plus track sections (masks cached per phase, section, used)."""

    _t: RemiTracksTokenizer

    def start(self) -> TracksState:
        return TracksState(*super().start(), -1, 0)

    def fill_start(self, meter: tuple[int, int]) -> TracksState:
        return TracksState(*super().fill_start(meter), -1, 0)

    def allowed(self, state: TracksState) -> np.ndarray:  # type: ignore[override]
        key = (state[0], state[1], state[2], state[5] >= 0, state[6])
        mask = self._masks.get(key)  # type: ignore[call-overload]
        if mask is None:
            mask = self._masks[key] = self._section_mask(*key)  # type: ignore[index]
        return mask

    def _section_mask(self, phase: int, bar_positions: int, position: int, in_section: bool,
                      used: int) -> np.ndarray:
        t = self._t
        kinds = t.kind_array
        positions = slice(t.position_first, t.position_first + bar_positions)
        if phase == AFTER_TRACK:
            if t.control_ids:
                mask = kinds == K_TEXTURE
            else:
                mask = np.zeros(t.vocab_size, dtype=bool)
                mask[positions] = True
        elif phase == AFTER_S_TEXTURE:
            mask = kinds == K_DENSITY
        elif phase == AFTER_S_DENSITY:
            mask = kinds == K_REGISTER
        elif phase == AFTER_S_REGISTER:
            mask = np.zeros(t.vocab_size, dtype=bool)
            mask[positions] = True
        else:
            mask = super()._build_mask(phase, bar_positions, position).copy()
            if in_section:
                mask[kinds == K_TEMPO] = False
            if mask[t.bar_id] and phase not in (AFTER_BOS, AFTER_FILL_START):
                for slot in range(t.slot_count):
                    mask[t.track_first + slot] = not used >> slot & 1
        mask.setflags(write=False)
        return mask

    def advance(self, state: TracksState, token: int) -> TracksState:  # type: ignore[override]
        t = self._t
        kind = t.kinds[token]
        phase, bar_positions, position, bar_start, tick, section, used = state
        if kind == K_TRACK:
            slot = t.values[token]
            return TracksState(AFTER_TRACK, bar_positions, -1, bar_start, tick, slot,
                               used | 1 << slot)
        if kind in _SECTION_NEXT and phase in (AFTER_TRACK, AFTER_S_TEXTURE, AFTER_S_DENSITY):
            return TracksState(_SECTION_NEXT[kind], bar_positions, position, bar_start, tick,
                               section, used)
        inner = super().advance(RemiState(phase, bar_positions, position, bar_start, tick), token)
        if kind in (K_BAR, K_FILL_START):
            return TracksState(*inner, -1, 0)
        return TracksState(*inner[:4], max(tick, inner.tick), section, used)

    def time_of(self, state: TracksState) -> int:
        """The time the state's own section (or the bar outside sections) has reached."""
        return state.bar_start + max(0, state.position) * self._t.ticks_per_position

    def section_state(self, state: TracksState) -> RemiState:
        """The REMI state of the section being written (its own time as `tick`), for masks
        such as `onset_mask` that read the time reached."""
        return RemiState(*state[:4], self.time_of(state))


@dataclass(frozen=True)
class Section:
    """One track's part of one bar: its Track token, controls and (tick, tokens) per onset
    position (a Position token followed by the notes' tokens)."""

    slot: int
    controls: list[int]
    events: list[tuple[int, list[int]]]

    def tokens(self, track_first: int, before: int | None = None) -> list[int]:
        """The section's tokens; with `before`, only its onsets before that tick."""
        ids = [track_first + self.slot] + self.controls
        for tick, tokens in self.events:
            if before is None or tick < before:
                ids += tokens
        return ids


@register
class RemiTracksTokenizer(RemiTokenizer):
    name = "remi_tracks"
    config_class = RemiTracksConfig
    config: RemiTracksConfig
    keeps_drums = True

    def __init__(self, config: RemiTracksConfig | None = None) -> None:
        super().__init__(config)
        self.track_first = self.vocab[f"Track_{FAMILIES[0]}_0"]
        self.slot_count = len(FAMILIES) * SLOTS
        self._grammar = TracksGrammar(self)
        # the slots a trained model was taught (`learn_taught`, from its card); None: all
        self.taught: frozenset[int] | None = None

    def taught_slots(self, card: dict) -> frozenset[int] | None:
        """The slots a bundle's card says its training data held at least
        KNOWN_PART_SECTIONS bar sections of (over every link of its chain); None where the
        card does not say."""
        chain = ((card or {}).get("training") or {}).get("chain") or {}
        parts = (chain.get("totals") or {}).get("parts")
        if not isinstance(parts, dict):
            return None
        return frozenset(self.vocab[name] - self.track_first for name, count in parts.items()
                         if name in self.vocab and count >= KNOWN_PART_SECTIONS)

    def learn_taught(self, card: dict) -> None:
        """Read a trained bundle's parts from its card: `slots_of` then gives a track of a
        family the model never learned a slot it knows (`bundle.load` calls this)."""
        self.taught = self.taught_slots(card)

    def _build_vocab(self) -> Vocab:
        remi = super()._build_vocab()
        entries = list(zip(remi.tokens, self.kinds, self.values, strict=True))
        entries += [(f"Track_{family}_{rank}", K_TRACK, slot_id(index, rank))
                    for index, family in enumerate(FAMILIES) for rank in range(SLOTS)]
        return self._vocab_from_entries(entries)

    def grammar(self) -> TracksGrammar:
        return self._grammar

    def one_stream_mask(self) -> np.ndarray:
        """Mask (vocab_size,) refusing the Track tokens: a single-stream continuation or
        fill (`ml_core.generation`) stays plain REMI."""
        mask = np.ones(self.vocab_size, dtype=bool)
        mask[self.track_first:self.track_first + self.slot_count] = False
        return mask

    def fill_mask(self) -> np.ndarray:
        return super().fill_mask() & self.one_stream_mask()

    def slot_token(self, slot: int) -> int:
        return self.track_first + slot

    # ------------------------------------------------------------------ encode
    def slots_of(self, score: Score) -> list[int | None]:
        """The slot of each track (None for a track without notes in the pitch range). With
        `taught` (a trained model's), a pitched track of a family the model never learned
        (a flute, a bass guitar: no such parts in the music21 corpus or POP909) takes a
        free slot of the piano family, POP909's layout, by its place in the piece: the
        highest part the melody's, the lowest the accompaniment's, another the middle one."""
        slots = self._family_slots(score)
        return slots if self.taught is None else self._taught_slots(score, slots)

    def _taught_slots(self, score: Score, slots: list[int | None]) -> list[int | None]:
        taught = self.taught or frozenset()
        known = {slot // SLOTS for slot in taught}
        untaught = [i for i, slot in enumerate(slots) if slot is not None
                    and slot // SLOTS not in known and slot // SLOTS != DRUMS]
        if not untaught or not any(slot_id(0, rank) in taught for rank in range(SLOTS)):
            return slots
        height = {i: float(np.median([n.pitch for n in score.tracks[i].notes]))
                  for i, slot in enumerate(slots) if slot is not None
                  and slot // SLOTS != DRUMS}
        highest, lowest = max(height, key=height.get), min(height, key=height.get)
        free = [rank for rank in range(SLOTS)
                if slot_id(0, rank) in taught and slot_id(0, rank) not in slots]
        mapped = list(slots)
        for i in sorted(untaught, key=lambda i: -height[i]):
            wanted = 0 if i == highest else 2 if i == lowest else 1
            rank = wanted if wanted in free else (free[0] if free else None)
            if rank is not None:
                mapped[i] = slot_id(0, rank)
                free.remove(rank)
        return mapped

    def _family_slots(self, score: Score) -> list[int | None]:
        """Each track's slot: its family's, ranked among that family's tracks in order."""
        low, high = self.config.pitch_range
        ranks: dict[int, int] = {}
        slots: list[int | None] = []
        for track in score.tracks:
            if not any(low <= n.pitch <= high for n in track.notes):
                slots.append(None)
                continue
            family = track_family(track)
            slots.append(slot_id(family, ranks.get(family, 0)))
            ranks[family] = ranks.get(family, 0) + 1
        return slots

    def is_multitrack(self, score: Score, slots: Sequence[int | None] | None = None) -> bool:
        """Whether `score` is written with sections: more than one track with notes, or a
        drum track (one pitched track alone is plain REMI)."""
        slots = self.slots_of(score) if slots is None else slots
        playing = [i for i, slot in enumerate(slots) if slot is not None]
        return len(playing) > 1 or any(score.tracks[i].is_drum for i in playing)

    def encode(self, score: Score, *, eos: bool = False, end_tick: int | None = None,
               tracked: bool | None = None, slots: Sequence[int | None] | None = None,
               last: int | None = None, shuffle_seed: int | None = None) -> list[int]:
        """Token ids of `score`: plain REMI for one pitched track (or `tracked=False`), else
        bars of track sections. `slots` gives each track's slot (default `slots_of`), `last`
        a slot whose section ends every bar, `shuffle_seed` shuffles the sections of a
        `section_shuffle` share of the bars."""
        score = at_standard_resolution(score)
        slots = list(self.slots_of(score) if slots is None else slots)
        if tracked is None:
            tracked = self.is_multitrack(score, slots)
        if not tracked:
            return super().encode(score, eos=eos, end_tick=end_tick)
        tempo_at = self._tempo_tokens(score)
        step = self.ticks_per_position
        last_tick = max([p * step for p in tempo_at]
                        + [n.start for i, track in enumerate(score.tracks)
                           if slots[i] is not None for n in track.notes], default=0)
        bars = self._bar_plan(score, last_tick, end_tick)
        sections = self.bar_sections(score, slots, bars)
        rng = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None
        pitched = self._notes_by_bar(score, slots, bars)
        ids = [self.bos_id]
        meter = None
        for (bar_start, length, bar_meter), bar, notes in zip(bars, sections, pitched,
                                                              strict=True):
            ids += self.bar_header(score, bar_start, length, bar_meter, meter != bar_meter,
                                   tempo_at, self._measure(notes, length, bar_meter))
            meter = bar_meter
            order = sorted(bar, key=lambda s: (s.slot == last, canonical_rank(s.slot)))
            if rng is not None and len(order) > 1 and rng.random() < self.config.section_shuffle:
                order = [order[i] for i in rng.permutation(len(order))]
            for section in order:
                ids += section.tokens(self.track_first)
        if eos:
            ids.append(self.eos_id)
        return ids

    def encode_for_training(self, score: Score) -> list[int]:
        """`encode` with the sections of some bars shuffled, or (a `merge_share` of the
        multi-track pieces) the parts merged into one stream; the same for the same score."""
        notes = [(n.start, n.pitch) for n in sorted(score.notes())[:64]]
        seed = zlib.crc32(repr((score.note_count, notes)).encode())
        if np.random.default_rng(seed).random() < self.config.merge_share:
            return self.encode(score, tracked=False)
        return self.encode(score, shuffle_seed=seed + 1)

    def bar_header(self, score: Score, bar_start: int, length: int, meter: tuple[int, int],
                   new_meter: bool, tempo_at: dict[int, int] | None = None,
                   controls: BarControls | None = None) -> list[int]:
        """Bar, its TimeSig when `new_meter`, its controls (measured over the pitched notes,
        or `controls`), and `Position Tempo` for each tempo written in the bar."""
        ids = [self.bar_id] + ([self._signature_ids[meter]] if new_meter else [])
        if self.control_ids:
            if controls is None:
                step = self.ticks_per_position
                notes = [n for t in score.tracks if not t.is_drum for n in t.notes
                         if bar_start <= (n.start + step // 2) // step * step < bar_start + length]
                controls = self._measure(notes, length, meter)
            ids += self.control_tokens(controls)
        step = self.ticks_per_position
        first, end = bar_start // step, (bar_start + length) // step
        for position in sorted(tempo_at or {}):
            if first <= position < end:
                ids += [self.position_first + position - first, tempo_at[position]]
        return ids

    def _notes_by_bar(self, score: Score, slots: Sequence[int | None],
                      bars: Sequence[tuple[int, int, tuple[int, int]]]) -> list[list[Note]]:
        """The pitched notes (of tracks with a slot) of each bar, by grid-snapped onset."""
        step = self.ticks_per_position
        starts = [start for start, _, _ in bars]
        result: list[list[Note]] = [[] for _ in bars]
        for track, slot in zip(score.tracks, slots, strict=True):
            if slot is None or track.is_drum:
                continue
            for note in track.notes:
                bar = bisect_right(starts, (note.start + step // 2) // step * step) - 1
                if 0 <= bar < len(bars):
                    result[bar].append(note)
        return result

    def _measure(self, notes: list[Note], length: int, meter: tuple[int, int]) -> BarControls:
        step = self.ticks_per_position
        onsets = len({(n.start + step // 2) // step for n in notes})
        if not notes:
            return BarControls.measure(0, [], 1.0)
        pitches = sorted(n.pitch for n in notes)   # BarControls.measure's values, without numpy
        middle = len(pitches) // 2                  # (thousands of small medians per piece)
        median = (pitches[middle] + pitches[(len(pitches) - 1) // 2]) / 2
        return BarControls(texture_bin(len(pitches) / onsets),
                           density_bin(onsets / (length / beat_ticks(meter))),
                           register_bin(median))

    def bar_sections(self, score: Score, slots: Sequence[int | None],
                     bars: Sequence[tuple[int, int, tuple[int, int]]]) -> list[list[Section]]:
        """Per bar of `bars` ((start, length, meter) as `_bar_plan` gives), the sections of
        the tracks playing in it (tracks sharing a slot share its section)."""
        step = self.ticks_per_position
        width = 3 if self.config.use_velocity else 2
        starts = [start // step for start, _, _ in bars]
        per_bar: list[dict[int, list]] = [{} for _ in bars]
        for slot in sorted({s for s in slots if s is not None}):
            tracks = [replace(t, is_drum=False) for t, s in zip(score.tracks, slots, strict=True)
                      if s == slot]
            positions, pitches, groups = self._note_tokens(score.with_tracks(tracks))
            in_bar = (np.searchsorted(np.asarray(starts), np.asarray(positions, dtype=np.int64),
                                      side="right") - 1).tolist() if positions else []
            for index, position in enumerate(positions):
                bar = in_bar[index]
                if 0 <= bar < len(bars):
                    per_bar[bar].setdefault(slot, []).append(
                        (position, pitches[index], groups[width * index:width * (index + 1)]))
        result = []
        for (bar_start, length, meter), bar in zip(bars, per_bar, strict=True):
            sections = []
            for slot, rows in sorted(bar.items()):
                first = bar_start // step
                events: list[tuple[int, list[int]]] = []
                for position, _, group in rows:
                    if not events or events[-1][0] != position * step:
                        events.append((position * step, [self.position_first + position - first]))
                    events[-1][1].extend(group)
                notes = [Note(pitch, position * step, step) for position, pitch, _ in rows]
                sections.append(Section(slot, self.control_tokens(
                    self._measure(notes, length, meter)), events))
            result.append(sections)
        return result

    # ------------------------------------------------------------------ decode
    def decode_sections(self, ids: Sequence[int]) -> tuple[dict[int, list[Note]],
                                                          list[tuple[int, tuple[int, int]]],
                                                          list[tuple[int, float]]]:
        """(notes per slot, -1 for notes outside sections; (tick, meter)s; (tick, bpm)s)."""
        ids = check_ids(ids, self.vocab_size, self.name)
        grammar = self._grammar
        kinds, values = self.kinds, self.values
        step = self.ticks_per_position
        state = grammar.start()
        notes: dict[int, list[Note]] = {}
        meters: list[tuple[int, tuple[int, int]]] = []
        tempi: list[tuple[int, float]] = []
        pitch, velocity = 0, UNENCODED_VELOCITY
        hole = self.infill_ids[0] if self.infill_ids else -1
        for token in ids:
            if token == hole:  # an infilling sequence: what follows is not in time order
                break
            if not grammar.allowed(state)[token]:
                continue
            state = grammar.advance(state, token)
            kind = kinds[token]
            if kind == K_PITCH:
                pitch = values[token]
            elif kind == K_VELOCITY:
                velocity = values[token]
            elif kind == K_DURATION:
                notes.setdefault(state.section, []).append(
                    Note(pitch, grammar.time_of(state), values[token] * step, velocity))
            elif kind == K_TIMESIG:
                meter = self._meter_of_token[token]
                if not meters or meters[-1][1] != meter:
                    meters.append((state.bar_start, meter))
            elif kind == K_TEMPO and (not tempi or tempi[-1][1] != values[token]):
                tempi.append((grammar.time_of(state), float(values[token])))
        return notes, meters, tempi

    def decode(self, ids: Sequence[int]) -> Score:
        """The Score of a token sequence: a REMI track for notes outside sections (the only
        one for a plain REMI sequence), then one track per slot in slot order."""
        notes, meters, tempi = self.decode_sections(ids)
        score = build_score(notes.pop(-1, []), meters, tempi, "remi")
        if notes and not score.tracks[0].notes:
            score.tracks = []
        for slot in sorted(notes):
            family = slot // SLOTS
            score.tracks.append(Track(slot_name(slot), slot_program(slot), family == DRUMS,
                                      sorted(notes[slot])))
        return score


"""Tracks as the editor knows them: name, GM instrument, drum flag, colour, mute and solo,
and the sustain pedal a file brought (saved back as it came; Continue reads it).

`TrackInfo` is Qt-free and immutable; the Document keeps one per track, in order, and a
note's entry names its track by index. Adding, deleting, renaming, re-instrumenting or
re-colouring a track is one `TrackCommand` (the track list before/after plus the note
diff it implies, e.g. a deleted track's notes and the re-indexed notes after it). Mute
and solo are listening state, not part of the composition: they change no undo step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from composer_app.document.commands import Entry, NoteEditCommand
from ml_core.music import PedalSpan, ProgramChange, Track

if TYPE_CHECKING:
    from composer_app.document.document import Document

# Distinct hues away from the orange of pending continuations and the red of selection.
TRACK_COLORS = ("#3d7fd9", "#3aa66a", "#8b5cc7", "#1f9fb0", "#b59a1c", "#6b8e23",
                "#5465d6", "#b0569a")
DRUM_COLOR = "#6b6f7a"
DRUM_CHANNEL_PROGRAM = 0   # GM drum kits: program 0 of bank 128 (the standard kit)

GM_PROGRAM_NAMES = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
    "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)", "Electric Guitar (clean)", "Electric Guitar (muted)",
    "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass",
    "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
    "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax",
    "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet", "Piccolo",
    "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)",
    "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)",
    "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba",
    "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise",
    "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)

# General MIDI percussion key map (channel 10), keys 35..81.
GM_DRUM_NAMES = {
    35: "Acoustic Bass Drum", 36: "Bass Drum 1", 37: "Side Stick", 38: "Acoustic Snare",
    39: "Hand Clap", 40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat",
    43: "High Floor Tom", 44: "Pedal Hi-Hat", 45: "Low Tom", 46: "Open Hi-Hat",
    47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine",
    55: "Splash Cymbal", 56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap",
    59: "Ride Cymbal 2", 60: "Hi Bongo", 61: "Low Bongo", 62: "Mute Hi Conga",
    63: "Open Hi Conga", 64: "Low Conga", 65: "High Timbale", 66: "Low Timbale",
    67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas", 71: "Short Whistle",
    72: "Long Whistle", 73: "Short Guiro", 74: "Long Guiro", 75: "Claves",
    76: "Hi Wood Block", 77: "Low Wood Block", 78: "Mute Cuica", 79: "Open Cuica",
    80: "Mute Triangle", 81: "Open Triangle",
}


def instrument_name(program: int, is_drum: bool = False) -> str:
    if is_drum:
        return "Drum kit"
    return GM_PROGRAM_NAMES[min(127, max(0, int(program)))]


def drum_name(pitch: int) -> str | None:
    return GM_DRUM_NAMES.get(pitch)


@dataclass(frozen=True)
class TrackInfo:
    """One track's description (its notes live in the Document's entries)."""

    name: str
    program: int = 0
    is_drum: bool = False
    color: str = TRACK_COLORS[0]
    muted: bool = False
    soloed: bool = False
    program_changes: tuple[ProgramChange, ...] = ()   # later programs of the part (arco, pizz.)
    pedal: tuple[PedalSpan, ...] = ()   # the performer's sustain pedal (CC64), kept as read

    def as_track(self) -> Track:
        """A notes-free Track with this track's name, programs, drum flag and pedal."""
        return Track(self.name, self.program, self.is_drum, [], list(self.program_changes),
                     list(self.pedal))

    def changed(self, **fields: object) -> TrackInfo:
        return replace(self, **fields)


def default_color(index: int, is_drum: bool = False, used: Iterable[str] = ()) -> str:
    """A new track's colour: the palette's, from its index on, that the fewest of the `used`
    colours repeat (after a delete, no two tracks share one while the palette lasts)."""
    if is_drum:
        return DRUM_COLOR
    counts = Counter(used)
    count = len(TRACK_COLORS)
    return min((TRACK_COLORS[(index + k) % count] for k in range(count)),
               key=lambda color: counts[color])


def audible(tracks: list[TrackInfo]) -> list[bool]:
    """Which tracks are heard: the soloed ones when any is soloed, else the unmuted ones."""
    if any(track.soloed for track in tracks):
        return [track.soloed for track in tracks]
    return [not track.muted for track in tracks]


class TrackCommand(NoteEditCommand):
    """Replace the track list (and the note entries that change with it) as one step."""

    def __init__(self, document: Document, text: str, tracks_before: list[TrackInfo],
                 tracks_after: list[TrackInfo], before: dict[int, Entry | None],
                 after: dict[int, Entry | None], generated_before: dict[int, bool] | None = None,
                 generated_after: dict[int, bool] | None = None) -> None:
        super().__init__(document, text, before, after, generated_before, generated_after)
        self.tracks_before = list(tracks_before)
        self.tracks_after = list(tracks_after)

    def redo(self) -> None:
        self._document._set_tracks(self.tracks_after, lambda: super(TrackCommand, self).redo())

    def undo(self) -> None:
        self._document._set_tracks(self.tracks_before, lambda: super(TrackCommand, self).undo())


def deleting_track(notes: dict[int, Entry], generated: set[int], index: int
                   ) -> tuple[dict[int, Entry | None], dict[int, Entry | None], dict[int, bool]]:
    """The note diff of deleting track `index`: (before, after, generated flags before) of
    its notes (going) and of the later tracks' notes (one track down)."""
    before: dict[int, Entry | None] = {}
    after: dict[int, Entry | None] = {}
    flags = {}
    for note_id, (track, note) in notes.items():
        if track == index:
            before[note_id], after[note_id] = (track, note), None
            if note_id in generated:
                flags[note_id] = True
        elif track > index:
            before[note_id], after[note_id] = (track, note), (track - 1, note)
    return before, after, flags

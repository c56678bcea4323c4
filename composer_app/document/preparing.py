"""Turning a Score into the document's own state, checked and numbered, before it is installed.

`prepare_score` validates every note (`validate_note`, after mending what a file may get
wrong: silent or zero-length notes), numbers the notes with stable ids, describes the
tracks and keeps a notes-free copy of tempo and meter, as a `PreparedScore` that
`Document.load_score` installs. It touches no document, so the loader runs it on a worker
thread for a large file. `DocumentError` is the error every refused edit raises; it lives
here so that the preparation and the document share it (`document` re-exports it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from composer_app.document.commands import Entry
from composer_app.document.tracks import TrackInfo, default_color
from ml_core.music import (
    PITCH_MAX,
    PITCH_MIN,
    TICKS_PER_QUARTER,
    Note,
    Score,
    Track,
    bar_ticks,
    is_valid_time_signature,
)

DEFAULT_TRACK = Track("Piano", 0, False, [])
MIN_TEMPO, MAX_TEMPO = 10.0, 1000.0


class DocumentError(ValueError):
    """An edit the document refuses (a note outside MIDI's range, an unknown track...)."""


def validate_note(note: Note) -> Note:
    """The note itself when it is a playable MIDI note; DocumentError otherwise."""
    if not PITCH_MIN <= note.pitch <= PITCH_MAX:
        raise DocumentError(f"pitch {note.pitch} is outside MIDI's 0..127")
    if note.start < 0:
        raise DocumentError(f"note starts before the beginning (tick {note.start})")
    if note.duration < 1:
        raise DocumentError(f"note duration must be at least one tick, not {note.duration}")
    if not 1 <= note.velocity <= 127:
        raise DocumentError(f"velocity {note.velocity} is outside 1..127")
    return note


def _playable(note: Note) -> Note:
    """A file's note with what can be mended mended: silent or zero-length notes happen."""
    velocity = min(127, max(1, note.velocity))
    duration = max(1, note.duration)
    if (velocity, duration) == (note.velocity, note.duration):
        return note
    return note.moved(velocity=velocity, duration=duration)


@dataclass(frozen=True)
class PreparedScore:
    """A Score turned into the document's own state, ready to install (see `prepare_score`)."""

    notes: dict[int, Entry]
    next_id: int
    tracks: list[TrackInfo]
    active_track: int
    meta: Score             # notes-free: tempo, meter and their changes, keys, pickup
    repairs: tuple[str, ...] = ()   # what a lenient read mended in the file, one line each
    end_tick: int = 0       # where the last note ends (computed here, off the GUI thread)
    pitch_span: tuple[int, int] | None = None   # (lowest, highest) pitch; None without notes

    @property
    def note_count(self) -> int:
        return len(self.notes)


def prepare_score(score: Score, repairs: Iterable[str] = ()) -> PreparedScore:
    """Check and number a score's notes for `Document.load_score` (DocumentError when one is
    not playable). Touches no document, so a worker thread may run it for a large file.
    `repairs` lists what reading the file mended (shown when it opens)."""
    if score.ticks_per_quarter != TICKS_PER_QUARTER:
        score = score.resampled(TICKS_PER_QUARTER)
    notes: dict[int, Entry] = {}
    next_id = 1
    for track_index, track in enumerate(score.tracks):
        for note in track.notes:
            notes[next_id] = (track_index, validate_note(_playable(note)))
            next_id += 1
    tracks = [TrackInfo(t.name or f"Track {i + 1}", t.program, t.is_drum,
                        default_color(i, t.is_drum),
                        program_changes=tuple(t.program_changes), pedal=tuple(t.pedal))
              for i, t in enumerate(score.tracks)]
    tracks = tracks or [TrackInfo(DEFAULT_TRACK.name, DEFAULT_TRACK.program)]
    active = next((i for i, t in enumerate(tracks) if not t.is_drum), 0)
    meta = score.with_tracks([])   # tempo and meter maps, written keys, pickup
    end_tick = max((note.end for _, note in notes.values()), default=0)
    pitches = {note.pitch for _, note in notes.values()}
    span = (min(pitches), max(pitches)) if pitches else None
    return PreparedScore(notes, next_id, tracks, active, meta, tuple(repairs), end_tick, span)


def tracks_changed(tracks: list[TrackInfo], index: int,
                   fields: dict[str, object]) -> list[TrackInfo] | None:
    """The track list with track `index` changed by `fields` (for `TrackInfo.changed`), None
    when nothing changes; DocumentError for no such track or fields no track can have."""
    if not 0 <= index < len(tracks):
        raise DocumentError(f"there is no track {index}")
    if "name" in fields and not str(fields["name"]).strip():
        raise DocumentError("a track needs a name")
    if "program" in fields and not 0 <= int(fields["program"]) <= 127:
        raise DocumentError(f"GM programs are 0..127, not {fields['program']}")
    info = tracks[index].changed(**fields)
    return None if info == tracks[index] else tracks[:index] + [info] + tracks[index + 1:]


def tracks_without(tracks: list[TrackInfo], index: int) -> list[TrackInfo]:
    """The track list once track `index` is deleted; DocumentError when there is no such
    track or it is the last one."""
    if not 0 <= index < len(tracks):
        raise DocumentError(f"there is no track {index}")
    if len(tracks) == 1:
        raise DocumentError("a composition keeps at least one track")
    return tracks[:index] + tracks[index + 1:]


def checked_tempo(bpm: float) -> float:
    """`bpm` as a float; DocumentError outside MIN_TEMPO..MAX_TEMPO."""
    bpm = float(bpm)
    if not MIN_TEMPO <= bpm <= MAX_TEMPO:
        raise DocumentError(f"tempo must be between {MIN_TEMPO:g} and {MAX_TEMPO:g} BPM, "
                            f"not {bpm:g}")
    return bpm


def checked_time_signature(numerator: int, denominator: int) -> tuple[int, int]:
    """(numerator, denominator) as ints; DocumentError for a meter no score can hold."""
    signature = (int(numerator), int(denominator))
    if not is_valid_time_signature(*signature):
        raise DocumentError(f"{numerator}/{denominator} is not a valid time signature")
    return signature


def pickup_in_meter(meta: Score, signature: tuple[int, int]) -> int:
    """The pickup `meta` has once its meter becomes `signature`: the notes stay where they
    are, so a pickup keeps its first tick if the new bar holds it (else there is none)."""
    start, length = meta.music_start, bar_ticks(signature, meta.ticks_per_quarter)
    return length - start if meta.pickup_ticks and start < length else 0

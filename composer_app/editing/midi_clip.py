"""A piece of the document as a `.mid` file to drag into a DAW (Qt-free).

`clip_score` cuts the selected notes (or, with nothing selected, the whole accepted piece)
out of a document `Snapshot` as a Score that starts at the first selected bar, keeping
tempo, meter, key signature and each track's name and program; unaccepted continuation
notes never go out. `write_clip` writes it atomically (`ml_core.midi_io.write_midi`) into
a folder of the app, named after the document. The drag itself is `editing.drag_out`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ml_core.midi_io import write_midi
from ml_core.music import Score

if TYPE_CHECKING:   # importing this module loads no Qt
    from composer_app.document.snapshot import Snapshot

DRAG_FOLDER = Path(tempfile.gettempdir()) / "composer-assistant-drag"


class ClipError(ValueError):
    """Nothing can be dragged out; the message is one sentence for the status line."""


def clip_score(snapshot: Snapshot, selected: Iterable[int] = ()) -> tuple[Score, bool]:
    """(the Score to drag out, whether it is the selection). Selected notes start from the
    start of their first bar; without a selection the accepted piece keeps its own times."""
    selected = tuple(selected)
    chosen = {i for i in selected if i in snapshot.notes and i not in snapshot.generated}
    if selected and not chosen:
        raise ClipError("Only unaccepted notes are selected: accept the take first.")
    wanted = chosen or set(snapshot.notes) - snapshot.generated
    if not wanted:
        raise ClipError("There are no accepted notes to drag out.")
    tracks = [info.as_track() for info in snapshot.tracks]
    for note_id in wanted:
        track, note = snapshot.notes[note_id]
        tracks[track].notes.append(note)
    score = snapshot.meta.with_tracks([t for t in tracks if t.notes]).sort()
    if not chosen:
        return score, False
    first = min(note.start for note in score.notes())
    start = score.bar_start(score.bar_at(first)[0])
    return score.sliced(start, score.end_tick + 1, clip=False), True


def clip_file_name(document_name: str, is_selection: bool) -> str:
    """`Song - selection.mid` or `Song.mid` from the document's file name."""
    stem = Path(document_name).stem if document_name else ""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", stem).strip(" .") or "Untitled"
    return f"{stem} - selection.mid" if is_selection else f"{stem}.mid"


def write_clip(snapshot: Snapshot, selected: Iterable[int], document_name: str,
               folder: Path | None = None) -> Path:
    """Write the clip to drag out and return its path (raises ClipError or MidiFileError)."""
    score, is_selection = clip_score(snapshot, selected)
    folder = DRAG_FOLDER if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / clip_file_name(document_name, is_selection)
    write_midi(score, path)
    return path

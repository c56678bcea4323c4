"""Reading a music file without holding up the GUI: notation formats in a child process.

music21 parses MusicXML, ABC and Humdrum in pure Python, and parts of it (the XML parser,
deep copies) hold the interpreter lock for a second or more at a time: on a thread, the
window would freeze anyway. So notation files are read by a child Python process
(`python -m composer_app.document.reading PATH`), which also keeps a pathological file's
memory out of the app and makes Cancel immediate (the child is killed). MIDI files are
read by our own parser, which is fast and yields the lock often, on the calling thread;
it reads leniently (a data byte over 127 clamped, a truncated last track kept as far as
it goes) and lists each repair, so the app can open such a file and say what it mended.

The child sends back the Score compactly (each track's notes as one array of integers),
so the parent rebuilds it in small Python steps instead of one long unpickling call.
No Qt here: `read_score_cancellable` runs on a worker thread of the app.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

from ml_core.midi_io import MIDI_EXTENSIONS, MidiFileError, read_midi, read_score
from ml_core.music import Score
from ml_core.score_codec import score_from_dict, score_to_dict

POLL_S = 0.05   # how often the waiting thread looks at the cancel event


class ReadCancelled(Exception):
    """The read was cancelled before it finished."""


def _child_environment() -> dict[str, str]:
    """The child must import this package even when the app runs from a source folder."""
    root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    paths = [root] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def read_in_child(path: str | Path, cancel: threading.Event) -> Score:
    """`read_score(path, allow_empty=True)` in a child process; MidiFileError on a bad file,
    ReadCancelled (the child killed) once `cancel` is set."""
    name = Path(path).name
    process = subprocess.Popen(
        [sys.executable, "-m", "composer_app.document.reading", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=_child_environment())
    output = b""
    try:
        while True:
            if cancel.is_set():
                raise ReadCancelled(name)
            try:
                output, _ = process.communicate(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    try:
        kind, payload = pickle.loads(output)
    except Exception:   # killed by the system (memory), crashed, or printed garbage
        raise MidiFileError(f"{name}: the file could not be read (the reader stopped "
                            f"with code {process.returncode})") from None
    if kind == "error":
        raise MidiFileError(payload)
    if kind == "oserror":
        raise OSError(payload[0], payload[1])
    return score_from_dict(payload)


def read_score_cancellable(path: str | Path, cancel: threading.Event,
                           repairs: list[str] | None = None) -> Score:
    """Read any supported file (empty files allowed) so that the caller's thread never
    holds the interpreter lock for long; raises MidiFileError, OSError or ReadCancelled.
    With a `repairs` list a MIDI file is read leniently and each repair is appended there;
    when no note survives the repairs the file is refused as the strict reader refuses it."""
    if Path(path).suffix.lower() in MIDI_EXTENSIONS:
        mended: list[str] | None = [] if repairs is not None else None
        score = read_midi(path, allow_empty=True, warnings=mended)
        if mended and repairs is not None:
            if not any(track.notes for track in score.tracks):
                score = read_midi(path, allow_empty=True)   # raises: says what is wrong
            repairs.extend(mended)
    else:
        score = read_in_child(path, cancel)
    if cancel.is_set():
        raise ReadCancelled(Path(path).name)
    return score


def _child_main(path: str) -> int:
    # Only the result goes to the real stdout: anything music21 prints goes to stderr.
    result_stream = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        result = ("ok", score_to_dict(read_score(path, allow_empty=True), packed=True))
    except MidiFileError as error:
        result = ("error", str(error))
    except OSError as error:
        result = ("oserror", (error.errno or 0, error.strerror or str(error)))
    with result_stream:
        result_stream.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))

"""Take docs/screenshot-editor.png: the editor with a motif and a pending continuation.

Run under a real X server:
    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.screenshot_editor
"""

from __future__ import annotations

from docs.screenshot_common import EXAMPLES, ROOT, open_window, save_and_close
from ml_core.midi_io import read_midi
from ml_core.music import Note

OUTPUT = ROOT / "docs" / "screenshot-editor.png"
MOTIF = EXAMPLES / "c_major_4-4.mid"


def main() -> None:
    app, window = open_window(MOTIF, 1280, 760)
    canvas, document = window.canvas, window.document
    score = read_midi(MOTIF)
    end = score.next_bar_start(score.end_tick)
    # A pending continuation, as the Continue panel leaves it: the motif echoed a third up.
    echo = [Note(min(108, n.pitch + 4), end + n.start, n.duration, max(40, n.velocity - 15))
            for n in score.tracks[0].notes if n.start < end]
    document.add_generated(echo[:24])
    canvas.select_ids(sorted(document.notes())[:4])
    canvas.set_loop_range((0, end))
    canvas.set_playhead(score.bar_start(1) + 240)
    pitches = [n.pitch for _, n in document.notes().values()]
    canvas.view.scroll_to(0, (min(pitches) + max(pitches)) // 2)
    window.status(f"Opened {MOTIF.name} ({score.note_count} notes)")
    save_and_close(app, window, OUTPUT)


if __name__ == "__main__":
    main()

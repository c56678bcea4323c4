"""Screenshot of the editor at 1280x760 with a four-track piece (melody, chords, bass,
drums): the track panel, notes in their track colours, Continue and Sampling docked.

    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.screenshot_tracks
"""

from __future__ import annotations

import os

from docs.screenshot_common import ROOT, save_and_close
from ml_core.music import Note, Score, Track

BAR = 1920


def four_tracks() -> Score:
    melody = [Note(p, i * 240, 240, 90) for i, p in enumerate([72, 74, 76, 79, 77, 76, 74, 72] * 4)]
    chords = [Note(p, bar * BAR, BAR, 70) for bar, root in enumerate([60, 65, 67, 60])
              for p in (root, root + 4, root + 7)]
    bass = [Note(root - 24, bar * BAR + beat * 480, 480, 95)
            for bar, root in enumerate([60, 65, 67, 60]) for beat in range(4)]
    drums = [Note(36 if beat % 2 == 0 else 38, bar * BAR + beat * 480, 120, 100)
             for bar in range(4) for beat in range(4)]
    drums += [Note(42, tick, 60, 80) for tick in range(0, 4 * BAR, 240)]
    return Score([Track("Melody", 73, False, melody), Track("Chords", 0, False, chords),
                  Track("Bass", 33, False, bass), Track("Drums", 0, True, drums)], 110.0)


def main() -> None:
    import tempfile

    os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = tempfile.mkdtemp(prefix="screenshot-")
    from composer_app.app import build_main_window, create_application

    app = create_application()
    window = build_main_window(recover=False)
    window.resize(1280, 760)
    window.show()
    window.document.load_score(four_tracks())
    app.processEvents()
    window.canvas.view.scroll_to(0, 62)
    save_and_close(app, window, ROOT / "docs" / "screenshot-tracks.png")
    window.document.set_active_track(3)
    window2 = build_main_window(recover=False)
    window2.resize(1280, 760)
    window2.show()
    window2.document.load_score(four_tracks())
    window2.document.set_active_track(3)
    app.processEvents()
    window2.canvas.view.scroll_to(0, 44)
    save_and_close(app, window2, ROOT / "docs" / "screenshot-drums.png")


if __name__ == "__main__":
    main()

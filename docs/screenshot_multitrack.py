"""Take docs/screenshot-multitrack-continue.png and docs/screenshot-add-part.png (issue 42)
with a model that knows tracks (the remi_tracks tokenizer):

- the issue's two-track case, a 10-bar melody over a 13-bar bass: Continue on the melody
  (target "Active track") continues it in its own track and register from bar 11, the bass
  read as accompaniment;
- Generate > Add Part (bass) under an 8-bar melody: a new Bass track.

With the bundled `default-next` (no argument), or a trained bundle folder (config.json +
model.safetensors), linked into a throw-away user model folder for the picture only.

    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.screenshot_multitrack \\
        [/path/to/a/remi_tracks/bundle]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from docs.screenshot_common import ROOT, save_and_close
from ml_core.music import Note, Score, Track

Q = 480
BAR = 4 * Q


def melody_over_bass() -> Score:
    """A 10-bar melody (quarters and halves around C5) over a 13-bar bass (half notes,
    E2-B2): the case the issue found."""
    figure = [(72, 1), (74, 1), (76, 1), (79, 1), (77, 2), (76, 1), (74, 1)]
    melody, tick = [], 0
    while tick < 10 * BAR:
        for pitch, beats in figure:
            melody.append(Note(pitch - (tick // (2 * BAR)) % 2 * 3, tick, beats * Q - 20, 88))
            tick += beats * Q
    bass = [Note((40, 43, 45, 47)[i % 4], i * 2 * Q, 2 * Q, 75) for i in range(26)]
    return Score([Track("Melody", 73, False, melody), Track("Bass", 33, False, bass)],
                 110.0, (4, 4), Q)


def melody_only() -> Score:
    score = melody_over_bass()
    melody = [n for n in score.tracks[0].notes if n.start < 8 * BAR]
    return score.with_tracks([Track("Melody", 0, False, melody)])


def _wait(app, panel, seconds: float = 240.0) -> None:
    deadline = time.monotonic() + seconds
    while (panel.is_running() or panel.result() is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    print(panel.status_label.text())


def _window(app, score: Score, model: str):
    from composer_app.app import build_main_window
    from composer_app.continuation.panel import ContinuePanel

    window = build_main_window(recover=False)
    window.resize(1280, 760)
    window.show()
    window.document.load_score(score)
    panel = window.findChild(ContinuePanel)
    if not panel.model_panel.select(model):
        raise SystemExit(f"the model chooser does not list {model!r}")
    panel.sampling_panel.seed_lock.setChecked(True)
    panel.sampling_panel.seed.setValue(3)
    panel.sampling_panel.temperature.setValue(0.9)
    window.canvas.view.zoom_by(0.45)
    app.processEvents()
    return window, panel


def main() -> None:
    source = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None
    os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = tempfile.mkdtemp(prefix="screenshot-")
    from composer_app.app import create_application
    from composer_app.continuation.add_part import AddPartAction
    from composer_app.model.jobs import PartRequest
    from ml_core import paths

    model = "default-next"
    if source is not None:
        paths.user_models_dir().mkdir(parents=True, exist_ok=True)
        (paths.user_models_dir() / source.name).symlink_to(source, target_is_directory=True)
        model = source.name
    app = create_application()

    window, panel = _window(app, melody_over_bass(), model)
    window.document.set_active_track(0)
    panel.sampling_panel.bars.setValue(4)
    window.canvas.view.scroll_to(0, 80)
    panel.continue_()
    _wait(app, panel)
    window.canvas.view.scroll_to(6 * BAR, 62)   # both tracks: bars 7-14, E2 up to A5
    save_and_close(app, window, ROOT / "docs" / "screenshot-multitrack-continue.png")

    window, panel = _window(app, melody_only(), model)
    window.canvas.view.scroll_to(0, 80)
    AddPartAction(panel).run(PartRequest("bass", 33, "Bass", None))   # as the dialog's OK
    _wait(app, panel)
    window.canvas.view.scroll_to(0, 62)
    save_and_close(app, window, ROOT / "docs" / "screenshot-add-part.png")


if __name__ == "__main__":
    main()

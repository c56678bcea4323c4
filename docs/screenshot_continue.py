"""Take docs/screenshot-continue.png: the app as `make run` opens it (bundled default
model selected), after a Continue of an example motif with three variations.

Run under a real X server:
    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.screenshot_continue
"""

from __future__ import annotations

import time

from docs.screenshot_common import EXAMPLES, ROOT, open_window, save_and_close

OUTPUT = ROOT / "docs" / "screenshot-continue.png"
MOTIF = EXAMPLES / "a_minor_3-4.mid"


def continued(app, window, variations: int = 3, bars: int = 4, seed: int = 3):
    """The Continue panel after a Continue of the open motif (seed locked), once it ended."""
    from composer_app.continuation.panel import ContinuePanel

    panel = window.findChild(ContinuePanel)
    assert panel.model_panel.selected_bundle() is not None, "no bundled default model"
    panel.sampling_panel.variations.setValue(variations)
    panel.sampling_panel.bars.setValue(bars)
    panel.sampling_panel.seed_lock.setChecked(True)
    panel.sampling_panel.seed.setValue(seed)
    panel.continue_()
    deadline = time.monotonic() + 120
    while (panel.is_running() or panel.result() is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    return panel


def main() -> None:
    app, window = open_window(MOTIF, 1280, 760)
    continued(app, window)
    # the roll paged along with the notes; show the motif and its continuation together
    window.canvas.view.zoom_by(0.6)
    window.canvas.view.scroll_to(0, 62)
    save_and_close(app, window, OUTPUT)


if __name__ == "__main__":
    main()

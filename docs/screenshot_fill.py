"""Take docs/screenshot-fill.png: bars 3-4 of a six-bar piece filled (three variations),
the loop range dragged over them in the ruler, the Sampling panel's texture / density /
register controls beside. The bundled default learned no infilling yet, so a small model
is trained first, with ml_core.training, as the app's tests train theirs (a minute at most).

    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.screenshot_fill
"""

from __future__ import annotations

import time
from pathlib import Path

from docs.screenshot_common import ROOT, save_and_close

OUTPUT = ROOT / "docs" / "screenshot-fill.png"
BAR = 1920


def main() -> None:
    import os
    import shutil
    import tempfile

    os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = tempfile.mkdtemp(prefix="screenshot-")
    from ml_core import paths
    from tests.composer_app.continuation.continuation_helpers import (
        chord_bar,
        line_bar,
        train_steerable_bundle,
    )

    bundle = train_steerable_bundle(Path(tempfile.mkdtemp(prefix="fill-model-")), steps=240)
    shutil.copytree(bundle, paths.user_models_dir() / "steerable")

    from composer_app.app import build_main_window, create_application
    from composer_app.continuation.panel import ContinuePanel
    from ml_core.music import Score, Track

    app = create_application()
    window = build_main_window(recover=False)
    window.resize(1280, 760)
    window.show()
    notes = [n for bar, base in enumerate((60, 65, 62, 67, 64, 60))
             for n in (line_bar(bar, base) if bar % 2 == 0 else chord_bar(bar, base + 2))]
    window.document.load_score(Score([Track("Piano", 0, False, notes)], 100.0))
    panel = window.findChild(ContinuePanel)
    assert panel.model_panel.select("steerable")
    sampling = panel.sampling_panel
    sampling.variations.setValue(3)
    sampling.seed_lock.setChecked(True)
    sampling.seed.setValue(5)
    sampling.set_control("texture", 1)
    window.canvas.set_loop_range((2 * BAR, 4 * BAR))          # what a drag in the ruler does
    window.canvas.view.zoom_by(0.55)
    window.canvas.view.scroll_to(0, 62)
    panel.fill()
    deadline = time.monotonic() + 60
    while (panel.is_running() or panel.result() is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    panel.select_variation(1)
    save_and_close(app, window, OUTPUT)


if __name__ == "__main__":
    main()

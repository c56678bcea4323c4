"""What both screenshot scripts share: a fresh settings folder, the app's main window
opened on a motif exactly as `make run` builds it, and saving the grab."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "resources" / "examples"


def open_window(motif: Path, width: int, height: int):
    """(QApplication, MainWindow) with `motif` open; settings start fresh so the picture
    does not depend on this machine's last session."""
    os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = tempfile.mkdtemp(prefix="screenshot-")
    from composer_app.app import build_main_window, create_application

    app = create_application()
    window = build_main_window(motif, recover=False)
    window.resize(width, height)
    window.show()
    window.files.wait_until_opened()   # the file is read in the background: wait for it
    return app, window


def save_and_close(app, window, output: Path, settle_seconds: float = 0.6) -> None:
    """Let debounced updates (e.g. the key estimate, 300 ms after an edit) land, then grab."""
    deadline = time.monotonic() + settle_seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    window.grab().save(str(output))
    print(f"wrote {output}")
    window.document.load_score(window.document.score())  # nothing unsaved: close quietly
    window.close()

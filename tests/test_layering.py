"""ml_core and training_cli never import Qt; ml_core.music, midi_io, options (what the app's
GUI thread builds), score_codec and keys import no torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_NAMES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def test_no_qt_import_in_core_packages():
    offenders = []
    for package in ("ml_core", "training_cli"):
        for path in (ROOT / package).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                stripped = line.strip()
                if (stripped.startswith(("import ", "from "))
                    and any(q in stripped for q in QT_NAMES)):
                    offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []


def test_core_modules_do_not_pull_qt_or_torch_at_runtime():
    code = (
        "import sys, ml_core.music, ml_core.midi_io, ml_core.options, ml_core.score_codec, "
        "ml_core.keys\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

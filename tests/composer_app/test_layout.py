"""The window fits a 1280x760 screen: a real X server (xvfb-run), QT_QPA_PLATFORM unset.

The probe runs in its own process so the platform plugin is xcb, not this suite's offscreen.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("layout_probe.py")


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.skipif(shutil.which("xvfb-run") is None,
                    reason="xvfb-run is missing (scripts/setup.sh installs xvfb)")
def test_main_window_fits_1280x760_without_overlap_and_drawing_raises_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["COMPOSER_ASSISTANT_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x760x24", sys.executable, str(PROBE)],
        capture_output=True, text=True, timeout=180, env=env, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["platform"] == "xcb"
    assert report["minimum"][0] <= 1280 and report["minimum"][1] <= 760
    assert report["window"] == [1280, 760]
    docks = report["docks"]
    assert {"Tracks", "Continue"} <= {d["title"] for d in docks}
    for index, dock in enumerate(docks):
        assert dock["height"] >= 40, dock
        for other in docks[index + 1:]:
            assert not _overlap(dock, other), (dock, other)
    assert report["central_width"] >= 0.55 * 1280
    buttons = report["continue_buttons"]   # the Continue dock's buttons, variations included, whole
    assert {"Continue", "Fill", "Stop", "Re-roll", "Accept", "Audition", "<",
            ">"} <= {b["text"] for b in buttons}
    for button in buttons:
        assert button["width"] >= button["needed"] and button["inside"] and button["shown"], button
    assert report["notes"] == 1                       # the note was drawn
    assert report["errors"] == []                     # and no Python error on the way
    assert "Traceback" not in result.stderr and "QBackingStore" not in result.stderr

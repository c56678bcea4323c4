"""Take docs/screenshot-comping.png: after a Continue of an example motif with three
variations, a comp of them (bars from different variations, the comp strip under the
variation row), the scale of the key shaded on the roll and snap to scale on.

Run under a real X server:
    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.screenshot_comping
"""

from __future__ import annotations

from docs.screenshot_common import ROOT, open_window, save_and_close
from docs.screenshot_continue import MOTIF, continued

OUTPUT = ROOT / "docs" / "screenshot-comping.png"


def main() -> None:
    app, window = open_window(MOTIF, 1280, 760)
    panel = continued(app, window)
    session = panel.session
    assert session.can_comp(), "the continuation has fewer than two variations"
    first, end = session.span()
    for bar in range(first + 1, end):                 # bar 1 from variation 1, then 2, 3, ...
        session.set_bars([bar], (bar - first) % session.variation_count)
    window.snap_scale_action.trigger()
    pitches = [note.pitch for _, note in window.document.notes().values()]
    window.canvas.view.scroll_to(window.document.meter().bar_start(max(0, first - 1)),
                                 (min(pitches) + max(pitches)) // 2)   # the prompt and the comp
    print(f"comp: {session.comp.describe(window.document.meter())}")
    save_and_close(app, window, OUTPUT)


if __name__ == "__main__":
    main()

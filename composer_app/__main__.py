"""Entry point: `composer-assistant [FILE]` or `python -m composer_app [FILE]`."""

from __future__ import annotations

import argparse
import gc
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="composer-assistant",
                                     description="Draw a motif, let a model continue it, listen, "
                                     "export.")
    parser.add_argument("file", nargs="?", help="a MIDI, MusicXML, ABC or Humdrum file to open")
    args, qt_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)

    from composer_app.app import build_main_window, create_application
    from composer_app.workers.gui_gc import GuiThreadCollector

    app = create_application([sys.argv[0], *qt_args])
    # Cycles are collected on this (GUI) thread only: a worker must never destroy a widget.
    collector = GuiThreadCollector(app)
    window = build_main_window(args.file)
    window.show()
    gc.freeze()  # what start-up made (modules, the window) lives on: keep full collections cheap
    try:
        return app.exec()
    finally:
        collector.stop()


if __name__ == "__main__":
    sys.exit(main())

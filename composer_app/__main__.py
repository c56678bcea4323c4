"""Entry point: `composer-assistant [FILE]` or `python -m composer_app [FILE]`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="composer-assistant",
                                     description="Draw a motif, let a model continue it, listen, export.")
    parser.add_argument("file", nargs="?", help="a MIDI, MusicXML, ABC or Humdrum file to open")
    args, qt_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)

    from composer_app.app import build_main_window, create_application

    app = create_application([sys.argv[0], *qt_args])
    window = build_main_window(args.file)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

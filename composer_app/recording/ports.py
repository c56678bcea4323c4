"""MIDI input ports through mido's python-rtmidi backend, optional at import.

Without mido/python-rtmidi, or without the ALSA sequencer (a container, a server), the
functions say why in one sentence instead of raising, and the rest of the app works.
"""

from __future__ import annotations

from collections.abc import Callable

BACKEND = "mido.backends.rtmidi"


def _mido():
    try:
        import mido
    except ImportError:
        return None
    return mido


def input_names() -> tuple[list[str], str | None]:
    """(port names, None) or ([], why there are none, one sentence)."""
    mido = _mido()
    if mido is None:
        return [], "MIDI input needs the mido and python-rtmidi packages, which are not installed."
    try:
        names = list(mido.Backend(BACKEND).get_input_names())
    except Exception:   # ImportError of rtmidi, or rtmidi's SystemError without /dev/snd/seq
        return [], "MIDI input is not available on this system (no ALSA sequencer or MIDI driver)."
    if not names:
        return [], "No MIDI keyboard is connected."
    return names, None


def open_input(name: str, callback: Callable[[object], None]) -> object:
    """Open input port `name`; `callback(message)` runs on the backend's thread. The port has
    `close()`. Raises OSError with a one-line reason when it cannot be opened."""
    mido = _mido()
    if mido is None:
        raise OSError("mido is not installed")
    try:
        return mido.Backend(BACKEND).open_input(name, callback=callback)
    except Exception as error:
        raise OSError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None

"""MIDI input and output ports through mido's python-rtmidi backend, optional at import.

Without mido/python-rtmidi, or without the ALSA sequencer (a container, a server), the
functions say why in one sentence instead of raising, and the rest of the app works.
"""

from __future__ import annotations

from collections.abc import Callable

BACKEND = "mido.backends.rtmidi"
# Set once the backend failed to start: without rtmidi or an ALSA sequencer that lasts, and
# asking again would only print ALSA's complaint on stderr each time a port list is shown.
_backend_failed = False


def _mido():
    try:
        import mido
    except ImportError:
        return None
    return mido


def _names(direction: str, none_found: str) -> tuple[list[str], str | None]:
    mido = _mido()
    if mido is None:
        return [], (f"MIDI {direction} needs the mido and python-rtmidi packages, which are not "
                    f"installed.")
    global _backend_failed
    unavailable = (f"MIDI {direction} is not available on this system (no ALSA sequencer or "
                   f"MIDI driver).")
    if _backend_failed:
        return [], unavailable
    backend = mido.Backend(BACKEND)
    try:
        names = list(backend.get_input_names() if direction == "input"
                     else backend.get_output_names())
    except Exception:   # ImportError of rtmidi, or rtmidi's SystemError without /dev/snd/seq
        _backend_failed = True
        return [], unavailable
    if not names:
        return [], none_found
    return names, None


def input_names() -> tuple[list[str], str | None]:
    """(port names, None) or ([], why there are none, one sentence)."""
    return _names("input", "No MIDI keyboard is connected.")


def output_names() -> tuple[list[str], str | None]:
    """(output port names, None) or ([], why there are none, one sentence)."""
    return _names("output", "No MIDI output ports found.")


def open_input(name: str, callback: Callable[[object], None]) -> object:
    """Open input port `name`; `callback(message)` runs on the backend's thread. The port has
    `close()`. Raises OSError with a one-line reason when it cannot be opened."""
    return _open(lambda backend: backend.open_input(name, callback=callback))


def open_output(name: str) -> object:
    """Open output port `name` (it has `send(message)` and `close()`). Raises OSError with a
    one-line reason when it cannot be opened."""
    return _open(lambda backend: backend.open_output(name))


def _open(opener: Callable[[object], object]) -> object:
    mido = _mido()
    if mido is None:
        raise OSError("mido is not installed")
    try:
        return opener(mido.Backend(BACKEND))
    except Exception as error:
        raise OSError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None

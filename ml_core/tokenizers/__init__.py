"""Token schemes from the research, each in its own module, behind one registry.

    tokenizer = get_tokenizer("remi", beat_resolution=4)
    ids = tokenizer.encode(score); score = tokenizer.decode(ids)
    Tokenizer.from_dict(tokenizer.to_dict())  # -> equal tokenizer
"""

from __future__ import annotations

import importlib
from typing import Any

from ml_core.tokenizers.base import Grammar, Tokenizer, TokenizerConfig, TokenizerError, Vocab

_REGISTRY: dict[str, type[Tokenizer]] = {}


def register(cls: type[Tokenizer]) -> type[Tokenizer]:
    """Class decorator: make a scheme available to get_tokenizer() under `cls.name`."""
    previous = _REGISTRY.get(cls.name)
    if previous is not None and previous.__qualname__ != cls.__qualname__:
        raise TokenizerError(f"two tokenizers are registered as '{cls.name}'")
    _REGISTRY[cls.name] = cls
    return cls


# Modules whose import registers a scheme (see @register); one line per scheme module.
_SCHEME_MODULES: tuple[str, ...] = (
    "ml_core.tokenizers.remi",
    "ml_core.tokenizers.remi_tracks",
    "ml_core.tokenizers.bar_offset",
    "ml_core.tokenizers.midi_like",
    "ml_core.tokenizers.note_duration",
    "ml_core.tokenizers.chord_words",
)


def _load_schemes() -> None:
    for module in _SCHEME_MODULES:
        importlib.import_module(module)


def tokenizer_names() -> list[str]:
    _load_schemes()
    return sorted(_REGISTRY)


def get_tokenizer(name: str, **config: Any) -> Tokenizer:
    _load_schemes()
    if name not in _REGISTRY:
        raise TokenizerError(f"unknown tokenizer '{name}' (choose from "
                             f"{', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name].from_config_dict(config)


def from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `Tokenizer.to_dict()` output (as stored in a bundle)."""
    if not isinstance(data, dict) or "name" not in data:
        raise TokenizerError("tokenizer description has no 'name'")
    name = data["name"]
    from ml_core.tokenizers import frames  # frame representations (pianoroll, note_state)
    if name in frames.representation_names():
        return frames.representation_from_dict(data)
    _load_schemes()
    if name not in _REGISTRY:
        raise TokenizerError(f"unknown tokenizer '{name}'")
    return _REGISTRY[name].from_dict(data)


__all__ = ["Grammar", "Tokenizer", "TokenizerConfig", "TokenizerError", "Vocab",
           "get_tokenizer", "tokenizer_names", "from_dict", "register"]

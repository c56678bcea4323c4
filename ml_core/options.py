"""The options of a generation run, importable without torch.

`GenerationOptions` is what Continue and Fill are asked to do (length, sampling, key,
device, attribute controls); the app builds it on the GUI thread and hands it to its
worker typed, and `ml_core.generation` reads it. Nothing here imports torch or Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("auto", "torch", "numpy", "onnx")   # how a token model is stepped (models.stepping)
MOTIF_MODES = ("repeat", "develop", "free")   # how far Continue leans on the prompt's material
DEFAULT_MOTIF = "develop"   # chosen on bench/continuation_quality.py (docs/QUALITY.md)


class GenerationError(ValueError):
    """Generation cannot run (bad options, a prompt the model cannot read...)."""


@dataclass(frozen=True)
class GenerationOptions:
    bars: int = 8                          # continuation length in bars of the prompt's meter
    max_tokens: int | None = None          # hard cap on generated tokens (default: bars x 160)
    temperature: float = 1.0               # 0 = greedy
    top_k: int = 0                         # 0 = off
    top_p: float = 0.95                    # 1.0 = off; 0.95 keeps the new default in the key
                                           # (bench/continuation_quality.py; README)
    seed: int | None = None                # None = a fresh random seed (reported back)
    variations: int = 1                    # rows of one batch
    stay_in_key: bool = False              # mask pitches outside the key's scale
    key: tuple[int, str] | None = None     # (tonic pitch class, "major"|"minor"); None = estimate
    device: str = "auto"                   # auto | cpu | cuda | mps
    engine: str = "auto"                   # token models: auto | torch | numpy | onnx (Runtime)
    # Attribute controls (tokenizers with controls): None = follow the prompt's last bars,
    # "any" = leave it to the model, or a value forced on every new bar.
    texture: int | str | None = None       # notes per onset: 1 = a single line .. 4 = four or more
    density: float | str | None = None     # onsets per beat (0.5 = half notes in 4/4, 2 = eighths)
    register: int | str | None = None      # the bars' median MIDI pitch (60 = middle C)
    allow_overlap: bool = False            # let Continue start before the prompt's last notes end
    # Motif (ml_core.motif): "repeat" / "develop" lean on the prompt's own rhythms, figures
    # and bass (a logit bias while sampling, REMI models), "free" leaves it to the model.
    motif: str = DEFAULT_MOTIF

    def validated(self) -> GenerationOptions:
        if self.bars < 1 and self.max_tokens is None:
            raise GenerationError("bars must be at least 1")
        if self.variations < 1 or self.variations > 64:
            raise GenerationError("variations must be between 1 and 64")
        if self.temperature < 0:
            raise GenerationError("temperature must not be negative")
        if not 0 < self.top_p <= 1:
            raise GenerationError("top-p must be in (0, 1]")
        if self.top_k < 0:
            raise GenerationError("top-k must not be negative")
        if self.engine not in ENGINES:
            raise GenerationError(f"unknown engine {self.engine!r}: choose one of "
                                  f"{', '.join(ENGINES)}")
        if self.motif not in MOTIF_MODES:
            raise GenerationError(f"motif must be one of {', '.join(MOTIF_MODES)}, "
                                  f"got {self.motif!r}")
        if self.key is not None and (not 0 <= self.key[0] < 12
                                     or self.key[1] not in ("major", "minor")):
            raise GenerationError(f"bad key {self.key}")
        for name, low, high in (("texture", 1, 4), ("density", 0, 16), ("register", 0, 127)):
            value = getattr(self, name)
            if value is None or value == "any":
                continue
            if isinstance(value, str) or not low <= value <= high:
                raise GenerationError(f"{name} must be 'any', none (follow the prompt) or a number "
                                      f"from {low} to {high}, got {value!r}")
        return self

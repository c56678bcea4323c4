"""What a model can be asked (attribute controls, Fill) and the words the panels use for it.

Qt-free. `ModelAbilities.of(info)` reads a bundle's config.json (no weights): whether its
tokenizer has the REMI attribute controls (Texture/Density/Register after every bar) and
whether it learned the infilling objective (`ml_core.generation.trained_with_infilling`),
with a sentence saying why not when it cannot.

The control choices map to `GenerationOptions` values: None = follow the prompt (the value
`ml_core.sampling_rules.followed_controls` measures, shown next to the choice), "any" = leave
it to the model, or a number inside the bin the musician picked.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ml_core.pitch import pitch_name
from ml_core.tokenizers.remi_controls import (
    ANY,
    REGISTER_EDGES,
    density_bin,
    register_bin,
    texture_bin,
)

# (option value, label): the value is what GenerationOptions receives; it lies inside its bin.
TEXTURES: tuple[tuple[int, str], ...] = (
    (1, "single line"), (2, "2 voices"), (3, "3 voices"), (4, "4+ voices"))
DENSITIES: tuple[tuple[float, str], ...] = (
    (0.5, "sparse (half notes)"), (1.0, "calm (quarters)"), (2.0, "moving (eighths)"),
    (3.0, "busy (triplets)"), (4.0, "dense (sixteenths)"))
REGISTERS: tuple[tuple[int, str], ...] = tuple(
    (pitch, label) for pitch, label in zip(
        (REGISTER_EDGES[0] - 4, 51, 58, 65, 72, REGISTER_EDGES[-1] + 4),
        (f"very low (below {pitch_name(REGISTER_EDGES[0], sharps=True)})",
         *(f"{pitch_name(low, sharps=True)}-{pitch_name(high - 1, sharps=True)}"
           for low, high in zip(REGISTER_EDGES, REGISTER_EDGES[1:], strict=False)),
         f"high (from {pitch_name(REGISTER_EDGES[-1], sharps=True)})"), strict=True))
CONTROLS: dict[str, tuple[tuple[Any, str], ...]] = {
    "texture": TEXTURES, "density": DENSITIES, "register": REGISTERS}
BINNING = {"texture": texture_bin, "density": density_bin, "register": register_bin}
ANY_LABEL = "any (the model decides)"


def bin_label(name: str, value: int) -> str:
    """The words for a control bin (as `followed_controls` reports it)."""
    if value == ANY:
        return "nothing to follow"
    if name == "density" and value == 0:
        return "empty bars"
    for option, label in CONTROLS[name]:
        if BINNING[name](option) == value:
            return label
    return str(value)


@dataclass(frozen=True)
class ModelAbilities:
    """What the selected model can be asked; a reason (one sentence) where it cannot."""

    controls: bool = False
    fill: bool = False
    controls_reason: str = "Choose a model first."
    fill_reason: str = "Choose a model first."
    tokenizer: Any = None          # the bundle's tokenizer (cheap to build: no weights)
    tracks: bool = False           # it knows tracks (remi_tracks): Add part, parts in context

    @staticmethod
    def of(info: Any) -> ModelAbilities:
        if info is None:
            return ModelAbilities()
        config = info.config if isinstance(getattr(info, "config", None), dict) else {}
        name = getattr(info, "name", "this model")
        try:
            from ml_core.tokenizers import from_dict

            tokenizer = from_dict(config.get("tokenizer") or {})
        except Exception:  # an odd tokenizer description: the model still continues
            reason = f"The tokenizer of '{name}' could not be read."
            return ModelAbilities(False, False, reason, reason)
        from ml_core.generation import trained_with_infilling
        from ml_core.multitrack import knows_tracks

        controls = bool(getattr(tokenizer, "control_ids", None))
        tracks = knows_tracks(tokenizer)   # it fills one track's bars given the others
        fill = tracks or trained_with_infilling(SimpleNamespace(config=config,
                                                                tokenizer=tokenizer))
        return ModelAbilities(
            controls, fill,
            "" if controls else (f"'{name}' was trained without texture, density and register "
                                 "controls (train a REMI model with controls to steer them)."),
            "" if fill else (f"'{name}' was not trained to fill bars (train one with "
                             "`composer-train train --infill-rate 0.3`)."),
            tokenizer, tracks)

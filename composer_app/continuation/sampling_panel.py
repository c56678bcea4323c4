"""The sampling panel: how long to continue, how adventurous, how many variations.

Length in bars, temperature, top-k, top-p, variations, a seed with a lock (locked: every
Continue reuses the seed; unlocked: a new random seed on each Continue, shown in the box),
"stay in key" with the prompt's estimated key shown and overridable (24 keys), and what
the prompt is: the whole score, the selection, or everything up to the playhead.

Motif (repeat / develop / free, ml_core.motif): how much the continuation leans on the
prompt's own rhythms, figures and bass.

Texture, density and register (models trained with attribute controls): each follows the
prompt by default, showing the value it follows (measured by
`ml_core.sampling_rules.followed_controls`, as generation measures it), or takes a chosen
value; for a model without controls the three are disabled with a tooltip saying why.

`option_values()` gives the `GenerationOptions` keyword arguments as a plain dict;
`options()` builds the `GenerationOptions` itself (`ml_core.options`: no torch import on the
GUI thread), which a job carries typed.
"""

from __future__ import annotations

import random
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from composer_app.continuation.controls import ANY_LABEL, CONTROLS, ModelAbilities, bin_label
from composer_app.model.jobs import TARGETS
from ml_core.keys import key_name
from ml_core.options import DEFAULT_MOTIF, GenerationOptions

__all__ = ["KEYS", "SamplingPanel", "key_name"]

KEYS: tuple[tuple[int, str], ...] = tuple((tonic, mode) for mode in ("major", "minor")
                                          for tonic in range(12))
PROMPT_SOURCES = (("score", "Whole score"), ("selection", "Selection"),
                  ("playhead", "Up to the playhead"))
AFTER_PLAYHEAD = (("replace", "Replace what follows"), ("shift", "Shift what follows later"))
MAX_SEED = 2**31 - 1
MOTIF_CHOICES = (("develop", "Develop: its rhythms and figures, moved and varied"),
                 ("repeat", "Repeat: keep close to its rhythms and figures"),
                 ("free", "Free: the model alone"))

class SamplingPanel(QWidget):
    """Sampling controls; `changed` fires on any edit."""

    changed = Signal()
    key_changed = Signal()   # the key "stay in key" uses (`chosen_key`) may have changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._estimated_key: tuple[int, str] | None = None
        self.bars = QSpinBox(minimum=1, maximum=64, value=8)
        self.bars.setSuffix(" bars")
        self.temperature = QDoubleSpinBox(minimum=0.05, maximum=3.0, singleStep=0.05,
                                          decimals=2, value=1.0)
        self.temperature.setToolTip("Below 1: safer, more repetitive. Above 1: more surprising.")
        self.top_k = QSpinBox(minimum=0, maximum=1000, value=0)
        self.top_k.setSpecialValueText("off")
        self.top_k.setToolTip("Sample only among the k most likely tokens (0: off).")
        self.top_p = QDoubleSpinBox(minimum=0.01, maximum=1.0, singleStep=0.05, decimals=2,
                                    value=0.95)   # = GenerationOptions' default (a test checks)
        self.top_p.setToolTip("Sample among the most likely tokens covering this probability (1: "
                              "off).")
        self.variations = QSpinBox(minimum=1, maximum=8, value=1)
        self.seed = QSpinBox(minimum=0, maximum=MAX_SEED, value=random.randint(0, 99999))
        self.seed_lock = QToolButton(text="Lock", checkable=True)
        self.seed_lock.setToolTip("Locked: every Continue reuses this seed. "
                                  "Unlocked: a new seed each time.")
        self.stay_in_key = QCheckBox("Stay in key")
        # the product's promise: continuations keep the motif's key
        self.stay_in_key.setChecked(True)
        self.key = QComboBox()
        self.key.setToolTip("The key Continue stays in (and the roll shades)")
        self.key.addItem("Estimated from the prompt", None)
        for key in KEYS:
            self.key.addItem(key_name(key), key)
        self.key.setEnabled(True)
        self.key.currentIndexChanged.connect(self.key_changed)

        self.prompt_source = QComboBox()
        for value, label in PROMPT_SOURCES:
            self.prompt_source.addItem(label, value)
        self.target = QComboBox()
        for value, label in TARGETS:
            self.target.addItem(label, value)
        self.target.setToolTip("What Continue writes: the active track from its own end (the "
                               "others as context), or every audible track, each as itself")
        self.after_playhead = QComboBox()
        for value, label in AFTER_PLAYHEAD:
            self.after_playhead.addItem(label, value)
        self.after_playhead.setToolTip("Continuing up to the playhead inside the piece: what "
                                       "happens to the notes after the playhead")
        self.after_playhead.setEnabled(False)
        self.prompt_source.currentIndexChanged.connect(
            lambda _i: self.after_playhead.setEnabled(self.prompt_source_value() == "playhead"))

        # Attribute controls: combo data None = follow the prompt, "any", or a value.
        self.control_boxes: dict[str, QComboBox] = {}
        for name, choices in CONTROLS.items():
            box = QComboBox()
            box.addItem("Follow the prompt", None)
            for value, label in choices:
                box.addItem(label, value)
            box.addItem(ANY_LABEL, "any")
            box.currentIndexChanged.connect(self.changed)
            self.control_boxes[name] = box
        self.texture, self.density, self.register = (self.control_boxes[n] for n in CONTROLS)
        self.motif = QComboBox()
        for value, label in MOTIF_CHOICES:
            self.motif.addItem(label, value)
        self.motif.setCurrentIndex(self.motif.findData(DEFAULT_MOTIF))
        self.motif.setToolTip("How much the continuation reuses the prompt's own material: its bar "
                              "rhythms, its melodic figures (transposed along the scale) and its "
                              "bass")
        self.motif.currentIndexChanged.connect(self.changed)
        self._lay_out()
        self.abilities = ModelAbilities()
        self.set_abilities(self.abilities)

        self.stay_in_key.toggled.connect(self.key.setEnabled)
        for spin in (self.bars, self.top_k, self.variations, self.seed):
            spin.valueChanged.connect(self.changed)
        for spin in (self.temperature, self.top_p):
            spin.valueChanged.connect(self.changed)
        for combo in (self.key, self.prompt_source, self.target):
            combo.currentIndexChanged.connect(self.changed)
        self.stay_in_key.toggled.connect(self.changed)
        self.seed_lock.toggled.connect(self._on_lock)

    def _lay_out(self) -> None:
        """Two short controls a row, the long choices across: every control shows without
        scrolling in the Sampling dock of a 1280x760 window. What to write (length,
        controls, motif) comes before how adventurously."""
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setVerticalSpacing(2)
        grid.setHorizontalSpacing(6)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        seed = QHBoxLayout()
        seed.addWidget(self.seed, 1)
        seed.addWidget(self.seed_lock)
        # a seed is typed (or stepped with the arrow keys): no buttons, room for ten digits
        self.seed.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        rows = [(("Variations", self.variations), ("Length", self.bars)),
                *(((name.capitalize(), box),) for name, box in self.control_boxes.items()),
                (("Motif", self.motif),),
                (("Temperature", self.temperature), ("Top-p", self.top_p)),
                (("Top-k", self.top_k), ("Seed", seed)),
                ((self.stay_in_key, self.key),),
                (("Continue", self.target),),
                (("Prompt", self.prompt_source),),
                (("Music after", self.after_playhead),)]
        for row, pairs in enumerate(rows):
            for column, (label, field) in zip((0, 2), pairs, strict=False):
                if isinstance(label, str):
                    grid.addWidget(QLabel(label), row, column)
                    span = 3 if len(pairs) == 1 else 1
                else:   # a check box is its own label: it takes two columns
                    grid.addWidget(label, row, column, 1, 2)
                    column, span = column + 1, 2
                if isinstance(field, QHBoxLayout):
                    grid.addLayout(field, row, column + 1, 1, span)
                else:
                    grid.addWidget(field, row, column + 1, 1, span)
        grid.setRowStretch(len(rows), 1)
        for box in self.findChildren(QComboBox):   # long entries never widen the dock
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)

    # ------------------------------------------------------------ key
    def set_estimated_key(self, key: tuple[int, str] | None, source: str = "estimated") -> None:
        """Show the prompt's key in the first entry of the key box, saying where it comes
        from: the written key signature (`source` "written") or the estimator."""
        self._estimated_key = key
        if not key:
            text = "Estimated (empty prompt)"
        else:
            text = ("Key signature: " if source == "written" else "Estimated: ") + key_name(key)
        self.key.setItemText(0, text)
        self.key_changed.emit()

    def estimated_key(self) -> tuple[int, str] | None:
        return self._estimated_key

    def chosen_key(self) -> tuple[int, str] | None:
        """The key "stay in key" uses: the override if one is picked, else the estimate."""
        override = self.key.currentData()
        return tuple(override) if override else self._estimated_key

    # ------------------------------------------------------------ attribute controls
    def set_abilities(self, abilities: ModelAbilities) -> None:
        """Enable the controls for a model trained with them; otherwise disable them and
        say why in their tooltip."""
        self.abilities = abilities
        for name, box in self.control_boxes.items():
            box.setEnabled(abilities.controls)
            box.setToolTip(f"The {name} of the new bars: follow the prompt's last bars, or "
                           "choose one." if abilities.controls else abilities.controls_reason)

    def set_followed(self, followed: Any) -> None:
        """Show the values "follow the prompt" would force (a BarControls; None: unknown)."""
        for name, box in self.control_boxes.items():
            text = "Follow the prompt"
            if followed is not None and self.abilities.controls:
                text += f": {bin_label(name, getattr(followed, name))}"
            box.setItemText(0, text)

    def control_values(self) -> dict[str, Any]:
        """texture/density/register for `GenerationOptions` (None = follow the prompt)."""
        if not self.abilities.controls:
            return {name: None for name in self.control_boxes}
        return {name: box.currentData() for name, box in self.control_boxes.items()}

    def set_control(self, name: str, value: Any) -> None:
        """Choose a control value (None: follow the prompt); tests and settings use it."""
        box = self.control_boxes[name]
        index = 0 if value is None else box.findData(value)
        if index < 0:
            raise ValueError(f"no {name} choice {value!r}")
        box.setCurrentIndex(index)

    # ------------------------------------------------------------ seed
    def _on_lock(self, locked: bool) -> None:
        self.seed_lock.setText("Locked" if locked else "Lock")

    def seed_locked(self) -> bool:
        return self.seed_lock.isChecked()

    def next_seed(self, fresh: bool = False) -> int:
        """The seed for the next Continue: the shown one when locked (unless `fresh`), else
        a new random one, which is then shown."""
        if self.seed_locked() and not fresh:
            return self.seed.value()
        seed = random.randint(0, MAX_SEED)
        self.seed.setValue(seed)
        return seed

    # ------------------------------------------------------------ results
    def prompt_source_value(self) -> str:
        return self.prompt_source.currentData()

    def target_value(self) -> str:
        """"active" (the active track) or "all" (every audible pitched track)."""
        return self.target.currentData()

    def after_playhead_value(self) -> str:
        """"replace" or "shift": the notes after the playhead when continuing from it."""
        return self.after_playhead.currentData()

    def option_values(self, seed: int | None = None) -> dict[str, Any]:
        """`GenerationOptions` keyword arguments; the seed given or the shown one."""
        stay = self.stay_in_key.isChecked()
        return {
            "bars": self.bars.value(),
            "temperature": round(self.temperature.value(), 4),
            "top_k": self.top_k.value(),
            "top_p": round(self.top_p.value(), 4),
            "seed": self.seed.value() if seed is None else seed,
            "variations": self.variations.value(),
            "stay_in_key": stay,
            "key": self.chosen_key() if stay else None,
            "motif": self.motif.currentData(),
            **self.control_values(),
        }

    def options(self, seed: int | None = None, device: str = "auto") -> GenerationOptions:
        """The `GenerationOptions` these controls describe."""
        return GenerationOptions(**self.option_values(seed), device=device)

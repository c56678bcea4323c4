"""The results study's groups of models, the papers' own figures, and the colours of its
pictures: constants the plan, the text and the plots share.
"""

from __future__ import annotations

PAPER_NLL = {"lstm-symbolic": 1.425, "transformer-symbolic": 1.237}  # nats/token, full training


PROMPT_COLOUR, CONTINUATION_COLOUR = "#4c72b0", "#dd8452"


CURVE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2")


GROUPS = {
    "symbolic": "LSTM vs Transformer (\"Symbolic Music Generation with Deep Learning Techniques\")",
    "deep-dive": "LSTMs vs Transformer (\"A Deep Dive into Music Generation\")",
    "sequential": "RNN vs LSTM vs LSTM with attention (\"Music generation with sequential "
    "models\")",
    "making-music": "\"Making Music with LSTMs\"",
    "deep-musician": "\"Deep Musician\"",
    "representation": "the same Transformer on four token representations",
    "symbolic-tuning": "the pair's Transformer with another learning rate or batch size",
}


# one learning-curve plot each
CURVE_GROUPS = ("symbolic", "deep-dive", "sequential", "symbolic-tuning")


# the variants beside the pair
CURVE_MEMBERS = {"symbolic-tuning": ("symbolic", "symbolic-tuning")}


REPRESENTATIONS = {"bar_offset": "transformer-symbolic", "remi": "transformer-remi",
                   "midi_like": "transformer-midi_like",
                   "note_duration": "transformer-note_duration"}

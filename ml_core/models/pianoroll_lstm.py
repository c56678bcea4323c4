"""Piano-roll LSTM: the "one-hot" model of "A Deep Dive...". Each time step is an
88-key on/off vector (or 88 x 2 [sustain, onset] with channels=2); a linear embedding, stacked LSTM
and feed-forward head give one logit per key for the next step (sigmoid per key, trained with binary
cross-entropy).
The incremental state is the LSTM's (h, c); its top-layer h is the last output, so the
next frame's logits can be recomputed from the state alone when sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ml_core.models.base import (
    FeedForwardHead,
    FrameModel,
    ModelConfig,
    check_frames,
    frame_shape,
)
from ml_core.models.lstm import LSTMState, LSTMTrunk, select_lstm_state
from ml_core.sampling import sample_keys

KEYS = 88


@dataclass(frozen=True)
class PianorollLSTMConfig(ModelConfig):
    channels: int = 1                   # 1: (88,) frames; 2: (88, 2) [sustain, onset]
    embedding_dim: int = 128            # Deep Dive simple: 128 (complex: 512)
    hidden_size: int = 512              # simple: 512 (complex: 1024)
    num_layers: int = 1                 # simple: 1 (complex: 2)
    fc_sizes: tuple[int, ...] = ()      # complex: (512,)
    lstm_dropout: float = 0.0           # complex: .3
    fc_dropout: float = 0.0             # complex: .5
    layer_norm: bool = False            # complex: True

    def validate(self) -> None:
        self._positive("channels", "embedding_dim", "hidden_size", "num_layers")
        self._positive_items("fc_sizes")
        self._probability("lstm_dropout", "fc_dropout")


class PianorollLSTMModel(FrameModel):
    arch = "pianoroll_lstm"
    config_class = PianorollLSTMConfig

    def __init__(self, config: PianorollLSTMConfig) -> None:
        super().__init__(config)
        self.feature_shape = frame_shape(KEYS, config.channels)
        features = KEYS * config.channels
        self.embedding = nn.Linear(features, config.embedding_dim)
        self.trunk = LSTMTrunk(config.embedding_dim, config.hidden_size, config.num_layers,
                               config.lstm_dropout)
        self.head = FeedForwardHead(config.hidden_size, config.fc_sizes, features,
                                    dropout=config.fc_dropout, layer_norm=config.layer_norm)

    def forward(self, frames: torch.Tensor, state: LSTMState | None = None
                ) -> tuple[torch.Tensor, LSTMState]:
        check_frames(frames, self.feature_shape)
        batch, length = frames.shape[:2]
        flat = frames.float().reshape(batch, length, -1)                  # (B, T, 88*channels)
        hidden, state = self.trunk(self.embedding(flat), state)           # (B, T, hidden)
        return self.head(hidden).view(frames.shape), state                # (B, T, *features)

    def _sample_from_state(self, state: Any, temperature: float,
                           generator: torch.Generator | None) -> torch.Tensor:
        logits = self.head(state[0][-1])                                  # (B, 88*channels)
        logits = logits.view(-1, *self.feature_shape)
        return sample_keys(logits, temperature, generator)

    def select_state(self, state: Any, rows: torch.Tensor) -> LSTMState:
        return select_lstm_state(state, rows)

"""GRU encoder-decoder of "Deep Musician": piano roll of 88 keys, encoder GRU (2 x 512,
dropout .2), decoder GRU (2 x 512, dropout .2), classifier 512 -> 256 (ReLU, dropout .5)
-> 88 with a sigmoid per key (the sigmoid lives in the loss / sampler; we return logits).

How it steps incrementally. In the report the encoder reads the input roll, its final
hidden state starts the decoder, and the decoder produces the next frame. Here that
happens at every position t at once: the encoder reads frames 0..t (the state after
frame t is its per-layer hidden state), and the decoder takes one step from that hidden
state with the last frame t as its input (the report's "previous output"), giving the
logits of frame t+1. Because the encoder layers are run one at a time over the whole
window, the per-layer hidden state at every t is available, so training is one parallel
pass; generation feeds each sampled frame through the encoder (one step) and decodes one
step from there. The state is (encoder hidden (layers, B, hidden), last frame). With
channels=2 each frame is 88 x [sustain, onset], flattened to 176 inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ml_core.models.base import (
    FrameModel,
    ModelConfig,
    check_frames,
    frame_shape,
    select_rows,
)
from ml_core.sampling import sample_keys

KEYS = 88
# (encoder hidden (layers, B, H), last frame flattened (B, 88 * channels))
GRUState = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class GRUSeq2SeqConfig(ModelConfig):
    channels: int = 1               # 1: (88,) frames; 2: (88, 2) [sustain, onset]
    hidden_size: int = 512          # encoder and decoder GRUs
    num_layers: int = 2
    classifier_size: int = 256
    gru_dropout: float = 0.2        # between GRU layers
    classifier_dropout: float = 0.5

    def validate(self) -> None:
        self._positive("channels", "hidden_size", "num_layers", "classifier_size")
        self._probability("gru_dropout", "classifier_dropout")


class GRUSeq2SeqModel(FrameModel):
    arch = "gru_seq2seq"
    config_class = GRUSeq2SeqConfig

    def __init__(self, config: GRUSeq2SeqConfig) -> None:
        super().__init__(config)
        self.feature_shape = frame_shape(KEYS, config.channels)
        self.features = features = KEYS * config.channels
        hidden = config.hidden_size
        # One GRU per encoder layer so every layer's hidden state at every step is kept.
        self.encoder = nn.ModuleList(
            nn.GRU(features if layer == 0 else hidden, hidden, batch_first=True)
            for layer in range(config.num_layers))
        self.encoder_dropout = nn.Dropout(config.gru_dropout)
        self.decoder = nn.GRU(features, hidden, config.num_layers, batch_first=True,
                              dropout=config.gru_dropout if config.num_layers > 1 else 0.0)
        self.classifier = nn.Sequential(
            nn.Linear(hidden, config.classifier_size), nn.ReLU(),
            nn.Dropout(config.classifier_dropout), nn.Linear(config.classifier_size, features))

    def _encode(self, frames: torch.Tensor, hidden: torch.Tensor | None) -> torch.Tensor:
        """Per-layer encoder hidden states after every frame: (layers, B, T, H)."""
        states = []
        x = frames
        for index, layer in enumerate(self.encoder):
            start = hidden[index:index + 1].contiguous() if hidden is not None else None
            x, _ = layer(x if index == 0 else self.encoder_dropout(x), start)  # (B, T, H)
            states.append(x)
        return torch.stack(states)

    def _decode(self, hidden: torch.Tensor, last_frames: torch.Tensor) -> torch.Tensor:
        """One decoder step from each hidden state (layers, N, H) with input (N, features)."""
        output, _ = self.decoder(last_frames.unsqueeze(1), hidden.contiguous())  # (N, 1, H)
        return self.classifier(output.squeeze(1))                                # (N, features)

    def forward(self, frames: torch.Tensor, state: GRUState | None = None
                ) -> tuple[torch.Tensor, GRUState]:
        check_frames(frames, self.feature_shape)
        batch, length = frames.shape[:2]
        frames = frames.float().reshape(batch, length, self.features)
        encoded = self._encode(frames, state[0] if state is not None else None)  # (L, B, T, H)
        layers = encoded.shape[0]
        hidden = encoded.reshape(layers, batch * length, -1)
        logits = self._decode(hidden, frames.reshape(batch * length, self.features))
        return (logits.view(batch, length, *self.feature_shape),
                (encoded[:, :, -1], frames[:, -1]))

    def _sample_from_state(self, state: Any, temperature: float,
                           generator: torch.Generator | None) -> torch.Tensor:
        hidden, last_frame = state
        logits = self._decode(hidden, last_frame).view(-1, *self.feature_shape)
        return sample_keys(logits, temperature, generator)

    def select_state(self, state: Any, rows: torch.Tensor) -> GRUState:
        return select_rows(state[0], rows, 1), select_rows(state[1], rows, 0)

"""Plain (Elman, tanh) RNN token model: the first model of "Music generation with
sequential models" (hidden 512, a linear layer from the hidden state to the vocabulary).
The report feeds one-hot vectors; an embedding is the same thing as a one-hot vector
times a weight matrix, only cheaper. The incremental state is the RNN's hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ml_core.models.base import ModelConfig, SequenceModel, check_tokens, select_rows


@dataclass(frozen=True)
class RNNConfig(ModelConfig):
    vocab_size: int
    embedding_dim: int = 128
    hidden_size: int = 512      # the report's tuned hidden size
    num_layers: int = 1
    dropout: float = 0.0        # on every RNN layer's output

    def validate(self) -> None:
        self._positive("vocab_size", "embedding_dim", "hidden_size", "num_layers")
        self._probability("dropout")


class RNNModel(SequenceModel):
    arch = "rnn"
    kind = "token"
    config_class = RNNConfig

    def __init__(self, config: RNNConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.rnn = nn.RNN(config.embedding_dim, config.hidden_size, config.num_layers,
                          nonlinearity="tanh", batch_first=True,
                          dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        check_tokens(tokens, self.config.vocab_size)
        hidden, state = self.rnn(self.embedding(tokens), state)  # (B, T, hidden)
        return self.output(self.dropout(hidden)), state           # (B, T, V)

    def select_state(self, state: Any, rows: torch.Tensor) -> torch.Tensor:
        return select_rows(state, rows, 1)  # (layers, B, hidden)

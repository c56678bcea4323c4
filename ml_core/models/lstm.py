"""Token LSTM: embedding -> stacked LSTM -> feed-forward head -> next-token logits.

Covers the LSTMs of the research: "Symbolic Music Generation..." (emb 64, 2x LSTM 512,
FC 1024 + FC 512 with LayerNorm + ReLU, dropout .5 on both LSTM outputs and both FC
outputs: 4,426,457 parameters at vocab 153) and "A Deep Dive..." (simple: emb 128,
1x512, no FC; complex: emb 512, 2x1024, FC 512, dropout .3 around the LSTM and .5 in
the FC, LayerNorm). The incremental state is the LSTM's (h, c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ml_core.models.base import (
    FeedForwardHead,
    ModelConfig,
    SequenceModel,
    check_tokens,
    select_rows,
)

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (layers, B, hidden)


@dataclass(frozen=True)
class LSTMConfig(ModelConfig):
    vocab_size: int
    embedding_dim: int = 64             # "Symbolic Music Generation": 64
    hidden_size: int = 512              # both papers: 512 (Deep Dive complex: 1024)
    num_layers: int = 2
    fc_sizes: tuple[int, ...] = (1024, 512)  # hidden FC layers before the output layer
    embedding_dropout: float = 0.0      # Deep Dive complex: .3 before the LSTM
    lstm_dropout: float = 0.5           # on every LSTM layer's output
    fc_dropout: float = 0.5             # after each hidden FC layer
    layer_norm: bool = True             # LayerNorm before each FC ReLU

    def validate(self) -> None:
        self._positive("vocab_size", "embedding_dim", "hidden_size", "num_layers")
        self._positive_items("fc_sizes")
        self._probability("embedding_dropout", "lstm_dropout", "fc_dropout")


class LSTMTrunk(nn.Module):
    """Stacked LSTM with dropout on every layer's output (nn.LSTM's own dropout covers
    the outputs between layers, a Dropout after it covers the last one)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: LSTMState | None) -> tuple[torch.Tensor, LSTMState]:
        output, state = self.lstm(x, state)  # (B, T, hidden)
        return self.dropout(output), state


def select_lstm_state(state: LSTMState, rows: torch.Tensor) -> LSTMState:
    return select_rows(state[0], rows, 1), select_rows(state[1], rows, 1)


class LSTMModel(SequenceModel):
    arch = "lstm"
    kind = "token"
    config_class = LSTMConfig

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.trunk = LSTMTrunk(config.embedding_dim, config.hidden_size, config.num_layers,
                               config.lstm_dropout)
        self.head = FeedForwardHead(config.hidden_size, config.fc_sizes, config.vocab_size,
                                    dropout=config.fc_dropout, layer_norm=config.layer_norm)

    def forward(self, tokens: torch.Tensor, state: LSTMState | None = None
                ) -> tuple[torch.Tensor, LSTMState]:
        check_tokens(tokens, self.config.vocab_size)
        x = self.embedding_dropout(self.embedding(tokens))  # (B, T, emb)
        hidden, state = self.trunk(x, state)                  # (B, T, hidden)
        return self.head(hidden), state                       # (B, T, V)

    def select_state(self, state: Any, rows: torch.Tensor) -> LSTMState:
        return select_lstm_state(state, rows)

"""The vocabulary model of "Making Music with LSTMs": BiLSTM -> self-attention -> LSTM ->
dense -> softmax over note/chord/rest words, reading a fixed window of the last W words.

The report's final sizes: BiLSTM 512, LSTM 256, dropout .3 after both, sequences of 50
words, RMSprop at 1e-4 (the article it follows used 1024 / 512 / dense 256). The
attention layer is self-attention over the BiLSTM outputs of the window; we score pairs
with a learned bilinear form (projected query . projected key, scaled) rather than the
article's additive units, which would need (windows x W x W x units) memory.

`forward(tokens)` gives at each position t the prediction from the window ending at t;
the first W-1 positions see a window left-padded with a learned "nothing yet" id
(vocab_size). The incremental state is simply the last W-1 token ids (B, W-1), so
stepping equals the full pass exactly. Cost: each position runs the whole window, so a
full pass over T tokens does T window passes. So it trains as the report did (Keras-style
windows of 50 words -> the next one): one target per training window, the window's last,
and scorers hand each window the ids before it (`context_window`, `window_state`), so that
no window mid-piece is read as if the piece began there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ml_core.models.base import ModelConfig, SequenceModel, check_tokens, select_rows


@dataclass(frozen=True)
class BiLSTMAttentionConfig(ModelConfig):
    vocab_size: int
    window: int = 50            # "Sequence Length 50"
    embedding_dim: int = 64
    bilstm_size: int = 512      # per direction ("Hidden 1 Dim 512")
    attention_size: int = 64
    lstm_size: int = 256        # "Hidden 2 Dim 256"
    dense_size: int = 256
    dropout: float = 0.3        # "Dropout near 30%"

    def validate(self) -> None:
        self._positive("vocab_size", "window", "embedding_dim", "bilstm_size",
                       "attention_size", "lstm_size", "dense_size")
        self._probability("dropout")


class BiLSTMAttentionModel(SequenceModel):
    arch = "bilstm_attention"
    kind = "token"
    config_class = BiLSTMAttentionConfig

    def __init__(self, config: BiLSTMAttentionConfig) -> None:
        super().__init__(config)
        self.pad_id = config.vocab_size  # the extra "before the start" embedding row
        self.embedding = nn.Embedding(config.vocab_size + 1, config.embedding_dim)
        self.bilstm = nn.LSTM(config.embedding_dim, config.bilstm_size, batch_first=True,
                              bidirectional=True)
        features = 2 * config.bilstm_size
        self.query = nn.Linear(features, config.attention_size, bias=False)
        self.key = nn.Linear(features, config.attention_size, bias=False)
        self.lstm = nn.LSTM(features, config.lstm_size, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.dense = nn.Linear(config.lstm_size, config.dense_size)
        self.output = nn.Linear(config.dense_size, config.vocab_size)

    @property
    def context_window(self) -> int:
        return self.config.window

    def window_state(self, preceding: torch.Tensor) -> torch.Tensor:
        needed = self.config.window - 1
        if preceding.shape[1] < needed:
            raise ValueError(f"the state needs the {needed} ids before the window, got "
                             f"{preceding.shape[1]}")
        state = preceding[:, preceding.shape[1] - needed:].long()
        return state.masked_fill(state < 0, self.pad_id)

    def _window_logits(self, windows: torch.Tensor) -> torch.Tensor:
        """Next-token logits (N, V) for N windows of W ids (N, W)."""
        hidden, _ = self.bilstm(self.embedding(windows))          # (N, W, 2*bilstm)
        hidden = self.dropout(hidden)
        scores = self.query(hidden) @ self.key(hidden).transpose(1, 2)
        weights = torch.softmax(scores / math.sqrt(self.config.attention_size), dim=-1)
        attended = weights @ hidden                               # (N, W, 2*bilstm)
        output, _ = self.lstm(attended)
        last = self.dropout(output[:, -1])                        # (N, lstm)
        return self.output(self.dropout(torch.relu(self.dense(last))))

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        check_tokens(tokens, self.config.vocab_size)
        batch, length = tokens.shape
        window = self.config.window
        if state is None:
            state = torch.full((batch, window - 1), self.pad_id, dtype=torch.long,
                               device=tokens.device)
        sequence = torch.cat([state, tokens.long()], dim=1)        # (B, W-1+T)
        windows = sequence.unfold(1, window, 1)                     # (B, T, W)
        logits = self._window_logits(windows.reshape(batch * length, window))
        return logits.view(batch, length, -1), sequence[:, length:].clone()

    def select_state(self, state: Any, rows: torch.Tensor) -> torch.Tensor:
        return select_rows(state, rows, 0)

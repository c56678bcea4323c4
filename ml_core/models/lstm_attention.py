"""LSTM with feed-forward attention (Raffel & Ellis) over its own hidden states, the third
model of "Music generation with sequential models".

At step t every hidden state so far gets a score e_k = v . tanh(W h_k + b) (W is
hidden x attention_size, 512 x 512 in the report); the context c_t is the softmax(e)-
weighted mean of h_1..h_t, and [c_t, h_t] goes through a linear layer to the logits.

Incremental state: the LSTM's (h, c) plus a running summary of the hidden states seen so
far: their attention-weighted mean (the last context) and the log-sum-exp of their
scores. Attending over that one summary entry (score = log-sum-exp) and the new hidden
states gives exactly the softmax over all stored hidden states, so a step costs O(1)
instead of O(t) and the state stays small however long the piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ml_core.models.base import ModelConfig, SequenceModel, check_tokens, select_rows
from ml_core.models.lstm import LSTMState, LSTMTrunk, select_lstm_state

# (LSTM (h, c), log-sum-exp of scores so far (B, 1), context so far (B, hidden))
AttentionState = tuple[LSTMState, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LSTMAttentionConfig(ModelConfig):
    vocab_size: int
    embedding_dim: int = 128
    hidden_size: int = 512      # the report keeps the RNN/LSTM's 512
    num_layers: int = 1
    attention_size: int = 512   # W_a is 512 x 512 in the report
    dropout: float = 0.0        # on the LSTM output and before the output layer

    def validate(self) -> None:
        self._positive("vocab_size", "embedding_dim", "hidden_size", "num_layers",
                       "attention_size")
        self._probability("dropout")


class LSTMAttentionModel(SequenceModel):
    arch = "lstm_attention"
    kind = "token"
    config_class = LSTMAttentionConfig

    def __init__(self, config: LSTMAttentionConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.trunk = LSTMTrunk(config.embedding_dim, config.hidden_size, config.num_layers,
                               config.dropout)
        self.attention_projection = nn.Linear(config.hidden_size, config.attention_size)
        self.attention_vector = nn.Linear(config.attention_size, 1, bias=False)
        self.output_dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, config.vocab_size)

    def forward(self, tokens: torch.Tensor, state: AttentionState | None = None
                ) -> tuple[torch.Tensor, AttentionState]:
        check_tokens(tokens, self.config.vocab_size)
        batch, length = tokens.shape
        lstm_state, previous_lse, previous_context = (
            state if state is not None else (None, None, None))
        hidden, lstm_state = self.trunk(self.embedding(tokens), lstm_state)  # (B, L, H)
        scores = self.attention_vector(torch.tanh(self.attention_projection(hidden)))
        scores = scores.squeeze(-1)                                           # (B, L)
        if previous_lse is None:
            previous_lse = scores.new_full((batch, 1), float("-inf"))
            previous_context = hidden.new_zeros((batch, hidden.shape[-1]))
        # Key 0 is the summary of everything before this call; key j > 0 is hidden[:, j-1].
        key_scores = torch.cat([previous_lse, scores], dim=1)                 # (B, L+1)
        values = torch.cat([previous_context.unsqueeze(1), hidden], dim=1)   # (B, L+1, H)
        future = torch.ones(length, length + 1, dtype=torch.bool, device=tokens.device)
        future = future.triu(diagonal=2)                                      # key j > i+1
        weights = key_scores.unsqueeze(1).masked_fill(future, float("-inf"))  # (B, L, L+1)
        context = torch.softmax(weights, dim=-1) @ values                     # (B, L, H)
        logits = self.output(self.output_dropout(torch.cat([context, hidden], dim=-1)))
        lse = torch.logsumexp(key_scores, dim=1, keepdim=True)                # (B, 1)
        return logits, (lstm_state, lse, context[:, -1])

    def select_state(self, state: Any, rows: torch.Tensor) -> AttentionState:
        lstm_state, lse, context = state
        return (select_lstm_state(lstm_state, rows), select_rows(lse, rows, 0),
                select_rows(context, rows, 0))

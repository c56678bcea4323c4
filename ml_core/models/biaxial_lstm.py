"""Bi-axial LSTM over a note-state matrix ("Making Music with LSTMs", after Johnson's
tied parallel networks): frames of 78 notes x [play, articulate].

1. Each note's input at each step is built from the frame ("note state expand"): its
   position on the keyboard, its pitch class (one-hot 12), the play/articulate bits of
   the notes within an octave either side (25 x 2), how many notes of each pitch class
   (relative to its own) are playing (12), and the beat (step mod 16 in 4 bits, +-1).
2. Time axis: one LSTM, the same weights for every note, reads each note's inputs
   across time (the 78 notes are batch rows).
3. Note axis: at each step an LSTM walks up the 78 notes; its input at note n is the time
   axis output for n plus the [play, articulate] already chosen for note n-1 in the next
   frame. A linear layer gives the two logits of note n.

So logits[:, t] predict frame t+1 given frames <= t and frame t+1's lower notes. In
`forward` those lower notes come from `next_frames` (default: the input frames shifted by
one, i.e. teacher forcing; the last position then sees a silent next frame, so use
logits[:, :-1] for training). Generation samples note by note: `sample_next` walks the
note axis drawing play, then articulate (only for a played note), for each note in turn.
The state is the time-axis (h, c) over B x 78 rows and the absolute step (for the beat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ml_core.models.base import FrameModel, ModelConfig, check_frames, select_rows
from ml_core.sampling import sample_keys

NOTES = 78            # MIDI 24..101, as in Johnson's note-state matrix
VICINITY = 12         # notes either side whose state each note sees
BEAT_BITS = 4         # steps per bar = 16 = 2 ** 4
INPUT_SIZE = 1 + 12 + 2 * (2 * VICINITY + 1) + 12 + BEAT_BITS


@dataclass
class BiaxialState:
    time: tuple[torch.Tensor, torch.Tensor]  # time-axis (h, c), each (layers, B*78, hidden)
    step: int                                 # absolute step of the next frame


@dataclass(frozen=True)
class BiaxialLSTMConfig(ModelConfig):
    time_hidden_size: int = 36      # the report's time-axis hidden size
    time_layers: int = 2
    note_hidden_size: int = 36
    note_layers: int = 2
    dropout: float = 0.2            # between LSTM layers

    def validate(self) -> None:
        self._positive("time_hidden_size", "time_layers", "note_hidden_size", "note_layers")
        self._probability("dropout")


class BiaxialLSTMModel(FrameModel):
    arch = "biaxial_lstm"
    config_class = BiaxialLSTMConfig
    feature_shape = (NOTES, 2)

    def __init__(self, config: BiaxialLSTMConfig) -> None:
        super().__init__(config)
        self.time_lstm = nn.LSTM(INPUT_SIZE, config.time_hidden_size, config.time_layers,
                                 batch_first=True,
                                 dropout=config.dropout if config.time_layers > 1 else 0.0)
        self.note_lstm = nn.LSTM(config.time_hidden_size + 2, config.note_hidden_size,
                                 config.note_layers, batch_first=True,
                                 dropout=config.dropout if config.note_layers > 1 else 0.0)
        self.output = nn.Linear(config.note_hidden_size, 2)
        notes = torch.arange(NOTES)
        constant = torch.cat([(notes / (NOTES - 1)).unsqueeze(1),
                              F.one_hot(notes % 12, 12).float()], dim=1)        # (78, 13)
        self.register_buffer("constant_features", constant, persistent=False)
        relative = (torch.arange(12).unsqueeze(0) + notes.unsqueeze(1)) % 12   # (78, 12)
        self.register_buffer("relative_classes", relative, persistent=False)
        self.register_buffer("class_of_note", F.one_hot(notes % 12, 12).float(),
                             persistent=False)

    def note_features(self, frames: torch.Tensor, first_step: int) -> torch.Tensor:
        """Per-note inputs (B, T, 78, INPUT_SIZE) of frames (B, T, 78, 2)."""
        batch, length = frames.shape[:2]
        padded = F.pad(frames, (0, 0, VICINITY, VICINITY))                     # (B, T, 102, 2)
        vicinity = padded.unfold(2, 2 * VICINITY + 1, 1)                        # (B, T, 78, 2, 25)
        vicinity = vicinity.reshape(batch, length, NOTES, -1)
        counts = frames[..., 0] @ self.class_of_note                            # (B, T, 12)
        relative_counts = counts[:, :, self.relative_classes]                   # (B, T, 78, 12)
        steps = torch.arange(first_step, first_step + length, device=frames.device)
        bits = (steps.unsqueeze(1) >> torch.arange(BEAT_BITS, device=frames.device)) & 1
        beat = (bits.float() * 2 - 1).view(1, length, 1, BEAT_BITS)
        constant = self.constant_features.view(1, 1, NOTES, -1)
        return torch.cat([constant.expand(batch, length, -1, -1), vicinity, relative_counts,
                          beat.expand(batch, -1, NOTES, -1)], dim=-1)

    def _time_axis(self, frames: torch.Tensor, state: BiaxialState | None
                   ) -> tuple[torch.Tensor, BiaxialState]:
        batch, length = frames.shape[:2]
        step = state.step if state is not None else 0
        features = self.note_features(frames, step)                             # (B, T, 78, F)
        rows = features.permute(0, 2, 1, 3).reshape(batch * NOTES, length, INPUT_SIZE)
        output, time_state = self.time_lstm(rows, state.time if state is not None else None)
        output = output.view(batch, NOTES, length, -1).permute(0, 2, 1, 3)    # (B, T, 78, Ht)
        return output, BiaxialState(time_state, step + length)

    def forward(self, frames: torch.Tensor, state: BiaxialState | None = None,
                next_frames: torch.Tensor | None = None) -> tuple[torch.Tensor, BiaxialState]:
        check_frames(frames, self.feature_shape)
        frames = frames.float()
        batch, length = frames.shape[:2]
        if next_frames is None:
            next_frames = torch.cat([frames[:, 1:], frames.new_zeros(batch, 1, NOTES, 2)], dim=1)
        check_frames(next_frames, self.feature_shape)
        time_output, state = self._time_axis(frames, state)
        below = F.pad(next_frames.float(), (0, 0, 1, 0))[:, :, :NOTES]           # note n-1's bits
        note_input = torch.cat([time_output, below], dim=-1)                    # (B, T, 78, Ht+2)
        note_output, _ = self.note_lstm(note_input.reshape(batch * length, NOTES, -1))
        logits = self.output(note_output).view(batch, length, NOTES, 2)
        return logits, state

    def _sample_from_state(self, state: Any, temperature: float,
                           generator: torch.Generator | None) -> torch.Tensor:
        hidden = state.time[0][-1]                                              # (B*78, Ht)
        batch = hidden.shape[0] // NOTES
        time_output = hidden.view(batch, NOTES, -1)
        frame = hidden.new_zeros(batch, NOTES, 2)
        previous = hidden.new_zeros(batch, 2)
        note_state = None
        for note in range(NOTES):
            note_input = torch.cat([time_output[:, note], previous], dim=-1).unsqueeze(1)
            output, note_state = self.note_lstm(note_input, note_state)
            logits = self.output(output[:, 0])                                  # (B, 2)
            play = sample_keys(logits[:, 0], temperature, generator)
            articulate = sample_keys(logits[:, 1], temperature, generator) * play
            previous = torch.stack([play, articulate], dim=-1)
            frame[:, note] = previous
        return frame

    def select_state(self, state: Any, rows: torch.Tensor) -> BiaxialState:
        # The time axis has B*78 rows, note-major within each batch row.
        rows = rows.to(state.time[0].device)
        note_rows = (rows.unsqueeze(1) * NOTES + torch.arange(NOTES, device=rows.device)).flatten()
        h, c = state.time
        return BiaxialState((select_rows(h, note_rows, 1), select_rows(c, note_rows, 1)),
                            state.step)

"""Named model + training-recipe presets, each reproducing a configuration of the research
(see docs/PRESETS.md for the table and the paper each one comes from).

    preset = get_preset("transformer-symbolic-4.3m")
    model = preset.build(vocab_size=tokenizer.vocab_size)
    preset.optimizer, preset.lr, preset.schedule, preset.window ...

`hparams` never holds `vocab_size`: token models take it from the tokenizer at build time.
Where a paper is silent (optimizer or LR of "A Deep Dive...", sizes of our small
presets), the value is our choice and `paper` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_core.models import build_model, model_kind
from ml_core.models.base import ModelConfigError, SequenceModel

SYMBOLIC = "Symbolic Music Generation with Deep Learning Techniques (ffsgfy, 2023)"
DEEP_DIVE = "A Deep Dive into Music Generation with Modern Deep Learning Architectures (Rao, Xie)"
SEQUENTIAL = "Music generation with sequential models (CS230-style report, MAESTRO)"
DEEP_MUSICIAN = "Deep Musician (Gabelberger)"
MAKING_MUSIC = "Making Music with LSTMs (Cha, Dias, Kaudan)"


@dataclass(frozen=True)
class Preset:
    name: str
    arch: str
    hparams: dict[str, Any]
    tokenizer: str                    # tokenizer or frame representation name
    paper: str                        # the report it reproduces (or "ours: ...")
    optimizer: str = "adam"           # adamax | adam | adamw | rmsprop
    lr: float = 1e-3
    schedule: str = "constant"        # constant | exp-decay
    decay: float = 1.0                # LR factor per epoch (exp-decay)
    min_lr: float = 0.0               # exp-decay floor
    window: int = 257                 # tokens (frames) per training window, inputs + 1
    epoch_fraction: float = 1.0       # share of the training windows in one "epoch"
    batch_size: int = 32
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    expected_parameters: int | None = None  # at `expected_vocab_size`, as the paper reports
    expected_vocab_size: int | None = None
    description: str = ""

    @property
    def kind(self) -> str:
        return model_kind(self.arch)

    @property
    def dropout(self) -> float:
        """The largest dropout rate among the hparams (the recipe's headline dropout)."""
        rates = [v for k, v in self.hparams.items() if "dropout" in k]
        return max(rates, default=0.0)

    def model_hparams(self, vocab_size: int | None = None) -> dict[str, Any]:
        """The hparams for `build_model`, with vocab_size for token models."""
        hparams = dict(self.hparams)
        if self.kind == "token":
            if vocab_size is None:
                raise ModelConfigError(f"preset '{self.name}' needs the tokenizer's vocab_size")
            hparams["vocab_size"] = vocab_size
        return hparams

    def build(self, vocab_size: int | None = None) -> SequenceModel:
        return build_model(self.arch, **self.model_hparams(vocab_size))

    def recipe(self) -> dict[str, Any]:
        """The training recipe as a plain dict (stored in a bundle's `training`)."""
        return {"preset": self.name, "optimizer": self.optimizer, "lr": self.lr,
                "schedule": self.schedule, "decay": self.decay, "min_lr": self.min_lr,
                "window": self.window, "epoch_fraction": self.epoch_fraction,
                "batch_size": self.batch_size, "dropout": self.dropout,
                "tokenizer": self.tokenizer, "paper": self.paper}


_SYMBOLIC_LSTM = dict(embedding_dim=64, hidden_size=512, num_layers=2, fc_sizes=(1024, 512),
                      embedding_dropout=0.0, lstm_dropout=0.5, fc_dropout=0.5, layer_norm=True)
_SYMBOLIC_TRANSFORMER = dict(d_model=256, num_layers=8, num_heads=16, ff_size=512, context=256,
                             positions="relative", max_relative_distance=239, realformer=True,
                             norm="post", final_norm=False, tie_embeddings=False,
                             activation="relu", dropout=0.5)
# The app's bundled default: 2.5M parameters at vocab 248, >1000 tokens/s on 2 CPU cores.
# Three layers, not four: better after the same training (validation NLL 0.882 vs 0.916
# after 730 steps on the Bach chorales) and 1.5x faster to step on a CPU.
_DEFAULT_TRANSFORMER = dict(d_model=256, num_layers=3, num_heads=8, ff_size=1024, context=512,
                            positions="rope", realformer=False, norm="pre", final_norm=True,
                            tie_embeddings=False, activation="gelu", dropout=0.1)

_ALL = [
    Preset("lstm-symbolic-4.4m", "lstm", _SYMBOLIC_LSTM, "bar_offset", SYMBOLIC,
           optimizer="adamax", lr=5e-4, schedule="exp-decay", decay=0.8, min_lr=5e-5,
           window=257, epoch_fraction=0.02, batch_size=8,
           expected_parameters=4_426_457, expected_vocab_size=153,
           description="emb 64, 2x LSTM 512, FC 1024 + FC 512 (LN + ReLU), dropout .5"),
    Preset("transformer-symbolic-4.3m", "transformer", _SYMBOLIC_TRANSFORMER, "bar_offset",
           SYMBOLIC, optimizer="adamax", lr=1e-3, schedule="constant", window=257,
           epoch_fraction=0.02, batch_size=8,
           expected_parameters=4_326_041, expected_vocab_size=153,
           description="8 post-LN layers d 256, 16 heads, FF 512, relative positions "
                       "(max distance 239, per layer, shared by heads), RealFormer"),
    Preset("lstm-deepdive-simple", "lstm",
           dict(embedding_dim=128, hidden_size=512, num_layers=1, fc_sizes=(),
                embedding_dropout=0.0, lstm_dropout=0.0, fc_dropout=0.0, layer_norm=False),
           "remi", DEEP_DIVE + "; optimizer/LR not stated, ours: Adam 1e-3",
           window=513, batch_size=32, description="emb 128, 1x LSTM 512, one output layer"),
    Preset("lstm-deepdive-complex", "lstm",
           dict(embedding_dim=512, hidden_size=1024, num_layers=2, fc_sizes=(512,),
                embedding_dropout=0.3, lstm_dropout=0.3, fc_dropout=0.5, layer_norm=True),
           "remi", DEEP_DIVE + "; optimizer/LR not stated, ours: Adam 1e-3",
           window=513, batch_size=32,
           description="emb 512, 2x LSTM 1024, FC 512 (LN), dropout .3 around the LSTM, .5 FC"),
    Preset("transformer-deepdive-12x1024", "transformer",
           dict(d_model=1024, num_layers=12, num_heads=8, ff_size=2048, context=512,
                positions="absolute", realformer=False, norm="post", final_norm=False,
                tie_embeddings=False, activation="relu", dropout=0.1),
           "remi", DEEP_DIVE + "; optimizer/LR not stated, ours: AdamW 1e-4",
           optimizer="adamw", lr=1e-4, window=513, batch_size=8,
           description="12 post-LN layers d 1024, 8 heads, FF 2048, windows of 512"),
    Preset("default", "transformer", _DEFAULT_TRANSFORMER, "remi",
           "ours: fast CPU transformer (recipe after " + SYMBOLIC + ")",
           # windows of the whole context: a model trained on 256 reads worse, not better,
           # past that (the shipped ones, trained so, generate from 256: `max_context`)
           optimizer="adamw", lr=1e-3, window=513, epoch_fraction=0.02, batch_size=8,
           description="3 pre-LN layers d 256, 8 heads, FF 1024, rotary positions, window 512"),
    Preset("lstm-default", "lstm",
           dict(embedding_dim=128, hidden_size=512, num_layers=2, fc_sizes=(512,),
                embedding_dropout=0.0, lstm_dropout=0.3, fc_dropout=0.3, layer_norm=True),
           "remi", "ours: LSTM counterpart of 'default' (recipe after " + SYMBOLIC + ")",
           optimizer="adamax", lr=5e-4, schedule="exp-decay", decay=0.8, min_lr=5e-5,
           window=257, epoch_fraction=0.02, batch_size=16,
           description="emb 128, 2x LSTM 512, FC 512 (LN), ~3.6M parameters"),
    Preset("rnn", "rnn", dict(embedding_dim=128, hidden_size=512, num_layers=1, dropout=0.0),
           "note_duration", SEQUENTIAL, optimizer="adam", lr=1e-3, window=129, batch_size=64,
           description="tanh RNN 512, linear output"),
    Preset("lstm-attention", "lstm_attention",
           dict(embedding_dim=128, hidden_size=512, num_layers=1, attention_size=512,
                dropout=0.0),
           "note_duration", SEQUENTIAL, optimizer="adam", lr=1e-3, window=129, batch_size=64,
           description="LSTM 512 + feed-forward attention (W_a 512x512), [c_t, h_t] -> output"),
    Preset("bilstm-attention", "bilstm_attention",
           dict(window=50, embedding_dim=64, bilstm_size=512, attention_size=64, lstm_size=256,
                dense_size=256, dropout=0.3),
           "chord_words", MAKING_MUSIC, optimizer="rmsprop", lr=1e-4, window=51, batch_size=50,
           description="BiLSTM 512, self-attention, LSTM 256, dense 256, dropout .3"),
    Preset("pianoroll-lstm", "pianoroll_lstm",
           dict(channels=1, embedding_dim=128, hidden_size=512, num_layers=1, fc_sizes=(),
                lstm_dropout=0.0, fc_dropout=0.0, layer_norm=False),
           "pianoroll", DEEP_DIVE + "; optimizer/LR not stated, ours: Adam 1e-3",
           window=257, batch_size=32, description="88-key roll, emb 128, LSTM 512"),
    Preset("gru-seq2seq", "gru_seq2seq",
           dict(channels=1, hidden_size=512, num_layers=2, classifier_size=256,
                gru_dropout=0.2, classifier_dropout=0.5),
           "pianoroll", DEEP_MUSICIAN + "; LR not stated, ours: Adam 1e-4 (\"lowering the "
           "learning rate helped\")", lr=1e-4, window=97, batch_size=32,
           description="GRU encoder 2x512, GRU decoder 2x512, classifier 512-256-88"),
    Preset("biaxial-lstm", "biaxial_lstm",
           dict(time_hidden_size=36, time_layers=2, note_hidden_size=36, note_layers=2,
                dropout=0.2),
           "note_state", MAKING_MUSIC + "; optimizer not stated, ours: Adam 1e-3",
           window=129, batch_size=16,
           description="time-axis LSTM 2x36 over 78 notes, note-axis LSTM 2x36, 128 steps"),
]

PRESETS: dict[str, Preset] = {preset.name: preset for preset in _ALL}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ModelConfigError(
            f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return PRESETS[name]

"""The training loop behind `composer-train train`.

Random windows from the training shards; an "epoch" is `epoch_fraction` of all windows
(the symbolic-music report's 2 %); validation NLL on fixed windows after every epoch; the
best model by validation NLL saved as a bundle the app lists; atomic checkpoints every N
steps, so `--resume` continues after a kill at exactly the step it had reached.

Every batch is drawn from a generator seeded by (seed, rank, step) and dropout is seeded
the same way, so a resumed run sees the very batches an uninterrupted one would have,
without saving any random state. Under `torchrun` the loop runs DistributedDataParallel
(gloo on CPU, nccl on GPU); each rank draws its own windows and rank 0 alone writes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml_core import checkpoint as checkpoints
from ml_core import objectives
from ml_core.acceleration import (
    autocast,
    fastest,
    has_recurrent_layers,
    machine_description,
    make_optimizer,
    measure_precisions,
    precision_candidates,
    resolve_precision,
    should_compile,
)
from ml_core.data import Batch, Dataset, WindowSampler, collection_weights, load_dataset
from ml_core.distributed import DistributedContext
from ml_core.evaluation import plot_loss_curve
from ml_core.losses import (
    FRAME_LOSSES,
    IGNORE_INDEX,
    TOKEN_LOSSES,
    LossConfig,
    class_weights_from_counts,
    frame_bce_sums,
    frame_loss,
    token_loss,
    token_nll_sums,
)
from ml_core.models.base import preceding_ids, window_logits

LOSS_CURVE_FILE = "loss_curve.png"


class TrainingInterrupted(Exception):
    """Ctrl+C during training; a checkpoint was saved first."""

    def __init__(self, step: int, folder: Path) -> None:
        super().__init__(f"interrupted at step {step}; resume with --resume (checkpoint in "
                         f"{folder})")
        self.step = step


@dataclass
class TrainOptions:
    """What `composer-train train` was asked; None means "the preset's value, else the default"."""

    data: Path
    out: str
    arch: str | None = None
    preset: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    schedule: str | None = None
    decay: float | None = None
    min_lr: float | None = None
    window: int | None = None
    epoch_fraction: float | None = None
    loss: str = "ce"
    last_n: int = 1
    focal_gamma: float = 2.0
    device: str = "auto"
    precision: str = "auto"       # auto: bf16 where the hardware has bf16 matrix units
    compile: str = "auto"         # torch.compile the step: auto, on, off
    resume: bool = False
    seed: int = 0
    patience: int | None = None
    checkpoint_every: int = 100
    max_steps: int | None = None
    num_workers: int = 0
    threads: int | None = None    # CPU threads (default: the cores / processes on this machine)
    grad_clip: float = 1.0        # max gradient norm
    log_every: int = 20           # steps between metrics.jsonl step records
    max_val_windows: int = 256    # keeps each validation pass to seconds on a CPU
    description: str = ""
    balance: str = "none"         # "collections": every collection an equal share of the windows
    balance_weights: dict[str, float] = field(default_factory=dict)  # collection -> share weight
    # share of windows turned into bar-infilling examples (ml_core.objectives)
    infill_rate: float = 0.0
    init_from: str | None = None  # a bundle whose weights start the model (ml_core.chain)
    # linear LR warm-up (default: 200 steps with init_from, else none)
    warmup_steps: int | None = None


@dataclass(frozen=True)
class Recipe:
    """The resolved training recipe, stored in the bundle's model card."""

    arch: str
    hparams: dict[str, Any]
    optimizer: str = "adamax"       # the symbolic-music report: Adamax, default settings
    lr: float = 1e-3                # its Transformer's flat rate
    schedule: str = "constant"      # or exp-decay (its LSTM: 5e-4 x0.8 per epoch down to 5e-5)
    decay: float = 0.8
    min_lr: float = 1e-4
    window: int = 256               # inputs; + 1 shifted target = its windows of 257
    epoch_fraction: float = 0.02    # an "epoch" is 2 % of all windows (full epochs overfit)
    batch_size: int = 8             # its batch size
    epochs: int = 20
    preset: str | None = None
    paper: str | None = None
    # steps of linear learning-rate warm-up from the run's first step
    warmup: int = 0
    init_from: str | None = None    # the bundle the weights started from


INIT_WARMUP_STEPS = 200             # a fresh optimizer on trained weights: a short warm-up


def _preset_value(preset: Any, name: str) -> Any:
    """A preset's field, in our units: its `window` counts inputs + 1 target (257), ours inputs."""
    value = getattr(preset, name, None) if preset is not None else None
    if name == "window" and value is not None:
        value -= 1
    return value


class _CardRecipe:
    """The recipe in a bundle's model card, read like a preset (`train --init-from B` alone
    trains B's architecture on B's recipe); its window already counts inputs only."""

    def __init__(self, folder: str) -> None:
        from ml_core import bundle

        config = bundle.read_config(bundle.resolve(folder))
        recipe = dict((config.get("training") or {}).get("recipe") or {})
        self.arch = config["arch"]
        self.hparams = {k: v for k, v in config["hparams"].items() if k != "vocab_size"}
        for name in ("optimizer", "lr", "schedule", "decay", "min_lr",
                     "epoch_fraction", "batch_size",
                     "epochs", "paper"):
            setattr(self, name, recipe.get(name))
        self.window = recipe["window"] + 1 if recipe.get("window") else None


def resolve_recipe(options: TrainOptions, dataset: Dataset | None = None) -> Recipe:
    """Command-line values win over the preset's (or, with only --init-from, the bundle's
    own recipe), which win over Recipe's defaults."""
    preset = None
    if options.preset:
        from ml_core.models.presets import get_preset

        preset = get_preset(options.preset)
    elif options.init_from and not options.arch:
        preset = _CardRecipe(options.init_from)
    arch = options.arch or _preset_value(preset, "arch")
    if not arch:
        raise ValueError("give --model ARCH or --preset NAME")
    defaults = Recipe(arch=arch, hparams={})
    values: dict[str, Any] = {}
    for name in ("optimizer", "lr", "schedule", "decay", "window", "epoch_fraction",
                 "batch_size", "epochs"):
        explicit = getattr(options, name)
        chosen = explicit if explicit is not None else _preset_value(preset, name)
        values[name] = chosen if chosen is not None else getattr(defaults, name)
    schedule = ({"exp": "exp-decay", "exponential": "exp-decay"}.get(values["schedule"],
                                                                     values["schedule"]))
    if schedule not in ("constant", "exp-decay"):
        raise ValueError(f"unknown schedule '{values['schedule']}' (choose constant or exp-decay)")
    min_lr = options.min_lr
    if min_lr is None:
        preset_floor = _preset_value(preset, "min_lr")
        min_lr = preset_floor if preset_floor and options.lr is None else values["lr"] / 10
    # Another architecture than the preset's keeps the preset's recipe (optimizer, LR, window,
    # batch) but not its model sizes: those belong to the preset's architecture.
    same_arch = preset is not None and arch == preset.arch
    preset_hparams = (_preset_value(preset, "hparams") or {}) if same_arch else {}
    warmup = options.warmup_steps
    if warmup is None:
        warmup = INIT_WARMUP_STEPS if options.init_from else 0
    if warmup < 0:
        raise ValueError("--warmup-steps must be 0 or more")
    recipe = Recipe(arch=arch, hparams={**preset_hparams, **options.hparams},
                    **{**values, "schedule": schedule}, min_lr=min_lr, preset=options.preset,
                    paper=_preset_value(preset, "paper"), warmup=warmup,
                    init_from=options.init_from)
    for name in ("lr", "epoch_fraction", "decay"):
        if not getattr(recipe, name) > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    for name in ("window", "batch_size", "epochs"):
        if getattr(recipe, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if options.threads is not None and options.threads < 1:
        raise ValueError("--threads must be at least 1")
    return recipe


@dataclass
class LoopState:
    step: int = 0
    epoch: int = 0                  # completed epochs
    tokens_seen: int = 0
    best_val_nll: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    wall_seconds: float = 0.0
    epoch_loss_sum: float = 0.0     # running training loss of the current epoch
    epoch_loss_steps: int = 0
    finished: bool = False
    stopped_early: bool = False


@dataclass
class TrainResult:
    bundle_path: Path
    best_val_nll: float | None
    steps: int
    epochs: int
    tokens_seen: int
    seconds: float
    resumed_from: int | None
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)


def output_folder(out: str) -> Path:
    """A bare name goes to the user models folder (so the app lists it); a path stays a path."""
    from ml_core.paths import user_models_dir

    if not out or out in (".", ".."):
        raise ValueError("--out needs a model name or folder")
    if "/" in out or os.sep in out or out.startswith("~"):
        return Path(out).expanduser()
    return user_models_dir() / out


def pick_device(requested: str, context: DistributedContext) -> torch.device:
    if requested not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"unknown device '{requested}' (choose auto, cpu, cuda or mps)")
    if requested == "auto":
        requested = ("cuda" if torch.cuda.is_available()
                     else "mps" if torch.backends.mps.is_available() else "cpu")
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA GPU is available")
        return torch.device("cuda", context.local_rank % torch.cuda.device_count())
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps: Apple's MPS is not available")
    return torch.device(requested)


def learning_rate(recipe: Recipe, epoch: int, step: int | None = None) -> float:
    """Flat, or decaying x`decay` per epoch down to `min_lr` (the report's LSTM recipe);
    during the first `recipe.warmup` steps ramped up linearly from lr / warmup."""
    rate = recipe.lr if recipe.schedule == "constant" else max(recipe.lr * recipe.decay ** epoch,
                                                               recipe.min_lr)
    if recipe.warmup and step is not None and step < recipe.warmup:
        rate *= (step + 1) / recipe.warmup
    return rate


def build_training_model(recipe: Recipe, dataset: Dataset) -> torch.nn.Module:
    from ml_core.models import build_model

    hparams = dict(recipe.hparams)
    if dataset.kind == "token":
        hparams["vocab_size"] = int(dataset.vocab_size)
    model = build_model(recipe.arch, **hparams)
    if getattr(model, "kind", "token") != dataset.kind:
        raise ValueError(f"model '{recipe.arch}' reads {model.kind} data but the dataset holds "
                         f"{dataset.kind} data")
    expected = tuple(dataset.manifest.get("feature_shape") or ())
    if dataset.kind == "frame" and tuple(model.feature_shape) != expected:
        raise ValueError(f"model '{recipe.arch}' reads frames of shape "
                         f"{tuple(model.feature_shape)} "
                         f"but the dataset's are {expected}")
    max_context = getattr(model, "max_context", None)
    if max_context and recipe.window > max_context:
        raise ValueError(f"--window {recipe.window} is longer than the model's context "
                         f"({max_context})")
    return model


def last_windows(model: Any, inputs: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                 preceding: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor,
                                                        torch.Tensor, Any]:
    """A fixed-window model (`context_window` W) trained as its paper did: one target per
    training window, the window's last valid one, predicted from the W ids that end there
    (the window's own, then those before it in the piece). -> (last input (B, 1), target
    (B, 1), valid (B, 1), state)."""
    width = model.context_window
    if preceding is None:
        preceding = np.zeros((inputs.shape[0], 0), np.int64)
    ids = torch.cat([torch.as_tensor(preceding, device=inputs.device), inputs], dim=1)  # (B, W-1+T)
    last = valid.sum(1) - 1                                  # valid targets are a prefix
    has = (last >= 0).unsqueeze(1)
    last = last.clamp(min=0).unsqueeze(1)
    # ending at inputs[last]
    windows = ids.gather(1, last + torch.arange(width, device=inputs.device))
    targets = targets.gather(1, last).masked_fill(~has, IGNORE_INDEX)
    return windows[:, -1:], targets, has, model.window_state(windows[:, :-1])


def _step_seed(seed: int, rank: int, step: int) -> list[int]:
    return [seed, rank, step]


def _dropout_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.default_rng([seed, rank, step, 1]).integers(2**31))


class Trainer:
    """One training run; `run()` does it. Kept as a class so the pieces stay small."""

    def __init__(self, options: TrainOptions, log: Callable[[str], None] = print,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.options = options
        self.context = DistributedContext.from_environment()
        self.log = log if self.context.is_main else (lambda message: None)
        self.dataset = load_dataset(options.data)
        self.recipe = resolve_recipe(options, self.dataset)
        self.device = pick_device(options.device, self.context)
        self.context.initialize(self.device)
        if self.device.type == "cpu":
            torch.set_num_threads(options.threads
                                  or max(1, (os.cpu_count() or 1) // self.context.local_world_size))
        torch.manual_seed(options.seed)
        self.model = build_training_model(self.recipe, self.dataset).to(self.device)
        self.earlier_links: list[dict[str, Any]] = []
        if options.init_from:
            from ml_core import bundle, chain

            source = bundle.resolve(options.init_from)
            self.earlier_links = chain.earlier_links(source)
            if not options.resume:  # a resumed run's checkpoint holds the weights
                counts = chain.init_weights(self.model, source, self._vocabulary())
                self.log(f"weights from {source}: {counts['copied']} tensors copied, "
                         f"{counts['grown']} grown, {counts['new']} new")
        self.optimizer = make_optimizer(self.recipe.optimizer, self.model.parameters(),
                                        self.recipe.lr,
                                        self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=(
            options.precision == "fp16" and self.device.type == "cuda"))  # auto never picks fp16
        self.wrapped = self.context.wrap(self.model, self.device)
        self.bundle_dir = output_folder(options.out)
        if self.bundle_dir.exists() and not (self.bundle_dir / "config.json").is_file() and (
                not self.bundle_dir.is_dir() or any(self.bundle_dir.iterdir())):
            # saving a bundle replaces its folder: never let that be someone's own folder
            raise ValueError(f"{self.bundle_dir} exists and is not a model bundle; choose another "
                             f"--out")
        self.run_dir = checkpoints.run_folder(self.bundle_dir)
        self.run_log = checkpoints.RunLog(self.run_dir, self.bundle_dir)
        pad = self.dataset.pad_id if self.dataset.kind == "token" else 0
        shares = collection_weights(self.dataset, options.balance, options.balance_weights)
        # a fixed-window model (bilstm_attention) also gets the ids before each window
        self.window_model = bool(getattr(self.model, "context_window", None))
        preceding = preceding_ids(self.model)
        self.sampler = WindowSampler(self.dataset.train, self.recipe.window, pad, shares, preceding)
        self.batch_transform = (
            objectives.for_training(
                self.dataset.manifest["tokenizer"], infill_rate=options.infill_rate
            )
            if self.dataset.kind == "token"
            else None
        )
        val_split = self.dataset.val if self.dataset.val.pieces else self.dataset.train
        self.val_sampler = WindowSampler(val_split, self.recipe.window, pad, preceding=preceding)
        self.loss_config = LossConfig(options.loss, options.focal_gamma, options.last_n)
        allowed = TOKEN_LOSSES if self.dataset.kind == "token" else FRAME_LOSSES + ("ce",)
        if options.loss not in allowed:
            raise ValueError(f"--loss {options.loss} does not apply to {self.dataset.kind} models "
                             f"(choose from {', '.join(allowed)})")
        self.class_weights = None
        if self.dataset.kind == "token" and options.loss == "weighted-ce":
            counts = self.dataset.token_counts()
            self.class_weights = class_weights_from_counts(counts).to(self.device)
        per_step = self.recipe.batch_size * self.context.world_size
        windows = self.recipe.epoch_fraction * self.sampler.total_windows
        self.steps_per_epoch = max(1, math.ceil(windows / per_step))
        self.total_steps = self.steps_per_epoch * self.recipe.epochs
        if options.max_steps is not None:
            self.total_steps = min(self.total_steps, options.max_steps)
        self.state = LoopState()
        self.resumed_from: int | None = None
        self.compiled_loss = None
        self.precision_rates: dict[str, float] = {}
        self.precision = self._choose_precision(timer)
        self.compiled_loss = (torch.compile(self._eager_loss, dynamic=False)
                              if should_compile(options.compile, self.device, self.total_steps)
                              else None)

    # ------------------------------------------------------------ precision
    def _vocabulary(self) -> list[str] | None:
        """The dataset's tokens in id order (None for frame representations)."""
        from ml_core.data import build_encoder

        vocab = getattr(build_encoder(self.dataset.manifest["tokenizer"]), "vocab", None)
        return list(vocab.tokens) if vocab is not None else None

    def _choose_precision(self, timer: Callable[[], float]) -> str:
        """The asked precision; for `auto`, of the precisions this machine offers the one
        that ran the most steps per second of this model (eager, on a copy of it)."""
        recurrent = has_recurrent_layers(self.model)
        if self.options.precision != "auto":
            return resolve_precision(self.options.precision, self.device, recurrent)
        candidates = precision_candidates(self.device, recurrent)
        if len(candidates) == 1:
            self.log(f"precision auto: {candidates[0]}, the only precision this "
                     f"{self.device.type} offers for this model (no bf16 matrix instructions"
                     + (", or recurrent layers" if recurrent else "") + ")")
            return candidates[0]
        import copy

        probe = copy.deepcopy(self.model)
        optimizer = make_optimizer(self.recipe.optimizer, probe.parameters(),
                                   self.recipe.lr, self.device)
        batches = [self._tensors(self._batch(step)) for step in range(2)]
        turn = [0]

        def run_step(precision: str) -> None:
            inputs, targets, valid = batches[turn[0] % len(batches)]
            turn[0] += 1
            model_state = None
            if self.window_model:
                inputs, targets, valid, model_state = (last_windows(probe, inputs, targets, valid,
                                                                    None))
            loss = self._model_loss(probe, precision, inputs, targets, valid, model_state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)

        probe.train()
        self.precision_rates = measure_precisions(candidates, run_step, timer=timer)
        choice = fastest(self.precision_rates)
        if self.context.world_size > 1:  # every rank trains in rank 0's choice
            shared = [choice]
            torch.distributed.broadcast_object_list(shared, src=0)
            choice = shared[0]
        self.log("precision auto: " + ", ".join(f"{name} {rate:.3f} steps/s"
                                                for name, rate in self.precision_rates.items())
                 + f" -> {choice}")
        return choice

    # ------------------------------------------------------------ batches
    def _batch(self, step: int) -> Batch:
        rng = np.random.default_rng(_step_seed(self.options.seed, self.context.rank, step))
        batch = self.sampler.sample(rng, self.recipe.batch_size)
        if self.batch_transform is not None:  # control dropout, bar infilling
            items, valid, scored = self.batch_transform(batch.items, batch.valid, rng)
            batch = Batch(items, valid, batch.preceding, scored)
        return batch

    def _batches(self, first: int, last: int) -> Iterator[tuple[int, Batch]]:
        """Batches for steps first..last-1, prepared ahead by `num_workers` threads."""
        if self.options.num_workers <= 0:
            for step in range(first, last):
                yield step, self._batch(step)
            return
        ahead = 2 * self.options.num_workers
        with ThreadPoolExecutor(self.options.num_workers) as pool:
            futures = {s: pool.submit(self._batch, s)
                       for s in range(first, min(first + ahead, last))}
            for step in range(first, last):
                if step + ahead < last:
                    futures[step + ahead] = pool.submit(self._batch, step + ahead)
                yield step, futures.pop(step).result()

    def _tensors(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        items = torch.from_numpy(batch.items).to(self.device, non_blocking=True)
        valid = torch.from_numpy(batch.valid).to(self.device, non_blocking=True)[:, 1:]
        targets = items[:, 1:]
        if self.dataset.kind == "token":
            scored = valid if batch.scored is None else torch.from_numpy(batch.scored).to(
                self.device, non_blocking=True)[:, 1:]
            targets = targets.masked_fill(~scored, IGNORE_INDEX)
        return items[:, :-1], targets, valid  # inputs (B, T), targets (B, T), valid (B, T)

    # ------------------------------------------------------------ loss
    def _loss(self, inputs: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
              state: Any = None) -> torch.Tensor:
        if self.compiled_loss is not None:
            try:
                return self.compiled_loss(inputs, targets, valid, state)
            except Exception as error:  # noqa: BLE001 - any compiler failure: train eagerly
                reason = (str(error).strip().splitlines()[0][:200] if str(error).strip()
                          else type(error).__name__)
                self.log(f"torch.compile failed ({reason}); training in eager mode")
                self.compiled_loss = None
        return self._eager_loss(inputs, targets, valid, state)

    def _eager_loss(self, inputs: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                    state: Any = None) -> torch.Tensor:
        return self._model_loss(self.wrapped, self.precision, inputs, targets, valid, state)

    def _model_loss(self, model: torch.nn.Module, precision: str, inputs: torch.Tensor,
                    targets: torch.Tensor, valid: torch.Tensor, state: Any = None) -> torch.Tensor:
        with autocast(self.device, precision):
            logits, _ = model(inputs, state)
        if self.dataset.kind == "token":
            return token_loss(logits, targets, self.loss_config, self.class_weights)
        return frame_loss(logits, targets, valid, self.loss_config)

    @torch.no_grad()
    def validate(self) -> float:
        """Mean validation NLL (nats/token; BCE per key-step for frame models), all ranks."""
        self.model.eval()
        pieces, starts = self.val_sampler.validation_positions(self.options.max_val_windows)
        rank, world = self.context.rank, self.context.world_size
        pieces, starts = pieces[rank::world], starts[rank::world]
        total, count = 0.0, 0
        size = self.recipe.batch_size
        for begin in range(0, len(pieces), size):
            batch = self.val_sampler.gather(pieces[begin:begin + size], starts[begin:begin + size])
            inputs, targets, valid = self._tensors(batch)
            with autocast(self.device, self.precision):
                logits = window_logits(self.model, inputs, batch.preceding)
            if self.dataset.kind == "token":
                part_total, part_count = token_nll_sums(logits, targets)
            else:
                part_total, part_count = frame_bce_sums(logits, targets, valid)
            total += part_total
            count += part_count
        total, count = self.context.sum_across_ranks(total, count, self.device)
        self.model.train()
        return total / max(count, 1)

    # ------------------------------------------------------------ files
    def _write_metrics(self, record: dict[str, Any]) -> None:
        if self.context.is_main:
            self.run_log.append(record)

    def _save_checkpoint(self) -> None:
        if self.context.is_main:
            checkpoints.save_checkpoint(self.run_dir, model=self.model, optimizer=self.optimizer,
                                        state={**asdict(self.state), "recipe": asdict(self.recipe)},
                                        scaler=self.scaler)
        self.context.barrier()

    def _save_bundle(self) -> None:
        if not self.context.is_main:
            return
        from ml_core import bundle

        best = self.state.best_val_nll
        metrics = {
            "test_nll": best,
            "test_perplexity": math.exp(best) if best is not None and best < 50 else None,
            "best_epoch": self.state.best_epoch,
            "epochs": self.state.epoch,
            "steps": self.state.step,
            "tokens_seen": self.state.tokens_seen,
            "wall_seconds": round(self.state.wall_seconds, 2),
        }
        splits = self.dataset.manifest.get("splits", {})
        training = {
            "data": {
                "folder": str(self.dataset.directory),
                "sources": self.dataset.manifest.get("sources"),
                "train_files": splits.get("train", {}).get("files"),
                "train_tokens": splits.get("train", {}).get("tokens"),
                "val_files": splits.get("val", {}).get("files"),
                "val_tokens": splits.get("val", {}).get("tokens"),
                "augmentation": self.dataset.manifest.get("augmentation"),
            },
            "recipe": asdict(self.recipe),
            "loss": asdict(self.loss_config),
            "precision": self.precision,
            "compiled": self.compiled_loss is not None,
            "world_size": self.context.world_size,
            "objectives": self.batch_transform.describe()
            if self.batch_transform is not None
            else {},
            "seed": self.options.seed,
            "chain": self._chain(),
        }
        if self.precision_rates:
            training["precision_measured_steps_per_s"] = {k: round(v, 4)
                                                          for k, v in self.precision_rates.items()}
        description = self.options.description or (
            f"{self.recipe.arch} trained on {', '.join(self.dataset.manifest.get('sources') or [])}"
        )
        bundle.save(self.bundle_dir, self.model, self.dataset.manifest["tokenizer"],
                    name=self.bundle_dir.name, description=description,
                    training=training, metrics=metrics)
        self.run_log.mirror(self.run_dir / LOSS_CURVE_FILE)  # saving replaced the folder

    def _chain(self) -> dict[str, Any]:
        """This run as the newest link after the links of the bundle it started from."""
        from ml_core import chain
        from ml_core.models import count_parameters

        link = chain.link_record(
            source=self.options.init_from, data=self.dataset.manifest.get("sources"),
            tokens_seen=self.state.tokens_seen, steps=self.state.step,
            wall_seconds=self.state.wall_seconds,
            machine=machine_description(self.device) + (f" x {self.context.world_size}"
                                                        if self.context.world_size > 1 else ""),
            precision=self.precision, compiled=self.compiled_loss is not None,
            parameters=count_parameters(self.model), parts=self._parts())
        return chain.chain_record([*self.earlier_links, link])

    def _parts(self) -> dict[str, int] | None:
        """Bar sections of each part (`Track_*` tokens) in the training data, once a run."""
        if not hasattr(self, "_part_counts"):
            vocab = self._vocabulary() or []
            tracks = [(i, name) for i, name in enumerate(vocab) if name.startswith("Track_")]
            counts = self.dataset.token_counts() if tracks else None
            self._part_counts = {name: int(counts[i]) for i, name in tracks
                                 if i < len(counts) and counts[i]} if tracks else None
        return self._part_counts

    def _write_loss_curve(self) -> None:
        if self.context.is_main and self.run_log.path.is_file():
            plot_loss_curve(self.run_log.path, self.run_dir / LOSS_CURVE_FILE)
            self.run_log.mirror(self.run_dir / LOSS_CURVE_FILE)

    # ------------------------------------------------------------ loop
    def _resume_or_start(self) -> None:
        if self.options.resume:
            restored = checkpoints.load_checkpoint(self.run_dir, model=self.model,
                                                   optimizer=self.optimizer, scaler=self.scaler)
            restored.pop("recipe", None)
            self.state = LoopState(**restored)
            self.resumed_from = self.state.step
            if self.context.is_main:
                self.run_log.trim(self.state.step)
            self.log(f"resuming from step {self.state.step} (epoch {self.state.epoch})")
        elif self.context.is_main:
            self.run_log.clear()
            (self.run_dir / checkpoints.CHECKPOINT_JSON).unlink(missing_ok=True)

    def _end_epoch(self, step_losses: float, steps: int) -> bool:
        """Validate, maybe save the bundle; True when early stopping says stop."""
        state = self.state
        val = self.validate()
        state.epoch += 1
        improved = state.best_val_nll is None or val < state.best_val_nll
        if improved:
            state.best_val_nll, state.best_epoch, state.bad_epochs = val, state.epoch, 0
        else:
            state.bad_epochs += 1
        record = {"type": "epoch", "epoch": state.epoch, "step": state.step,
                  "train_loss": step_losses / max(steps, 1), "val_nll": val,
                  "val_perplexity": math.exp(val) if val < 50 else None,
                  "lr": self.optimizer.param_groups[0]["lr"], "tokens_seen": state.tokens_seen,
                  "seconds": round(state.wall_seconds, 2), "best": improved}
        self._write_metrics(record)
        tokens_then, seconds_then = getattr(self, "_epoch_mark", (0, 0.0))
        speed = (state.tokens_seen - tokens_then) / max(state.wall_seconds - seconds_then, 1e-9)
        self._epoch_mark = (state.tokens_seen, state.wall_seconds)
        self.log(f"epoch {state.epoch}: train {record['train_loss']:.4f}  val {val:.4f}"
                 f"  {speed:,.0f} tokens/s"
                 + ("  (best, saved)" if improved else ""))
        if improved:
            self._save_bundle()
        patience = self.options.patience
        return patience is not None and state.bad_epochs >= patience

    def run(self) -> TrainResult:
        try:
            return self._run()
        finally:
            self.context.shutdown()

    def _run(self) -> TrainResult:
        self._resume_or_start()
        state = self.state
        if state.step >= self.total_steps and state.best_val_nll is not None:
            self.log(f"training already finished at step {state.step}")
            return self._result()
        self.log(
            f"training {self.recipe.arch} on {self.device}: {self.total_steps} steps, "
            f"{self.steps_per_epoch} per epoch, window {self.recipe.window}, batch "
            f"{self.recipe.batch_size}"
            + (f" x {self.context.world_size} ranks" if self.context.world_size > 1 else "")
            + f", precision {self.precision}"
            + (" (auto)" if self.options.precision == "auto" else "")
            + (", compiled" if self.compiled_loss is not None else ", eager")
        )
        context = getattr(self.model, "max_context", None)
        if hasattr(self.model, "trained_window") and context and self.recipe.window < context:
            self.log(f"note: windows of {self.recipe.window} tokens: the bundle will generate "
                     f"from at most {self.recipe.window} (positions past a trained window read "
                     f"worse); --window {context} trains all of its {context}-token context")
        self.model.train()
        self._epoch_mark = (state.tokens_seen, state.wall_seconds)
        progress = _progress_bar(self.total_steps, state.step, self.context.is_main)
        started, tokens_at_log, time_at_log = (time.perf_counter(), state.tokens_seen,
                                               time.perf_counter())
        wall_base = state.wall_seconds
        try:
            for step, batch in self._batches(state.step, self.total_steps):
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(self.recipe, step // self.steps_per_epoch, step)
                torch.manual_seed(_dropout_seed(self.options.seed, self.context.rank, step))
                inputs, targets, valid = self._tensors(batch)
                model_state = None
                if self.window_model:
                    inputs, targets, valid, model_state = last_windows(
                        self.model, inputs, targets, valid, batch.preceding
                    )
                loss = self._loss(inputs, targets, valid, model_state)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training loss became {float(loss)} at step {step}; "
                                             f"try a lower --lr")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                state.step = step + 1
                state.tokens_seen += int(valid.sum()) * self.context.world_size
                loss_value = float(loss.detach())
                state.epoch_loss_sum += loss_value
                state.epoch_loss_steps += 1
                state.wall_seconds = wall_base + time.perf_counter() - started
                progress.update(1)
                if state.step % self.options.log_every == 0:
                    now = time.perf_counter()
                    speed = (state.tokens_seen - tokens_at_log) / max(now - time_at_log, 1e-9)
                    tokens_at_log, time_at_log = state.tokens_seen, now
                    progress.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{speed:.0f}")
                    self._write_metrics(
                        {
                            "type": "step",
                            "step": state.step,
                            "loss": loss_value,
                            "tokens_per_s": speed,
                            "lr": self.optimizer.param_groups[0]["lr"],
                            "tokens_seen": state.tokens_seen,
                        }
                    )
                epoch_done = (state.step % self.steps_per_epoch == 0
                              or state.step == self.total_steps)
                if epoch_done:
                    stop = self._end_epoch(state.epoch_loss_sum, state.epoch_loss_steps)
                    state.epoch_loss_sum, state.epoch_loss_steps = 0.0, 0
                    if stop:
                        state.stopped_early = True
                        self.log(f"early stop: no improvement for {self.options.patience} epoch(s)")
                if (state.stopped_early or state.step % self.options.checkpoint_every == 0
                    or epoch_done):
                    self._save_checkpoint()
                if state.stopped_early:
                    break
        except KeyboardInterrupt:
            progress.close()
            self._save_checkpoint()
            raise TrainingInterrupted(state.step, self.run_dir) from None
        progress.close()
        state.finished = True
        self._save_checkpoint()
        if state.best_val_nll is None:
            self._end_epoch(0.0, 0)
        self._write_loss_curve()
        return self._result()

    def _result(self) -> TrainResult:
        return TrainResult(
            self.bundle_dir,
            self.state.best_val_nll,
            self.state.step,
            self.state.epoch,
            self.state.tokens_seen,
            self.state.wall_seconds,
            self.resumed_from,
            self.state.stopped_early,
            self.run_log.records(),
        )


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", disable=None if enabled else True,
                leave=False, dynamic_ncols=True)


def train(options: TrainOptions, log: Callable[[str], None] = print,
          timer: Callable[[], float] = time.perf_counter) -> TrainResult:
    """Run (or resume) training; the best model ends up as a bundle in the output folder.
    `timer` times the steps that `--precision auto` compares."""
    if options.checkpoint_every < 1 or options.log_every < 1:
        raise ValueError("--checkpoint-every must be at least 1")
    if options.max_steps is not None and options.max_steps < 1:
        raise ValueError("--max-steps must be at least 1")
    return Trainer(options, log, timer).run()

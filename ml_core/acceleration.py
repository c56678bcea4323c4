"""How a training step runs fast on the machine at hand: precision, compilation, optimizers.

- Precision `auto` decides by measurement: where the hardware multiplies bf16 matrices
  natively (CPUs with AMX or AVX-512 BF16, GPUs that support bf16) the trainer times a few
  steps of the model in fp32 and in bf16 autocast and keeps the faster (on an AVX-512 BF16
  CPU without AMX bf16 can be the slower one); elsewhere fp32 (a CPU with AVX2 only
  emulates bf16 GEMMs about 50x slower). Under autocast the weights, the loss and the
  optimizer state stay fp32.
- Compilation `auto` compiles the training step (forward + loss) with `torch.compile` on a
  GPU and, on a CPU, for runs long enough to pay back the one-off compile (about two
  minutes on two cores) when a C compiler is present. Any compile failure falls back to
  eager mode with a message; `--compile off` never tries.
- Optimizers: the fused kernels where PyTorch has them (Adam, AdamW), else the foreach
  (multi-tensor) form; both give the same update as the per-parameter loop.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Callable, Iterable, Sequence

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPILE_MODES = ("auto", "on", "off")
# A CPU compile of a small model costs ~1-2 min on 2 cores and gains ~1.3x per step:
# worth it from a few thousand steps on.
CPU_COMPILE_MIN_STEPS = 3000


def has_bf16_matrix_units(device: torch.device) -> bool:
    """True where bf16 matrix products run natively (and so faster than fp32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def has_recurrent_layers(model: torch.nn.Module) -> bool:
    return any(isinstance(module, torch.nn.RNNBase) for module in model.modules())


def resolve_precision(requested: str, device: torch.device, recurrent: bool = False) -> str:
    """The precision a run uses: `auto` picks bf16 on bf16 hardware, else fp32.

    Recurrent layers (LSTM, GRU, RNN) on a CPU stay fp32 under `auto`: oneDNN has no bf16
    LSTM without AVX-512 BF16 (the call fails), and where it has one it was not measured
    to beat fp32. On a GPU cuDNN runs them in bf16."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision '{requested}' (choose from {', '.join(PRECISIONS)})")
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("--precision fp16 needs a CUDA GPU (use bf16 or fp32 on this device)")
    cpu_recurrent = recurrent and device.type == "cpu"
    if requested == "auto":
        return "bf16" if has_bf16_matrix_units(device) and not cpu_recurrent else "fp32"
    if requested == "bf16" and cpu_recurrent and not has_bf16_matrix_units(device):
        raise ValueError("--precision bf16: this CPU has no bf16 units (AMX or AVX-512 BF16), "
                         "which recurrent layers need; use --precision fp32")
    return requested


def precision_candidates(device: torch.device, recurrent: bool = False) -> list[str]:
    """The precisions `auto` chooses between on `device`: fp32, plus bf16 where the
    hardware multiplies bf16 natively (not for recurrent layers on a CPU)."""
    if has_bf16_matrix_units(device) and not (recurrent and device.type == "cpu"):
        return ["fp32", "bf16"]
    return ["fp32"]


def measure_precisions(candidates: Sequence[str], run_step: Callable[[str], object], *,
                       steps: int = 3,
                       warmup: int = 1,
                       timer: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Training steps per second of each precision in `candidates`: `run_step(precision)`
    runs one step; `warmup` untimed steps first, then `steps` timed by `timer`."""
    rates: dict[str, float] = {}
    for precision in candidates:
        for _ in range(warmup):
            run_step(precision)
        started = timer()
        for _ in range(steps):
            run_step(precision)
        rates[precision] = steps / max(timer() - started, 1e-9)
    return rates


def fastest(rates: dict[str, float]) -> str:
    """The precision with the most steps per second (fp32 on a tie: the safer number format)."""
    return max(rates, key=lambda name: (rates[name], name == "fp32"))


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The autocast context for a resolved precision (disabled for fp32)."""
    if precision == "fp32":
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def has_c_compiler() -> bool:
    return any(shutil.which(name) for name in ("cc", "gcc", "clang", "cl"))


def should_compile(requested: str, device: torch.device, total_steps: int) -> bool:
    if requested not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode '{requested}' (choose from "
                         f"{', '.join(COMPILE_MODES)})")
    if requested != "auto":
        return requested == "on"
    if device.type == "cuda":
        return True
    return device.type == "cpu" and total_steps >= CPU_COMPILE_MIN_STEPS and has_c_compiler()


def make_optimizer(name: str, parameters: Iterable[torch.nn.Parameter], lr: float,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    """The named optimizer with its fastest implementation for `device`."""
    optimizers = {"adamax": torch.optim.Adamax, "adam": torch.optim.Adam,
                  "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}
    if name not in optimizers:
        raise ValueError(f"unknown optimizer '{name}' (choose from {', '.join(optimizers)})")
    device_type = device.type if device is not None else "cpu"
    if name in ("adam", "adamw") and device_type in ("cpu", "cuda"):
        return optimizers[name](parameters, lr=lr, fused=True)
    return optimizers[name](parameters, lr=lr, foreach=device_type != "mps" or None)


def matmul_rate(dtype: torch.dtype, size: int = 2048, repeats: int = 5,
                device: torch.device | None = None) -> float:
    """Measured FLOP/s of a large square matrix product in `dtype` on this machine."""
    import time

    device = device or torch.device("cpu")
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    started = time.perf_counter()
    a @ b
    best = time.perf_counter() - started
    if best > 1.0:  # emulated (bf16 without bf16 units): one slow product says enough
        return 2 * size ** 3 / best
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best


def machine_description(device: torch.device | None = None) -> str:
    """One line naming the machine a run trained on: CPU model and its matrix features, or GPU."""
    device = device or torch.device("cpu")
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    features = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    cores = os.cpu_count() or 1
    return f"CPU {name}, {cores} cores" + (f" ({', '.join(features)})" if features else "")

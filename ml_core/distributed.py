"""Where a training process stands under torchrun (`torchrun --nproc_per_node N -m
training_cli train ...`): its rank, the process group (NCCL on GPUs, Gloo over loopback on
one machine's CPUs), the model wrapped for DistributedDataParallel, and sums across ranks.
Alone (no WORLD_SIZE above 1) every call is a no-op."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch


@dataclass
class DistributedContext:
    """Where this process stands under torchrun (RANK/WORLD_SIZE/LOCAL_RANK), or alone."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    started: bool = False

    @classmethod
    def from_environment(cls) -> DistributedContext:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")),
                   int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def initialize(self, device: torch.device) -> None:
        import torch.distributed as dist

        if self.world_size > 1 and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            if (device.type != "cuda" and self.local_world_size == self.world_size
                    and "GLOO_SOCKET_IFNAME" not in os.environ):
                # One machine: ranks talk over loopback. Gloo otherwise binds to whatever
                # the host name resolves to, which hangs where that address is unreachable.
                os.environ["GLOO_SOCKET_IFNAME"] = _loopback_interface()
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.started = True

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        if self.world_size <= 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model,
                                       device_ids=[device.index] if device.type == "cuda" else None)

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def sum_across_ranks(self, total: float, count: int, device: torch.device) -> tuple[float, int]:
        if self.world_size <= 1:
            return total, count
        both = torch.tensor([total, float(count)], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(both)
        return float(both[0]), int(both[1])

    def shutdown(self) -> None:
        if self.started:
            torch.distributed.destroy_process_group()
            self.started = False


def _loopback_interface() -> str:
    """The loopback network interface's name ("lo" on Linux, "lo0" on macOS)."""
    import socket

    try:
        names = [name for _, name in socket.if_nameindex()]
    except (OSError, AttributeError):
        names = []
    return next((name for name in names if name in ("lo", "lo0")),
                "lo0" if sys.platform == "darwin" else "lo")

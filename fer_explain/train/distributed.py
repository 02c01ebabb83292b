"""Distributed data parallel: join the torchrun process group, know this process's rank, shard an epoch.

Under ``torchrun --nproc_per_node N`` (the ``RANK``/``WORLD_SIZE`` environment variables are set)
:func:`setup_distributed` joins the process group (``gloo`` on CPU, ``nccl`` on CUDA) unless one is
already initialised. A group it creates stays up for later calls in the process (e.g. the runs of
``fit_repeated``: re-initialising a torchrun group after destroying it hangs) and is destroyed at
interpreter exit.

:func:`~fer_explain.train.loop.fit` wraps the model in ``DistributedDataParallel`` and shards each
epoch's sample order with :func:`local_positions` (a ``DistributedSampler`` without shuffling): every
rank draws the same order and takes every ``N``-th sample, so with a per-rank batch of
``batch_size / N`` the ``N`` local batches of a step together form the global batch a single process
would use. Training metrics are summed over ranks with :func:`all_reduce_sum`; every rank evaluates
the full validation set (so early stopping agrees); only rank 0 (:attr:`DistInfo.is_main`) shows
progress bars and writes checkpoints.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

__all__ = ["DistInfo", "all_reduce_sum", "destroy_group", "local_positions", "setup_distributed", "unwrap_model"]


@dataclass
class DistInfo:
    """This process's place in the run: ``world_size`` processes, this one is ``rank`` (``local_rank`` on its host)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    created_group: bool = False

    @property
    def enabled(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that shows progress and writes files."""
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group when the environment asks for one (single process otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or "RANK" not in os.environ:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this build")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    # The group stays up for later fit() calls in this process (re-initialising a torchrun group after
    # destroying it hangs), and is torn down when the interpreter exits.
    atexit.register(destroy_group)
    return DistInfo(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), created_group=True)


def destroy_group() -> None:
    """Destroy the default process group if one is up."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], dist_info: DistInfo, device: torch.device) -> list[float]:
    """``values`` summed over all processes (unchanged in a single-process run)."""
    if not dist_info.enabled:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


class _Positions(Dataset):
    """A length-only dataset, so a DistributedSampler can shard positions of an epoch's order."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:  # pragma: no cover - never read
        return i


def local_positions(n: int, dist_info: DistInfo) -> list[int]:
    """The positions ``0..n-1`` of an epoch's sample order that this rank trains on (all of them for one process)."""
    return list(DistributedSampler(_Positions(n), num_replicas=dist_info.world_size, rank=dist_info.rank,
                                   shuffle=False, drop_last=False))


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` and/or ``torch.compile`` wrapper (``model`` itself otherwise)."""
    inner = getattr(model, "module", model) if isinstance(model, nn.parallel.DistributedDataParallel) else model
    return getattr(inner, "_orig_mod", inner)

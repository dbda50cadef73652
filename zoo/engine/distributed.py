"""Processes: one, or several under torch.distributed.run (DDP; gloo on CPU, nccl on GPU).

Sharding is DistributedSampler's, done on index tensors: every process draws the same seeded
permutation; of each global batch of `batch_size` indices, rank r takes every world-th one
from position r. The union over ranks is the single-process batch, and DDP averages the
gradients, so N processes take the same steps as one process would (up to float rounding).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch

from zoo.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def from_env() -> Dist:
    """The process's place, from torchrun's environment (a plain process is rank 0 of 1)."""
    env = os.environ
    return Dist(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
                int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1)))


def pick_device(wanted: str, dist: Dist, option: str = "train.device") -> torch.device:
    """The device `wanted` names (auto: cuda if available); `option` is how the user gave it, for refusals."""
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda"):
        try:
            index = torch.device(wanted).index
        except RuntimeError:
            raise ConfigError(f"{option}={wanted!r}: use auto, cpu, cuda or cuda:N") from None
        if not torch.cuda.is_available():
            raise ConfigError(f"{option}={wanted}: no CUDA device is available here")
        if index is not None and index >= torch.cuda.device_count():
            raise ConfigError(f"{option}={wanted}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", dist.local_rank if dist.active else index or 0)
    if wanted != "cpu":
        raise ConfigError(f"{option}={wanted!r}: use auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def init(dist: Dist, device: torch.device) -> None:
    if dist.active and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")


def shutdown(dist: Dist) -> None:
    if dist.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard(indices: torch.Tensor, dist: Dist) -> torch.Tensor:
    return indices[dist.rank::dist.world]


def gather_rows(row: torch.Tensor, dist: Dist) -> list[list[float]]:
    """Every process's `row` (a 1-d tensor on the process's device), read to the host: one read, and one
    all-gather when distributed (every process calls it at the same point, so all of them stop together)."""
    if not dist.active:
        return [row.tolist()]
    rows = [torch.empty_like(row) for _ in range(dist.world)]
    torch.distributed.all_gather(rows, row)
    return torch.stack(rows).tolist()


def mean_over_ranks(values: dict[str, float], dist: Dist) -> dict[str, float]:
    """Each value averaged over the processes (every rank saw an equal share of each batch)."""
    if not dist.active or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return dict(zip(values, (t / dist.world).tolist()))


def launch(args: list[str], nproc: int, nnodes: int = 1, node_rank: int = 0,
           master_addr: str = "127.0.0.1", master_port: int | None = None) -> int:
    """Run `zoo <args>` in `nproc` processes on this node via torch.distributed.run; its exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}",
           f"--node-rank={node_rank}", f"--master-addr={master_addr}", f"--master-port={master_port or free_port()}",
           "-m", "zoo", *args]
    # torchrun would set 1 thread per process and say so; split this node's cores between them instead.
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc))}
    return subprocess.run(cmd, env=env).returncode


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

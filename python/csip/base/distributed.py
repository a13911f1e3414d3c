"""Data parallel helpers (torchrun): process group set-up and a gather that keeps gradients.

Launch with ``torchrun --nproc-per-node=G -m csip.cli pretrain ...`` (or ``csip pretrain``
under torchrun): RANK / WORLD_SIZE / LOCAL_RANK come from the environment; the backend is NCCL
on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_initialized() -> bool:
    """Whether a process group is up."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def is_main() -> bool:
    """Rank 0: the process that writes checkpoints, metrics and logs."""
    return rank() == 0


def init_from_env(device: str | None = None) -> tuple[int, int, torch.device]:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1); pick the device.

    ``device``: "cpu", "cuda", "cuda:N" or None (CUDA if available). Under torchrun on CUDA,
    each process takes ``cuda:LOCAL_RANK``. Returns ``(rank, world_size, device)``.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws > 1 and not is_initialized():
        if dev.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
            dist.init_process_group("nccl", device_id=dev)
        else:
            dist.init_process_group("gloo")
    elif dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return rank(), world_size(), dev


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the gradient over processes and returns this rank's slice
    (the adjoint of all_gather), using only all_reduce so that gloo, NCCL and any backend work."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.n = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        r = rank()
        return grad[r * ctx.n:(r + 1) * ctx.n]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` ``(n, ...)`` from every process → ``(world·n, ...)``, rank order,
    differentiable: gradients flow back to each process's own ``x`` (all shards must have the
    same shape). Identity without a process group."""
    if world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over processes of a tensor (detached; for logging)."""
    if world_size() == 1:
        return x.detach()
    y = x.detach().clone()
    dist.all_reduce(y)
    return y / world_size()


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Tear the process group down, if any."""
    if is_initialized():
        dist.destroy_process_group()

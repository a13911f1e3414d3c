"""Data parallel helpers (torchrun): process group set-up and a gather that keeps gradients.

Launch with ``torchrun --nproc-per-node=G -m csip.cli pretrain ...`` (or ``csip pretrain``
under torchrun): RANK / WORLD_SIZE / LOCAL_RANK come from the environment; the backend is NCCL
on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .errors import BadOption

#: What torch's ``env://`` rendezvous reads besides WORLD_SIZE (torchrun sets them all).
RENDEZVOUS_VARS = ("RANK", "MASTER_ADDR", "MASTER_PORT")


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


def env_world_size() -> int:
    """WORLD_SIZE from the environment (1 when unset), checked: with more than one process the
    rendezvous variables must be there too, else :class:`BadOption` naming the missing ones
    (torch would raise "MASTER_ADDR expected" from deep inside ``init_process_group``)."""
    raw = os.environ.get("WORLD_SIZE", "1")
    try:
        ws = int(raw)
    except ValueError:
        raise BadOption(f"WORLD_SIZE={raw!r} in the environment: expected a positive integer") from None
    if ws < 1:
        raise BadOption(f"WORLD_SIZE={raw!r} in the environment: expected a positive integer")
    missing = [v for v in RENDEZVOUS_VARS if not os.environ.get(v)]
    if ws > 1 and missing:
        raise BadOption(f"WORLD_SIZE={ws} is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: "
                        "launch with torchrun (which sets them), set them yourself, or unset WORLD_SIZE and RANK "
                        "to train in one process")
    return ws


def init_from_env(device: str | None = None) -> tuple[int, int, torch.device]:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1); pick the device.

    ``device``: "cpu", "cuda", "cuda:N" or None (CUDA if available). Under torchrun on CUDA,
    each process takes ``cuda:LOCAL_RANK``. Returns ``(rank, world_size, device)``. A world of
    several processes without its rendezvous variables: :class:`BadOption` (:func:`env_world_size`).
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    ws = env_world_size()
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

"""The optimiser and its learning-rate schedule: AdamW with weight decay on matrices and
filters only, linear warm-up then cosine decay (per step)."""

from __future__ import annotations

import math

import torch

from .config import (
    TrainConfig,
)


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """LR multiplier: linear warm-up from 1/warmup to 1 over ``warmup_steps``, then cosine
    decay to ``min_ratio`` at ``total_steps``."""

    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        t = min(1.0, max(0.0, t))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices/filters only (not on biases, norms, logit scale)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def optimizer_and_schedule(model: torch.nn.Module, cfg: TrainConfig, device: torch.device, warmup_steps: int,
                            total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (betas 0.9/0.98, eps 1e-6; fused on CUDA) and its warm-up + cosine schedule (per step)."""
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
                                  **({"fused": True} if device.type == "cuda" else {"foreach": True}))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup_steps, total_steps,
                                                                           cfg.min_lr_ratio))
    return optimizer, scheduler

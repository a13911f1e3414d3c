"""Data parallel on CPU (gloo, 2 processes): the gathered loss and gradients equal the
single-process ones on the same global batch, and a whole DDP run logs the same losses."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from csip.train.config import TrainConfig
from csip.train.metrics import read_metrics
from csip.train.run import train
from toydata import ToyPairs

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model():
    from csip.models import build_model, default_model_config

    torch.manual_seed(0)
    return build_model(default_model_config("2d", 5, 16, embed_dim=8, feature_dim=16, spatial_channels=4))


def _global_batch():
    ds = ToyPairs(8, 16, 5, 16)
    items = [ds[i] for i in range(8)]
    return {k: torch.stack([it[k] for it in items]) for k in ("boxes", "sfb")}


def _cfg(out) -> TrainConfig:
    return TrainConfig(out=str(out), model="2d", epochs=2, batch_size=8, workers=0, log_every=1, progress=False,
                       feature_dim=16, embed_dim=8, spatial_channels=4, device="cpu", lr=1e-3)


def _worker(rank: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from csip.base import distributed as du
    from csip.train.loss import ClipLoss

    du.init_from_env("cpu")
    # 1. one step by hand: local slice, gathered loss, DDP gradients
    model = _model()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    g = _global_batch()
    n = 8 // WORLD
    local = {k: v[rank * n:(rank + 1) * n] for k, v in g.items()}
    v, u, s = ddp(local)
    loss = ClipLoss(0.3)(v, u, s)
    loss.backward()
    mean_loss = du.all_reduce_mean(loss)
    if rank == 0:
        torch.save({"loss": mean_loss, "grads": {k: p.grad.clone() for k, p in model.named_parameters()
                                                  if p.grad is not None}}, Path(tmp) / "step.pt")
    # 2. a whole run through train()
    train(_cfg(Path(tmp) / "ddp"), ToyPairs(32, 16, 5, 16))
    du.cleanup()


def test_ddp_gloo_matches_single_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    # single process, same global batch
    from csip.train.loss import ClipLoss

    model = _model()
    v, u, s = model(_global_batch())
    loss = ClipLoss(0.3)(v, u, s)
    loss.backward()
    got = torch.load(tmp_path / "step.pt", weights_only=True)
    assert float(got["loss"]) == pytest.approx(float(loss.detach()), abs=1e-6)
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == got["grads"].keys()
    for k in grads:
        torch.testing.assert_close(got["grads"][k], grads[k], rtol=1e-4, atol=1e-6)
    # the whole run: same losses as one process with the global batch
    train(_cfg(tmp_path / "single"), ToyPairs(32, 16, 5, 16))
    a = [r["loss"] for r in read_metrics(tmp_path / "single")]
    b = [r["loss"] for r in read_metrics(tmp_path / "ddp")]
    assert len(a) == len(b) == 8
    assert b == pytest.approx(a, abs=1e-5)


def _cache_cfg(out, cache) -> TrainConfig:
    return TrainConfig(out=str(out), cache=str(cache), model="2d", epochs=2, batch_size=16, workers=0, log_every=1,
                       progress=False, feature_dim=16, embed_dim=8, spatial_channels=4, device="cpu", lr=1e-3)


def _cache_worker(rank: int, port: int, tmp: str, cache: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from csip.base import distributed as du

    train(_cache_cfg(Path(tmp) / "ddp-cache", cache))  # a cache: the batched reader, each rank its part
    du.cleanup()


def test_ddp_on_a_cache_reads_each_ranks_part_and_matches_one_process(tmp_path, tmp_path_factory):
    """Through the batched cache reader (what ``csip pretrain`` uses for a cache), 2 gloo ranks
    each read their half of every global batch (flips included) and log the losses of one
    process reading the whole batch."""
    from eval_helpers import shared_base, synthetic_cache

    cache = synthetic_cache(shared_base(tmp_path_factory))
    mp.spawn(_cache_worker, args=(_free_port(), str(tmp_path), str(cache)), nprocs=WORLD, join=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(_cache_cfg(tmp_path / "single-cache", cache))
    finally:
        torch.set_num_threads(threads)
    a = [r["loss"] for r in read_metrics(tmp_path / "single-cache")]
    b = [r["loss"] for r in read_metrics(tmp_path / "ddp-cache")]
    assert len(a) == len(b) > 10
    assert b == pytest.approx(a, abs=1e-5)

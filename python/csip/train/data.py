"""The data of a training run: a cache (or any dataset of the cache's item dicts) opened and
checked, and the batches of each epoch (:func:`batch_feed`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..base.fingerprint import cache_identity
from ..base.preemption import loader_worker_init
from ..cache import CacheDataset, CacheError
from ..cache import writer as cache_writer  # a module: its usable_cores is looked up at each call
from ..cache.batches import BatchReader
from ..cache.order import (
    EpochBatchSampler,
    flip_mask,
    hflip_batch,
)
from ..cache.union import CacheUnion, expand_cache_paths, open_caches
from .objectives.base import Objective
from .step import to_device


class DataError(ValueError):
    """The data cannot be trained on (empty, wrong banner shape, data an objective cannot use,
    such as no labels for --supervised)."""


def open_cache(path: str | Path | tuple[str, ...], split: str | None,
               labelled_only: bool = False) -> tuple[Dataset, dict]:
    """``(dataset, info)`` for a cache directory, or for several read as one (``path``: a
    directory, a glob, ``@LIST``, or a tuple of those: :func:`csip.cache.union.expand_cache_paths`);
    info has n_levels, n_angles, image_size, the cache(s) and their identity (part of the run's
    settings fingerprint). ``labelled_only``: only the items with a relation label.

    Raises :class:`DataError` when a cache cannot be read or the caches cannot be read together.
    """
    try:
        paths = expand_cache_paths(path)
        cache = open_caches(paths)
        ds = CacheDataset(cache, split=split, labelled_only=labelled_only)
    except (CacheError, FileNotFoundError) as exc:
        raise DataError(f"cannot read the cache {_describe(path)}: {exc}") from None
    members = cache.members if isinstance(cache, CacheUnion) else [cache]
    desc = members[0].manifest.get("descriptor", {})
    identities = [cache_identity(m.manifest) for m in members]
    info = {
        "cache": str(paths[0].resolve()) if len(paths) == 1 else [str(p.resolve()) for p in paths],
        "split": split,
        "n_items": len(ds),
        "n_levels": len(desc["forces"]) if "forces" in desc else None,
        "n_angles": desc.get("n_angles"),
        "image_size": members[0].manifest.get("image_size"),
        "descriptor": desc,
        # one cache: its identity, as runs have always recorded it; several: theirs, in order
        "identity": identities[0] if len(identities) == 1 else {"union": identities},
    }
    if labelled_only:
        info["labelled_only"] = True
    return ds, info


def _describe(path: str | Path | tuple[str, ...]) -> str:
    return str(path) if isinstance(path, (str, Path)) else " + ".join(map(str, path))


def item_shapes(item: Mapping[str, Any]) -> tuple[tuple[int, int], int]:
    sfb = np.asarray(item["sfb"])
    img = np.asarray(item["image"])
    return (int(sfb.shape[-2]), int(sfb.shape[-1])), int(img.shape[-1])


def check_data(dataset: Dataset, info: dict, model_shape: tuple[int, int] | None = None,
               objective: Objective | None = None) -> None:
    """Fail early, with a clear message, on data that cannot be trained on.

    Checks: non-empty; items' banner shape equals the manifest's (R, K) and, when given, the
    shape ``model_shape`` the model was built for (resume, fine-tuning); what the ``objective``
    needs of the data (:meth:`~csip.train.objectives.base.Objective.check_data`: labels for the
    supervised baseline).
    """
    if len(dataset) == 0:
        where = info.get("cache") or "the dataset"
        hint = " (try --split all)" if info.get("split") else ""
        raise DataError(f"{where} (split {info.get('split')!r}) holds no items: nothing to train on{hint}")
    (r, k), _ = item_shapes(dataset[0])
    want = (info.get("n_levels"), info.get("n_angles"))
    if None not in want and (r, k) != tuple(want):
        raise DataError(f"items' banners are {r}×{k} but the manifest says {want[0]}×{want[1]}")
    if model_shape is not None and (r, k) != tuple(model_shape):
        raise DataError(
            f"the data's banners are {r} force levels × {k} angles but the model was built for "
            f"{model_shape[0]} × {model_shape[1]}: use a cache computed with the same descriptor settings"
        )
    if objective is not None:
        why = objective.check_data(lambda: dataset_labels(dataset))
        if why is not None:
            raise DataError(why)


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """The relation labels of ``dataset``'s items (int64, −1 unknown): its ``labels``, a cache's
    labels of the selected items, else those of its first 2,048 items."""
    labels = getattr(dataset, "labels", None)
    if labels is None and hasattr(dataset, "cache") and hasattr(dataset, "indices"):  # a CacheDataset
        labels = np.asarray(dataset.cache.labels)[np.asarray(dataset.indices)]
    if labels is None:
        labels = [int(dataset[i]["label"]) for i in range(min(len(dataset), 2048))]
    return np.asarray(labels, dtype=np.int64)


def default_loader_workers(cuda: bool) -> int:
    """DataLoader workers per training process when none are asked for.

    CPU: 0 (memmap reads are cheap and the cores are needed for compute). CUDA: the node's
    usable cores shared among its processes (``LOCAL_WORLD_SIZE`` under torchrun), one left to
    each process itself, at most 16. Measured on an H100 with 16 cores (ResNet18, 224 px, batch
    256, bf16; ``benches/bench_train.py``): 8 workers fed 59-69 % of the model-bound rate, 15
    workers 87-92 %.
    """
    if not cuda:
        return 0
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE") or 1))
    return max(1, min(16, cache_writer.usable_cores() // local - 1))


def batch_feed(dataset: Dataset, global_batch: int, seed: int, rank: int, world: int, device: torch.device,
               keys: tuple[str, ...], workers: int | None, flip: bool, channels_last: bool):
    """The training batches: a function ``(epoch, start) → iterator`` of the batches of ``epoch``
    from its ``start``-th on, on ``device``, only ``keys``, flipped when ``flip``.

    A cache (a plain :class:`~csip.cache.CacheDataset`) is read a whole batch at a time by a
    :class:`csip.cache.batches.BatchReader` (``workers``: reader threads, default
    :func:`~csip.cache.batches.default_reader_threads`); any other dataset goes through a
    ``DataLoader`` (``workers`` processes, default :func:`default_loader_workers`) over
    :class:`EpochBatchSampler`, then :func:`to_device` and :func:`hflip_batch` with the rank's
    slice of :func:`flip_mask`. Both give the same batches.
    """
    cuda = device.type == "cuda"
    if type(dataset) is CacheDataset and not dataset.with_masks:
        reader = BatchReader(dataset.cache, dataset.split, global_batch, seed, rank, world, keys=keys,
                             device=device, flip=flip, channels_last=channels_last, threads=workers,
                             rows=dataset.indices)
        return reader.epoch

    workers = workers if workers is not None else default_loader_workers(cuda)
    sampler = EpochBatchSampler(len(dataset), global_batch, seed, 0, rank, world)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=cuda,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
                        worker_init_fn=loader_worker_init if workers > 0 else None)
    local = global_batch // world

    def epoch_batches(epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        sampler.set_epoch(epoch, start)
        for step, raw in enumerate(loader, start):
            batch = to_device(raw, device, keys, channels_last)
            if flip:
                batch = hflip_batch(batch, flip_mask(seed, epoch, step, global_batch)[rank * local:(rank + 1) * local])
            yield batch

    return epoch_batches

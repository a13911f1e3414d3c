"""Training: C-SIP contrastive pretraining and the supervised baselines.

:func:`train` runs one training job described by a :class:`TrainConfig` over a cache (see
:mod:`csip.cache`) or any dataset yielding the cache's item dicts::

    {"image": uint8 (3, S, S), "sfb": float32 (R, K), "boxes": float32 (2, 4),
     "label": int64 (−1 = unknown), "index": int64}

What makes it fast and exact:

- uint8 images travel to the device and are converted/normalised there (in the model);
  bf16 autocast and ``channels_last`` on CUDA; optional ``torch.compile``.
- The data order is a function of (seed, epoch) (:class:`EpochBatchSampler`) and the flip
  augmentation a function of (seed, epoch, step) (:func:`flip_mask`), so a run resumed from a
  mid-epoch checkpoint skips exactly the consumed batches and repeats the uninterrupted run.
- Horizontal flip: image columns reversed, boxes mirrored (x ↦ 1 − x), and the banner's angle
  axis mirrored exactly (θ ↦ π − θ: column k → (K − k) mod K), no recomputation.
- Data parallel under torchrun: embeddings are gathered with gradient, so negatives span the
  global batch; each process reads its own slice of every global batch.
- A non-finite loss stops the run (:class:`TrainingDiverged`) before any checkpoint of the
  corrupted state is written; the last good checkpoint stays.

Outputs in ``cfg.out``: ``params.json``, ``metrics.jsonl`` (one JSON line per logged step:
step, epoch, loss, logit_scale, lr, images_per_s, ...), ``checkpoints/last.pt`` (periodic,
atomic) and ``checkpoints/final.pt``, optionally ``tensorboard/``.

Where each part lives (the run has the shape of open_clip's ``train_one_epoch`` and
torchvision's reference loop):

- :mod:`~csip.train.config`: :class:`TrainConfig`, the one source of the options' defaults
  (torch-free: the command line reads it);
- :mod:`~csip.train.run`: :func:`train` and :func:`setup_run`, which builds a
  :class:`~csip.train.state.RunState` (everything one run carries from step to step);
- :mod:`~csip.train.objectives`: what a run optimises (C-SIP, supervised), one file each, in a
  registry;
- :mod:`~csip.train.data`: the cache opened and checked, the batches of each epoch;
- :mod:`~csip.train.loop`: :func:`~csip.train.loop.train_one_epoch`,
  :func:`~csip.train.loop.end_of_epoch` (validation, selection, the epoch's checkpoint);
- :mod:`~csip.train.step`: the forward pass and its loss, shared by training, validation and
  ``benches/bench_train.py``;
- :mod:`~csip.train.validation`: one pass over the val split (val loss, the features the
  selection ranks); :mod:`~csip.train.selection`: ``best.pt`` on a val metric;
- :mod:`~csip.train.loss`: the contrastive loss (InfoNCE both ways) and the supervised one;
- :mod:`~csip.train.schedule`: AdamW and the warm-up + cosine schedule;
- :mod:`~csip.train.checkpointer`: last/final/best checkpoints; :mod:`~csip.train.resume` and
  :mod:`~csip.train.rng`: exact resume; :mod:`~csip.train.loss_monitor`: divergence;
  :mod:`~csip.train.metrics`: ``metrics.jsonl``.

The names below are imported on first use (``from csip.train import train, TrainConfig``), so
that importing :mod:`csip.train.config` does not import torch.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {
    "train": "run", "setup_run": "run", "check_options": "run",
    "TrainConfig": "config", "SYNTHETIC_DEFAULTS": "config", "SELECTABLE": "config",
    "DataError": "data", "open_cache": "data", "check_data": "data", "batch_feed": "data",
    "default_loader_workers": "data",
    "warmup_cosine": "schedule", "param_groups": "schedule",
    "read_params": "resume", "resumed_config": "resume",
    "TrainingDiverged": "loss_monitor", "read_metrics": "metrics", "validate": "validation",
    "forward_loss": "step", "batch_keys": "step", "to_device": "step",
    "build_synthetic_cache": "..cache.synthetic", "EpochBatchSampler": "..cache.order",
    "epoch_permutation": "..cache.order", "flip_mask": "..cache.order", "hflip_batch": "..cache.order",
    "mirror_boxes": "..cache.order", "mirror_labels": "..cache.order", "mirror_sfb": "..cache.order",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

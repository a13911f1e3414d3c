"""The pieces of the training loop that :mod:`csip.train` (the public entry point) puts together.

In the shape of open_clip's ``train_one_epoch`` and torchvision's classification reference:

- :mod:`~csip.training.state`: :class:`RunState`, everything one run carries from step to step;
- :mod:`~csip.training.loop`: :func:`train_one_epoch` and :func:`end_of_epoch` (validation,
  checkpoint selection, the epoch's checkpoint);
- :mod:`~csip.training.step`: the batch keys, the move to the device and the forward pass with
  its loss, shared by training, validation and ``benches/bench_train.py``;
- :mod:`~csip.training.validation`: one pass over the val split giving the val loss and the
  features the checkpoint selection ranks;
- :mod:`~csip.training.checkpointer`: :class:`Checkpointer` (last/final/best, atomic, resume);
- :mod:`~csip.training.loss_monitor`: :class:`LossMonitor` (buffered loss reads, divergence);
- :mod:`~csip.training.metrics`: ``metrics.jsonl`` written (:class:`MetricsWriter`) and read.

This package imports nothing itself, so that importing one module does not import the others.
"""

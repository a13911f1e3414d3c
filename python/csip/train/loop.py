"""The training loop: :func:`train_one_epoch`, then :func:`end_of_epoch`, until the schedule ends;
:func:`finish` writes the final checkpoint. Each works on a :class:`~csip.train.state.RunState`.

Checkpoints and stops keep a run exact: ``last.pt`` is written at every epoch end (as the start
of the next epoch), every ``save_every`` steps and when a signal stops the run, always after the
pending losses were checked (:class:`~csip.train.loss_monitor.LossMonitor`), so a resumed run
repeats the uninterrupted one and no diverged state is ever saved.
"""

from __future__ import annotations

import signal
import time

import torch

from ..base import distributed as dist_utils
from ..base.preemption import Interrupted, StopFlag
from .state import RunState
from .step import forward_loss
from .validation import validation_record


def train_one_epoch(run: RunState, stop_flag: StopFlag) -> None:
    """Train ``run.epoch`` from batch ``run.step_in_epoch`` to its end, or to the run's last
    step (then ``run.stopped``). Logs every ``log_every`` steps, saves ``last.pt`` every
    ``save_every`` steps; a stop request (SIGTERM/SIGINT) saves and raises :class:`Interrupted`."""
    cfg = run.cfg
    run.net.train()
    for batch in run.feed(run.epoch, run.step_in_epoch):
        logit_scale = _optimizer_step(run, batch)
        is_last = run.step >= run.total_steps
        if run.step % cfg.log_every == 0 or is_last:
            _log_train(run, logit_scale)
        if cfg.save_every and run.step % cfg.save_every == 0 and not is_last:
            run.monitor.flush()
            run.save(run.epoch, run.step_in_epoch)
        if is_last:
            run.stopped = True
            return
        if stop_flag.poll(run.device):  # every process stops after the same step
            _save_and_stop(run, stop_flag)


def _optimizer_step(run: RunState, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """One step on ``batch``: forward, backward, AdamW, schedule; counters advanced and the
    process-averaged loss handed to the monitor. → the logit scale (C-SIP) or None."""
    loss, logit_scale = forward_loss(run.net, batch, run.objective, run.amp)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    run.step += 1
    run.step_in_epoch += 1
    run.throughput.images += run.global_batch
    run.monitor.add(run.step, run.epoch, dist_utils.all_reduce_mean(loss))
    if run.bar is not None:
        run.bar.update(1)
    return logit_scale


def _log_train(run: RunState, logit_scale: torch.Tensor | None) -> None:
    """A ``"kind": "train"`` record of this step (after checking the pending losses)."""
    checked = run.monitor.flush()
    now = time.perf_counter()
    images_per_s = run.throughput.rate(now)
    run.last_loss = checked[-1][2]
    rec = {"kind": "train", "step": run.step, "epoch": run.epoch, "loss": run.last_loss,
           "lr": run.scheduler.get_last_lr()[0], "images_per_s": images_per_s, "time": time.time()}
    if logit_scale is not None:
        rec["logit_scale"] = float(logit_scale.detach())
    run.metrics.log(rec)
    if run.bar is not None:
        run.bar.set_postfix(loss=f"{run.last_loss:.4f}", ips=f"{images_per_s:.0f}")
    run.throughput.restart(now)


def _save_and_stop(run: RunState, stop_flag: StopFlag) -> None:
    """Save ``last.pt`` at this step (unless the periodic save just did) and raise :class:`Interrupted`."""
    run.monitor.flush()
    cfg = run.cfg
    if not (cfg.save_every and run.step % cfg.save_every == 0):
        run.save(run.epoch, run.step_in_epoch)
    last = run.checkpointer.last
    raise Interrupted(stop_flag.signum or int(signal.SIGTERM),
                      f"stopped after step {run.step} of {run.total_steps}; checkpoint {last}",
                      checkpoint=str(last), step=run.step)


def end_of_epoch(run: RunState) -> None:
    """After a whole epoch: validate (main process), keep ``best.pt`` when it is the best so
    far, then move to the next epoch and save ``last.pt`` as its start. A run that stopped
    within an epoch (``max_steps``) only has its losses checked."""
    if not run.stopped or run.step_in_epoch == run.steps_per_epoch:
        run.monitor.flush()
        if run.main and run.val_dataset is not None and len(run.val_dataset) >= 2:
            _validate_and_select(run)
        dist_utils.barrier()
    if not run.stopped:
        run.epoch, run.step_in_epoch = run.epoch + 1, 0
        if run.epoch < run.cfg.epochs:
            run.save(run.epoch, 0)


def _validate_and_select(run: RunState) -> None:
    """The epoch's ``"kind": "val"`` record (one pass over the val split) and, with
    ``cfg.select``, ``best.pt`` when the record beats every earlier one."""
    batch_size = max(2, min(run.global_batch, len(run.val_dataset)))
    rec = validation_record(run.model, run.val_dataset, batch_size, run.device, run.objective, run.amp,
                            run.channels_last, retrieval=run.tracker is not None)
    if not rec:
        return
    rec = {"kind": "val", "step": run.step, "epoch": run.epoch, **rec}
    run.metrics.log(rec)
    if run.tracker is not None and run.tracker.update(rec):
        run.save_best()


def finish(run: RunState) -> None:
    """Check the last losses and write ``final.pt`` (and ``last.pt``) at the run's counters."""
    run.monitor.flush()
    run.save(run.epoch, run.step_in_epoch, final=True)


__all__ = ["end_of_epoch", "finish", "train_one_epoch"]

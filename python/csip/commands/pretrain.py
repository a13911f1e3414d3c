"""``csip pretrain``: C-SIP contrastive pretraining (or a supervised baseline) over a cache.

Examples::

    csip pretrain --out runs/demo                      # built-in synthetic scenes, CPU-sized
    csip pretrain --cache runs/coco --model resnet18+2d --out runs/coco-r18-2d
    torchrun --nproc-per-node 8 -m csip.cli pretrain --cache runs/coco --model resnet18 --out runs/r18
    csip pretrain --out runs/coco-r18-2d --resume      # continue after an interruption
    csip pretrain --export runs/coco-r18-2d/encoder --out runs/coco-r18-2d   # export only
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

import click

from ..base.files import naming_disk_full
from ..base.preemption import EXIT_INTERRUPTED, Interrupted, exit_interrupted, signals_interrupt
from ..models.registry import TABLE1_MODELS
from ..train.config import SELECTABLE, TrainConfig
from ..train.objectives import OBJECTIVES
from .command_line import typed_command
from .failures import fail, reporting_errors
from .resume_check import kept_options, resume_conflicts

# Only torch-free modules above: `csip --help` imports this module to list the commands, and
# torch takes over a second to import. The training modules are imported where they are used.

#: The names of :data:`csip.models.IMAGE_ENCODERS`, from a torch-free module (a test checks they agree).
_MODELS = sorted(TABLE1_MODELS)
_T = TrainConfig(out="")  # the one source of the options' defaults


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--cache", type=str, multiple=True, default=(),
              help="Cache directory from `csip precompute`; given several times (or a glob such as "
                   "'shards/part-*', or @LIST: a file naming one cache per line), the union of those caches, "
                   "which must share their descriptor and image size. Default: the built-in synthetic scenes, "
                   "precomputed into OUT/cache (small defaults: --synthetic-n 1000 scenes at 64 px, "
                   "3 epochs, batch 64: about 3-4 minutes on 2 busy CPU cores, precompute included).")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default=_T.split, show_default=True,
              help="Cache split to train on: train, val, test or all.")
@click.option("--model", type=click.Choice(_MODELS), default=_T.model, show_default=True,
              help="Image encoder (paper, Table 1).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run directory: params.json, metrics.jsonl, checkpoints/.")
@click.option("--supervised", is_flag=True, default=_T.supervised,
              help="Supervised baseline: same encoder + linear classifier, cross-entropy on the relation "
                   "labels (items with label -1 are ignored).")
@click.option("--objective", type=click.Choice(list(OBJECTIVES)), default=None,
              help="Training objective (csip.train.objectives); default: csip, or supervised with --supervised.")
@click.option("--labelled-only/--all-items", "labelled_only", default=None,
              help="Train on the items with a relation label only, or on every item. Default: the labelled "
                   "items for --supervised over several caches, else every item.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs. Default: 20 with --cache, 3 on the synthetic scenes.")
@click.option("--batch-size", type=click.IntRange(min=2), default=None,
              help="Global batch size (all processes). Default: 256 with --cache, 64 on the synthetic scenes.")
@click.option("--lr", type=float, default=_T.lr, show_default=True, help="Peak learning rate (AdamW).")
@click.option("--weight-decay", type=float, default=_T.weight_decay, show_default=True,
              help="AdamW weight decay (not applied to biases, norms and the logit scale).")
@click.option("--warmup", type=float, default=_T.warmup, show_default=True,
              help="Linear warm-up: a fraction of all steps (< 1) or a number of steps (>= 1); then cosine decay.")
@click.option("--seed", type=click.IntRange(min=0), default=_T.seed, show_default=True,
              help="Seed of the initialisation, the data order and the flips.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Loader helpers per process. A cache is read a whole batch at a time by this many "
                   "background threads (default: 0 on CPU, 2 on CUDA); another dataset goes through a "
                   "DataLoader with this many worker processes (default: 0 on CPU; on CUDA the node's "
                   "cores per process, minus one, at most 16).")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available).")
@click.option("--compile", "compile_", is_flag=True, default=_T.compile, help="torch.compile the model.")
@click.option("--amp/--no-amp", default=_T.amp, show_default=True, help="bf16 autocast (CUDA only).")
@click.option("--embed-dim", type=click.IntRange(min=2), default=_T.embed_dim, show_default=True,
              help="Dimension of the shared image–spatial space.")
@click.option("--feature-dim", type=click.IntRange(min=2), default=_T.feature_dim, show_default=True,
              help="Width of the encoders' features (before the heads).")
@click.option("--logit-scale", type=float, default=_T.logit_scale, show_default=True,
              help="Initial logit scale 1/τ (clamped at 100).")
@click.option("--fixed-logit-scale", is_flag=True, help="Keep the logit scale fixed instead of learning it.")
@click.option("--label-smoothing", type=float, default=_T.label_smoothing, show_default=True,
              help="Label smoothing of both contrastive cross-entropies.")
@click.option("--flip/--no-flip", default=_T.flip, show_default=True,
              help="Random horizontal flips, with the exact mirror of the banner (θ -> π - θ).")
@click.option("--width", type=click.IntRange(min=1), default=_T.width, show_default=True,
              help="ResNet18 stem channels, doubled at each stage (64: torchvision's ResNet18; 32: a quarter "
                   "of the compute).")
@click.option("--select", type=click.Choice(SELECTABLE),
              default=None, help="Keep the checkpoint with the best value of this val metric as "
                                 "OUT/checkpoints/best.pt (evaluations of OUT then use it); default: none.")
@click.option("--pretrained", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Local ImageNet ResNet18 weights (.pth or .safetensors); default: from scratch.")
@click.option("--save-every", type=click.IntRange(min=0), default=_T.save_every, show_default=True,
              help="Steps between periodic checkpoints (0: at epoch ends only).")
@click.option("--log-every", type=click.IntRange(min=1), default=_T.log_every, show_default=True,
              help="Steps between metrics.jsonl records.")
@click.option(
    "--tensorboard", is_flag=True, default=_T.tensorboard, help="Also write TensorBoard logs to OUT/tensorboard."
)
@click.option("--resume", is_flag=True, default=_T.resume, help="Resume from OUT/checkpoints/last.pt.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many steps.")
@click.option("--synthetic-n", type=click.IntRange(min=2), default=_T.synthetic_n, show_default=True,
              help="Synthetic scenes to precompute when no --cache is given.")
@click.option("--image-size", type=click.IntRange(min=16), default=_T.synthetic_image_size, show_default=True,
              help="Image size of the synthetic cache (no --cache; a cache keeps its own).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="After training (or alone, with an existing run in --out), export the image encoder "
                   "to this directory (model.safetensors + config.json) for `csip.load_encoder`.")
@click.option("--progress/--no-progress", default=_T.progress, show_default=True, help="Progress bar.")
@click.pass_context
def pretrain(ctx, out, resume, **_options) -> None:
    """Train an image encoder with C-SIP (or, with --supervised, on relation labels).

    SIGTERM or SIGINT (preemption, Ctrl-C) finishes the current step, saves
    OUT/checkpoints/last.pt and exits with code 75; `--resume` then continues the run exactly,
    with the options it was started with (those given again must agree). Before training starts
    (the built-in cache's precompute included) a signal stops at once, keeping finished cache
    chunks, also with code 75. Bad input (a damaged cache, a bad option value, an unreadable
    checkpoint) exits with code 2.
    """
    out_dir = Path(out)
    try:
        with reporting_errors(), naming_disk_full(out_dir), signals_interrupt():
            params = dict(ctx.params)
            if resume:
                params.update(_resumed_options(ctx, out_dir))
            _pretrain(params)
    except Interrupted:
        raise
    except KeyboardInterrupt:  # a signal outside the training steps (start-up, precompute, export)
        resume_line = (
            _resume_line(out_dir)
            if (out_dir / "checkpoints" / "last.pt").is_file()
            else (
                shlex.join(typed_command("pretrain") or ["csip", "pretrain", "--out", str(out_dir)])
                + " (the same options)"
            )
        )
        if os.environ.get("RANK", "0") == "0":  # once under torchrun (csip.base.distributed may not be loaded)
            click.echo(f"csip pretrain: interrupted outside the training steps; finished cache chunks and "
                       f"checkpoints are kept. Rerun: {resume_line}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        distributed = sys.modules.get(
            "csip.base.distributed"
        )  # never imported (a signal during start-up): nothing to free
        if distributed is not None:
            distributed.cleanup()


def _pretrain(options: dict) -> None:
    """The command's body (its parsed options): export only, or train (or resume), report."""
    from ..base import distributed
    from ..models.encoder import export_encoder

    out, export_dir = Path(options["out"]), options["export_dir"]
    final = out / "checkpoints" / "final.pt"
    if export_dir is not None and final.is_file() and not options["resume"]:
        # export only: the run is finished
        export_encoder(final, export_dir)
        click.echo(f"exported {final} -> {export_dir}", err=True)
        return
    cfg = TrainConfig.from_options(options)
    summary = _train(cfg, out)
    if distributed.is_main():
        _report(summary, export_dir)


def _resumed_options(ctx, out: Path) -> dict:
    """With ``--resume`` and a ``last.pt`` in ``out``: fail (exit 2) when the options given
    differ from those the run was made with (:func:`~csip.commands.resume_check.resume_conflicts`);
    else the run's own values of the options not given that do not define it (device, workers,
    logging, checkpoint frequency: :func:`~csip.commands.resume_check.kept_options`)."""
    from ..models.checkpoint import load_checkpoint

    last = out / "checkpoints" / "last.pt"
    if not last.is_file():
        return {}  # training says that there is nothing to resume
    # memory-mapped: only the record is read here; training reads the tensors when it resumes
    stored = load_checkpoint(last, mmap=True).get("train_config", {})
    conflicts = resume_conflicts(ctx, stored)
    if conflicts:
        fail(f"--resume: {out} holds a run made with other options:\n  " + "\n  ".join(conflicts)
             + "\nDrop them to continue that run as it was, or choose another --out for a new run.")
    return kept_options(ctx, stored)


def _resume_line(out: Path) -> str:
    return f"csip pretrain --out {shlex.quote(str(out))} --resume"


def _train(cfg: TrainConfig, out: Path) -> dict:
    """Run :func:`csip.train.train`; returns its summary. Interrupted: exit 75 with the command
    that resumes; missing or existing files: exit 2; divergence: exit 1. A run that failed
    before writing anything leaves no empty ``out``."""
    from ..base import distributed
    from ..train.loss_monitor import TrainingDiverged
    from ..train.run import train

    existed = out.exists()
    try:
        return train(cfg)
    except Interrupted as exc:
        exit_interrupted(exc, _resume_line(out) + (" (under torchrun: the same launch command, with --resume)"
                                                   if distributed.world_size() > 1 else ""),
                         echo=distributed.is_main())
    except (FileExistsError, FileNotFoundError) as exc:
        fail(str(exc))
    except TrainingDiverged as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if not existed:
            with contextlib.suppress(OSError):
                out.rmdir()


def _report(summary: dict, export_dir: Path | None) -> None:
    """Print how the run ended (and export the encoder with ``--export``)."""
    from ..models.encoder import export_encoder

    if summary["steps_run"] == 0:
        click.echo(f"nothing left to do: the run is complete ({summary['steps']} steps); checkpoint "
                   f"{summary['checkpoint']}", err=True)
    else:
        click.echo(f"done: {summary['steps']} steps, last loss {summary['loss']:.4f}; checkpoint "
                   f"{summary['checkpoint']}", err=True)
    if export_dir is not None:
        export_encoder(summary["checkpoint"], export_dir)
        click.echo(f"exported the image encoder to {export_dir}", err=True)


if __name__ == "__main__":  # pragma: no cover
    pretrain(sys.argv[1:])

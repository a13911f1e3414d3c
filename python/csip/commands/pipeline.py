"""``csip run``: the built-in study in one command (a thin layer over :mod:`csip.study`).

::

    csip run [--out csip-out] [--encoders resnet18,2d | all] [--seeds 0,1,2] [--n 5000]
             [--image-size 32] [--epochs E] [--features embed|pre] [--budget-check/--no-budget-check]
             [--eval-split test|val] [--task cbir|srr|vqa|all] ...

Precompute → pretrain (per encoder and seed: supervised and C-SIP, each checkpoint chosen on
val) → ``csip eval`` (per encoder and seed: random init, supervised, C-SIP) → ``summary.md`` /
``summary.json`` (Table 2 rows, verdicts, Table 3, the budget check, Fig. 4, and the ``csip
eval`` command behind every number). Defaults: :class:`csip.study.StudyConfig`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..base.files import naming_disk_full
from ..base.preemption import EXIT_INTERRUPTED, Interrupted, exit_interrupted, signals_interrupt
from ..eval.config import CHOICES, TASKS
from ..study.config import TABLE1_ENCODERS, StudyConfig
from .command_line import typed_command
from .failures import reporting_errors

_D = StudyConfig()  # the one source of defaults


def _parse_seeds(value: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in str(value).replace(" ", "").split(",") if s != "")
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint="--seeds") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise click.BadParameter(f"expected distinct seeds >= 0, got {value!r}", param_hint="--seeds")
    return seeds


def _parse_encoders(value: str) -> tuple[str, ...]:
    if value.strip() == "all":
        return TABLE1_ENCODERS
    encs = tuple(e for e in value.replace(" ", "").split(",") if e)
    bad = [e for e in encs if e not in TABLE1_ENCODERS]
    if bad or not encs or len(set(encs)) != len(encs):
        raise click.BadParameter(f"expected distinct names among {', '.join(TABLE1_ENCODERS)} or 'all', got {value!r}",
                                 param_hint="--encoders")
    return encs


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(_D.out),
    show_default=True,
    help="Everything goes here: cache/, runs/<encoder>/..., eval/<encoder>/seed<k>/, summary.md, summary.json.",
)
@click.option("--encoders", default=",".join(_D.encoders), show_default=True,
              help="Table 1 image encoders, comma-separated, or 'all' (resnet18, 2d, drnet, resnet18+2d).")
@click.option(
    "--seeds",
    default=",".join(map(str, _D.seeds)),
    show_default=True,
    help="Comma-separated seeds: per encoder and seed, one supervised and one C-SIP run and a random-init row.",
)
@click.option("--n", type=click.IntRange(min=20), default=_D.n, show_default=True,
              help="Synthetic scenes (80% train, 10% val, 10% test).")
@click.option("--image-size", type=click.IntRange(min=16), default=_D.image_size, show_default=True,
              help="Side of the cached crops.")
@click.option("--width", type=click.IntRange(min=1), default=_D.width, show_default=True,
              help="ResNet18 stem channels of the image encoders (64: torchvision's ResNet18).")
@click.option("--epochs", type=click.IntRange(min=1), default=_D.epochs, show_default=True,
              help="Training epochs (C-SIP and supervised alike); the checkpoint is chosen on val.")
@click.option("--batch-size", type=click.IntRange(min=2), default=_D.batch_size, show_default=True)
@click.option("--lr", type=float, default=_D.lr, show_default=True, help="Peak AdamW learning rate.")
@click.option("--label-smoothing", type=float, default=_D.label_smoothing, show_default=True,
              help="Label smoothing of the contrastive loss.")
@click.option("--n-angles", type=click.IntRange(min=1), default=_D.n_angles, show_default=True,
              help="Directions of the banner over [0, π).")
@click.option("--forces", default=_D.forces, show_default=True,
              help="Force levels r: 'default' (57 levels, step 0.08), 'START:STOP:STEP' or 'r1,r2,...'.")
@click.option(
    "--data-seed",
    type=click.IntRange(min=0),
    default=_D.data_seed,
    show_default=True,
    help="Seed of the synthetic scenes.",
)
@click.option("--eval-split", type=click.Choice(["test", "val"]), default=_D.eval_split, show_default=True,
              help="Split of the evaluations (choose settings on val, report test).")
@click.option("--task", "tasks", multiple=True, type=click.Choice(CHOICES["tasks"]), default=("all",),
              show_default=True, help="Evaluation task(s); CBIR always runs.")
@click.option("--features", type=click.Choice(CHOICES["features"]), default=_D.features, show_default=True,
              help="C-SIP rows: 'embed' ranks in the shared image-banner space g_v∘f_v, 'pre' by f_v.")
@click.option("--vqa-epochs", type=click.IntRange(min=1), default=_D.vqa_epochs, show_default=True,
              help="Epochs of the VQA fusion heads (the best val epoch is kept).")
@click.option("--budget-check/--no-budget-check", default=_D.budget_check, show_default=True,
              help="Train seed 0 again with twice the epochs and show the val metric at both budgets.")
@click.option("--text-encoder", type=click.Path(path_type=Path), default=None,
              help="Local text encoder for VQA (default: the bundled MiniLM).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch and the sFB engine (default: all cores).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--figures/--no-figures", default=_D.figures, show_default=True, help="Eval figures, Fig. 4, sFB demo.")
@click.option("--progress/--no-progress", default=_D.progress, show_default=True, help="Progress bars.")
@click.option("--quiet", is_flag=True, help="Print only the summary, not every evaluation's tables.")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run the study a TOML file describes (preset 'paper': the paper's protocol on the real "
                   "datasets; 'synthetic': this built-in study); the other options above are then not taken.")
@click.option("--print-config", "print_config", type=click.Choice(["paper", "synthetic"]), default=None,
              help="Print a commented config file of this preset (to edit, then --config), and exit.")
@click.option("--dry-run", is_flag=True, help="Print the plan (caches, trainings, evaluations) with the expected "
                                              "sizes on disk, and exit without writing anything.")
@click.pass_context
def run(
    ctx,
    out,
    encoders,
    seeds,
    n,
    image_size,
    width,
    epochs,
    batch_size,
    lr,
    label_smoothing,
    n_angles,
    forces,
    data_seed,
    eval_split,
    tasks,
    features,
    vqa_epochs,
    budget_check,
    text_encoder,
    threads,
    device,
    figures,
    progress,
    quiet,
    config,
    print_config,
    dry_run,
) -> None:
    """Precompute → pretrain (C-SIP and supervised, per encoder and seed) → eval → summary.

    Runs on the built-in synthetic scenes; rerunning resumes (finished stages are skipped).
    """
    if print_config is not None:
        from ..study.config_file import template

        click.echo(template(print_config), nl=False)
        return

    if config is not None:
        typed = [p.opts[0] for p in ctx.command.params if p.name not in ("config", "dry_run", "quiet", "print_config")
                 and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]
        if typed:
            raise click.UsageError(
                f"--config {config}: {', '.join(typed)} cannot be given beside it (set them in the file)"
            )
        with reporting_errors():
            from ..study.config_file import load

            cfg = load(config)
        _go(cfg, dry_run, quiet or None, config)
        return
    task_list = TASKS if "all" in tasks else tuple(sorted(set(tasks), key=TASKS.index))
    try:
        cfg = StudyConfig(out=str(out), encoders=_parse_encoders(encoders), seeds=_parse_seeds(seeds), n=n,
                          image_size=image_size, width=width, epochs=epochs, batch_size=batch_size, lr=lr,
                          label_smoothing=label_smoothing, n_angles=n_angles, forces=forces, data_seed=data_seed,
                          eval_split=eval_split, tasks=task_list, features=features, vqa_epochs=vqa_epochs,
                          budget_check=budget_check,
                          text_encoder=None if text_encoder is None else str(text_encoder), threads=threads,
                          device=device, figures=figures, progress=progress, quiet=quiet)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _go(cfg, dry_run, None, None)


def _go(cfg, dry_run: bool, quiet: bool | None, config: Path | None) -> None:
    """Print the plan (``dry_run``) or run the study, mapping its failures to exit codes."""
    from ..study import run_study  # here, not at the top: keeps `csip --help` fast (torch)
    from ..study.run import dry_run as describe_plan
    from ..train.loss_monitor import TrainingDiverged

    if dry_run:
        with reporting_errors():
            click.echo(describe_plan(cfg))
        return
    typed = typed_command("run")
    resume = shlex.join(typed) if typed else (f"csip run --config {shlex.quote(str(config))}" if config else
                                              f"csip run --out {shlex.quote(str(cfg.out))} (with the same options)")
    try:
        with reporting_errors(), naming_disk_full(cfg.out), signals_interrupt():
            run_study(cfg, echo=click.echo, quiet=quiet)
    except TrainingDiverged as exc:
        raise click.ClickException(str(exc)) from None
    except Interrupted as exc:  # a training stopped cleanly at a step end, its checkpoint saved
        exit_interrupted(exc, resume)
    except KeyboardInterrupt:  # SIGINT or SIGTERM elsewhere: finished stages are kept
        click.echo(f"csip run: interrupted; every finished stage is kept. Resume with: {resume}", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    run(sys.argv[1:])

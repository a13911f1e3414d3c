"""``csip precompute``: dataset -> cache of pre-resized images, banners and boxes.

::

    csip precompute [SOURCE] --out DIR [--n N] [--seed S] [--image-size 224] [--n-angles 180]
                    [--forces default] [--normalize max] [--workers N] [--chunk 512]
                    [--shard i/n] [--threads T] [--keep-chunks] [--no-progress]
                    [--images DIR] [--sam-checkpoint FILE] [-O KEY=VALUE ...]
    csip precompute merge SHARD_DIR... --out DIR
    csip precompute info DIR [--verify]
    csip precompute options [SOURCE]

SOURCE is ``synthetic`` (the default), ``coco:PATH/instances.json``, ``spatialsense:PATH``,
``unrel:PATH``, ``gqa:PATH``, ``folder:DIR`` (see :mod:`csip.data.source`) or
``python:MODULE:CALLABLE`` (any object following the Source protocol). The cache format is
described in :mod:`csip.cache`. Killed runs resume when the same command is rerun.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path
from typing import Any

import click

from ..base.checks import check_writable_dir
from ..base.errors import CsipInputError, UnwritableOutput
from ..base.preemption import Interrupted, exit_interrupted, signals_interrupt
from .command_line import typed_command
from .failures import fail
from .options import key_values

#: Subcommands of the group; anything else is the default ``run`` command.
_SUBCOMMANDS = ("run", "merge", "info", "options")


class _DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, goes to ``run``.

    So ``csip precompute synthetic --out DIR`` and ``csip precompute --out DIR`` both mean
    ``csip precompute run ...``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        i, n = (int(v) for v in value.split("/"))
    except ValueError as exc:
        raise click.BadParameter(f"expected i/n (e.g. 0/4), got {value!r}", param_hint="--shard") from exc
    if not (n >= 1 and 0 <= i < n):
        raise click.BadParameter(f"need 0 <= i < n, got {value!r}", param_hint="--shard")
    return i, n


def _shard_from_env() -> tuple[int, int] | None:
    """``(RANK, WORLD_SIZE)`` when launched by torchrun (or any launcher that sets them; a
    world of 1 is no sharding). A malformed pair is a usage error: every process would
    otherwise build the whole cache."""
    ws = os.environ.get("WORLD_SIZE")
    rk = os.environ.get("RANK")
    if ws is None or rk is None:
        return None
    try:
        i, n = int(rk), int(ws)
    except ValueError:
        i, n = -1, 0
    if n < 1 or not 0 <= i < n:
        raise click.UsageError(f"RANK={rk!r} WORLD_SIZE={ws!r} in the environment: need integers with "
                               "0 <= RANK < WORLD_SIZE (or give --shard i/n, which takes precedence)")
    return (i, n) if n > 1 else None


def _parse_opt(items: tuple[str, ...]) -> dict[str, Any]:
    return dict(key_values(items, "-O/--source-opt"))


def _fail(exc: Exception) -> None:
    fail(str(exc))


def _interrupted(out: Path, got: list[int], kept: str | None = None) -> None:
    """After SIGINT or SIGTERM stopped a build (or a merge, saying what it ``kept``): what is
    kept, how to resume; exit code 75."""
    from ..cache.chunks import list_chunks  # numpy: lazy (see run); the build loaded it already

    typed = typed_command("precompute")
    again = shlex.join(typed) if typed else f"the same `csip precompute ... --out {out}` command"
    kept = kept or f"stopped; {len(list_chunks(out))} finished chunk(s) are kept in {out}"
    exit_interrupted(Interrupted(got[0] if got else signal.SIGINT, kept), again)


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def precompute() -> None:
    """Precompute a cache (images cropped and resized, sFBs, boxes) from a dataset.

    `csip precompute [SOURCE] --out DIR` runs it (SOURCE defaults to the built-in synthetic
    scenes); `csip precompute merge` merges shard directories; `csip precompute info` prints a
    cache's manifest summary; `csip precompute options [SOURCE]` lists each source's -O options,
    their defaults and meaning. See `csip precompute run --help` for the options.
    """


@precompute.command("run")
@click.argument("source", required=False, default="synthetic")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache directory ('{rank}' in it becomes the shard index i).",
)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=None,
    help="Number of items (synthetic: how many scenes to make; other sources: the first N). "
    "Default: the source's own (all items).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the synthetic scenes (for sources that take one).",
)
@click.option(
    "--image-size",
    type=click.IntRange(min=8),
    default=224,
    show_default=True,
    help="Side S of the stored square crops.",
)
@click.option(
    "--n-angles",
    type=click.IntRange(min=1),
    default=180,
    show_default=True,
    help="Directions θ in [0, π) of the banner.",
)
@click.option(
    "--forces",
    default="default",
    show_default=True,
    help="Force levels r: 'default' (57 levels, -2.24..2.24 step 0.08), 'START:STOP:STEP' or 'r1,r2,...'.",
)
@click.option(
    "--normalize",
    type=click.Choice(["max", "none"]),
    default="max",
    show_default=True,
    help="'max': each force level divided by its max over θ; 'none': raw.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes (decode, masks, crop, resize, sFB). Default: one per usable core "
    "(2 for sources running SAM). 0: everything in the main process.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="sFB threads with --workers 0 (default: all cores); workers use one each.",
)
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Items per chunk (the unit of work, resumption and sharding).",
)
@click.option(
    "--shard",
    default=None,
    help="i/n: compute only the chunks c with c mod n == i, then `csip precompute merge` "
    "(default: RANK/WORLD_SIZE from the environment, as under torchrun, else 0/1). "
    "Shards may share one --out or use their own ('{rank}' in --out).",
)
@click.option("--keep-chunks", is_flag=True, help="Keep DIR/chunks after the final arrays are written.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option(
    "--images", type=click.Path(path_type=Path), default=None, help="Image folder (COCO, SpatialSense, UnRel, GQA)."
)
@click.option(
    "--sam-checkpoint",
    type=click.Path(path_type=Path),
    default=None,
    help="Local SAM checkpoint (box-only sources, image folders).",
)
@click.option(
    "-O",
    "--source-opt",
    "source_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other source option (value parsed as JSON when it can be), e.g. -O size=256; "
    "`csip precompute options SOURCE` lists them.",
)
def run(
    source: str,
    out: Path,
    n: int | None,
    seed: int,
    image_size: int,
    n_angles: int,
    forces: str,
    normalize: str,
    workers: int | None,
    threads: int | None,
    chunk: int,
    shard: str | None,
    keep_chunks: bool,
    progress: bool,
    images: Path | None,
    sam_checkpoint: Path | None,
    source_opts: tuple[str, ...],
) -> None:
    """Compute (or resume) the cache of SOURCE in --out (SOURCE: synthetic by default)."""
    # the cache library imports numpy: imported here so that `csip precompute --help` stays fast
    from ..base.files import naming_disk_full  # numpy too
    from ..cache.format import CacheError
    from ..cache.writer import build

    shard_t = _parse_shard(shard) or _shard_from_env() or (0, 1)
    if "{rank}" in str(out) or "{shard}" in str(out):
        out = Path(str(out).replace("{rank}", str(shard_t[0])).replace("{shard}", str(shard_t[0])))
    opts = _parse_opt(source_opts)
    for key, value in (("images", images), ("sam_checkpoint", sam_checkpoint)):
        if value is not None:
            opts[key] = str(value)
    src, n_limit, seed_used, desc = _open_source(source, opts, n, seed, n_angles, forces, normalize, out)
    try:
        with naming_disk_full(out), signals_interrupt(then_ignore=True) as got:
            res = build(src, out, spec=source, n=n_limit, seed=seed_used, image_size=image_size, desc=desc,
                        workers=workers, chunk=chunk, shard=shard_t, n_threads=threads, keep_chunks=keep_chunks,
                        progress=progress)
    except KeyboardInterrupt:
        _interrupted(out, got)
    except (CacheError, CsipInputError) as exc:  # CsipInputError: another writer holds --out
        _fail(exc)
    if res["status"] == "complete":
        _print_built(out, res["manifest"], res["stats"])


def _open_source(source: str, opts: dict[str, Any], n: int | None, seed: int, n_angles: int, forces: str,
                 normalize: str, out: Path) -> tuple[Any, int | None, int | None, Any]:
    """``(source, n_limit, seed, descriptor)``: the source opened with ``opts`` (plus ``n`` and
    ``seed`` where it takes them), the item limit left for the build (``n`` when the source does
    not take it), the seed recorded (only where it shapes the items) and the descriptor
    parameters; a bad value, a missing file or an unwritable ``out`` exits with code 2."""
    from ..cache.writer import resolve_source, source_accepts  # numpy: lazy (see run)
    from ..descriptor import DescriptorParams

    n_limit = n
    seed_used: int | None = None  # recorded only where it shapes the items
    try:
        if n is not None and source_accepts(source, "n"):
            opts.setdefault("n", n)
            n_limit = None
        if source_accepts(source, "seed"):
            opts.setdefault("seed", seed)
            seed_used = int(opts["seed"])
        src = resolve_source(source, **opts)
        desc = DescriptorParams.make(forces, n_angles, normalize)
        check_writable_dir(out, "--out")
    except (TypeError, ValueError, FileNotFoundError, ImportError, UnwritableOutput) as exc:
        _fail(exc)
    return src, n_limit, seed_used, desc


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The lines of a source's summary (manifest ``source.summary``): for each questions file
    (GQA), its questions kept and dropped, by reason; any other entry as ``key: value``."""
    lines = []
    for key, value in summary.items():
        if key == "questions" and isinstance(value, list):
            for f in value:
                dropped = f.get("dropped") or {}
                by_count = sorted(dropped.items(), key=lambda rk: (-rk[1], rk[0]))
                why = f" ({', '.join(f'{r}: {k}' for r, k in by_count)})" if dropped else ""
                lines.append(f"questions {f.get('file')} ({f.get('role')}): {f.get('kept')} kept in "
                             f"{f.get('items')} items, {sum(dropped.values())} dropped{why}")
        else:
            lines.append(f"{key}: {json.dumps(value, sort_keys=True)}")
    return lines


#: Skipped items printed (with what each was about) after a build.
SKIPS_SHOWN = 5


def _print_built(out: Path, man: dict[str, Any], stats: dict[str, Any]) -> None:
    """One line on the finished cache (items, skipped, banner shape, image size, time, rate),
    and the skip reasons when any item was skipped."""
    counts = man["counts"]
    rate = (stats["items"] + stats["skipped"]) / stats["wall_s"] if stats.get("wall_s") else float("nan")
    click.echo(
        f"{out}: {counts['items']} items ({counts['skipped']} skipped), sFB {man['descriptor']['shape']}, "
        f"images {man['image_size']}px; {stats['wall_s']:.1f} s ({rate:.0f} pairs/s this run)",
        err=True,
    )
    for line in summary_lines(man["source"].get("summary") or {}):
        click.echo(line, err=True)
    if counts.get("masks"):
        click.echo("masks: " + ", ".join(f"{how}: {k}" for how, k in counts["masks"].items()), err=True)
    if man["skipped"]["reasons"]:
        from ..cache.assemble import skip_line  # numpy: loaded by the build already

        click.echo("skipped: " + ", ".join(f"{r}: {k}" for r, k in man["skipped"]["reasons"].items()), err=True)
        listed = man["skipped"]["items"]
        for rec in listed[:SKIPS_SHOWN]:
            click.echo(f"  {skip_line(rec)}", err=True)
        if man["counts"]["skipped"] > SKIPS_SHOWN:
            click.echo(f"  ... ({man['counts']['skipped'] - SKIPS_SHOWN} more; the first {len(listed)} are in "
                       f"{out}/manifest.json, skipped.items)", err=True)


@precompute.command("merge")
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Merged cache directory."
)
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check of every chunk.")
def merge_cmd(shard_dirs: tuple[Path, ...], out: Path, no_verify: bool) -> None:
    """Merge the shard directories of one run (`--shard i/n`) into one cache in --out.

    SIGTERM or SIGINT stops it with exit code 75, its temporary files removed and the shard
    directories untouched; rerunning the same command merges again."""
    from ..base.files import naming_disk_full
    from ..cache.assemble import merge  # numpy: lazy (see run)
    from ..cache.format import CacheError

    try:
        with naming_disk_full(out), signals_interrupt(then_ignore=True) as got:
            man = merge(list(shard_dirs), out, verify=not no_verify)
    except KeyboardInterrupt:
        _interrupted(out, got, f"stopped before the merged cache was complete; the shard directories are kept "
                               f"and nothing of the merge is left in {out}")
    except (CacheError, CsipInputError) as exc:
        _fail(exc)
    c = man["counts"]
    click.echo(f"{out}: merged {len(shard_dirs)} shard dir(s): {c['items']} items ({c['skipped']} skipped)", err=True)


@precompute.command("options")
@click.argument("source", required=False, default=None)
def options_cmd(source: str | None) -> None:
    """List the -O options of SOURCE (e.g. unrel, or gqa:PATH), or of every source: name, default, meaning."""
    from ..data.source import ADAPTERS, option_table

    kinds = list(ADAPTERS)
    if source is not None:
        kind = source.partition(":")[0].strip().lower()
        if kind not in ADAPTERS:
            _fail(ValueError(f"unknown source {source!r}: expected one of {', '.join(ADAPTERS)}"))
        kinds = [kind]
    click.echo("-O NAME=VALUE options of each source (--images and --sam-checkpoint set images and sam_checkpoint):\n")
    for k, kind in enumerate(kinds):
        rows = option_table(kind)
        spec = kind if ADAPTERS[kind][2] is None else f"{kind}:PATH"
        click.echo(("\n" if k else "") + f"{spec}")
        name_w = max(len(r[0]) for r in rows)
        default_w = max(len(r[1]) for r in rows)
        for name, default, meaning in rows:
            click.echo(f"  {name:<{name_w}}  {default:<{default_w}}  {meaning}")


@precompute.command("info")
@click.argument("cache_dir", type=click.Path(path_type=Path))
@click.option("--verify", is_flag=True, help="Recompute every file's sha256.")
def info(cache_dir: Path, verify: bool) -> None:
    """Print a summary of a cache's manifest (and check it with --verify)."""
    from ..cache import Cache, CacheError  # numpy: lazy (see run)

    try:
        c = Cache(cache_dir, verify=verify)
    except CacheError as exc:
        _fail(exc)
    m = c.manifest
    click.echo(
        f"cache        {c.path}  "
        f"(format {m['format']} v{m['format_version']}, csip {m['csip_version']}, {m['created']})"
    )
    click.echo(f"source       {m['source']['spec']}  {json.dumps(m['source']['options'], sort_keys=True)}")
    d = m["descriptor"]
    click.echo(
        f"descriptor   sFB {d['shape']}  r {d['forces'][0]}..{d['forces'][-1]}  normalize={d['normalize']}  "
        f"csip_core {d['csip_core_version']}"
    )
    for line in summary_lines(m["source"].get("summary") or {}):
        click.echo(f"             {line}")
    click.echo(
        f"items        {len(c)} of {m['counts']['source_items']}  splits {m['counts']['splits']}  "
        f"labelled {m['counts']['labelled']}  questions {m['counts']['questions']}"
    )
    if m["counts"].get("masks"):
        click.echo(f"masks        {m['counts']['masks']}")
    if m["skipped"]["reasons"]:
        from ..cache.assemble import skip_line

        click.echo(f"skipped      {m['counts']['skipped']}: {m['skipped']['reasons']}")
        for rec in m["skipped"]["items"][:SKIPS_SHOWN]:
            click.echo(f"             {skip_line(rec)}")
    click.echo(f"content hash {c.content_hash}" + ("  (verified)" if verify else ""))

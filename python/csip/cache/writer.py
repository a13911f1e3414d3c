"""Build a cache from a source: chunked, parallel, resumable, shardable (``csip precompute``).

Pipeline, per chunk of ``chunk`` items: worker processes load, prepare and describe the items
in small batches (:func:`csip.cache.prepare.load_item`: decode, masks, crop, pad, resize; then
:func:`csip.cache.prepare.add_banners`: one ``csip_core.sfb_batch`` call per batch, on the
worker's thread), and the main process writes the chunk atomically (:mod:`csip.cache.chunks`).
Every CPU-heavy step thus runs in the workers, which keep all cores busy, and only small arrays
cross process boundaries. Loading of the next chunks overlaps the writing of the current one (at
most two chunks are loaded ahead, so memory stays bounded by about three chunks of prepared
items).

Resumption: ``DIR/run.json`` records the parameters of the run; a rerun with the same
parameters skips every finished chunk and computes the others; a rerun with other parameters
is refused with the list of differences. Each finished chunk is also appended, in chunk order, to
the final arrays as they grow (:class:`csip.cache.assemble.Consolidator`), from memory, so that
when the last chunk is done only the headers, hashes and ``manifest.json`` (written last)
remain. The run's last chunk goes straight into the final arrays batch by batch, as the workers
finish them, never written as a chunk directory (unless ``keep_chunks``): when its last batch is
done little is left to write, and a process that dies before the manifest loses only it.

Sharding: shard ``i`` of ``n`` computes the chunks ``c`` with ``c % n == i`` and writes
``DIR/shard-<i>-of-<n>.json`` when done; ``csip precompute merge`` consolidates the shards.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .. import __version__
from ..base.lock import LOCK_NAME, output_lock
from ..data.source import ADAPTERS, open_source, parse_spec
from ..descriptor import DescriptorParams, core_version
from .assemble import Consolidator, InOrderFeeder
from .chunks import (
    chunk_arrays,
    chunk_manifest_of,
    chunk_text,
    clean_stale_tmp,
    list_chunks,
    mask_counts,
    read_chunk_manifest,
    verify_chunk_files,
    write_chunk,
)
from .format import (
    FORMAT_VERSION,
    MANIFEST,
    RUN_FILE,
    CacheError,
    ParamsMismatch,
    diff_keys,
    params_hash,
    read_json,
    rmtree_quiet,
    write_json_atomic,
)
from .loader import Loader
from .plan import ChunkPlan
from .prepare import PreparedItem, Skipped

logger = logging.getLogger(__name__)


RUN_FORMAT = "csip-cache-run"


def resolve_source(spec: str = "synthetic", **opts: Any) -> Any:
    """Open a source by spec.

    ``"python:MODULE:CALLABLE"`` calls ``MODULE.CALLABLE(**opts)`` (a custom source, any object
    following the :class:`csip.data.source.Source` protocol); every other spec goes to
    :func:`csip.data.source.open_source`. Options whose value is ``None`` are dropped.
    """
    opts = {k: v for k, v in opts.items() if v is not None}
    if spec.startswith("python:"):
        target = spec[len("python:") :]
        mod_name, _, attr = target.partition(":")
        if not mod_name or not attr:
            raise ValueError(f"source {spec!r}: expected python:MODULE:CALLABLE")
        factory = getattr(importlib.import_module(mod_name), attr)
        return factory(**opts)
    return open_source(spec, **opts)


def source_accepts(spec: str, option: str) -> bool:
    """Whether the source named by ``spec`` takes keyword ``option`` (e.g. ``n``, ``seed``)."""
    try:
        if spec.startswith("python:"):
            mod_name, _, attr = spec[len("python:") :].partition(":")
            factory = getattr(importlib.import_module(mod_name), attr)
        else:
            kind, _ = parse_spec(spec)
            module_name, class_name, _ = ADAPTERS[kind]
            factory = getattr(importlib.import_module(module_name), class_name)
        params = inspect.signature(factory).parameters
    except (ImportError, AttributeError, ValueError, TypeError):
        return False
    return option in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a Slurm or taskset allotment)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(source: Any) -> int:
    """Loader processes by default: one per usable core, capped by ``source.max_workers`` for
    sources that hold a model in every process."""
    cap = getattr(source, "max_workers", None)
    n = usable_cores()
    return max(1, min(n, int(cap))) if cap else n


@dataclass
class BuildStats:
    """Seconds spent per stage. ``load``/``prepare``/``sfb`` are summed over worker processes."""

    items: int = 0
    skipped: int = 0
    chunks_done_before: int = 0
    chunks_computed: int = 0
    load_s: float = 0.0
    prepare_s: float = 0.0
    wait_s: float = 0.0
    sfb_s: float = 0.0
    write_s: float = 0.0
    consolidate_s: float = 0.0
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d


def run_params(
    source: Any,
    spec: str,
    n_items: int,
    seed: int | None,
    image_size: int,
    desc: DescriptorParams,
    chunk: int,
) -> dict[str, Any]:
    """The parameters that fix the content of a cache (and of each of its chunks). A source
    with a ``summary()`` (what reading its annotations gave: questions kept and dropped, ...)
    has it recorded beside its options (the manifest's ``source.summary``)."""
    described = {
        "spec": spec,
        "name": str(getattr(source, "name", spec)),
        # JSON round trip: paths and other objects become strings, as the manifest stores them
        "options": json.loads(json.dumps(dict(source.options()), default=str, sort_keys=True)),
    }
    if callable(getattr(source, "summary", None)):
        described["summary"] = json.loads(json.dumps(dict(source.summary()), default=str, sort_keys=True))
    return {
        "format_version": FORMAT_VERSION,
        "source": described,
        "n_items": int(n_items),
        "seed": seed,
        "image_size": int(image_size),
        # how masks.npy is made: a run started by a csip that resized masks otherwise (bilinear
        # + threshold) is not resumed with this one's chunks
        "mask_resize": "area coverage >= 1/2",
        "descriptor": {**desc.to_json(), "csip_core_version": core_version()},
        "chunk": int(chunk),
    }


def _check_or_write_run(out: Path, params: dict[str, Any], n_chunks: int) -> str:
    run_hash = params_hash(params)
    run_path = out / RUN_FILE
    if run_path.exists():
        run = read_json(run_path, "run file")
        if run.get("params_hash") != run_hash:
            diffs = diff_keys(run.get("params", {}), params)
            raise ParamsMismatch(
                f"{out} holds an unfinished precompute run with other parameters:\n  "
                + "\n  ".join(diffs or ["(parameters differ)"])
                + "\nRerun with the same parameters to resume it, or choose another --out (or delete it)."
            )
        return run_hash
    write_json_atomic(
        run_path,
        {
            "format": RUN_FORMAT,
            "format_version": FORMAT_VERSION,
            "csip_version": __version__,
            "params_hash": run_hash,
            "params": params,
            "n_chunks": n_chunks,
        },
    )
    return run_hash


def _split_results(
    results: list[PreparedItem | Skipped], stats: BuildStats
) -> tuple[list[PreparedItem], list[Skipped]]:
    """Prepared items and skipped ones of a batch, counted in ``stats``."""
    items = [r for r in results if isinstance(r, PreparedItem)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    for it in items:
        stats.load_s += it.t_load
        stats.prepare_s += it.t_prepare
        stats.sfb_s += it.t_sfb
    stats.items += len(items)
    stats.skipped += len(skipped)
    return items, skipped


@dataclass
class _BuildContext:
    """What every step of one :func:`build` shares: where it writes, the run's parameters
    (``params_hash``, image side ``image_size`` in pixels, descriptor), the chunk plan, the
    statistics it fills, its progress bar (or ``None``) and, unless the run is sharded, the
    feeder that appends finished chunks to the final arrays in order."""

    out: Path
    plan: ChunkPlan
    params_hash: str
    image_size: int
    desc: DescriptorParams
    keep_chunks: bool
    stats: BuildStats
    pbar: Any = None
    feeder: InOrderFeeder | None = None

    def arrays_of(self, items: list[PreparedItem]) -> dict[str, Any]:
        """The chunk arrays of ``items`` (:func:`~csip.cache.chunks.chunk_arrays`)."""
        return chunk_arrays(items, [it.sfb for it in items], self.image_size, self.desc.shape)

    def advance(self, n_done: int) -> None:
        """Move the progress bar by ``n_done`` items (showing the skipped count, if any)."""
        if self.pbar is not None:
            self.pbar.update(n_done)
            if self.stats.skipped:
                self.pbar.set_postfix(skipped=self.stats.skipped, refresh=False)


#: Items of the streamed last chunk between two pushes of the final files to disk.
SYNC_EVERY = 64


def _stream_last_chunk(ctx: _BuildContext, loader: Loader, handle: Any, c: int) -> None:
    """Append chunk ``c``'s items to the final arrays batch by batch, as the workers finish
    them (:meth:`~csip.cache.assemble.Consolidator.append_rows`), syncing every
    :data:`SYNC_EVERY` items: when its last batch is done, little is left to write."""
    assert ctx.feeder is not None
    consolidator, stats = ctx.feeder.consolidator, ctx.stats
    n, has_labels, has_questions, skipped_all, unsynced, masks = 0, False, False, [], 0, Counter()
    batches = loader.batches(handle)
    while True:
        t0 = time.perf_counter()
        results = next(batches, None)
        stats.wait_s += time.perf_counter() - t0
        if results is None:
            break
        items, skipped = _split_results(results, stats)
        skipped_all.extend(skipped)
        if items:
            ids, questions = chunk_text(items)
            unsynced += len(items)
            sync = unsynced >= SYNC_EVERY
            unsynced = 0 if sync else unsynced
            consolidator.append_rows(c, ctx.arrays_of(items), ids, questions, sync=sync)
            n += len(items)
            has_labels = has_labels or any(it.label >= 0 for it in items)
            has_questions = has_questions or any(it.questions for it in items)
            masks.update(mask_counts(items))
        ctx.advance(len(results))
    start, stop = ctx.plan.items_of(c)
    consolidator.seal_unwritten(
        c, chunk_manifest_of(c, start, stop, n, has_labels, has_questions, skipped_all, ctx.params_hash, {},
                                 dict(masks)))
    stats.chunks_computed += 1


def _write_computed_chunk(ctx: _BuildContext, loader: Loader, handle: Any, c: int) -> None:
    """Wait for chunk ``c``'s items, write them as a chunk directory and hand it (with its
    arrays, still in memory) to the feeder."""
    stats = ctx.stats
    start, stop = ctx.plan.items_of(c)
    t0 = time.perf_counter()
    results = loader.collect(handle)
    stats.wait_s += time.perf_counter() - t0
    items, skipped = _split_results(results, stats)
    arrays = ctx.arrays_of(items)
    t1 = time.perf_counter()
    path = write_chunk(ctx.out, c, start, stop, items, None, skipped, ctx.params_hash, ctx.image_size,
                       ctx.desc.shape, arrays=arrays)
    stats.write_s += time.perf_counter() - t1
    if ctx.feeder is not None:
        ctx.feeder.add(c, path, arrays)
    stats.chunks_computed += 1
    ctx.advance(stop - start)


def _compute_chunks(ctx: _BuildContext, loader: Loader, todo: list[int]) -> None:
    """Compute the chunks ``todo`` in order, the next one loading while the current one is
    written (at most two in the loader: memory stays bounded by about three chunks).

    The run's last chunk, when nothing follows it in the final arrays' order, goes straight
    into them as its batches come (its chunk files would be deleted in a moment): only it is
    redone if the process dies now."""
    pending: deque = deque()
    queue = deque(todo)
    while queue and len(pending) < 2:  # the chunk in hand and the next one load ahead
        c = queue.popleft()
        pending.append((c, loader.submit(*ctx.plan.items_of(c))))
    while pending:
        c, handle = pending.popleft()
        if queue:
            c_next = queue.popleft()
            pending.append((c_next, loader.submit(*ctx.plan.items_of(c_next))))
        feeder = ctx.feeder
        if feeder is not None and not ctx.keep_chunks and not pending and feeder.consolidator.next == c:
            _stream_last_chunk(ctx, loader, handle, c)
            feeder.drain()  # later chunks finished by an earlier run
            continue
        _write_computed_chunk(ctx, loader, handle, c)
    ctx.stats.extra["loader_restarts"] = loader.restarts


@contextmanager
def _frozen_loader(source: Any, image_size: int, workers: int, desc: DescriptorParams,
                   n_threads: int | None) -> Iterator[Loader]:
    """A :class:`~csip.cache.loader.Loader`, closed on exit, with garbage collection frozen.

    Everything alive now (the source's annotations above all) is left out of garbage
    collection until the end: collections in this process and in the forked workers would walk
    it again and again, and in the workers dirty its shared pages."""
    gc.collect()
    gc.freeze()
    loader = None
    try:
        loader = Loader(source, image_size, workers, desc, n_threads=n_threads)
        yield loader
    finally:
        gc.unfreeze()
        if loader is not None:
            loader.close()


def _checked_options(source: Any, chunk: int, shard: tuple[int, int], workers: int | None,
                     image_size: int) -> tuple[int, int, int]:
    """``(shard_i, shard_n, workers)`` once the options are checked (``ValueError`` naming the
    first bad one); ``workers`` defaults to :func:`default_workers`."""
    shard_i, shard_n = int(shard[0]), int(shard[1])
    if not (shard_n >= 1 and 0 <= shard_i < shard_n):
        raise ValueError(f"shard {shard_i}/{shard_n}: need 0 <= i < n")
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    workers = default_workers(source) if workers is None else int(workers)
    if workers < 0:
        raise ValueError("workers must be >= 0")
    if image_size < 8:
        raise ValueError("image_size must be >= 8")
    return shard_i, shard_n, workers


def _item_count(source: Any, spec: str, n: int | None) -> int:
    """Items of the run: the source's, or its first ``n``; :class:`CacheError` when none."""
    n_source = len(source)
    n_items = n_source if n is None else min(int(n), n_source)
    if n_items <= 0:
        raise CacheError(f"source {spec!r} has no items (len {n_source}, --n {n})")
    return n_items


def _finished_manifest(out: Path, params: dict[str, Any], run_hash: str) -> dict[str, Any] | None:
    """The manifest of the finished cache in ``out`` when it was made with ``params`` (hash
    ``run_hash``); ``None`` when ``out`` holds none. :class:`ParamsMismatch` when it holds another."""
    man_path = out / MANIFEST
    if not man_path.exists():
        return None
    man = read_json(man_path, "manifest")
    if man.get("run", {}).get("params_hash") == run_hash:
        return man
    diffs = diff_keys(man.get("run", {}).get("params", {}), params)
    raise ParamsMismatch(
        f"{out} already holds a finished cache made with other parameters:\n  "
        + "\n  ".join(diffs or ["(parameters differ)"])
        + "\nChoose another --out (or delete it)."
    )


def _verified_chunks(out: Path, existing: dict[int, Path], plan: ChunkPlan, run_hash: str) -> set[int]:
    """The chunks an earlier run finished in ``out`` that are sound: of this run (parameters,
    item range) and whole (sizes and sha256 sums, checked once, here). A damaged chunk is
    removed (and recomputed); one of other parameters raises :class:`ParamsMismatch`."""
    done: set[int] = set()
    for c, path in existing.items():
        if c >= plan.n_chunks:
            raise CacheError(f"{out}: chunk {c} is beyond this run's {plan.n_chunks} chunks (other parameters?)")
        try:
            m = read_chunk_manifest(path, run_hash)
            if (m["start"], m["stop"]) != plan.items_of(c):
                raise ParamsMismatch(f"{path}: covers items {m['start']}..{m['stop']}, expected {plan.items_of(c)}")
            verify_chunk_files(path, m)
        except ParamsMismatch as exc:
            raise ParamsMismatch(f"{exc}\nChoose another --out (or delete it).") from exc
        except CacheError as exc:
            logger.warning("%s; recomputing it", exc)
            rmtree_quiet(path)
            continue
        done.add(c)
    return done


def _shard_done(ctx: _BuildContext, t_start: float) -> dict[str, Any]:
    """Mark this shard finished (``DIR/shard-<i>-of-<n>.json``, which ``merge`` reads)."""
    plan, stats = ctx.plan, ctx.stats
    mine = plan.mine()
    write_json_atomic(
        ctx.out / f"shard-{plan.shard_i}-of-{plan.shard_n}.json",
        {"params_hash": ctx.params_hash, "shard": [plan.shard_i, plan.shard_n], "chunks": mine,
         "n_chunks": plan.n_chunks},
    )
    stats.wall_s = time.perf_counter() - t_start
    logger.info(
        f"{ctx.out}: shard {plan.shard_i}/{plan.shard_n} done ({len(mine)} chunks). When every shard is done: "
        f"csip precompute merge SHARD_DIRS... --out DIR"
    )
    return {"status": "shard-complete", "stats": stats.to_json()}


def _finish(ctx: _BuildContext, t_start: float) -> dict[str, Any]:
    """Seal the cache (headers, hashes, then ``manifest.json``) once every chunk is in."""
    assert ctx.feeder is not None
    consolidator, stats = ctx.feeder.consolidator, ctx.stats
    stats.wall_s = time.perf_counter() - t_start
    t0 = time.perf_counter()
    try:
        manifest = consolidator.finish(keep_chunks=ctx.keep_chunks, build=stats)
    finally:
        consolidator.close()
    stats.consolidate_s = consolidator.seconds
    stats.extra["finish_s"] = round(time.perf_counter() - t0, 4)
    stats.wall_s = time.perf_counter() - t_start
    return {"status": "complete", "manifest": manifest, "stats": stats.to_json()}


def build(
    source: Any,
    out: str | os.PathLike,
    *,
    spec: str = "synthetic",
    n: int | None = None,
    seed: int | None = None,
    image_size: int = 224,
    desc: DescriptorParams | None = None,
    workers: int | None = None,
    chunk: int = 512,
    shard: tuple[int, int] = (0, 1),
    n_threads: int | None = None,
    keep_chunks: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Compute (or resume) a cache of ``source`` in ``out``; see the module docstring.

    ``workers``: loader processes (default :func:`default_workers`); 0 does everything in this
    process, with banners on ``n_threads`` threads (default: all cores).

    Returns a summary dict: ``{"status": "complete"|"shard-complete"|"already-complete",
    "manifest": ... (when complete), "stats": ...}``. Raises :class:`CacheError` for parameter
    mismatches, an empty result, or a damaged directory.
    """
    t_start = time.perf_counter()
    desc = desc or DescriptorParams.make()
    out = Path(out)
    shard_i, shard_n, workers = _checked_options(source, chunk, shard, workers, image_size)
    plan = ChunkPlan(_item_count(source, spec, n), chunk, shard_i, shard_n)
    params = run_params(source, spec, plan.n_items, seed, image_size, desc, chunk)
    run_hash = params_hash(params)
    # one writer per cache directory; the shards of one run may share it, each locking its own part
    lock_name = f"{LOCK_NAME}-shard-{plan.shard_i}-of-{plan.shard_n}" if plan.sharded else LOCK_NAME
    with output_lock(out, name=lock_name):
        finished = _finished_manifest(out, params, run_hash)
        if finished is not None:
            logger.info(f"{out}: the cache is already complete ({finished['counts']['items']} items); nothing to do")
            return {"status": "already-complete", "manifest": finished, "stats": {}}
        _check_or_write_run(out, params, plan.n_chunks)
        clean_stale_tmp(out)

        mine, existing = plan.mine(), list_chunks(out)
        done = _verified_chunks(out, existing, plan, run_hash)
        todo = [c for c in mine if c not in done]
        ctx = _BuildContext(out, plan, run_hash, image_size, desc, keep_chunks,
                            BuildStats(chunks_done_before=sum(1 for c in mine if c in done)))
        shard_txt = f" (shard {plan.shard_i}/{plan.shard_n})" if plan.sharded else ""
        if ctx.stats.chunks_done_before:
            logger.info(f"{out}: resuming{shard_txt}: {ctx.stats.chunks_done_before} of {len(mine)} chunks "
                        "already done")
        if progress and todo:
            ctx.pbar = tqdm(total=plan.count_items(mine), initial=plan.count_items(mine) - plan.count_items(todo),
                            unit="pair", desc=f"precompute{shard_txt}", smoothing=0.1)
        if not plan.sharded:
            # the final arrays grow while later chunks compute (chunks are appended in order)
            consolidator = Consolidator(out, read_json(out / RUN_FILE, "run file"),
                                        trusted=frozenset(range(plan.n_chunks)))
            ctx.feeder = InOrderFeeder(consolidator, {c: existing[c] for c in done})
        try:
            if ctx.feeder is not None:
                ctx.feeder.drain()  # chunks finished by an earlier run
            if todo:
                with _frozen_loader(source, image_size, workers, desc, n_threads) as loader:
                    _compute_chunks(ctx, loader, todo)
        except BaseException:
            if ctx.feeder is not None:
                ctx.feeder.consolidator.close()
            raise
        finally:
            if ctx.pbar is not None:
                ctx.pbar.close()
        return _shard_done(ctx, t_start) if plan.sharded else _finish(ctx, t_start)

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
import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..descriptor import DescriptorParams, core_version
from .chunks import (
    chunk_arrays,
    chunk_manifest_of,
    chunk_range,
    chunk_text,
    clean_stale_tmp,
    list_chunks,
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
from .prepare import PreparedItem, Skipped

RUN_FORMAT = "csip-cache-run"


def resolve_source(spec: str = "synthetic", **opts: Any) -> Any:
    """Open a source by spec.

    ``"python:MODULE:CALLABLE"`` calls ``MODULE.CALLABLE(**opts)`` (a custom source, any object
    following the :class:`csip.data.source.Source` protocol); every other spec goes to
    :func:`csip.data.source.open_source`. Options whose value is ``None`` are dropped.
    """
    opts = {k: v for k, v in opts.items() if v is not None}
    if spec.startswith("python:"):
        import importlib

        target = spec[len("python:") :]
        mod_name, _, attr = target.partition(":")
        if not mod_name or not attr:
            raise ValueError(f"source {spec!r}: expected python:MODULE:CALLABLE")
        factory = getattr(importlib.import_module(mod_name), attr)
        return factory(**opts)
    from ..data.source import open_source

    return open_source(spec, **opts)


def source_accepts(spec: str, option: str) -> bool:
    """Whether the source named by ``spec`` takes keyword ``option`` (e.g. ``n``, ``seed``)."""
    import inspect

    try:
        if spec.startswith("python:"):
            import importlib

            mod_name, _, attr = spec[len("python:") :].partition(":")
            factory = getattr(importlib.import_module(mod_name), attr)
        else:
            import importlib

            from ..data.source import ADAPTERS, parse_spec

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
    """The parameters that fix the content of a cache (and of each of its chunks)."""
    return {
        "format_version": FORMAT_VERSION,
        "source": {
            "spec": spec,
            "name": str(getattr(source, "name", spec)),
            # JSON round trip: paths and other objects become strings, as the manifest stores them
            "options": json.loads(json.dumps(dict(source.options()), default=str, sort_keys=True)),
        },
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
    ph = params_hash(params)
    run_path = out / RUN_FILE
    if run_path.exists():
        run = read_json(run_path, "run file")
        if run.get("params_hash") != ph:
            diffs = diff_keys(run.get("params", {}), params)
            raise ParamsMismatch(
                f"{out} holds an unfinished precompute run with other parameters:\n  "
                + "\n  ".join(diffs or ["(parameters differ)"])
                + "\nRerun with the same parameters to resume it, or choose another --out (or delete it)."
            )
        return ph
    write_json_atomic(
        run_path,
        {
            "format": RUN_FORMAT,
            "format_version": FORMAT_VERSION,
            "csip_version": __version__,
            "params_hash": ph,
            "params": params,
            "n_chunks": n_chunks,
        },
    )
    return ph


def _default_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _split_results(results: list[PreparedItem | Skipped], stats: BuildStats) -> tuple[list[PreparedItem], list[Skipped]]:
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


#: Items of the streamed last chunk between two pushes of the final files to disk.
SYNC_EVERY = 64


def _stream_last_chunk(loader: Loader, handle: Any, cons: Any, c: int, a: int, b: int, ph: str,
                       image_size: int, desc: DescriptorParams, stats: BuildStats, pbar: Any) -> None:
    """Append chunk ``c``'s items to the final arrays batch by batch, as the workers finish
    them (:meth:`~csip.cache.assemble.Consolidator.append_rows`), syncing every
    :data:`SYNC_EVERY` items: when its last batch is done, little is left to write."""
    n, has_labels, has_questions, skipped_all, unsynced = 0, False, False, [], 0
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
            cons.append_rows(c, chunk_arrays(items, [it.sfb for it in items], image_size, desc.shape), ids, questions,
                             sync=sync)
            n += len(items)
            has_labels = has_labels or any(it.label >= 0 for it in items)
            has_questions = has_questions or any(it.questions for it in items)
        if pbar is not None:
            pbar.update(len(results))
            if stats.skipped:
                pbar.set_postfix(skipped=stats.skipped, refresh=False)
    cons.seal_unwritten(c, chunk_manifest_of(c, a, b, n, has_labels, has_questions, skipped_all, ph, {}))
    stats.chunks_computed += 1


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
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compute (or resume) a cache of ``source`` in ``out``; see the module docstring.

    ``workers``: loader processes (default :func:`default_workers`); 0 does everything in this
    process, with banners on ``n_threads`` threads (default: all cores).

    Returns a summary dict: ``{"status": "complete"|"shard-complete"|"already-complete",
    "manifest": ... (when complete), "stats": ...}``. Raises :class:`CacheError` for parameter
    mismatches, an empty result, or a damaged directory.
    """
    log = log or _default_log
    t_start = time.perf_counter()
    desc = desc or DescriptorParams.make()
    out = Path(out)
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
    n_source = len(source)
    n_items = n_source if n is None else min(int(n), n_source)
    if n_items <= 0:
        raise CacheError(f"source {spec!r} has no items (len {n_source}, --n {n})")
    params = run_params(source, spec, n_items, seed, image_size, desc, chunk)
    ph = params_hash(params)
    n_chunks = math.ceil(n_items / chunk)

    out.mkdir(parents=True, exist_ok=True)
    man_path = out / MANIFEST
    if man_path.exists():
        man = read_json(man_path, "manifest")
        if man.get("run", {}).get("params_hash") == ph:
            log(f"{out}: the cache is already complete ({man['counts']['items']} items); nothing to do")
            return {"status": "already-complete", "manifest": man, "stats": {}}
        diffs = diff_keys(man.get("run", {}).get("params", {}), params)
        raise ParamsMismatch(
            f"{out} already holds a finished cache made with other parameters:\n  "
            + "\n  ".join(diffs or ["(parameters differ)"])
            + "\nChoose another --out (or delete it)."
        )
    _check_or_write_run(out, params, n_chunks)
    clean_stale_tmp(out)

    mine = [c for c in range(n_chunks) if c % shard_n == shard_i]
    existing = list_chunks(out)
    done: set[int] = set()
    for c, path in existing.items():
        if c >= n_chunks:
            raise CacheError(f"{out}: chunk {c} is beyond this run's {n_chunks} chunks (other parameters?)")
        try:
            m = read_chunk_manifest(path, ph)
            if (m["start"], m["stop"]) != chunk_range(c, chunk, n_items):
                raise ParamsMismatch(f"{path}: covers items {m['start']}..{m['stop']}, expected {chunk_range(c, chunk, n_items)}")
            verify_chunk_files(path, m)  # finished chunks are checked once, here
        except ParamsMismatch as exc:
            raise ParamsMismatch(f"{exc}\nChoose another --out (or delete it).") from exc
        except CacheError as exc:
            log(f"warning: {exc}; recomputing it")
            rmtree_quiet(path)
            continue
        done.add(c)
    todo = [c for c in mine if c not in done]
    stats = BuildStats(chunks_done_before=sum(1 for c in mine if c in done))
    n_mine = sum(chunk_range(c, chunk, n_items)[1] - chunk_range(c, chunk, n_items)[0] for c in mine)
    n_done = n_mine - sum(chunk_range(c, chunk, n_items)[1] - chunk_range(c, chunk, n_items)[0] for c in todo)
    shard_txt = f" (shard {shard_i}/{shard_n})" if shard_n > 1 else ""
    if stats.chunks_done_before:
        log(f"{out}: resuming{shard_txt}: {stats.chunks_done_before} of {len(mine)} chunks already done")

    pbar = None
    if progress and todo:
        from tqdm.auto import tqdm

        pbar = tqdm(total=n_mine, initial=n_done, unit="pair", desc=f"precompute{shard_txt}", smoothing=0.1)

    loader = None
    frozen = False
    cons = None
    if shard_n == 1:
        # the final arrays grow while later chunks compute (chunks are appended in order)
        from .assemble import Consolidator

        cons = Consolidator(out, read_json(out / RUN_FILE, "run file"), trusted=frozenset(range(n_chunks)))
        ready = {c: existing[c] for c in done}

        in_memory: dict[int, dict] = {}  # arrays of chunks written by this run, not yet appended

        def feed(c: int | None = None, path: Path | None = None, arrays: dict | None = None) -> None:
            if c is not None:
                ready[c] = path
                if arrays is not None:
                    in_memory[c] = arrays
            while cons.next in ready:
                c_next = cons.next
                cons.add(c_next, ready.pop(c_next), in_memory.pop(c_next, None))

    try:
        if cons is not None:
            feed()  # chunks finished by an earlier run
        if todo:
            # Everything alive now (the source's annotations above all) is left out of garbage
            # collection until the end: collections in this process and in the forked workers
            # would walk it again and again, and in the workers dirty its shared pages.
            gc.collect()
            gc.freeze()
            frozen = True
            loader = Loader(source, image_size, workers, desc, n_threads=n_threads)
            pending: deque = deque()
            queue = deque(todo)
            while queue and len(pending) < 2:  # the chunk in hand and the next one load ahead
                c = queue.popleft()
                pending.append((c, loader.submit(*chunk_range(c, chunk, n_items))))
            while pending:
                c, handle = pending.popleft()
                a, b = chunk_range(c, chunk, n_items)
                if queue:
                    c2 = queue.popleft()
                    pending.append((c2, loader.submit(*chunk_range(c2, chunk, n_items))))
                if cons is not None and not keep_chunks and not pending and cons.next == c:
                    # the run's last chunk: straight into the final arrays as its batches come
                    # (its chunk files would be deleted in a moment); only it is redone if the
                    # process dies now
                    _stream_last_chunk(loader, handle, cons, c, a, b, ph, image_size, desc, stats, pbar)
                    feed()  # later chunks finished by an earlier run
                    continue
                t0 = time.perf_counter()
                results = loader.collect(handle)
                stats.wait_s += time.perf_counter() - t0
                items, skipped = _split_results(results, stats)
                arrays = chunk_arrays(items, [it.sfb for it in items], image_size, desc.shape)
                t1 = time.perf_counter()
                path = write_chunk(out, c, a, b, items, None, skipped, ph, image_size, desc.shape, arrays=arrays)
                stats.write_s += time.perf_counter() - t1
                if cons is not None:
                    feed(c, path, arrays)
                del arrays
                stats.chunks_computed += 1
                if pbar is not None:
                    pbar.update(b - a)
                    if stats.skipped:
                        pbar.set_postfix(skipped=stats.skipped, refresh=False)
            stats.extra["loader_restarts"] = loader.restarts
    except BaseException:
        if cons is not None:
            cons.close()
        raise
    finally:
        if frozen:
            gc.unfreeze()
        if loader is not None:
            loader.close()
        if pbar is not None:
            pbar.close()

    if shard_n > 1:
        write_json_atomic(
            out / f"shard-{shard_i}-of-{shard_n}.json",
            {"params_hash": ph, "shard": [shard_i, shard_n], "chunks": mine, "n_chunks": n_chunks},
        )
        stats.wall_s = time.perf_counter() - t_start
        log(
            f"{out}: shard {shard_i}/{shard_n} done ({len(mine)} chunks). When every shard is done: "
            f"csip precompute merge SHARD_DIRS... --out DIR"
        )
        return {"status": "shard-complete", "stats": stats.to_json()}

    assert cons is not None
    stats.wall_s = time.perf_counter() - t_start
    t0 = time.perf_counter()
    try:
        manifest = cons.finish(keep_chunks=keep_chunks, build=stats)
    finally:
        cons.close()
    stats.consolidate_s = cons.seconds
    stats.extra["finish_s"] = round(time.perf_counter() - t0, 4)
    stats.wall_s = time.perf_counter() - t_start
    return {"status": "complete", "manifest": manifest, "stats": stats.to_json()}

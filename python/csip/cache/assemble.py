"""Consolidation of finished chunks into the final cache, and the merge of shard directories."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..base.lock import output_lock
from .chunks import (
    clean_stale_tmp,
    consolidate_tmp_name,
    list_chunks,
    load_chunk_text,
    read_chunk_manifest,
    verify_chunk_files,
)
from .format import (
    ARRAY_FILES,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_HASH,
    RUN_FILE,
    SKIP_LIST_CAP,
    SPLIT_NAMES,
    CacheError,
    ParamsMismatch,
    Rows,
    array_buffers,
    content_hash,
    diff_keys,
    expected_shapes,
    fsync_dir,
    load_npy,
    manifest_hash,
    npy_header_bytes,
    pad_npy_header,
    read_json,
    rmtree_quiet,
    sha256_file,
    utc_now,
    write_json_atomic,
)
from .validate import check_values, stamp_fresh

#: How the stored images and masks were made (recorded in every manifest as ``image``).
IMAGE_LAYOUT: dict[str, str] = {
    "crop": "union box of box_a and box_b, clamped to the image",
    "pad": "centred to a square, value 0",
    "resize": "bilinear (antialiased), crop resized before padding",
    "masks": "same crop and pad; resized by area coverage (set where the object covers at least "
    "half of the pixel); bit-packed along the last axis",
    "layout": "uint8 (N, 3, S, S), RGB, channels first",
}


@dataclass
class SkippedItems:
    """The skipped items of a run, from its chunks' manifests: how many (``count``), how many
    per reason (``reasons``), and the first :data:`~csip.cache.format.SKIP_LIST_CAP` of them
    as ``{"index", "id", "reason", "message"}`` (``listed``; ``id``, the source's own id of the
    item, and ``message``, what the reason was about, such as the file, when known)."""

    count: int = 0
    reasons: Counter = field(default_factory=Counter)
    listed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, manifests: list[dict[str, Any]]) -> SkippedItems:
        skipped = cls()
        for m in manifests:
            for entry in m["skipped"]:
                idx, reason, message = entry[:3]
                item_id = entry[3] if len(entry) > 3 else None  # chunks of csip < the ids had none
                skipped.reasons[reason] += 1
                skipped.count += 1
                if len(skipped.listed) < SKIP_LIST_CAP:
                    rec: dict[str, Any] = {"index": idx}
                    if item_id is not None:
                        rec["id"] = item_id
                    rec["reason"] = reason
                    if message:
                        rec["message"] = message
                    skipped.listed.append(rec)
        return skipped


def skip_line(rec: dict[str, Any]) -> str:
    """One skipped item of a manifest (``skipped.items``) as a line: its id (else its index),
    the reason and what it was about. Entries of caches made before the ids (``[index, reason(,
    message)]``) are read too."""
    if not isinstance(rec, dict):
        rec = {"index": rec[0], "reason": rec[1], **({"message": rec[2]} if len(rec) > 2 and rec[2] else {})}
    who = rec.get("id") or f"item {rec.get('index')}"
    return f"{who}: {rec.get('reason')}" + (f": {rec['message']}" if rec.get("message") else "")


class Consolidator:
    """Builds a cache's final arrays from its chunks, fed one chunk at a time in chunk order.

    ``csip precompute`` feeds each chunk as soon as it (and every chunk before it) is finished,
    so that concatenating the chunks overlaps the computing of the next ones instead of
    following it. Files grow in ``out/.consolidate-tmp-<host>-<pid>/``, each ``.npy`` starting with a
    header sized for the run's item count (an upper bound), rewritten with the real count at the
    end (:func:`~csip.cache.format.pad_npy_header`: the bytes depend only on the run's
    parameters and content). Files are hashed as they grow and synced to disk after each chunk,
    so little is left for the end. :meth:`finish` checks that every chunk came, hashes the files,
    renames them into ``out`` and writes ``manifest.json`` last, atomically. Until then nothing
    in ``out`` changes; :meth:`close` without :meth:`finish` leaves no trace.
    """

    def __init__(self, out: str | os.PathLike, run: dict[str, Any], *, verify: bool = True,
                 trusted: frozenset[int] | set[int] = frozenset()):
        self.out = Path(out)
        self.params = run["params"]
        self.ph = run["params_hash"]
        self.n_chunks = int(run["n_chunks"])
        self.verify, self.trusted = verify, frozenset(trusted)
        self.next = 0  # the chunk expected by add()
        self.manifests: list[dict[str, Any]] = []
        self.chunk_dirs: list[Path] = []
        self.ids: list[str] = []
        self._streamed = 0  # items of chunk `next` appended by append_rows so far
        self.seconds = 0.0
        s = int(self.params["image_size"])
        self.desc_shape = (len(self.params["descriptor"]["forces"]), int(self.params["descriptor"]["n_angles"]))
        self._row_shapes = {k: v[1:] for k, v in expected_shapes(0, s, self.desc_shape).items()}
        bound = expected_shapes(int(self.params["n_items"]), s, self.desc_shape)
        self._header_len: dict[str, int] = {}
        self.tmp = self.out / consolidate_tmp_name()
        rmtree_quiet(self.tmp)
        self.tmp.mkdir(parents=True)
        self._files: dict[str, Any] = {}
        # Each file is hashed as it grows, from a header for the upper bound: right whenever no
        # item is skipped (then the header stays); finish() rereads the files otherwise.
        self._hashes = {}
        try:
            for name, dt in ARRAY_FILES.items():
                f = open(self.tmp / name, "wb")
                self._files[name] = f
                header = npy_header_bytes(bound[name], dt)
                f.write(header)
                self._header_len[name] = len(header)
                self._hashes[name] = hashlib.sha256(header)
            self._questions = open(self.tmp / "questions.jsonl", "w", encoding="utf-8")
        except BaseException:
            self.close()
            raise

    def add(self, c: int, path: str | os.PathLike, arrays: dict[str, np.ndarray | Rows] | None = None) -> None:
        """Append finished chunk ``c`` (which must be :attr:`next`), checked first.

        ``arrays``: the chunk's arrays as just written by this process
        (:func:`~csip.cache.chunks.chunk_arrays`), appended from memory instead of being read
        back from the chunk's files."""
        t0 = time.perf_counter()
        path = Path(path)
        self._expect(c)
        if self._streamed:
            raise CacheError(f"chunk {c} was being appended row by row; it cannot also come from {path}")
        m = read_chunk_manifest(path, self.ph)
        if m["chunk"] != c:
            raise CacheError(f"{path}: manifest says chunk {m['chunk']}, expected {c}")
        if self.verify and c not in self.trusted:
            verify_chunk_files(path, m)
        k = int(m["n_items"])
        text = load_chunk_text(path) if k else {"ids": [], "questions": []}
        self._append(str(path), m, arrays if arrays is not None else {n: load_npy(path / n) for n in ARRAY_FILES},
                     text["ids"], text["questions"])
        self.chunk_dirs.append(path)
        self.seconds += time.perf_counter() - t0

    def append_rows(self, c: int, arrays: dict[str, np.ndarray | Rows], ids: list[str],
                    questions: list[dict[str, Any]], sync: bool = False) -> None:
        """Append some items of chunk ``c`` (which must be :attr:`next`) straight from memory,
        as they come; :meth:`seal_unwritten` closes the chunk. For the run's last chunk, never
        written as a chunk directory (its files would be deleted at once): its items go to the
        final files while the workers compute the rest of it. If the process dies before the
        manifest is written, a rerun recomputes this chunk, and only it. ``sync``: push what
        was written so far to disk now (so that little is left for :meth:`finish`)."""
        t0 = time.perf_counter()
        self._expect(c)
        self._append_items(f"chunk {c}", len(ids), arrays, ids, questions)
        self._streamed += len(ids)
        if sync:
            self._sync()
        self.seconds += time.perf_counter() - t0

    def seal_unwritten(self, c: int, manifest: dict[str, Any]) -> None:
        """Close chunk ``c`` fed by :meth:`append_rows`; ``manifest`` as ``chunk.json`` would be."""
        t0 = time.perf_counter()
        self._expect(c)
        if int(manifest["n_items"]) != self._streamed:
            raise CacheError(f"chunk {c}: {self._streamed} items appended, its manifest says {manifest['n_items']}")
        self._streamed = 0
        self._seal(manifest)
        self.seconds += time.perf_counter() - t0

    def _expect(self, c: int) -> None:
        if c != self.next:
            raise CacheError(f"consolidation expected chunk {self.next}, got chunk {c}")

    def _append(self, where: str, m: dict[str, Any], arrays: dict[str, Any], ids: list[str],
                questions: list[dict[str, Any]]) -> None:
        self._append_items(where, int(m["n_items"]), arrays, ids, questions)
        self._seal(m)

    def _append_items(self, where: str, k: int, arrays: dict[str, Any], ids: list[str],
                      questions: list[dict[str, Any]]) -> None:
        if not k:
            return
        for name, dt in ARRAY_FILES.items():
            a = arrays[name]
            if a.shape != (k, *self._row_shapes[name]) or a.dtype != np.dtype(dt):
                raise CacheError(f"{where}/{name}: {a.dtype} {a.shape} is wrong")
            for data in array_buffers(a):
                self._files[name].write(data)
                self._hashes[name].update(data)
        if len(ids) != k:
            raise CacheError(f"{where}: {len(ids)} ids for {k} items")
        pos = len(self.ids)
        self.ids.extend(ids)
        for q in questions:
            self._questions.write(
                json.dumps({"index": pos + int(q["index"]), "text": q["text"], "answer": bool(q["answer"])}) + "\n"
            )

    def _seal(self, m: dict[str, Any]) -> None:
        self.manifests.append(m)
        self.next += 1
        self._sync()  # to disk now, while the workers compute: a short finish()

    def _sync(self) -> None:
        for f in self._files.values():
            f.flush()
            os.fdatasync(f.fileno())

    def finish(self, *, keep_chunks: bool = False, build: Any = None) -> dict[str, Any]:
        """Seal the cache (see the class docstring); returns the manifest.

        ``build``: the build's statistics (:class:`~csip.cache.writer.BuildStats` or a dict),
        recorded in the manifest with this consolidation's seconds. Unless ``keep_chunks``,
        the run's own ``out/chunks`` (with ``run.json`` and shard markers) is removed after."""
        t0 = time.perf_counter()
        if self.next != self.n_chunks:
            raise CacheError(
                f"cannot consolidate {self.out}: chunks {self.next}..{self.n_chunks - 1} are missing; "
                "finish the run (or every shard) first"
            )
        skipped = SkippedItems.of(self.manifests)
        if not self.ids:
            self.close()
            raise self._nothing_usable(skipped)
        try:
            files = self._seal_files(len(self.ids))
        finally:
            self.close()
        manifest = self._manifest(files, skipped)
        self.seconds += time.perf_counter() - t0
        if build is not None:
            b = build.to_json() if hasattr(build, "to_json") else dict(build)
            b["consolidate_s"] = round(self.seconds, 4)
            manifest["build"] = b
        # the sums above are of the bytes just written: check the values before the manifest
        # makes the directory a cache, then stamp it, so that its first reader need not hash it
        # again (csip.cache.validate)
        check_values(self.out, manifest)
        manifest[MANIFEST_HASH] = manifest_hash(manifest)
        write_json_atomic(self.out / MANIFEST, manifest)
        stamp_fresh(self.out, manifest)
        if not keep_chunks:
            self._remove_own_chunks()
        return manifest

    def _nothing_usable(self, skipped: SkippedItems) -> CacheError:
        """The error of a run whose every item was skipped, with the reasons and the first ones."""
        params = self.params
        detail = ", ".join(f"{r!r}: {k}" for r, k in skipped.reasons.most_common())
        first = "".join(f"\n  {skip_line(e)}" for e in skipped.listed[:5])
        return CacheError(
            f"no usable item: all {params['n_items']} items of source {params['source']['spec']!r} were skipped "
            f"({detail}). Nothing was written to {self.out}/{MANIFEST}. The first ones:{first}"
        )

    def _seal_files(self, n: int) -> dict[str, dict[str, Any]]:
        """Finish the ``n``-item files in the temporary directory (the ``.npy`` headers
        rewritten when items were skipped, ``ids.json`` written, all synced) and rename them
        into ``out``; returns the manifest's ``files`` entries (sha256, bytes, shape, dtype)."""
        shapes = expected_shapes(n, int(self.params["image_size"]), self.desc_shape)
        files: dict[str, dict[str, Any]] = {}
        exact = n == int(self.params["n_items"])
        for name, dt in ARRAY_FILES.items():
            f = self._files.pop(name)
            if not exact:
                f.seek(0)
                f.write(pad_npy_header(npy_header_bytes(shapes[name], dt), self._header_len[name]))
            f.flush()
            os.fsync(f.fileno())
            f.close()
            digest = self._hashes[name].hexdigest() if exact else sha256_file(self.tmp / name)
            files[name] = {"sha256": digest, "bytes": (self.tmp / name).stat().st_size,
                           "shape": list(shapes[name]), "dtype": dt}
        self._questions.flush()
        os.fsync(self._questions.fileno())
        self._questions.close()
        with open(self.tmp / "ids.json", "w", encoding="utf-8") as f:
            json.dump(self.ids, f)
            f.flush()
            os.fsync(f.fileno())
        for name in ("ids.json", "questions.jsonl"):
            files[name] = {"sha256": sha256_file(self.tmp / name), "bytes": (self.tmp / name).stat().st_size}
        fsync_dir(self.tmp)
        for name in files:
            os.replace(self.tmp / name, self.out / name)
        fsync_dir(self.out)
        return files

    def _manifest(self, files: dict[str, dict[str, Any]], skipped: SkippedItems) -> dict[str, Any]:
        """``manifest.json`` of the sealed cache (its counts read back from the final files)."""
        out, params, manifests = self.out, self.params, self.manifests
        splits = np.load(out / "split.npy", mmap_mode="r", allow_pickle=False)
        labels = np.load(out / "labels.npy", mmap_mode="r", allow_pickle=False)
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "csip_version": __version__,
            "created": utc_now(),
            "source": params["source"],
            "descriptor": {**params["descriptor"], "shape": list(self.desc_shape)},
            "image_size": int(params["image_size"]),
            "image": dict(IMAGE_LAYOUT),
            "counts": {
                "items": len(self.ids),
                "source_items": int(params["n_items"]),
                "skipped": skipped.count,
                "splits": {SPLIT_NAMES[k]: int(np.count_nonzero(splits == k)) for k in range(3)},
                "labelled": int(np.count_nonzero(labels >= 0)),
                "questions": sum(1 for _ in open(out / "questions.jsonl", encoding="utf-8")),
                # where the items' masks come from (sources that say): annotated, sam, boxes, ...
                "masks": dict(sum((Counter(m.get("masks") or {}) for m in manifests), Counter()).most_common()),
            },
            "skipped": {
                "reasons": dict(skipped.reasons.most_common()),
                "items": skipped.listed,
                "items_truncated": skipped.count > len(skipped.listed),
            },
            "has_labels": any(m.get("has_labels") for m in manifests),
            "has_questions": any(m.get("has_questions") for m in manifests),
            "split_rule": "the source's split where it gives one, else sha256(id) % 100: <80 train, <90 val, else test",
            "files": files,
            "content_hash": content_hash({k: v["sha256"] for k, v in files.items()}),
            "run": {
                "params_hash": self.ph,
                "params": params,
                "n_chunks": self.n_chunks,
                "chunk": int(params["chunk"]),
            },
        }

    def _remove_own_chunks(self) -> None:
        """Remove ``out/chunks``, ``run.json`` and the shard markers, when every chunk came
        from ``out`` itself (a merge leaves the shard directories alone)."""
        own = self.out / "chunks"
        if all(p.parent == own for p in self.chunk_dirs):
            rmtree_quiet(own)
            for p in [self.out / RUN_FILE, *self.out.glob("shard-*-of-*.json")]:
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        """Close the files and remove the temporary directory (after :meth:`finish`, or instead).

        Also after a failure: closing flushes what is buffered, which on a full disk fails
        again; that error is dropped (the first one is already on its way) so that the
        directory still goes."""
        for f in list(self._files.values()) + [getattr(self, "_questions", None)]:
            if f is not None and not f.closed:
                try:
                    f.close()
                except OSError:
                    pass
        self._files.clear()
        rmtree_quiet(self.tmp)


class InOrderFeeder:
    """Hands finished chunks to a :class:`Consolidator` in chunk order, whichever order they
    finish in.

    The consolidator takes only chunk :attr:`Consolidator.next`; a chunk finished early waits
    here (its directory, and its arrays when this process has just written them, so that they
    are appended from memory instead of read back) until every chunk before it is added.
    ``ready``: chunks already finished (by an earlier run), ``{chunk index: directory}``.
    """

    def __init__(self, consolidator: Consolidator, ready: dict[int, Path]):
        self.consolidator = consolidator
        self._ready = dict(ready)
        self._in_memory: dict[int, dict[str, Any]] = {}  # arrays of chunks written by this run

    def add(self, c: int, path: Path, arrays: dict[str, np.ndarray | Rows] | None = None) -> None:
        """Chunk ``c`` is finished in ``path`` (with ``arrays`` in memory): append every chunk
        that can now go, in order."""
        self._ready[c] = path
        if arrays is not None:
            self._in_memory[c] = arrays
        self.drain()

    def drain(self) -> None:
        """Append the waiting chunks that follow the consolidated ones without a gap."""
        consolidator = self.consolidator
        while consolidator.next in self._ready:
            c = consolidator.next
            consolidator.add(c, self._ready.pop(c), self._in_memory.pop(c, None))


def consolidate(
    out: str | os.PathLike,
    chunk_dirs: dict[int, Path],
    run: dict[str, Any],
    *,
    keep_chunks: bool = False,
    build: Any = None,
    verify: bool = True,
    trusted: frozenset[int] | set[int] = frozenset(),
) -> dict[str, Any]:
    """Concatenate chunks ``0..n_chunks-1`` (in order) into ``out``'s final arrays and manifest.

    Every chunk is checked (format, parameters, sizes, and with ``verify`` its sha256 sums,
    except for the ``trusted`` chunks this process has just written) as it is appended; see
    :class:`Consolidator`. Unless ``keep_chunks``, ``out/chunks`` (and ``run.json``, shard
    markers) are then removed. Returns the manifest.
    """
    n_chunks = int(run["n_chunks"])
    missing = [c for c in range(n_chunks) if c not in chunk_dirs]
    if missing:
        raise CacheError(
            f"cannot consolidate {out}: {len(missing)} of {n_chunks} chunks are missing "
            f"(e.g. {missing[:10]}); finish the run (or every shard) first"
        )
    consolidator = Consolidator(out, run, verify=verify, trusted=trusted)
    try:
        for c in range(n_chunks):
            consolidator.add(c, chunk_dirs[c])
        return consolidator.finish(keep_chunks=keep_chunks, build=build)
    finally:
        consolidator.close()


def merge(
    shard_dirs: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    keep_chunks: bool = True,
    verify: bool = True,
) -> dict[str, Any]:
    """Merge the chunks of shard directories (``csip precompute --shard i/n``) into one cache.

    Every directory must come from the same run parameters (else :class:`CacheError` listing
    the differences); together they must hold every chunk exactly once (a chunk present in
    several directories must be byte-identical). The shard directories are left as they are
    unless ``keep_chunks`` is false. Returns the manifest of the merged cache.
    """
    out = Path(out)
    if not shard_dirs:
        raise CacheError("merge: no shard directory given")
    run, chunks = _shard_chunks([Path(d) for d in shard_dirs])
    with output_lock(out):  # one writer per cache directory
        return _merge_into(out, shard_dirs, run, chunks, keep_chunks, verify)


def _merge_into(out: Path, shard_dirs: list[str | os.PathLike], run: dict[str, Any], chunks: dict[int, Path],
                keep_chunks: bool, verify: bool) -> dict[str, Any]:
    """:func:`merge` once ``out`` is locked: the finished cache found there, else the merged one."""
    clean_stale_tmp(out)  # the consolidation directory of a merge that was killed
    if (out / MANIFEST).exists():
        man = read_json(out / MANIFEST, "manifest")
        if man.get("run", {}).get("params_hash") == run["params_hash"]:
            return man
        raise CacheError(f"{out} already holds a finished cache with other parameters; choose another --out")
    n_chunks = int(run["n_chunks"])
    missing = [c for c in range(n_chunks) if c not in chunks]
    if missing:
        raise _missing_shards_error(shard_dirs, missing, n_chunks)
    manifest = consolidate(out, chunks, run, keep_chunks=True, verify=verify)
    if not keep_chunks:
        for d in shard_dirs:
            if Path(d).resolve() != out.resolve():
                rmtree_quiet(Path(d) / "chunks")
    return manifest


def _shard_chunks(shard_dirs: list[Path]) -> tuple[dict[str, Any], dict[int, Path]]:
    """The run file of the shard directories (all of one run, else :class:`ParamsMismatch`)
    and ``{chunk index: directory}`` of the chunks they hold, each once (a chunk found in
    several directories must have the same sha256 sums, else :class:`CacheError`)."""
    run0: dict[str, Any] | None = None
    first = None
    chunks: dict[int, Path] = {}
    chunk_sums: dict[int, dict[str, Any]] = {}
    for d in shard_dirs:
        rp = d / RUN_FILE
        if not rp.is_file():
            if (d / MANIFEST).is_file():
                raise CacheError(f"{d} is a finished cache, not a shard directory (no {RUN_FILE}, no chunks)")
            raise CacheError(f"{d} is not a precompute shard directory (no {RUN_FILE})")
        run = read_json(rp, "run file")
        if run0 is None:
            run0, first = run, d
        elif run["params_hash"] != run0["params_hash"]:
            diffs = diff_keys(run0["params"], run["params"])
            raise ParamsMismatch(
                f"shards {first} and {d} were computed with other parameters:\n  " + "\n  ".join(diffs)
            )
        for c, p in list_chunks(d).items():
            m = read_chunk_manifest(p, run0["params_hash"])
            sums = {k: v["sha256"] for k, v in m["files"].items()}
            if c in chunks:
                if chunk_sums[c] != sums:
                    raise CacheError(f"chunk {c} differs between {chunks[c]} and {p}")
                continue
            chunks[c] = p
            chunk_sums[c] = sums
    assert run0 is not None
    return run0, chunks


def _missing_shards_error(shard_dirs: list[str | os.PathLike], missing: list[int], n_chunks: int) -> CacheError:
    """The error of a merge that lacks chunks, naming the shards that owe them (from the
    ``shard-<i>-of-<n>.json`` markers, when there are any)."""
    shard_n = None
    for d in shard_dirs:
        for marker in Path(d).glob("shard-*-of-*.json"):
            shard_n = int(marker.stem.split("-of-")[1])
    owners = (
        f"; with {shard_n} shards they belong to shard(s) {sorted({c % shard_n for c in missing})}" if shard_n else ""
    )
    return CacheError(
        f"merge: {len(missing)} of {n_chunks} chunks are missing (e.g. {missing[:10]}){owners}. "
        "Finish those shards (rerun their command) and merge again."
    )

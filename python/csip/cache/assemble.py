"""Consolidation of finished chunks into the final cache, and the merge of shard directories."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .chunks import list_chunks, load_chunk_text, read_chunk_manifest, verify_chunk_files
from .format import (
    ARRAY_FILES,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    RUN_FILE,
    SKIP_LIST_CAP,
    SPLIT_NAMES,
    CacheError,
    ParamsMismatch,
    content_hash,
    diff_keys,
    expected_shapes,
    fsync_dir,
    load_npy,
    npy_header_bytes,
    read_json,
    rmtree_quiet,
    sha256_file,
    utc_now,
    write_json_atomic,
)


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
    except for the ``trusted`` chunks this process has just written) before anything is
    written. Files are written to a temporary directory, renamed into
    ``out``, and ``manifest.json`` is written last, atomically. Unless ``keep_chunks``,
    ``out/chunks`` (and ``run.json``, shard markers) are then removed. Returns the manifest.
    """
    t0 = time.perf_counter()
    out = Path(out)
    params = run["params"]
    ph = run["params_hash"]
    n_chunks = int(run["n_chunks"])
    missing = [c for c in range(n_chunks) if c not in chunk_dirs]
    if missing:
        raise CacheError(
            f"cannot consolidate {out}: {len(missing)} of {n_chunks} chunks are missing "
            f"(e.g. {missing[:10]}); finish the run (or every shard) first"
        )
    manifests = []
    for c in range(n_chunks):
        m = read_chunk_manifest(chunk_dirs[c], ph)
        if m["chunk"] != c:
            raise CacheError(f"{chunk_dirs[c]}: manifest says chunk {m['chunk']}, expected {c}")
        if verify and c not in trusted:
            verify_chunk_files(chunk_dirs[c], m)
        manifests.append(m)

    n = sum(m["n_items"] for m in manifests)
    reasons: Counter[str] = Counter()
    skipped_list: list[list[Any]] = []
    n_skipped = 0
    for m in manifests:
        for idx, reason, message in m["skipped"]:
            reasons[reason] += 1
            n_skipped += 1
            if len(skipped_list) < SKIP_LIST_CAP:
                skipped_list.append([idx, reason] + ([message] if message else []))
    if n == 0:
        detail = ", ".join(f"{r!r}: {k}" for r, k in reasons.most_common())
        raise CacheError(
            f"no usable item: all {params['n_items']} items of source {params['source']['spec']!r} were skipped "
            f"({detail}). Nothing was written to {out}/{MANIFEST}."
        )

    s = int(params["image_size"])
    desc_shape = (len(params["descriptor"]["forces"]), int(params["descriptor"]["n_angles"]))
    shapes = expected_shapes(n, s, desc_shape)
    tmp = out / f".consolidate-tmp-{os.getpid()}"
    rmtree_quiet(tmp)
    tmp.mkdir(parents=True)
    try:
        files: dict[str, dict[str, Any]] = {}
        nonempty = [c for c in range(n_chunks) if manifests[c]["n_items"]]
        # arrays: header, then each chunk's rows in order, hashed on the way (one pass)
        for name, dt in ARRAY_FILES.items():
            h = hashlib.sha256()
            header = npy_header_bytes(shapes[name], dt)
            size = len(header)
            with open(tmp / name, "wb") as f:
                f.write(header)
                h.update(header)
                for c in nonempty:
                    k = manifests[c]["n_items"]
                    a = load_npy(chunk_dirs[c] / name)
                    if a.shape != (k, *shapes[name][1:]) or a.dtype != np.dtype(dt):
                        raise CacheError(f"{chunk_dirs[c]}/{name}: {a.dtype} {a.shape} is wrong")
                    mv = memoryview(np.ascontiguousarray(a).reshape(-1)).cast("B")
                    f.write(mv)
                    h.update(mv)
                    size += len(mv)
                    del a, mv
                f.flush()
                os.fsync(f.fileno())
            files[name] = {"sha256": h.hexdigest(), "bytes": size, "shape": list(shapes[name]), "dtype": dt}
        ids: list[str] = []
        pos = 0
        with open(tmp / "questions.jsonl", "w", encoding="utf-8") as qf:
            for c in nonempty:
                k = manifests[c]["n_items"]
                data = load_chunk_text(chunk_dirs[c])
                if len(data["ids"]) != k:
                    raise CacheError(f"{chunk_dirs[c]}/ids.json has {len(data['ids'])} ids for {k} items")
                ids.extend(data["ids"])
                for q in data["questions"]:
                    qf.write(
                        json.dumps({"index": pos + int(q["index"]), "text": q["text"], "answer": bool(q["answer"])})
                        + "\n"
                    )
                pos += k
            qf.flush()
            os.fsync(qf.fileno())
        with open(tmp / "ids.json", "w", encoding="utf-8") as f:
            json.dump(ids, f)
            f.flush()
            os.fsync(f.fileno())
        for name in ("ids.json", "questions.jsonl"):
            files[name] = {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
        fsync_dir(tmp)
        for name in files:
            os.replace(tmp / name, out / name)
        fsync_dir(out)
    finally:
        rmtree_quiet(tmp)

    splits = np.load(out / "split.npy", mmap_mode="r", allow_pickle=False)
    labels = np.load(out / "labels.npy", mmap_mode="r", allow_pickle=False)
    split_counts = {SPLIT_NAMES[k]: int(np.count_nonzero(splits == k)) for k in range(3)}
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "csip_version": __version__,
        "created": utc_now(),
        "source": params["source"],
        "descriptor": {**params["descriptor"], "shape": list(desc_shape)},
        "image_size": s,
        "image": {
            "crop": "union box of box_a and box_b, clamped to the image",
            "pad": "centred to a square, value 0",
            "resize": "bilinear (antialiased), crop resized before padding",
            "layout": "uint8 (N, 3, S, S), RGB, channels first",
        },
        "counts": {
            "items": n,
            "source_items": int(params["n_items"]),
            "skipped": n_skipped,
            "splits": split_counts,
            "labelled": int(np.count_nonzero(labels >= 0)),
            "questions": sum(1 for _ in open(out / "questions.jsonl", encoding="utf-8")),
        },
        "skipped": {
            "reasons": dict(reasons.most_common()),
            "items": skipped_list,
            "items_truncated": n_skipped > len(skipped_list),
        },
        "has_labels": any(m.get("has_labels") for m in manifests),
        "has_questions": any(m.get("has_questions") for m in manifests),
        "split_rule": "the source's split where it gives one, else sha256(id) % 100: <80 train, <90 val, else test",
        "files": files,
        "content_hash": content_hash({k: v["sha256"] for k, v in files.items()}),
        "run": {
            "params_hash": ph,
            "params": params,
            "n_chunks": n_chunks,
            "chunk": int(params["chunk"]),
        },
    }
    if build is not None:
        b = build.to_json() if hasattr(build, "to_json") else dict(build)
        b["consolidate_s"] = round(time.perf_counter() - t0, 4)
        manifest["build"] = b
    write_json_atomic(out / MANIFEST, manifest)
    if not keep_chunks:
        own = out / "chunks"
        if all(Path(p).parent == own for p in chunk_dirs.values()):
            rmtree_quiet(own)
            for p in [out / RUN_FILE, *out.glob("shard-*-of-*.json")]:
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
    return manifest


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
    run0: dict[str, Any] | None = None
    first = None
    chunks: dict[int, Path] = {}
    chunk_sums: dict[int, dict[str, Any]] = {}
    for d in shard_dirs:
        d = Path(d)
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
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        man = read_json(out / MANIFEST, "manifest")
        if man.get("run", {}).get("params_hash") == run0["params_hash"]:
            return man
        raise CacheError(f"{out} already holds a finished cache with other parameters; choose another --out")
    n_chunks = int(run0["n_chunks"])
    missing = [c for c in range(n_chunks) if c not in chunks]
    if missing:
        shard_n = None
        for d in shard_dirs:
            for mk in Path(d).glob("shard-*-of-*.json"):
                shard_n = int(mk.stem.split("-of-")[1])
        owners = f"; with {shard_n} shards they belong to shard(s) {sorted({c % shard_n for c in missing})}" if shard_n else ""
        raise CacheError(
            f"merge: {len(missing)} of {n_chunks} chunks are missing (e.g. {missing[:10]}){owners}. "
            "Finish those shards (rerun their command) and merge again."
        )
    manifest = consolidate(out, chunks, run0, keep_chunks=True, verify=verify)
    if not keep_chunks:
        for d in shard_dirs:
            if Path(d).resolve() != out.resolve():
                rmtree_quiet(Path(d) / "chunks")
    return manifest

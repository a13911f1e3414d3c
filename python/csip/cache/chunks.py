"""Chunks: the unit of work, of resumption and of sharding.

A chunk ``c`` covers source items ``[c·chunk, min((c+1)·chunk, N))``. It is written into
``DIR/chunks/.tmp-<chunk>-<host>-<pid>-<rand>/`` (arrays, ``ids.json``, ``questions.jsonl``,
then ``chunk.json`` with per-file sha256 and byte sizes), then renamed in one ``os.rename`` to
``DIR/chunks/chunk-<c:06d>/``. A directory with a final name is therefore complete as far as any
process can see (a killed process loses nothing it had written); a temporary one is never read
and is removed on the next run.

Chunks are not fsynced: after an operating-system crash or power cut a renamed chunk could hold
files that never reached the disk, but a resumed run verifies every finished chunk (sizes and
sha256 sums) before using it and recomputes any that fail, so syncing each chunk (a large share
of the writing cost) would buy nothing. The final cache files are fsynced before its manifest
is written.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..base.files import open_regular, read_regular_json
from .format import (
    ARRAY_FILES,
    CHUNK_MANIFEST,
    CHUNK_ONLY_FILES,
    CHUNKS_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    CacheError,
    ParamsMismatch,
    Rows,
    expected_shapes,
    load_npy,
    read_json,
    rmtree_quiet,
    save_npy_hashed,
    sha256_file,
)
from .prepare import PreparedItem, Skipped

CHUNK_FORMAT = FORMAT_NAME + "-chunk"
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})$")
_TMP_RE = re.compile(r"^\.tmp-chunk-\d+-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]+$")
_CONSOLIDATE_TMP_RE = re.compile(r"^\.consolidate-tmp-(?P<host>.+)-(?P<pid>\d+)$")


def chunk_name(c: int) -> str:
    return f"chunk-{c:06d}"


def chunk_range(c: int, chunk: int, n_items: int) -> tuple[int, int]:
    return c * chunk, min((c + 1) * chunk, n_items)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def consolidate_tmp_name() -> str:
    """Name of this process's temporary consolidation directory (host and pid, so that
    :func:`clean_stale_tmp` can tell a dead run's leftovers from a live one's)."""
    return f".consolidate-tmp-{_host()}-{os.getpid()}"


def chunk_arrays(
    items: list[PreparedItem], sfb: np.ndarray | list[np.ndarray], image_size: int, desc_shape: tuple[int, int]
) -> dict[str, np.ndarray | Rows]:
    """The array files of a chunk of ``items``, by file name. ``sfb``: the stacked ``(n, R, K)``
    banners or one ``(R, K)`` array per item. Images, masks and banners stay :class:`Rows`
    (written without stacking); the small arrays are stacked."""
    n = len(items)
    if len(sfb) != n:
        raise ValueError(f"{len(sfb)} banners for {n} items")
    shapes = expected_shapes(n, int(image_size), desc_shape)
    return {
        "sfb.npy": Rows(list(sfb), shapes["sfb.npy"][1:], "float32"),
        "images.npy": Rows([it.image for it in items], shapes["images.npy"][1:], "uint8"),
        "boxes.npy": np.stack([it.boxes for it in items]).astype(np.float32)
        if n
        else np.zeros(shapes["boxes.npy"], np.float32),
        "masks.npy": Rows([it.masks for it in items], shapes["masks.npy"][1:], "uint8"),
        "labels.npy": np.array([it.label for it in items], dtype=np.int64),
        "split.npy": np.array([it.split for it in items], dtype=np.int8),
        "index.npy": np.array([it.index for it in items], dtype=np.int64),
    }


def chunk_text(items: list[PreparedItem]) -> tuple[list[str], list[dict[str, Any]]]:
    """A chunk's ids and its questions (``{"index", "text", "answer"}``, index in the chunk)."""
    ids = [it.id for it in items]
    questions = [
        {"index": k, "text": text, "answer": bool(answer)}
        for k, it in enumerate(items)
        for text, answer in it.questions
    ]
    return ids, questions


def chunk_manifest(
    c: int, start: int, stop: int, items: list[PreparedItem], skipped: list[Skipped], params_hash: str,
    files: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The ``chunk.json`` of chunk ``c`` (``files``: sha256 and size of each file, if written)."""
    return chunk_manifest_of(
        c, start, stop, len(items), any(it.label >= 0 for it in items), any(it.questions for it in items),
        skipped, params_hash, files, mask_counts(items),
    )


def mask_counts(items: list[PreparedItem]) -> dict[str, int]:
    """How many of ``items`` have their masks from each source (``Sample.mask_source``), for
    the sources that say."""
    counts: dict[str, int] = {}
    for it in items:
        if it.mask_source:
            counts[it.mask_source] = counts.get(it.mask_source, 0) + 1
    return counts


def chunk_manifest_of(
    c: int, start: int, stop: int, n_items: int, has_labels: bool, has_questions: bool, skipped: list[Skipped],
    params_hash: str, files: dict[str, dict[str, Any]], masks: dict[str, int] | None = None,
) -> dict[str, Any]:
    """:func:`chunk_manifest` from the facts it records (for a chunk whose items are gone);
    ``masks``: :func:`mask_counts` of its items."""
    return {
        "format": CHUNK_FORMAT,
        "format_version": FORMAT_VERSION,
        "chunk": int(c),
        "start": int(start),
        "stop": int(stop),
        "params_hash": params_hash,
        "n_items": int(n_items),
        "has_labels": bool(has_labels),
        "has_questions": bool(has_questions),
        "skipped": [[sk.index, sk.reason, sk.message, sk.id] for sk in skipped],
        "files": files,
        "masks": dict(masks or {}),
    }


def write_chunk(
    root: str | os.PathLike,
    c: int,
    start: int,
    stop: int,
    items: list[PreparedItem],
    sfb: np.ndarray | list[np.ndarray],
    skipped: list[Skipped],
    params_hash: str,
    image_size: int,
    desc_shape: tuple[int, int],
    arrays: dict[str, np.ndarray | Rows] | None = None,
) -> Path:
    """Write chunk ``c`` atomically; returns its final directory. ``arrays``: the chunk's
    :func:`chunk_arrays`, when the caller has them already."""
    chunks = Path(root) / CHUNKS_DIR
    chunks.mkdir(parents=True, exist_ok=True)
    final = chunks / chunk_name(c)
    tmp = chunks / f".tmp-{chunk_name(c)}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if arrays is None:
            arrays = chunk_arrays(items, sfb, image_size, desc_shape)
        files: dict[str, dict[str, Any]] = {}
        for name, arr in arrays.items():
            files[name] = save_npy_hashed(tmp / name, arr, fsync=False)
        ids, questions = chunk_text(items)
        with open(tmp / "ids.json", "w", encoding="utf-8") as f:
            json.dump(ids, f)
        with open(tmp / "questions.jsonl", "w", encoding="utf-8") as f:
            for q in questions:
                f.write(json.dumps(q) + "\n")
        for name in ("ids.json", "questions.jsonl"):
            files[name] = {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
        manifest = chunk_manifest(c, start, stop, items, skipped, params_hash, files)
        with open(tmp / CHUNK_MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
        if final.exists():
            # another process finished the same chunk (shared directory); keep the first one
            rmtree_quiet(tmp)
            return final
        os.rename(tmp, final)
        return final
    except BaseException:
        rmtree_quiet(tmp)
        raise


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover of this very process (a previous attempt in it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_tmp(root: str | os.PathLike) -> int:
    """Remove the temporary chunk and consolidation directories left by dead processes of this
    host; returns how many."""
    root = Path(root)
    host = _host()
    removed = 0
    for folder, pattern in ((root / CHUNKS_DIR, _TMP_RE), (root, _CONSOLIDATE_TMP_RE)):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = pattern.match(p.name)
            if m and m.group("host") == host and not _pid_alive(int(m.group("pid"))):
                rmtree_quiet(p)
                removed += 1
    return removed


def list_chunks(root: str | os.PathLike) -> dict[int, Path]:
    """``{chunk index: directory}`` of the finished (final-named) chunks under ``root``."""
    chunks = Path(root) / CHUNKS_DIR
    out: dict[int, Path] = {}
    if chunks.is_dir():
        for p in chunks.iterdir():
            m = _CHUNK_RE.match(p.name)
            if m and p.is_dir():
                out[int(m.group(1))] = p
    return out


def read_chunk_manifest(path: str | os.PathLike, params_hash: str | None = None) -> dict[str, Any]:
    """The manifest of a finished chunk, checked for format, parameters and file sizes.

    Raises :class:`CacheError` with the reason when the chunk is not usable.
    """
    path = Path(path)
    mpath = path / CHUNK_MANIFEST
    if not mpath.is_file():
        raise CacheError(f"chunk {path} has no {CHUNK_MANIFEST}")
    m = read_json(mpath, "chunk manifest")
    if m.get("format") != CHUNK_FORMAT or m.get("format_version") != FORMAT_VERSION:
        raise CacheError(
            f"chunk {path} is of format {m.get('format')!r} v{m.get('format_version')}, "
            f"expected {CHUNK_FORMAT!r} v{FORMAT_VERSION}"
        )
    if params_hash is not None and m.get("params_hash") != params_hash:
        raise ParamsMismatch(
            f"chunk {path} was computed with other parameters (hash {m.get('params_hash')}, "
            f"this run {params_hash})"
        )
    for name, info in m.get("files", {}).items():
        p = path / name
        if not p.is_file() or p.stat().st_size != info["bytes"]:
            raise CacheError(f"chunk {path}: file {name} is missing or truncated")
    for name in (*ARRAY_FILES, *CHUNK_ONLY_FILES, "ids.json", "questions.jsonl"):
        if name not in m.get("files", {}):
            raise CacheError(f"chunk {path}: manifest lists no {name}")
    return m


def verify_chunk_files(path: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Recompute the sha256 of every file of a chunk; CacheError on a mismatch."""
    path = Path(path)
    for name, info in manifest["files"].items():
        if sha256_file(path / name) != info["sha256"]:
            raise CacheError(f"chunk {path}: checksum mismatch in {name} (corrupt chunk; delete it and rerun)")


def load_chunk_text(path: str | os.PathLike) -> dict[str, Any]:
    """Ids and questions of a finished chunk."""
    path = Path(path)
    out: dict[str, Any] = {}
    out["ids"] = read_regular_json(path / "ids.json")
    qs = []
    with open_regular(path / "questions.jsonl") as f:
        for line in f:
            if line.strip():
                qs.append(json.loads(line))
    out["questions"] = qs
    return out


def load_chunk(path: str | os.PathLike) -> dict[str, Any]:
    """Arrays (memory-mapped), ids and questions of a finished chunk."""
    path = Path(path)
    out: dict[str, Any] = {name: load_npy(path / name) for name in (*ARRAY_FILES, *CHUNK_ONLY_FILES)}
    out.update(load_chunk_text(path))
    return out

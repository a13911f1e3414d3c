"""Checking a finished cache's contents before anything is computed from it.

:class:`~csip.cache.reader.Cache` checks, on opening, each file's size and each array's
shape and dtype against the manifest (cheap: a ``stat`` and a header per file). This module
adds the checks that read the data, so that no number is ever computed from a damaged cache:

- the sha256 of every file against the manifest (and the content hash over them);
- the banners: finite, ≥ 0, and ≤ 1 when they are max-normalised (each force level divided
  by its maximum over θ);
- the boxes: finite, in [0, 1], with x0 ≤ x1 and y0 ≤ y1;
- the labels in [−1, len(PREDICATES)) and the split codes in {0, 1, 2}, and the manifest's
  counts of items per split and of labelled items equal to those the arrays hold.

Reading every byte of a large cache takes a while (sha256 runs at about 1–2 GB/s per core),
so a cache that passed is remembered by a **stamp**: a small JSON file keyed on
``(path, size, mtime_ns, ctime_ns, inode)`` of every file of the cache (the manifest
included). While no file was replaced, rewritten or touched, later openings skip the reads.
The stamp is ``DIR/.csip-verified.json`` when the cache directory is writable, else
``$XDG_CACHE_HOME/csip/verified/<sha256 of DIR's absolute path>.json`` (``~/.cache`` when
``XDG_CACHE_HOME`` is unset), so read-only caches are checked once too. A stamp that cannot be
written is not an error (the checks then run at every opening).

Every failed check raises :class:`~csip.cache.format.CacheError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..base.files import read_regular_json
from ..data.sample import PREDICATES
from .format import MANIFEST, SPLIT_NAMES, CacheError, content_hash, load_npy, sha256_file

STAMP_NAME = ".csip-verified.json"
STAMP_VERSION = 1
#: Items per block of the value checks (bounds the memory they touch at once).
BLOCK = 2048


# --------------------------------------------------------------------------- the stamp


def stamp_key(path: Path, names: list[str]) -> dict[str, Any]:
    """What identifies these exact files: ``{"path", "files": {name: [size, mtime_ns, ctime_ns, inode]}}``
    for every name and the manifest. Any rewrite, replacement or ``touch`` changes it."""
    files = {}
    for name in sorted({*names, MANIFEST}):
        st = os.stat(path / name)
        files[name] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    return {"version": STAMP_VERSION, "path": str(path.resolve()), "files": files}


def stamp_locations(path: Path) -> list[Path]:
    """Where a stamp for the cache at ``path`` may be: in the cache dir, then the user cache dir."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return [path / STAMP_NAME, base / "csip" / "verified" / f"{digest}.json"]


def is_stamped(path: Path, key: dict[str, Any]) -> bool:
    """Whether a stamp of ``key`` exists (the files passed every check as they are now)."""
    for p in stamp_locations(path):
        try:
            if read_regular_json(p) == key:
                return True
        except (OSError, ValueError):
            continue
    return False


def write_stamp(path: Path, key: dict[str, Any]) -> Path | None:
    """Record that the files of ``key`` passed: in the cache dir if writable, else the user
    cache dir. Atomic (temporary file + rename); returns where, or ``None`` when nowhere could
    be written."""
    text = json.dumps(key, sort_keys=True)
    for p in stamp_locations(path):
        tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, p)
            return p
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
    return None


# --------------------------------------------------------------------------- the checks


def check_sums(path: Path, manifest: dict[str, Any], threads: int = 4) -> None:
    """sha256 of every file of ``manifest["files"]`` (several files at once: hashlib releases
    the GIL) and the content hash; :class:`CacheError` naming the first bad file."""
    files = manifest["files"]
    names = sorted(files)
    with ThreadPoolExecutor(max(1, min(threads, len(names)))) as ex:
        sums = dict(zip(names, ex.map(lambda n: sha256_file(path / n), names)))
    for name in names:
        if sums[name] != files[name]["sha256"]:
            raise CacheError(f"{path / name}: checksum mismatch (corrupt cache: the file changed after it was "
                             "written); recompute the cache with `csip precompute`")
    if content_hash(sums) != manifest["content_hash"]:
        raise CacheError(f"{path / MANIFEST}: content hash mismatch (the manifest was edited)")


def _first_bad(ok: np.ndarray) -> int:
    """Index of the first False along axis 0 of a per-item bool array."""
    return int(np.flatnonzero(~ok)[0])


def check_values(path: Path, manifest: dict[str, Any]) -> None:
    """Ranges of the banners, boxes, labels and splits (see the module docstring), read in
    blocks of :data:`BLOCK` items; :class:`CacheError` naming the file and the first bad item."""
    normalized = manifest["descriptor"].get("normalize") == "max"
    sfb = load_npy(path / "sfb.npy")
    boxes = load_npy(path / "boxes.npy")
    n = sfb.shape[0]
    for lo in range(0, n, BLOCK):
        s = np.asarray(sfb[lo:lo + BLOCK]).reshape(min(BLOCK, n - lo), -1)
        mn, mx = s.min(axis=1), s.max(axis=1)  # NaN and ±inf show in the min or the max: 2 passes
        fin = np.isfinite(mn) & np.isfinite(mx)
        if not fin.all():
            raise CacheError(f"{path / 'sfb.npy'}: item {lo + _first_bad(fin)} holds NaN or infinite values "
                             "(corrupt cache); recompute it with `csip precompute`")
        lo_ok = mn >= 0
        hi_ok = (mx <= 1) if normalized else lo_ok
        if not (lo_ok & hi_ok).all():
            i = _first_bad(lo_ok & hi_ok)
            rng = "[0, 1] (max-normalised)" if normalized else "[0, inf)"
            raise CacheError(f"{path / 'sfb.npy'}: item {lo + i} has values outside {rng}: "
                             f"min {s[i].min()}, max {s[i].max()} (corrupt cache)")
        b = np.asarray(boxes[lo:lo + BLOCK])
        ok = np.isfinite(b).all(axis=(1, 2))
        with np.errstate(invalid="ignore"):
            ok &= ((b >= 0) & (b <= 1)).all(axis=(1, 2))
            ok &= (b[..., 0] <= b[..., 2]).all(axis=1) & (b[..., 1] <= b[..., 3]).all(axis=1)
        if not ok.all():
            i = _first_bad(ok)
            raise CacheError(f"{path / 'boxes.npy'}: item {lo + i} has boxes {b[i].tolist()}, not finite "
                             "(x0, y0, x1, y1) in [0, 1] with x0 <= x1, y0 <= y1 (corrupt cache)")
    labels = np.asarray(load_npy(path / "labels.npy"))
    bad = (labels < -1) | (labels >= len(PREDICATES))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CacheError(f"{path / 'labels.npy'}: item {i} has label {int(labels[i])}, outside "
                         f"[-1, {len(PREDICATES)}) (corrupt cache)")
    split = np.asarray(load_npy(path / "split.npy"))
    bad = (split < 0) | (split > 2)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CacheError(f"{path / 'split.npy'}: item {i} has split code {int(split[i])}, not 0, 1 or 2 "
                         "(corrupt cache)")
    counts = manifest["counts"]
    held = {"splits": {name: int(np.count_nonzero(split == k)) for k, name in enumerate(SPLIT_NAMES)},
            "labelled": int(np.count_nonzero(labels >= 0))}
    for key, value in held.items():
        if counts.get(key) != value:
            raise CacheError(f"{path / MANIFEST}: counts.{key} says {counts.get(key)!r}, the arrays hold {value!r} "
                             "(the manifest was edited); recompute the cache with `csip precompute`")


def validate(path: str | os.PathLike, manifest: dict[str, Any], force: bool = False) -> bool:
    """Check the data of the cache at ``path`` (sums, then values) unless a stamp says these
    exact files passed already (``force``: check anyway). Writes the stamp after a pass.
    Returns whether the data was read (``False``: the stamp was valid)."""
    path = Path(path)
    key = stamp_key(path, list(manifest["files"]))
    if not force and is_stamped(path, key):
        return False
    check_sums(path, manifest)
    check_values(path, manifest)
    write_stamp(path, key)
    return True


def stamp_fresh(path: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """After writing a cache whose sums were computed from the bytes written, and whose values
    passed :func:`check_values`: stamp it, so that its first reader need not hash it again."""
    path = Path(path)
    write_stamp(path, stamp_key(path, list(manifest["files"])))

"""Reading a cache: :class:`Cache` (manifest + memory-mapped arrays) and :class:`CacheDataset`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..base.checks import is_integer
from ..base.files import open_regular, read_regular_json, require_regular
from .format import (
    ARRAY_FILES,
    CHUNKS_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_HASH,
    MANIFEST_HASH_SINCE,
    RUN_FILE,
    SPLITS,
    CacheError,
    expected_shapes,
    load_npy,
    manifest_hash,
    manifest_hash_expected,
    npy_header,
    read_json,
)
from .validate import validate


def _diagnose_missing_manifest(path: Path) -> str:
    if not path.exists():
        return f"no cache at {path}: the directory does not exist"
    if not path.is_dir():
        return f"no cache at {path}: not a directory"
    run_path = path / RUN_FILE
    chunks = path / CHUNKS_DIR
    if run_path.exists() or chunks.exists():
        done, total = "?", "?"
        try:
            run = read_regular_json(run_path)
            total = run.get("n_chunks", "?")
        except (OSError, ValueError):
            pass
        if chunks.is_dir():
            done = sum(1 for p in chunks.iterdir() if p.name.startswith("chunk-"))
        shards = sorted(p.name for p in path.glob("shard-*-of-*.json"))
        hint = (
            "merge the shards with `csip precompute merge SHARD_DIRS... --out DIR`"
            if shards
            else "rerun the same `csip precompute` command to finish it"
        )
        return f"the cache at {path} is incomplete ({done} of {total} chunks done, no {MANIFEST}): {hint}"
    return f"no cache at {path}: {MANIFEST} is missing"


#: The manifest fields every reader uses: (path of keys, test, what is expected).
_FIELDS: tuple[tuple[tuple[str, ...], Any, str], ...] = (
    (("image_size",), lambda v: is_integer(v) and v > 0, "a positive integer"),
    (("counts",), lambda v: isinstance(v, dict), "an object"),
    (("counts", "items"), lambda v: is_integer(v) and v >= 0, "an integer >= 0"),
    (("counts", "splits"), lambda v: isinstance(v, dict) and all(is_integer(x) for x in v.values()),
     "an object of integers"),
    (("counts", "labelled"), lambda v: is_integer(v) and v >= 0, "an integer >= 0"),
    (("descriptor",), lambda v: isinstance(v, dict), "an object"),
    (("descriptor", "shape"), lambda v: isinstance(v, list) and len(v) == 2 and all(is_integer(x) and x > 0 for x in v),
     "[levels, angles]"),
    (("descriptor", "n_angles"), lambda v: is_integer(v) and v > 0, "a positive integer"),
    (("descriptor", "normalize"), lambda v: isinstance(v, str), "a string"),
    (("descriptor", "forces"), lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) for x in v),
     "a list of numbers"),
    (("source",), lambda v: isinstance(v, dict), "an object"),
    (("has_labels",), lambda v: isinstance(v, bool), "true or false"),
    (("has_questions",), lambda v: isinstance(v, bool), "true or false"),
    (("content_hash",), lambda v: isinstance(v, str), "a string"),
    (("files",), lambda v: isinstance(v, dict) and all(
        isinstance(f, dict) and is_integer(f.get("bytes")) and isinstance(f.get("sha256"), str) for f in v.values()),
     "an object of {bytes, sha256} per file"),
)


def check_manifest(man: dict[str, Any], mpath: Path) -> None:
    """:class:`CacheError` naming the field when a manifest field that readers use is missing
    or of the wrong type, or when the manifest no longer matches its :data:`MANIFEST_HASH`
    (an edited count or descriptor field would otherwise be printed and used), or lacks it
    although it was made when csip wrote one (:func:`manifest_hash_expected`: the field
    deleted to turn the check off)."""
    for keys, ok, expected in _FIELDS:
        v: Any = man
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if not ok(v):
            raise CacheError(f"{mpath}: field {'.'.join(keys)!r} is {v!r}, expected {expected} (a damaged "
                             "manifest); recompute the cache with `csip precompute`")
    stored = man.get(MANIFEST_HASH)
    if stored is None and manifest_hash_expected(man):
        raise CacheError(f"{mpath}: the manifest has no {MANIFEST_HASH}, which every cache made since "
                         f"{MANIFEST_HASH_SINCE:%Y-%m-%d} records (this one: created {man.get('created')!r}): it was "
                         "deleted or the manifest edited; recompute the cache with `csip precompute`")
    if stored is not None and stored != manifest_hash(man):
        raise CacheError(f"{mpath}: the manifest was edited (its fields no longer match its {MANIFEST_HASH}); "
                         "recompute the cache with `csip precompute`")


class Cache:
    """A finished cache directory (see :mod:`csip.cache` for the format).

    Opening checks the manifest (format name and version), that every file is there with the
    recorded size, and that array headers have the expected shapes and dtypes; then (``check``,
    the default) the data itself: every file's sha256, the banners' and boxes' values and ranges
    (:func:`csip.cache.validate.validate`; skipped when a stamp says these exact files passed
    already; ``verify=True`` checks even then). Any problem raises :class:`CacheError` naming
    the file. Arrays are memory-mapped lazily (read-only) and re-opened after
    a fork or an unpickle, so a ``Cache`` can be shared with DataLoader workers.
    """

    def __init__(self, path: str | os.PathLike, verify: bool = False, check: bool = True):
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.exists() or mpath.is_dir():  # anything else there (a FIFO) is refused by name below
            raise CacheError(_diagnose_missing_manifest(self.path))
        man = read_json(mpath, "manifest")
        if not isinstance(man, dict) or man.get("format") != FORMAT_NAME:
            raise CacheError(
                f"{mpath} is not a {FORMAT_NAME} manifest "
                f"(format {man.get('format') if isinstance(man, dict) else None!r})"
            )
        if man.get("format_version") != FORMAT_VERSION:
            raise CacheError(
                f"{self.path}: cache format version {man.get('format_version')} (written by csip "
                f"{man.get('csip_version')}), this csip reads version {FORMAT_VERSION}; "
                "recompute it with this csip's `csip precompute`"
            )
        check_manifest(man, mpath)
        self.manifest: dict[str, Any] = man
        n = man["counts"]["items"]
        shapes = expected_shapes(n, man["image_size"], tuple(man["descriptor"]["shape"]))
        files = man["files"]
        for name, info in files.items():
            p = self.path / name
            if not p.exists() or p.is_dir():
                raise CacheError(f"{self.path}: {name} is missing")
            require_regular(p)
            if p.stat().st_size != info["bytes"]:
                raise CacheError(
                    f"{self.path}: {name} has {p.stat().st_size} bytes, the manifest says {info['bytes']} "
                    "(truncated or replaced)"
                )
        for name, dtype in ARRAY_FILES.items():
            if name not in files:
                raise CacheError(f"{mpath} lists no {name}")
            try:
                shape, dt = npy_header(self.path / name)
            except (OSError, ValueError) as exc:
                raise CacheError(f"{self.path}/{name} is not a valid .npy file: {exc}") from exc
            if shape != shapes[name] or dt != np.dtype(dtype):
                raise CacheError(f"{self.path}/{name}: {dt} {shape}, expected {dtype} {shapes[name]}")
            listed = files[name]
            if "shape" in listed and (tuple(listed["shape"]) != shape or listed.get("dtype", dtype) != dt.name):
                raise CacheError(f"{self.path}/{name}: {dt} {shape}, the manifest lists {listed.get('dtype')} "
                                 f"{tuple(listed['shape'])}")
        self._n = n
        self._arrays: dict[str, np.ndarray] = {}
        self._pid = os.getpid()
        self._ids: list[str] | None = None
        if verify or check:
            validate(self.path, man, force=verify)

    # -- pickling / processes -----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_arrays"] = {}
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)
        self._pid = -1

    def _array(self, name: str) -> np.ndarray:
        if self._pid != os.getpid():  # forked or unpickled: fresh maps in this process
            self._arrays = {}
            self._pid = os.getpid()
        a = self._arrays.get(name)
        if a is None:
            a = load_npy(self.path / name, mmap=True)
            self._arrays[name] = a
        return a

    # -- manifest facts ---------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r}, items={self._n}, source={self.source_name!r}, sfb={self.sfb_shape})"

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])

    @property
    def descriptor(self) -> dict[str, Any]:
        return self.manifest["descriptor"]

    @property
    def forces(self) -> np.ndarray:
        return np.asarray(self.manifest["descriptor"]["forces"], dtype=np.float64)

    @property
    def n_angles(self) -> int:
        return int(self.manifest["descriptor"]["n_angles"])

    @property
    def normalize(self) -> str:
        return str(self.manifest["descriptor"]["normalize"])

    @property
    def sfb_shape(self) -> tuple[int, int]:
        return tuple(self.manifest["descriptor"]["shape"])  # type: ignore[return-value]

    @property
    def source(self) -> dict[str, Any]:
        return self.manifest["source"]

    @property
    def source_name(self) -> str:
        return str(self.manifest["source"].get("name", ""))

    @property
    def counts(self) -> dict[str, Any]:
        return self.manifest["counts"]

    @property
    def skipped(self) -> dict[str, Any]:
        return self.manifest["skipped"]

    @property
    def has_labels(self) -> bool:
        return bool(self.manifest["has_labels"])

    @property
    def has_questions(self) -> bool:
        return bool(self.manifest["has_questions"])

    @property
    def content_hash(self) -> str:
        return str(self.manifest["content_hash"])

    # -- arrays -----------------------------------------------------------------------------

    @property
    def sfb(self) -> np.ndarray:
        """float32 ``(N, R, K)`` banners (normalised as ``self.normalize`` says)."""
        return self._array("sfb.npy")

    @property
    def images(self) -> np.ndarray:
        """uint8 ``(N, 3, S, S)`` RGB crops."""
        return self._array("images.npy")

    @property
    def boxes(self) -> np.ndarray:
        """float32 ``(N, 2, 4)``: A then B, ``(x0, y0, x1, y1)`` in [0, 1] of the square crop."""
        return self._array("boxes.npy")

    @property
    def masks_packed(self) -> np.ndarray:
        """uint8 ``(N, 2, S, ceil(S/8))``: bit-packed masks of A and B (``np.packbits`` on the last axis)."""
        return self._array("masks.npy")

    @property
    def labels(self) -> np.ndarray:
        """int64 ``(N,)``: index into :data:`csip.data.PREDICATES`, -1 when unknown."""
        return self._array("labels.npy")

    @property
    def split(self) -> np.ndarray:
        """int8 ``(N,)``: 0 train, 1 val, 2 test."""
        return self._array("split.npy")

    def take(self, name: str, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[i] = self.<name>[rows[i]]`` in one ``np.take`` from the memory map (``name``: an
        array property, e.g. ``"images"``). ``rows`` come from :meth:`indices`, all in range:
        ``mode="clip"`` never clips here, and avoids ``"raise"``'s buffered copy."""
        return np.take(getattr(self, name), rows, axis=0, out=out, mode="clip")

    def masks(self, i: int | slice | np.ndarray) -> np.ndarray:
        """Unpacked bool masks of item(s) ``i``: ``(2, S, S)`` (or ``(n, 2, S, S)``)."""
        s = self.image_size
        return np.unpackbits(self.masks_packed[i], axis=-1, count=s).astype(bool)

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = read_regular_json(self.path / "ids.json")
        return self._ids

    def questions(self) -> list[dict[str, Any]]:
        """Every question as ``{"index", "text", "answer"}`` (``index`` is the item's position)."""
        out = []
        with open_regular(self.path / "questions.jsonl") as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
        return out

    def indices(self, split: str | None = None) -> np.ndarray:
        """Positions of the items of ``split`` (all items for ``None``)."""
        if split is None:
            return np.arange(self._n, dtype=np.int64)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
        return np.flatnonzero(np.asarray(self.split) == SPLITS[split]).astype(np.int64)

    def verify(self) -> None:
        """Recompute every file's sha256 and the content hash, and check the values, whatever
        the stamp says; :class:`CacheError` on a mismatch."""
        validate(self.path, self.manifest, force=True)

"""Constants and small helpers shared by the cache writer, reader and merger.

See :mod:`csip.cache` for the format itself.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

# The settings fingerprint lives in csip.base.fingerprint (shared with training runs and evaluations);
# re-exported here under the cache's names, so params_hash values, and the caches, stay the same.
from ..base.files import open_regular, read_regular_json, require_regular
from ..base.fingerprint import fingerprint as params_hash  # noqa: F401  (re-exported)
from ..base.fingerprint import (
    settings_diff,
    sha256_file,  # noqa: F401  (re-exported)
    short_repr,
)

FORMAT_NAME = "csip-cache"
#: Bumped on any incompatible change of the on-disk layout; readers refuse other versions.
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
RUN_FILE = "run.json"
CHUNKS_DIR = "chunks"
CHUNK_MANIFEST = "chunk.json"

#: Split codes stored in ``split.npy``.
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")

#: The array files of a cache (and of each chunk), with their dtypes.
ARRAY_FILES: dict[str, str] = {
    "sfb.npy": "float32",
    "images.npy": "uint8",
    "boxes.npy": "float32",
    "masks.npy": "uint8",
    "labels.npy": "int64",
    "split.npy": "int8",
}
#: Files of a chunk only: the source index of each kept item.
CHUNK_ONLY_FILES: dict[str, str] = {"index.npy": "int64"}
TEXT_FILES: tuple[str, ...] = ("ids.json", "questions.jsonl")

#: How many (item, reason) pairs a manifest keeps; the reason counts are always complete.
SKIP_LIST_CAP = 1000


class CacheError(RuntimeError):
    """A cache directory that is missing, incomplete, corrupt, of another format version, or
    whose parameters disagree with what was asked."""


class ParamsMismatch(CacheError):
    """Existing work (a run, a chunk, a shard, a finished cache) was made with other parameters."""


def expected_shapes(n: int, image_size: int, desc_shape: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """Shape of each array file for ``n`` items."""
    s = int(image_size)
    return {
        "sfb.npy": (n, *desc_shape),
        "images.npy": (n, 3, s, s),
        "boxes.npy": (n, 2, 4),
        "masks.npy": (n, 2, s, (s + 7) // 8),
        "labels.npy": (n,),
        "split.npy": (n,),
    }


def split_of_id(item_id: str) -> int:
    """Deterministic 80/10/10 train/val/test split from an item id (sha256, not Python's hash)."""
    h = int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "little") % 100
    return 0 if h < 80 else (1 if h < 90 else 2)


def split_code(value: Any) -> int | None:
    """A source-provided split (``"train"``/``"val"``/``"test"``, aliases, or 0/1/2) as a code."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and 0 <= int(value) <= 2:
        return int(value)
    if isinstance(value, str):
        v = value.strip().lower()
        aliases = {"train": 0, "training": 0, "val": 1, "valid": 1, "validation": 1, "dev": 1, "test": 2}
        if v in aliases:
            return aliases[v]
    raise ValueError(f"unknown split {value!r}: expected train/val/test")


#: The manifest field that fingerprints every other field of the manifest (caches made before
#: csip recorded it have none), so that an edited count or descriptor field is caught on opening.
MANIFEST_HASH = "manifest_hash"


#: When csip started writing :data:`MANIFEST_HASH` (the commit that added it). The format version
#: did not change then, so a manifest's ``created`` time tells a cache made before it (readable
#: without one) from a newer one whose field was deleted (an edit, refused).
MANIFEST_HASH_SINCE = _dt.datetime(2026, 11, 27, 14, 30, 39, tzinfo=_dt.timezone.utc)


def manifest_hash_expected(manifest: dict[str, Any]) -> bool:
    """Whether ``manifest`` must hold a :data:`MANIFEST_HASH`: made (``created``, ISO 8601 UTC)
    at or after :data:`MANIFEST_HASH_SINCE`, or of unknown date (a ``created`` that is missing
    or not a date is itself an edit)."""
    try:
        created = _dt.datetime.fromisoformat(str(manifest.get("created")))
    except ValueError:
        return True
    if created.tzinfo is None:
        created = created.replace(tzinfo=_dt.timezone.utc)
    return created >= MANIFEST_HASH_SINCE


def manifest_hash(manifest: dict[str, Any]) -> str:
    """:func:`params_hash` (the settings fingerprint) of ``manifest`` without its own
    :data:`MANIFEST_HASH` field."""
    return params_hash({k: v for k, v in manifest.items() if k != MANIFEST_HASH})


def content_hash(file_hashes: dict[str, str]) -> str:
    """One hash for a whole cache: sha256 over ``"name:sha256\\n"`` of each file, sorted by name."""
    h = hashlib.sha256()
    for name in sorted(file_hashes):
        h.update(f"{name}:{file_hashes[name]}\n".encode())
    return h.hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def fsync_dir(path: str | os.PathLike) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write JSON to ``path`` through a temporary file, fsync and rename (atomic on POSIX); the
    temporary file is removed on any failure (a full disk among them)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=indent, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_json(path: str | os.PathLike, what: str) -> Any:
    try:
        return read_regular_json(path)  # a FIFO named manifest.json is refused, not read for ever
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise CacheError(f"{what} {path} is unreadable or corrupt: {exc}") from exc


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    """``np.save`` without pickling, fsynced."""
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def npy_header_bytes(shape: tuple[int, ...], dtype: np.dtype | str) -> bytes:
    """The exact header ``np.save`` writes for an array of this shape and dtype (C order)."""
    d = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(int(x) for x in shape),
    }
    bio = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(bio, d)
    except ValueError:  # pragma: no cover - a header over 64 KiB
        bio = io.BytesIO()
        np.lib.format.write_array_header_2_0(bio, d)
    return bio.getvalue()


def pad_npy_header(header: bytes, length: int) -> bytes:
    """``header`` (an ``.npy`` header) padded with spaces to exactly ``length`` bytes.

    Lets a file be written before its final row count is known: a header sized for an upper
    bound is written first and replaced, in place, by the real one padded to the same length
    (numpy reads any amount of header padding).
    """
    extra = length - len(header)
    if extra < 0:
        raise ValueError(f"header of {len(header)} bytes does not fit in {length}")
    if extra == 0:
        return header
    size_fmt = "<H" if header[6] == 1 else "<I"  # format 1.0 or 2.0 (after magic + version)
    start = 8 + struct.calcsize(size_fmt)
    body = header[start:-1] + b" " * extra + b"\n"
    return header[:8] + struct.pack(size_fmt, len(body)) + body


class Rows:
    """``n`` arrays of one shape and dtype that stand for their stack ``(n, *row_shape)``: they
    are written and hashed row after row, never stacked in memory (a chunk of images would be a
    fresh block of tens of megabytes to fill and free)."""

    def __init__(self, rows: list[np.ndarray], row_shape: tuple[int, ...], dtype: np.dtype | str):
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(int(v) for v in row_shape)
        self.rows = [np.ascontiguousarray(r, dtype=self.dtype) for r in rows]
        for k, r in enumerate(self.rows):
            if r.shape != self.row_shape:
                raise ValueError(f"row {k} has shape {r.shape}, expected {self.row_shape}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self.rows) * int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def buffers(self) -> list[memoryview]:
        return [memoryview(r.reshape(-1)).cast("B") for r in self.rows if r.size]


def array_buffers(arr: np.ndarray | Rows) -> list[memoryview]:
    """The bytes of an array (C order) or of a :class:`Rows` stack, as buffers to write in order."""
    if isinstance(arr, Rows):
        return arr.buffers()
    arr = np.ascontiguousarray(arr)
    return [memoryview(arr.reshape(-1)).cast("B")] if arr.size else []


def save_npy_hashed(path: str | os.PathLike, arr: np.ndarray | Rows, fsync: bool = True) -> dict[str, Any]:
    """Write ``arr`` (an array, or a :class:`Rows` stack) as a .npy (the bytes ``np.save``
    would write for the stacked array) and hash it on the way.

    Returns ``{"sha256", "bytes"}`` of the file: no second pass over the data.
    """
    if not isinstance(arr, Rows):
        arr = np.ascontiguousarray(arr)
    h = hashlib.sha256()
    header = npy_header_bytes(arr.shape, arr.dtype)
    with open(path, "wb") as f:
        f.write(header)
        h.update(header)
        for data in array_buffers(arr):
            f.write(data)
            h.update(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    return {"sha256": h.hexdigest(), "bytes": len(header) + arr.nbytes}


def load_npy(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """``np.load`` (memory-mapped by default), never unpickling; only a regular file."""
    return np.load(require_regular(path), mmap_mode="r" if mmap else None, allow_pickle=False)


def npy_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy file from its header alone."""
    with open_regular(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # pragma: no cover
            shape, _, dtype = np.lib.format._read_array_header(f, version)  # type: ignore[attr-defined]
    return tuple(shape), np.dtype(dtype)


def rmtree_quiet(path: str | os.PathLike) -> None:
    shutil.rmtree(path, ignore_errors=True)


def diff_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``["dotted.key: A != B", ...]``: the keys whose values differ between two (nested) dicts,
    compared as :func:`params_hash` sees them (:func:`csip.base.fingerprint.settings_diff`), so that
    a hash mismatch always names its keys."""
    return [f"{k}: {short_repr(va)} != {short_repr(vb)}" for k, (va, vb) in settings_diff(a, b).items()]

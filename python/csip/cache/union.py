"""Several caches read as one: :class:`CacheUnion`, what ``csip pretrain --cache A --cache B`` trains on.

The union's items are the members' items, member after member (row ``offsets[m] + i`` is row
``i`` of member ``m``); each item keeps its own split, label and banner. The members must share
what a model reads the same way: the descriptor (force levels, angles, normalisation) and the
image size; a union of caches that differ there is refused with the differences named. Nothing
is copied: each member stays memory-mapped, and a batch reads each member's rows with one
``np.take`` (:meth:`CacheUnion.take`), so a union of many shards (a sharded precompute's, each
trainable without a merge) scales past one disk's worth of memory.

:func:`expand_cache_paths` turns the ``--cache`` values into the member directories: a
directory, a glob (``shards/part-*``) or ``@LIST`` (a text file naming one cache directory per
line, relative to the file; ``#`` starts a comment).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .format import SPLITS, CacheError
from .reader import Cache

#: The array names a union can take rows of (the members' :class:`Cache` properties).
ARRAYS = ("images", "sfb", "boxes", "labels", "split", "masks_packed")


def expand_cache_paths(specs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """The cache directories named by ``specs`` (one or several), in order: a directory as it is;
    a glob, sorted (no match is an error); ``@LIST``, the directories listed in that file. A
    directory named twice is an error (its items would count twice)."""
    items = [specs] if isinstance(specs, (str, os.PathLike)) else list(specs)
    out: list[Path] = []
    for spec in items:
        text = str(spec)
        if text.startswith("@"):
            out += _list_file(Path(text[1:]))
        elif glob.has_magic(text):
            found = sorted(glob.glob(text))
            if not found:
                raise CacheError(f"--cache {text}: no directory matches")
            out += [Path(p) for p in found]
        else:
            out.append(Path(text))
    seen: dict[Path, Path] = {}
    for p in out:
        key = p.resolve()
        if key in seen:
            raise CacheError(f"--cache {p}: named twice (its items would count twice)")
        seen[key] = p
    if not out:
        raise CacheError("--cache: no cache named")
    return out


def _list_file(path: Path) -> list[Path]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheError(f"--cache @{path}: cannot read the list ({exc})") from None
    names = [line.split("#", 1)[0].strip() for line in lines]
    out = [p if p.is_absolute() else path.parent / p for p in (Path(n) for n in names if n)]
    if not out:
        raise CacheError(f"--cache @{path}: the list names no cache")
    return out


def _fingerprint_of_model_input(cache: Cache) -> dict[str, Any]:
    d = cache.descriptor
    return {"forces": list(d["forces"]), "n_angles": d["n_angles"], "normalize": d["normalize"],
            "image_size": cache.image_size}


class CacheUnion:
    """The caches ``paths`` read as one (see the module docstring); ``verify`` as :class:`Cache`'s.

    Offers what training reads of a :class:`Cache`: ``len``, ``image_size``, ``sfb_shape``,
    ``descriptor``, ``indices(split)``, :meth:`take`, and the arrays as row views
    (``union.images[j]``, ``union.labels[rows]``).
    """

    def __init__(self, paths: Sequence[str | os.PathLike | Cache], verify: bool = False):
        self.members = [p if isinstance(p, Cache) else Cache(p, verify=verify) for p in paths]
        if not self.members:
            raise CacheError("a union of caches needs at least one cache")
        first = _fingerprint_of_model_input(self.members[0])
        for m in self.members[1:]:
            other = _fingerprint_of_model_input(m)
            diff = [f"{k} {first[k]!r} in {self.members[0].path}, {other[k]!r} in {m.path}"
                    for k in first if first[k] != other[k]]
            if diff:
                raise CacheError("these caches cannot be trained on together: " + "; ".join(diff)
                                 + " (precompute them with the same descriptor settings and image size)")
        sizes = [len(m) for m in self.members]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.path = Path(self.members[0].path)  # for messages: the first member

    # -- what training reads of a cache --------------------------------------------------------

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __repr__(self) -> str:
        return f"CacheUnion({[str(m.path) for m in self.members]}, items={len(self)})"

    @property
    def image_size(self) -> int:
        return self.members[0].image_size

    @property
    def sfb_shape(self) -> tuple[int, int]:
        return self.members[0].sfb_shape

    @property
    def descriptor(self) -> dict[str, Any]:
        return self.members[0].descriptor

    @property
    def normalize(self) -> str:
        return self.members[0].normalize

    @property
    def content_hash(self) -> str:
        """sha256 of the members' content hashes, in order."""
        return hashlib.sha256("\n".join(m.content_hash for m in self.members).encode()).hexdigest()

    def indices(self, split: str | None = None) -> np.ndarray:
        """Union rows of the items of ``split`` (every item for None), member after member."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
        parts = [m.indices(split) + off for m, off in zip(self.members, self.offsets[:-1])]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(member of each row, its row in that member)`` for union rows ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        member = np.searchsorted(self.offsets, rows, side="right") - 1
        return member, rows - self.offsets[member]

    def take(self, name: str, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[i] = <array name>[rows[i]]``: each member's rows read with one ``np.take`` (in
        range by construction) into the places of ``out`` they fill."""
        member, local = self.locate(rows)
        for m in np.unique(member):
            at = np.flatnonzero(member == m)
            src = getattr(self.members[int(m)], name)
            if at.size == len(rows):
                np.take(src, local, axis=0, out=out, mode="clip")
            else:
                out[at] = np.take(src, local[at], axis=0, mode="clip")
        return out

    def __getattr__(self, name: str) -> Any:
        if name in ARRAYS:
            return _RowView(self, name)
        raise AttributeError(name)

    def masks(self, i: int | np.ndarray) -> np.ndarray:
        """Unpacked bool masks of item(s) ``i`` (as :meth:`Cache.masks`)."""
        member, local = self.locate(np.atleast_1d(i))
        if np.ndim(i) == 0:
            return self.members[int(member[0])].masks(int(local[0]))
        return np.stack([self.members[int(m)].masks(int(j)) for m, j in zip(member, local)])


class _RowView:
    """``union.<array>``: rows by integer or integer array (``view[j]``, ``view[rows]``), the
    members' memory maps read only for those rows."""

    def __init__(self, union: CacheUnion, name: str):
        self.union, self.name = union, name
        self.first = getattr(union.members[0], name)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.union), *self.first.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.first.dtype

    def __len__(self) -> int:
        return len(self.union)

    def __array__(self, dtype=None, copy=None):
        out = self[np.arange(len(self.union))]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            m, j = self.union.locate(np.asarray([int(key) % max(len(self.union), 1)]))
            return getattr(self.union.members[int(m[0])], self.name)[int(j[0])]
        rows = np.asarray(key, dtype=np.int64)
        out = np.empty((len(rows), *self.first.shape[1:]), dtype=self.first.dtype)
        return self.union.take(self.name, rows, out)


def open_caches(paths: Sequence[str | os.PathLike], verify: bool = False) -> Cache | CacheUnion:
    """One :class:`Cache` when ``paths`` names one, else their :class:`CacheUnion`."""
    return Cache(paths[0], verify=verify) if len(paths) == 1 else CacheUnion(paths, verify=verify)


__all__ = ["CacheUnion", "expand_cache_paths", "open_caches"]

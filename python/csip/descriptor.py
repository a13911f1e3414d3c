"""The Python face of :mod:`csip_core`: symmetric Force Banners (sFB) for masks and samples.

``csip_core`` (Rust) does the work; this module chooses the defaults, checks arguments, and adds
the few helpers the rest of csip needs:

- :func:`default_forces` / :func:`resolve_forces`: the grid of force levels ``r`` (rows of the
  banner). The default is ``csip_core.DEFAULT_FORCES``: 57 levels from -2.24 to 2.24, step 0.08.
- :class:`DescriptorParams`: forces, number of angles, normalisation, as one hashable record
  (this is what a cache manifest stores and what resumed or merged runs must agree on).
- :func:`sfb` (one pair), :func:`sfb_for_samples` (many :class:`~csip.data.Sample`, one
  ``sfb_batch`` call) and :func:`sfb_stream` (an iterable of pairs, in bounded chunks).

A banner has shape ``(R, K)``: ``R = len(forces)`` force levels by ``K = n_angles`` directions
``θ_k = k·π/K`` in ``[0, π)``. ``normalize="max"`` divides each force level by its maximum over θ
(the learning default: each row becomes scale-invariant); ``"none"`` keeps the raw values.

The sFB is translation-invariant, so the helpers here pass ``csip_core`` the two masks cropped to
the bounding box of their union (:func:`crop_pair`): same banner, far fewer pixels to scan.

Example::

    >>> import numpy as np
    >>> from csip.descriptor import sfb
    >>> a = np.zeros((32, 32), bool); a[2:8, 2:8] = True
    >>> b = np.zeros((32, 32), bool); b[20:30, 20:30] = True
    >>> sfb(a, b).shape                                  # doctest: +SKIP
    (57, 180)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Accepted values of ``normalize``.
NORMALIZE_MODES: tuple[str, ...] = ("max", "none")

#: Default number of directions θ in [0, π) (1° steps).
DEFAULT_N_ANGLES = 180


def core():
    """The :mod:`csip_core` extension module, with a clear error when it is not built."""
    try:
        import csip_core  # here, to turn a missing build into the clear error below
    except ImportError as exc:  # pragma: no cover - depends on the build
        raise ImportError(
            "csip_core (the Rust engine of csip) is not importable: build it with "
            "`maturin develop --release` (or `pip install .`) in the csip repository"
        ) from exc
    return csip_core


def core_version() -> str:
    """The version string of the :mod:`csip_core` in use."""
    return str(getattr(core(), "__version__", "unknown"))


def default_forces() -> np.ndarray:
    """The default force levels ``r`` (``csip_core.DEFAULT_FORCES``) as a float64 array."""
    return np.asarray(core().DEFAULT_FORCES, dtype=np.float64)


def resolve_forces(spec: str | Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Turn a force-grid spec into a float64 array of force levels.

    ``spec`` is ``None`` or ``"default"`` (the default grid), ``"START:STOP:STEP"`` (inclusive of
    STOP when it falls on the grid, e.g. ``"-2.24:2.24:0.08"``), a comma-separated list
    (``"0,1,2"``) or a sequence of numbers. Values are rounded to 10 decimals so that a grid
    written two ways compares equal.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "default")):
        arr = default_forces()
    elif isinstance(spec, str):
        s = spec.strip()
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise ValueError(f"forces {spec!r}: expected START:STOP:STEP")
            start, stop, step = (float(p) for p in parts)
            if step <= 0 or stop < start:
                raise ValueError(f"forces {spec!r}: need STEP > 0 and STOP >= START")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            arr = start + step * np.arange(n, dtype=np.float64)
        else:
            try:
                arr = np.array([float(p) for p in s.split(",") if p.strip()], dtype=np.float64)
            except ValueError as exc:
                raise ValueError(f"forces {spec!r}: not a list of numbers") from exc
    else:
        arr = np.asarray(spec, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("forces: the grid is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError("forces: every level must be finite")
    return np.round(arr, 10)


@dataclass(frozen=True)
class DescriptorParams:
    """Everything that fixes the value of a banner: force levels, number of angles, normalisation."""

    forces: tuple[float, ...]
    n_angles: int = DEFAULT_N_ANGLES
    normalize: str = "max"

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        if int(self.n_angles) < 1:
            raise ValueError(f"n_angles must be >= 1, got {self.n_angles}")

    @classmethod
    def make(
        cls,
        forces: str | Sequence[float] | np.ndarray | None = None,
        n_angles: int = DEFAULT_N_ANGLES,
        normalize: str = "max",
    ) -> DescriptorParams:
        """Build from user-facing values (see :func:`resolve_forces`)."""
        return cls(tuple(float(x) for x in resolve_forces(forces)), int(n_angles), str(normalize))

    @property
    def shape(self) -> tuple[int, int]:
        """``(R, K)``: force levels by angles."""
        return (len(self.forces), int(self.n_angles))

    @property
    def forces_array(self) -> np.ndarray:
        return np.asarray(self.forces, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"forces": list(self.forces), "n_angles": int(self.n_angles), "normalize": self.normalize}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DescriptorParams:
        return cls(tuple(float(x) for x in d["forces"]), int(d["n_angles"]), str(d["normalize"]))


def _params(params, forces, n_angles, normalize) -> DescriptorParams:
    if params is not None:
        return params
    return DescriptorParams.make(forces, n_angles, normalize)


def union_bbox(mask_a: np.ndarray, mask_b: np.ndarray) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)`` (exclusive ends) of the union of two masks; ValueError if either is empty."""
    out = []
    for name, m in (("mask_a", mask_a), ("mask_b", mask_b)):
        rows = np.flatnonzero(m.any(axis=1))
        if rows.size == 0:
            raise ValueError(f"{name} is empty")
        cols = np.flatnonzero(m.any(axis=0))
        out.append((rows[0], rows[-1] + 1, cols[0], cols[-1] + 1))
    (a0, a1, a2, a3), (b0, b1, b2, b3) = out
    return int(min(a0, b0)), int(max(a1, b1)), int(min(a2, b2)), int(max(a3, b3))


def crop_pair(mask_a: np.ndarray, mask_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two masks cropped to the bounding box of their union (C-contiguous bool copies).

    The sFB is translation-invariant, so this changes nothing but the cost.
    """
    a = np.asarray(mask_a, dtype=bool)
    b = np.asarray(mask_b, dtype=bool)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"masks must be 2-D and of one shape, got {a.shape} and {b.shape}")
    r0, r1, c0, c1 = union_bbox(a, b)
    return np.ascontiguousarray(a[r0:r1, c0:c1]), np.ascontiguousarray(b[r0:r1, c0:c1])


def sfb(
    mask_a: np.ndarray,
    mask_b: np.ndarray,
    params: DescriptorParams | None = None,
    *,
    forces=None,
    n_angles: int = DEFAULT_N_ANGLES,
    normalize: str = "max",
) -> np.ndarray:
    """The symmetric Force Banner of two masks: float32 ``(R, K)``."""
    p = _params(params, forces, n_angles, normalize)
    a, b = crop_pair(mask_a, mask_b)
    out = core().sfb(a, b, forces=list(p.forces), n_angles=p.n_angles, normalize=p.normalize)
    return np.asarray(out, dtype=np.float32)


def sfb_pairs(
    masks_a: Sequence[np.ndarray],
    masks_b: Sequence[np.ndarray],
    params: DescriptorParams | None = None,
    *,
    forces=None,
    n_angles: int = DEFAULT_N_ANGLES,
    normalize: str = "max",
    n_threads: int | None = None,
    crop: bool = True,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Banners of many pairs in one ``csip_core.sfb_batch`` call (rayon inside, GIL released).

    ``masks_a[i]`` and ``masks_b[i]`` must share a shape; shapes may differ between pairs.
    With ``crop`` (the default) each pair is first cropped to its union box (:func:`crop_pair`).
    Returns float32 ``(N, R, K)``.
    """
    p = _params(params, forces, n_angles, normalize)
    if len(masks_a) != len(masks_b):
        raise ValueError(f"{len(masks_a)} masks A but {len(masks_b)} masks B")
    n = len(masks_a)
    if n == 0:
        return np.zeros((0, *p.shape), dtype=np.float32)
    if crop:
        pairs = [crop_pair(a, b) for a, b in zip(masks_a, masks_b)]
        la = [a for a, _ in pairs]
        lb = [b for _, b in pairs]
    else:  # any memory layout: the engine reads views (Fortran order too) without a copy
        la = [np.asarray(a, dtype=bool) for a in masks_a]
        lb = [np.asarray(b, dtype=bool) for b in masks_b]
    kwargs: dict[str, Any] = dict(forces=list(p.forces), n_angles=p.n_angles, normalize=p.normalize)
    if n_threads is not None:
        kwargs["n_threads"] = int(n_threads)
    res = np.asarray(core().sfb_batch(la, lb, **kwargs), dtype=np.float32)
    if res.shape != (n, *p.shape):
        raise RuntimeError(f"csip_core.sfb_batch returned shape {res.shape}, expected {(n, *p.shape)}")
    if out is not None:
        out[...] = res
        return out
    return res


def sfb_for_samples(
    samples: Sequence[Any],
    params: DescriptorParams | None = None,
    *,
    forces=None,
    n_angles: int = DEFAULT_N_ANGLES,
    normalize: str = "max",
    n_threads: int | None = None,
) -> np.ndarray:
    """Banners of ``sample.mask_a`` / ``sample.mask_b`` for each :class:`~csip.data.Sample`.

    Returns float32 ``(N, R, K)`` in the order of ``samples``.
    """
    return sfb_pairs(
        [s.mask_a for s in samples],
        [s.mask_b for s in samples],
        params,
        forces=forces,
        n_angles=n_angles,
        normalize=normalize,
        n_threads=n_threads,
    )


def sfb_stream(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    params: DescriptorParams | None = None,
    *,
    chunk: int = 512,
    forces=None,
    n_angles: int = DEFAULT_N_ANGLES,
    normalize: str = "max",
    n_threads: int | None = None,
) -> Iterator[np.ndarray]:
    """Banners of a (possibly endless) iterable of ``(mask_a, mask_b)`` pairs, ``chunk`` at a time.

    Yields float32 ``(n, R, K)`` arrays with ``n <= chunk``, in input order; memory stays bounded
    by one chunk of masks. Example: ``np.concatenate(list(sfb_stream(pairs)))``.
    """
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    p = _params(params, forces, n_angles, normalize)
    buf_a: list[np.ndarray] = []
    buf_b: list[np.ndarray] = []
    for a, b in pairs:
        ca, cb = crop_pair(a, b)
        buf_a.append(ca)
        buf_b.append(cb)
        if len(buf_a) >= chunk:
            yield sfb_pairs(buf_a, buf_b, p, n_threads=n_threads, crop=False)
            buf_a, buf_b = [], []
    if buf_a:
        yield sfb_pairs(buf_a, buf_b, p, n_threads=n_threads, crop=False)


__all__ = [
    "DEFAULT_N_ANGLES",
    "NORMALIZE_MODES",
    "DescriptorParams",
    "core",
    "core_version",
    "crop_pair",
    "default_forces",
    "resolve_forces",
    "sfb",
    "sfb_for_samples",
    "sfb_pairs",
    "sfb_stream",
    "union_bbox",
]

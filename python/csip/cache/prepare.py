"""Turn :class:`~csip.data.Sample` records into what the cache stores (runs in worker processes).

Each worker process takes a batch of source indices and does everything an item needs: load
(decode, masks), crop/pad/resize, and the banners of the batch in one ``csip_core.sfb_batch``
call on the worker's own thread (:func:`add_banners`). Only the small results (the square image,
packed masks, boxes, the ``(R, K)`` banner) travel back to the main process, which just writes.

The image side follows the paper's code: the image is cropped to the **union box** of the two
objects (``box_a ∪ box_b``, clamped to the image), the crop is **padded to a square** (centred,
pad value 0, i.e. black) and **resized** to ``S × S`` (Pillow's bilinear filter with
antialiasing, computed by ``csip_core.resize_rgb``: the same bytes as ``Image.resize``). The
resize is applied to the crop before padding (``w × h`` → ``round(w·S/L) × round(h·S/L)`` with
``L = max(w, h)``), which is the same picture as padding first and resizing the ``L × L`` square,
for less work. The two masks get the same crop, pad and resize, by area coverage (a pixel of
the small mask is set when the object covers at least half of the area it stands for:
``csip_core.resize_mask``, exact integer arithmetic), and are bit-packed. The boxes are mapped
into that square frame and divided by ``S``.

Nothing outside the union box is kept, so a source may hand over only that window: when it has
a ``load_cropped(i)`` method (see :class:`csip.data.source.Source`), workers call it instead of
``load(i)`` and skip decoding or converting pixels that would be thrown away. The result is the
same, bit for bit.

The sFB does not use the resized masks: it is computed from the full-resolution masks, which
the engine crops to the bounding box of their union (the banner is translation-invariant; see
:func:`csip.descriptor.crop_pair`).
"""

from __future__ import annotations

import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from csip_core import resize_mask, resize_rgb

from .. import descriptor
from ..base.orphans import die_with_parent
from ..data.sample import SkipItem
from ..descriptor import crop_pair
from .format import split_code, split_of_id


@dataclass
class PreparedItem:
    """One item ready for the cache (everything but its banner)."""

    index: int  # index in the source
    id: str
    image: np.ndarray  # uint8 (3, S, S)
    boxes: np.ndarray  # float32 (2, 4): A then B, (x0, y0, x1, y1) in [0, 1] of the square frame
    masks: np.ndarray  # uint8 (2, S, ceil(S/8)): packed bits of A and B in the square frame
    label: int  # -1 unknown
    split: int  # 0 train / 1 val / 2 test
    questions: list[tuple[str, bool]] = field(default_factory=list)
    sfb_a: np.ndarray | None = None  # bool, full resolution, the boxes' window (see banner_masks)
    sfb_b: np.ndarray | None = None  # (both dropped once the banner is computed)
    sfb: np.ndarray | None = None  # float32 (R, K): the banner, set by add_banners
    t_load: float = 0.0
    t_prepare: float = 0.0
    t_sfb: float = 0.0
    mask_source: str | None = None  # Sample.mask_source: counted in the manifest (counts.masks)


@dataclass
class Skipped:
    index: int
    reason: str
    message: str = ""
    id: str | None = None  # the source's id of the item (``source.item_id(index)``), when it says


def item_id_of(source: Any, index: int) -> str | None:
    """The source's id of item ``index`` without loading it (its optional ``item_id``), or None."""
    item_id = getattr(source, "item_id", None)
    if item_id is None:
        return None
    try:
        return str(item_id(index))
    except Exception:  # noqa: BLE001 - an id is a courtesy of the skip record, never a failure
        return None


def crop_pad_resize(sample: Any, image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image (3,S,S) uint8, boxes (2,4) float32 in [0,1], masks packed (2,S,ceil(S/8)))``."""
    s = int(image_size)
    x0, y0, x1, y1 = sample.union_box()
    w, h = x1 - x0, y1 - y0
    side = max(w, h)
    nw = max(1, int(round(w * s / side)))
    nh = max(1, int(round(h * s / side)))
    ox = (s - nw) // 2
    oy = (s - nh) // 2
    small = resize_rgb(sample.image[y0:y1, x0:x1], nh, nw)  # Pillow's bilinear, byte for byte
    image = np.zeros((3, s, s), dtype=np.uint8)
    image[:, oy : oy + nh, ox : ox + nw] = small.transpose(2, 0, 1)

    masks = np.zeros((2, s, s), dtype=bool)
    for k, m in enumerate((sample.mask_a, sample.mask_b)):
        masks[k, oy : oy + nh, ox : ox + nw] = resize_mask(m[y0:y1, x0:x1], nh, nw)
    packed = np.packbits(masks, axis=-1)

    sx = nw / w
    sy = nh / h
    boxes = np.empty((2, 4), dtype=np.float32)
    for k, (bx0_, by0_, bx1_, by1_) in enumerate((sample.box_a, sample.box_b)):
        boxes[k] = (
            (ox + (bx0_ - x0) * sx) / s,
            (oy + (by0_ - y0) * sy) / s,
            (ox + (bx1_ - x0) * sx) / s,
            (oy + (by1_ - y0) * sy) / s,
        )
    np.clip(boxes, 0.0, 1.0, out=boxes)
    return image, boxes, packed


def banner_masks(sample: Any) -> tuple[np.ndarray, np.ndarray]:
    """The full-resolution masks for the banner, cut to the window of the sample's boxes.

    The window is the union of the sample's boxes, once pixel counts confirm that no mask pixel
    lies outside it (a source whose masks overflow their boxes falls back to the whole frame).
    A sample that already is that window (``load_cropped``) gives its own masks, uncopied, in
    any memory layout: the engine crops each pair to its union box itself. Otherwise the masks
    are copied, cropped to their union box, so that a batch of items waiting for its banners
    does not hold whole frames. ``SkipItem("empty mask")`` for an empty mask,
    ``SkipItem("empty union box")`` when the boxes leave nothing of the image.
    """
    a, b = sample.mask_a, sample.mask_b
    if not (a.any() and b.any()):
        raise SkipItem("empty mask")
    x0, y0, x1, y1 = sample.union_box()
    if (y1 - y0, x1 - x0) == a.shape:
        return a, b
    n_a, n_b = np.count_nonzero(a), np.count_nonzero(b)
    wa, wb = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    if np.count_nonzero(wa) == n_a and np.count_nonzero(wb) == n_b:
        return crop_pair(wa, wb)
    return crop_pair(a, b)


def prepare_sample(sample: Any, index: int, image_size: int) -> PreparedItem:
    """Crop, pad, resize and pack one sample (raises :class:`SkipItem` for unusable ones)."""
    sfb_a, sfb_b = banner_masks(sample)
    image, boxes, packed = crop_pad_resize(sample, image_size)
    split = split_code(getattr(sample, "split", None))
    if split is None:
        split = split_of_id(str(sample.id))
    label = -1 if sample.label is None else int(sample.label)
    questions = [(str(q.text), bool(q.answer)) for q in (sample.questions or [])]
    return PreparedItem(
        index=int(index),
        id=str(sample.id),
        image=image,
        boxes=boxes,
        masks=packed,
        label=label,
        split=int(split),
        questions=questions,
        sfb_a=sfb_a,
        sfb_b=sfb_b,
        mask_source=getattr(sample, "mask_source", None),
    )


def load_item(source: Any, index: int, image_size: int) -> PreparedItem | Skipped:
    """Load item ``index`` of ``source`` (``load_cropped`` where the source has it) and prepare
    it; never raises for a bad item.

    :class:`SkipItem` becomes ``Skipped(reason=str(exc))`` (``SkipItem(reason, message)``:
    that message too); any other exception becomes ``Skipped(reason="error: <ExceptionType>",
    message=...)``. Either records the source's id of the item when it gives one (``item_id``).
    """
    t0 = time.perf_counter()
    load = getattr(source, "load_cropped", None) or source.load
    try:
        sample = load(index)
        t1 = time.perf_counter()
        item = prepare_sample(sample, index, image_size)
    except SkipItem as exc:
        return Skipped(int(index), exc.reason or "skipped", (exc.details or "")[:500], item_id_of(source, index))
    except Exception as exc:  # noqa: BLE001 - every bad item is counted, never fatal
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        return Skipped(int(index), f"error: {type(exc).__name__}", f"{exc}{where}"[:500], item_id_of(source, index))
    t2 = time.perf_counter()
    item.t_load = t1 - t0
    item.t_prepare = t2 - t1
    return item


def add_banners(
    results: list[PreparedItem | Skipped], desc: Any, n_threads: int | None = 1
) -> list[PreparedItem | Skipped]:
    """Compute the banners of the prepared items of ``results`` in one ``sfb_batch`` call.

    Sets ``item.sfb`` (float32 ``(R, K)``) and drops the full-resolution masks. An item the
    engine rejects, or whose banner is not finite, becomes ``Skipped("error: sfb ...")`` /
    ``Skipped("error: non-finite sFB")`` in its place, after the batch is retried item by item
    to isolate it. ``n_threads=1`` runs on the calling thread (safe in forked workers).
    """
    items = [r for r in results if isinstance(r, PreparedItem)]
    if not items:
        return results
    t0 = time.perf_counter()
    bad: dict[int, Skipped] = {}
    try:
        rows = list(
            descriptor.sfb_pairs(
                [it.sfb_a for it in items], [it.sfb_b for it in items], desc, n_threads=n_threads, crop=False
            )
        )
    except Exception:  # noqa: BLE001 - find the culprit(s) one by one
        rows = []
        for it in items:
            try:
                rows.append(descriptor.sfb_pairs([it.sfb_a], [it.sfb_b], desc, n_threads=n_threads, crop=False)[0])
            except Exception as exc:  # noqa: BLE001
                rows.append(None)
                bad[it.index] = Skipped(it.index, f"error: sfb {type(exc).__name__}", str(exc)[:500], it.id)
    dt = (time.perf_counter() - t0) / len(items)
    for it, row in zip(items, rows):
        it.sfb_a = it.sfb_b = None
        if row is None:
            continue
        if not np.isfinite(row).all():
            bad[it.index] = Skipped(it.index, "error: non-finite sFB", "", it.id)
            continue
        it.sfb = np.ascontiguousarray(row, dtype=np.float32)
        it.t_sfb = dt
    if not bad:
        return results
    return [bad.get(r.index, r) if isinstance(r, PreparedItem) else r for r in results]


# --- worker-process side -------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def worker_init(source: Any, image_size: int, desc: Any, parent_pid: int) -> None:
    """Pool initializer: keep the source and parameters once per worker process (tasks carry
    only indices).

    Workers ignore SIGINT: on Ctrl-C the main process stops them itself, without a traceback
    from each worker. SIGTERM (how the main process stops them) ends them at once, whatever
    handler the main process had when it forked them. The worker exits when ``parent_pid`` (the
    process that made the pool) dies, whatever killed it (:func:`csip.base.orphans.die_with_parent`).
    """
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # pragma: no cover - not the main thread
        pass
    die_with_parent(parent_pid)
    _WORKER["source"] = source
    _WORKER["image_size"] = int(image_size)
    _WORKER["desc"] = desc


def worker_load_many(indices: list[int]) -> list[PreparedItem | Skipped]:
    """Load, prepare and describe the items ``indices`` (in a worker process)."""
    results = [load_item(_WORKER["source"], i, _WORKER["image_size"]) for i in indices]
    return add_banners(results, _WORKER["desc"], n_threads=1)

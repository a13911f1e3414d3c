"""Masks from segment-anything (SAM): box prompts for box-only datasets, automatic masks for
image folders.

SAM always loads from a local checkpoint file (no hub access on many clusters): the state dict is
read with ``map_location="cpu"`` and ``weights_only=True`` (so GPU-saved files load on CPU-only
machines), the architecture is built by ``sam_model_registry[kind]`` and the model moves to
``device``. Kinds: ``vit_h``, ``vit_l``, ``vit_b``, and ``tiny``, a random-size configuration
(embed dim 32, depth 1, 64 px input) for tests and smoke runs only.

**The kind comes from the checkpoint.** :func:`check_sam_checkpoint` reads the file once, in the
process that opens the source and before any item, and compares the names and shapes of its
tensors with each kind's architecture (built on PyTorch's ``meta`` device: no memory, no
weights): the kind whose every tensor matches is the checkpoint's. A ``sam_kind`` that is given
must agree; a file that does not load, or fits no kind, is one :class:`~csip.errors.BadFile`
naming it. (Before, ``vit_h`` was assumed: a ``vit_b`` file then failed in every item, each
reloading the checkpoint.)

**One image embedding per image.** :class:`BoxMasker` runs SAM's image encoder once per image for
all the boxes it is asked about, and keeps that embedding while the next items are of the same
image (the sources list the relations of one image together).

**The mask store.** SAM's box-prompted masks are kept on disk, so that a second precompute of the
same data (another image size, other force levels, a rerun after a change elsewhere) does not
run SAM again. One file per (model, image, box)::

    STORE/<model key>/model.json                        kind, checkpoint path and its sha256
    STORE/<model key>/<ii>/<image key>-<box key>.npy    the mask inside the box, np.packbits

``model key``: a hash of the checkpoint's sha256, its kind and how SAM is prompted (one box,
one mask); ``image key``: the sha256 of the decoded RGB pixels (so a moved or renamed file is
found again, an edited one is not); ``box key``: a hash of the box's four coordinates. Only the
box's window is stored (the mask is clipped to its box). Files are written atomically (a
temporary file, then a rename), so processes can share a store; an unreadable file is computed
again. ``STORE`` is the ``sam_masks`` option: default ``$XDG_CACHE_HOME/csip/sam-masks``
(``~/.cache/csip/sam-masks``), ``off`` for none. The store does not change what a cache holds,
so it is not part of the cache's options; masks computed on another device (GPU vs CPU) may
differ in a few pixels, and the store returns the first ones computed.

**Fallback to boxes.** A box for which SAM returns an empty mask (inside the box) gets the box
itself; :meth:`BoxMasker.masks` says, per item, whether both masks are SAM's (``"sam"``) or
not (``"boxes"``), which the cache manifest counts (``counts.masks``).

Objects here are picklable: the model is loaded lazily, once per process, and left out of the
pickle, so sources that use SAM can be shipped to worker processes (each worker then holds its
own copy of the model: with large SAMs use one worker per GPU).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import BadFile
from .common import box_mask

SAM_KINDS = ("vit_h", "vit_l", "vit_b", "tiny")

#: The SAM options of the box-only sources (spatialsense, unrel, gqa), as in their option tables.
SAM_OPTIONS: dict[str, str] = {
    "sam_checkpoint": "local SAM checkpoint file: masks from SAM prompted by the boxes (without it: the boxes)",
    "sam_kind": "SAM architecture (vit_h, vit_l, vit_b, tiny); default: read from the checkpoint",
    "sam_device": "device SAM runs on (default: cuda when available, else cpu)",
    "sam_masks": "folder of stored SAM masks, reused by later precomputes "
    "(default: ~/.cache/csip/sam-masks; off: none)",
}

#: Bumped when what a stored mask means changes (how SAM is prompted, how it is clipped).
STORE_VERSION = 1


def build_tiny_sam(checkpoint: str | Path | None = None, img_size: int = 64):
    """A very small SAM (ViT embed dim 32, depth 1, prompt dim 32) with random or given weights.

    Useless for real masks; it exercises the SAM code paths quickly in tests.
    """
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    dim, patch = 32, 16
    grid = img_size // patch
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size,
            patch_size=patch,
            embed_dim=dim,
            depth=1,
            num_heads=2,
            mlp_ratio=2.0,
            out_chans=dim,
            qkv_bias=True,
            use_rel_pos=True,
            window_size=0,
            global_attn_indexes=(0,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(grid, grid), input_image_size=(img_size, img_size), mask_in_chans=8
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
    )
    if checkpoint is not None:
        sam.load_state_dict(read_sam_state(checkpoint))
    sam.eval()
    return sam


def read_sam_state(path: str | Path) -> dict:
    """The state dict in the SAM checkpoint file ``path`` (CPU tensors; memory-mapped where the
    file allows it), or :class:`~csip.errors.BadFile` naming the file."""
    import torch  # optional (the ml extra): imported only when SAM runs

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"SAM checkpoint not found: {path} (SAM loads from a local file only)")
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a file of the legacy (non-zip) format cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and torch errors alike: the file is unusable
        why = str(exc).splitlines()[0][:200] if str(exc) else ""
        if "weights only load failed" in why.lower():  # torch's advice (weights_only=False) is not for us
            why = "not a file of tensors saved by torch.save, or a damaged one"
        raise BadFile(f"SAM checkpoint {path}: cannot be read as a PyTorch state dict "
                      f"({type(exc).__name__}: {why})") from None
    if not isinstance(state, dict) or not state or not all(hasattr(v, "shape") for v in state.values()):
        raise BadFile(f"SAM checkpoint {path}: holds a {type(state).__name__}, expected a state dict of tensors")
    return state


@functools.cache
def _architecture(kind: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors of SAM ``kind`` (the model built on the meta device)."""
    import torch  # optional (the ml extra): imported only when SAM runs

    with torch.device("meta"):
        if kind == "tiny":
            model = build_tiny_sam()
        else:
            from segment_anything import sam_model_registry

            model = sam_model_registry[kind]()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def sam_kind_of(state: dict, path: str | Path = "") -> str:
    """The kind (``vit_h``, ``vit_l``, ``vit_b``, ``tiny``) whose architecture has exactly the
    tensors of ``state`` (names and shapes); :class:`BadFile` naming ``path`` if none has."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for kind in SAM_KINDS:
        if _architecture(kind) == shapes:
            return kind
    probe = "image_encoder.patch_embed.proj.weight"
    hint = f"; its {probe} is {shapes[probe]}" if probe in shapes else f"; it has no {probe}"
    raise BadFile(f"SAM checkpoint {path}: its {len(shapes)} tensors fit none of the SAM kinds "
                  f"{', '.join(SAM_KINDS)}{hint}")


def check_sam_checkpoint(path: str | Path, kind: str | None = None) -> str:
    """The kind of the SAM checkpoint ``path`` (see the module docstring), checked against
    ``kind`` when one is given: one :class:`BadFile` (or ``FileNotFoundError``, ``ValueError``
    for an unknown ``kind``) naming the file when it cannot be used."""
    if kind is not None and kind not in SAM_KINDS:
        raise ValueError(f"unknown SAM kind {kind!r}; expected one of {', '.join(SAM_KINDS)}")
    found = sam_kind_of(read_sam_state(path), path)
    if kind is not None and kind != found:
        raise BadFile(f"SAM checkpoint {path} holds a {found} model, not {kind} (sam_kind={kind}); "
                      "leave sam_kind out to use the checkpoint's own kind")
    return found


def load_sam(checkpoint: str | Path, kind: str | None = None, device: str | None = None):
    """The SAM model in the local file ``checkpoint`` (its kind read from the file when ``kind``
    is None, else checked against it), on ``device`` (default: ``cuda`` when available, else
    ``cpu``), in eval mode."""
    import torch  # optional (the ml extra): imported only when SAM runs

    state = read_sam_state(checkpoint)
    found = sam_kind_of(state, checkpoint)
    if kind is not None and kind != found:
        check_sam_checkpoint(checkpoint, kind)  # the error naming both
    if found == "tiny":
        sam = build_tiny_sam()
    else:
        from segment_anything import sam_model_registry

        sam = sam_model_registry[found](checkpoint=None)
    sam.load_state_dict(state)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return sam.to(device).eval()


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def default_store() -> Path:
    """``$XDG_CACHE_HOME/csip/sam-masks`` (``~/.cache/csip/sam-masks``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "csip" / "sam-masks"


_OFF = {"off", "none", "no", "false", "0", ""}


def store_dir(value: Any) -> Path | None:
    """The store folder of a ``sam_masks`` option: ``None`` -> :func:`default_store`; ``off``
    (``none``, ``no``, ``false``, ``False``) -> no store."""
    if value is None:
        return default_store()
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    if isinstance(value, (str, os.PathLike)):
        return Path(value).expanduser()
    raise ValueError(f"option sam_masks={value!r}: expected a folder, or off")


def _window(box: tuple[float, float, float, float], height: int, width: int) -> tuple[int, int, int, int]:
    """``(c0, r0, c1, r1)``: the pixels :func:`~csip.data.common.box_mask` sets for ``box``."""
    x0, y0, x1, y1 = box
    c0, r0 = max(0, int(math.floor(x0 + 0.5))), max(0, int(math.floor(y0 + 0.5)))
    c1, r1 = min(width, int(math.floor(x1 + 0.5))), min(height, int(math.floor(y1 + 0.5)))
    return c0, r0, max(c0, c1), max(r0, r1)


class MaskStore:
    """The on-disk store of box-prompted SAM masks of one model (see the module docstring)."""

    def __init__(self, root: Path, model_key: str, about: dict):
        self.root = Path(root) / model_key
        self.about = about
        self._writable = True

    @staticmethod
    def image_key(image: np.ndarray) -> str:
        h = hashlib.sha256(f"{image.shape}|{image.dtype}|".encode())
        h.update(np.ascontiguousarray(image).data)
        return h.hexdigest()[:40]

    def _path(self, image_key: str, box) -> Path:
        box_key = hashlib.sha256(",".join(repr(float(v)) for v in box).encode()).hexdigest()[:16]
        return self.root / image_key[:2] / f"{image_key}-{box_key}.npy"

    def get(self, image_key: str, box, height: int, width: int) -> np.ndarray | None:
        """The stored mask (bool ``(height, width)``) of ``box`` in the image, or None."""
        c0, r0, c1, r1 = _window(box, height, width)
        try:
            packed = np.load(self._path(image_key, box), allow_pickle=False)
        except (OSError, ValueError):
            return None
        if packed.dtype != np.uint8 or packed.shape != (r1 - r0, (c1 - c0 + 7) // 8):
            return None
        mask = np.zeros((height, width), dtype=bool)
        if c1 > c0 and r1 > r0:
            mask[r0:r1, c0:c1] = np.unpackbits(packed, axis=-1, count=c1 - c0).astype(bool)
        return mask

    def put(self, image_key: str, box, mask: np.ndarray) -> None:
        """Store ``mask`` (inside ``box``) atomically; a store that cannot be written is warned
        about once and then left alone (masks are then computed each time)."""
        if not self._writable:
            return
        c0, r0, c1, r1 = _window(box, *mask.shape)
        path = self._path(image_key, box)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            about = self.root / "model.json"
            if not about.exists():
                about_tmp = about.with_name(f".model.json.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
                about_tmp.write_text(json.dumps(self.about, indent=1))
                os.replace(about_tmp, about)
            with open(tmp, "wb") as f:
                np.save(f, np.packbits(mask[r0:r1, c0:c1], axis=-1), allow_pickle=False)
            os.replace(tmp, path)
        except OSError as exc:
            self._writable = False
            warnings.warn(f"SAM mask store {self.root}: cannot write ({exc}); masks will not be kept "
                          "(sam_masks=off to silence this)", UserWarning, stacklevel=3)
            try:
                tmp.unlink()
            except OSError:
                pass


class _Lazy:
    """Common lazy-model handling: ``_model`` is built on first use and never pickled."""

    #: Loader processes ``csip precompute`` starts by default for a source using this masker:
    #: every process holds its own SAM (GBs of weights, on the GPU when there is one).
    MODEL_WORKERS = 2

    @property
    def max_workers(self) -> int | None:
        """Cap on the default number of loader processes (None: no model, no cap)."""
        return self.MODEL_WORKERS if self.checkpoint is not None else None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_image_key"] = None
        return state

    def _sam(self):
        if self._model is None:
            self._model = self._build(load_sam(self.checkpoint, self.kind, self.device))
        return self._model


class BoxMasker(_Lazy):
    """Masks for boxes: SAM prompted by each box when ``checkpoint`` is given, else the boxes.

    :meth:`masks` (and ``masker(image, boxes)``, the masks alone) takes ``image`` uint8 ``(H, W,
    3)`` and boxes ``(x0, y0, x1, y1)`` (pixels, exclusive ends) and returns one bool ``(H, W)``
    mask per box. SAM masks are clipped to their box (a box-prompted mask that leaks outside its
    box is a SAM error, not the object); an empty one is replaced by the box. ``kind``: read from
    the checkpoint when None (see the module docstring; the file is checked here, before any
    item). ``store``: the ``sam_masks`` option (:func:`store_dir`). Without a checkpoint the masks
    are the boxes themselves: a loud warning is issued once (at construction) and :attr:`mode`
    is ``"boxes"``, which sources report as ``options()["masks"]`` so the cache manifest records it.
    """

    def __init__(self, checkpoint: str | Path | None = None, kind: str | None = None, device: str | None = None,
                 source: str = "", store: Any = None):
        self.checkpoint = None if checkpoint is None else str(Path(checkpoint).expanduser())
        self.device = device
        self._model = None
        self._image_key: str | None = None  # the image whose embedding the predictor holds
        self.store: MaskStore | None = None
        self.sha256: str | None = None
        if self.checkpoint is None:
            self.kind = kind
            warnings.warn(
                f"{source or 'source'}: no SAM checkpoint given (sam_checkpoint=...): object masks will be "
                "the annotated BOXES, not object shapes; force banners of box masks describe box layouts only. "
                "The cache manifest records masks='boxes'.",
                UserWarning,
                stacklevel=3,
            )
            return
        self.kind = check_sam_checkpoint(self.checkpoint, kind)
        self.sha256 = _file_sha256(self.checkpoint)
        root = store_dir(store)
        if root is not None:
            about = {"store_version": STORE_VERSION, "kind": self.kind, "checkpoint": self.checkpoint,
                     "checkpoint_sha256": self.sha256, "prompt": "one box, multimask_output=False, clipped to the box"}
            key = hashlib.sha256(json.dumps({k: about[k] for k in ("store_version", "kind", "checkpoint_sha256",
                                                                   "prompt")}, sort_keys=True).encode())
            self.store = MaskStore(root, f"{self.kind}-{key.hexdigest()[:16]}", about)

    @property
    def mode(self) -> str:
        """``"sam"`` or ``"boxes"``."""
        return "boxes" if self.checkpoint is None else "sam"

    def options(self) -> dict:
        out = {"masks": self.mode}
        if self.checkpoint is not None:
            out.update(sam_checkpoint=self.checkpoint, sam_kind=self.kind, sam_sha256=self.sha256)
        return out

    @staticmethod
    def _build(sam):
        from segment_anything import SamPredictor  # optional (the ml extra): imported only when SAM runs

        return SamPredictor(sam)

    def __call__(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray]:
        return self.masks(image, boxes)[0]

    def masks(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> tuple[list[np.ndarray], str]:
        """``(one mask per box, how)``: ``how`` is ``"sam"`` when every mask is SAM's, ``"boxes"``
        when one at least is its box (no checkpoint, or an empty SAM mask)."""
        h, w = image.shape[:2]
        boxes_m = [box_mask(b, h, w) for b in boxes]
        if self.checkpoint is None:
            return boxes_m, "boxes"
        key = MaskStore.image_key(image)
        found = [self.store.get(key, b, h, w) if self.store is not None else None for b in boxes]
        todo = [k for k, m in enumerate(found) if m is None]
        if todo:
            import torch  # optional (the ml extra): imported only when SAM runs

            predictor = self._sam()
            with torch.inference_mode():
                if self._image_key != key:  # one image embedding per image, for all its boxes
                    self._image_key = None
                    predictor.set_image(image)
                    self._image_key = key
                for k in todo:
                    masks, _, _ = predictor.predict(box=np.asarray(boxes[k], dtype=np.float32), multimask_output=False)
                    found[k] = np.asarray(masks[0], dtype=bool) & boxes_m[k]
                    if self.store is not None:
                        self.store.put(key, boxes[k], found[k])
        out, how = [], "sam"
        for m, bm in zip(found, boxes_m):
            if not m.any():  # SAM found nothing inside the box: the box itself
                m, how = bm, "boxes"
            out.append(m)
        return out, how


class AutoMasker(_Lazy):
    """All object masks of an image from ``SamAutomaticMaskGenerator``.

    ``masker(image)`` returns a list of bool ``(H, W)`` masks, largest first. ``generator_opts``
    go to ``SamAutomaticMaskGenerator`` (e.g. ``points_per_side=16`` for speed, or lower
    ``pred_iou_thresh`` / ``stability_score_thresh``). ``kind``: read from the checkpoint when
    None (checked here, before any image).
    """

    def __init__(self, checkpoint: str | Path, kind: str | None = None, device: str | None = None,
                 generator_opts: dict | None = None):
        if checkpoint is None:
            raise ValueError("automatic masks need a SAM checkpoint (sam_checkpoint=FILE)")
        self.checkpoint = str(Path(checkpoint).expanduser())
        self.kind = check_sam_checkpoint(self.checkpoint, kind)
        self.device = device
        self.generator_opts = dict(generator_opts or {})
        self._model = None
        self._image_key = None

    def options(self) -> dict:
        return {
            "masks": "sam-auto",
            "sam_checkpoint": self.checkpoint,
            "sam_kind": self.kind,
            "sam_generator": self.generator_opts,
        }

    def _build(self, sam):
        from segment_anything import SamAutomaticMaskGenerator  # optional (the ml extra): imported only when SAM runs

        return SamAutomaticMaskGenerator(sam, output_mode="binary_mask", **self.generator_opts)

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        import torch  # optional (the ml extra): imported only when SAM runs

        with torch.inference_mode():
            records = self._sam().generate(image)
        masks = [np.asarray(r["segmentation"], dtype=bool) for r in records]
        masks.sort(key=lambda m: -int(m.sum()))
        return masks


__all__ = ["SAM_KINDS", "SAM_OPTIONS", "AutoMasker", "BoxMasker", "MaskStore", "build_tiny_sam",
           "check_sam_checkpoint", "load_sam", "read_sam_state", "sam_kind_of", "store_dir"]

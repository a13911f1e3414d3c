"""Masks from segment-anything (SAM): box prompts for box-only datasets, automatic masks for
image folders.

SAM always loads from a local checkpoint file (no hub access on many clusters):
``sam_model_registry[kind]`` builds the architecture and the state dict is read from ``checkpoint``
with ``map_location="cpu"`` (so GPU-saved files load on CPU-only machines), then the model moves to
``device``. Kinds: ``vit_h`` (default), ``vit_l``, ``vit_b``, and ``tiny``, a random-size
configuration (embed dim 32, depth 1, 64 px input) for tests and smoke runs only.

Objects here are picklable: the model is loaded lazily, once per process, and left out of the
pickle, so sources that use SAM can be shipped to worker processes (each worker then holds its
own copy of the model: with large SAMs use one worker per GPU).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .common import box_mask

SAM_KINDS = ("vit_h", "vit_l", "vit_b", "tiny")

#: The SAM options of the box-only sources (spatialsense, unrel, gqa), as in their option tables.
SAM_OPTIONS: dict[str, str] = {
    "sam_checkpoint": "local SAM checkpoint file: masks from SAM prompted by the boxes (without it: the boxes)",
    "sam_kind": "SAM architecture of the checkpoint: vit_h, vit_l, vit_b (or tiny, for tests)",
    "sam_device": "device SAM runs on (default: cuda when available, else cpu)",
}


def build_tiny_sam(checkpoint: str | Path | None = None, img_size: int = 64):
    """A very small SAM (ViT embed dim 32, depth 1, prompt dim 32) with random or given weights.

    Useless for real masks; it exercises the SAM code paths quickly in tests.
    """
    import torch  # optional (the ml extra): imported only when SAM runs
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
        sam.load_state_dict(torch.load(Path(checkpoint), map_location="cpu", weights_only=True))
    sam.eval()
    return sam


def load_sam(checkpoint: str | Path, kind: str = "vit_h", device: str | None = None):
    """The SAM model ``kind`` with the weights of the local file ``checkpoint``, on ``device``
    (default: ``cuda`` when available, else ``cpu``), in eval mode."""
    import torch  # optional (the ml extra): imported only when SAM runs

    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"SAM checkpoint not found: {path} (SAM loads from a local file only)")
    if kind == "tiny":
        sam = build_tiny_sam(path)
    else:
        from segment_anything import sam_model_registry

        if kind not in sam_model_registry:
            raise ValueError(f"unknown SAM kind {kind!r}; expected one of {', '.join(SAM_KINDS)}")
        sam = sam_model_registry[kind](checkpoint=None)
        sam.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return sam.to(device).eval()


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
        return state

    def _sam(self):
        if self._model is None:
            self._model = self._build(load_sam(self.checkpoint, self.kind, self.device))
        return self._model


class BoxMasker(_Lazy):
    """Masks for boxes: SAM prompted by each box when ``checkpoint`` is given, else the boxes.

    ``masker(image, boxes)`` takes ``image`` uint8 ``(H, W, 3)`` and boxes ``(x0, y0, x1, y1)``
    (pixels, exclusive ends) and returns one bool ``(H, W)`` mask per box. SAM masks are clipped
    to their box (a box-prompted mask that leaks outside its box is a SAM error, not the object).
    Without a checkpoint the masks are the boxes themselves: a loud warning is issued once (at
    construction) and :attr:`mode` is ``"boxes"``, which sources report as
    ``options()["masks"]`` so the cache manifest records it.
    """

    def __init__(self, checkpoint: str | Path | None = None, kind: str = "vit_h", device: str | None = None, source: str = ""):
        self.checkpoint = None if checkpoint is None else str(Path(checkpoint).expanduser())
        self.kind, self.device = kind, device
        self._model = None
        if self.checkpoint is None:
            warnings.warn(
                f"{source or 'source'}: no SAM checkpoint given (sam_checkpoint=...): object masks will be "
                "the annotated BOXES, not object shapes; force banners of box masks describe box layouts only. "
                "The cache manifest records masks='boxes'.",
                UserWarning,
                stacklevel=3,
            )
        elif kind not in SAM_KINDS:
            raise ValueError(f"unknown SAM kind {kind!r}; expected one of {', '.join(SAM_KINDS)}")

    @property
    def mode(self) -> str:
        """``"sam"`` or ``"boxes"``."""
        return "boxes" if self.checkpoint is None else "sam"

    def options(self) -> dict:
        out = {"masks": self.mode}
        if self.checkpoint is not None:
            out.update(sam_checkpoint=self.checkpoint, sam_kind=self.kind)
        return out

    @staticmethod
    def _build(sam):
        from segment_anything import SamPredictor  # optional (the ml extra): imported only when SAM runs

        return SamPredictor(sam)

    def __call__(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray]:
        h, w = image.shape[:2]
        boxes_m = [box_mask(b, h, w) for b in boxes]
        if self.checkpoint is None:
            return boxes_m
        import torch  # optional (the ml extra): imported only when SAM runs

        predictor = self._sam()
        out = []
        with torch.inference_mode():
            predictor.set_image(image)
            for b, bm in zip(boxes, boxes_m):
                masks, _, _ = predictor.predict(box=np.asarray(b, dtype=np.float32), multimask_output=False)
                out.append(np.asarray(masks[0], dtype=bool) & bm)
        return out


class AutoMasker(_Lazy):
    """All object masks of an image from ``SamAutomaticMaskGenerator``.

    ``masker(image)`` returns a list of bool ``(H, W)`` masks, largest first. ``generator_opts``
    go to ``SamAutomaticMaskGenerator`` (e.g. ``points_per_side=16`` for speed, or lower
    ``pred_iou_thresh`` / ``stability_score_thresh``).
    """

    def __init__(self, checkpoint: str | Path, kind: str = "vit_h", device: str | None = None, generator_opts: dict | None = None):
        if checkpoint is None:
            raise ValueError("automatic masks need a SAM checkpoint (sam_checkpoint=FILE)")
        if kind not in SAM_KINDS:
            raise ValueError(f"unknown SAM kind {kind!r}; expected one of {', '.join(SAM_KINDS)}")
        self.checkpoint = str(Path(checkpoint).expanduser())
        self.kind, self.device = kind, device
        self.generator_opts = dict(generator_opts or {})
        self._model = None

    def options(self) -> dict:
        return {"masks": "sam-auto", "sam_checkpoint": self.checkpoint, "sam_kind": self.kind, "sam_generator": self.generator_opts}

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


__all__ = ["AutoMasker", "BoxMasker", "SAM_KINDS", "build_tiny_sam", "load_sam"]

"""The encoders that evaluation compares (rows of the paper's Table 2), all with one face.

Every encoder here is a ``torch.nn.Module`` with ``features(batch) -> (B, D)`` float,
``uses`` (the batch keys it reads: ``"image"`` uint8 ``(B, 3, S, S)`` and/or ``"boxes"``
``(B, 2, 4)``) and ``out_dim``, like :class:`csip.models.ImageTower`, so
:func:`csip.models.encoder.encode` runs any of them over a cache.

Rows, by group (:data:`GROUPS`, in table order):

- ``"random init"``: each Table 1 encoder (``resnet18``, ``2d``, ``drnet``, ``resnet18+2d``)
  with seeded random weights — what training has to beat.
- ``"pre-trained"``: ImageNet ResNet18, ResNet50, ViT-B/16 (torchvision architectures, weights
  from a local ``.pth``/``.safetensors`` file: torchvision's own files work) and CLIP's image
  encoder (``transformers.CLIPVisionModel`` from a local directory). The cache's crops are
  resized to the model's input size (224 by default; CLIP: its config's) and normalised with
  the model's mean/std. Features: the pooled penultimate layer (ResNets: 512 / 2048), the class
  token (ViT: 768), CLIP's ``pooler_output`` (its hidden size).
- ``"supervised"`` / ``"C-SIP"``: trained checkpoints of ``csip pretrain`` (the group is read
  from the checkpoint's model config), through :func:`csip.load_encoder`.

Nothing is ever downloaded: every weight comes from a local path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..base.weights_io import loading_model
from ..models import ImageTower, build_image_encoder
from ..models.checkpoint import load_checkpoint
from ..models.encoder import EXPORT_CONFIG, EXPORT_FORMAT, EXPORT_WEIGHTS, load_encoder, run_checkpoint
from ..models.image import load_state_file
from ..models.registry import TABLE1_MODELS  # Table 1 encoders with display names (defined torch-free)

#: Row groups in table order.
GROUPS: tuple[str, ...] = ("reference", "random init", "pre-trained", "supervised", "C-SIP")


#: Pre-trained baselines: key -> (display name, command-line option, kind of path).
PRETRAINED: dict[str, tuple[str, str, str]] = {
    "resnet18": ("ResNet18 (ImageNet)", "--imagenet-resnet18", "file"),
    "resnet50": ("ResNet50 (ImageNet)", "--imagenet-resnet50", "file"),
    "vit_b_16": ("ViT-B/16 (ImageNet)", "--imagenet-vit-b16", "file"),
    "clip": ("CLIP image encoder", "--clip", "dir"),
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def model_display(name: str) -> str:
    """``"resnet18+2d"`` → ``"ResNet18+2D"`` (unknown names are returned as they are)."""
    return TABLE1_MODELS.get(name, name)


class _Preprocess(nn.Module):
    """uint8 ``(B, 3, S, S)`` → float ``(B, 3, size, size)``: bilinear resize (antialiased when
    shrinking), then ``(x/255 − mean) / std``."""

    def __init__(self, size: int, mean, std):
        super().__init__()
        self.size = int(size)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        return (x - self.mean) / self.std


class TorchvisionEncoder(nn.Module):
    """An ImageNet classifier of torchvision without its classification layer.

    ``arch``: ``"resnet18"``, ``"resnet50"`` or ``"vit_b_16"``; ``weights``: a local state-dict
    file (``.pth``/``.pt`` read with ``torch.load(weights_only=True)``, or ``.safetensors``),
    loaded strictly (a file of another architecture is an error). ``features(batch)`` →
    ``(B, 512 | 2048 | 768)``.
    """

    uses = ("image",)

    def __init__(self, arch: str, weights: str | Path | None, size: int = 224):
        super().__init__()
        import torchvision.models as tvm  # here: ~2.5 s to import, and only the pre-trained rows need it

        if arch not in ("resnet18", "resnet50", "vit_b_16"):
            raise ValueError(f"unknown torchvision architecture {arch!r}")
        if arch == "vit_b_16" and int(size) != 224:
            raise ValueError("ViT-B/16 takes 224 px inputs (its position embeddings are fixed)")
        net = getattr(tvm, arch)(weights=None)
        if weights is not None:
            state = load_state_file(weights)
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise ValueError(f"{weights}: not torchvision {arch} weights ({str(exc).splitlines()[0]})") from None
        if arch.startswith("resnet"):
            self.out_dim = int(net.fc.in_features)
            net.fc = nn.Identity()
        else:
            self.out_dim = int(net.hidden_dim)
            net.heads = nn.Identity()
        self.net = net
        self.arch = arch
        self.pre = _Preprocess(size, IMAGENET_MEAN, IMAGENET_STD)

    def features(self, batch: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:  # noqa: D102
        image = batch if isinstance(batch, torch.Tensor) else batch["image"]
        return self.net(self.pre(image)).float()

    forward = features


#: The weights of a full CLIP directory (``CLIPModel.save_pretrained``) that the image row does
#: not use: the text tower, both projections and the temperature.
CLIP_NOT_IMAGE = ("text_model.", "text_projection.", "visual_projection.", "logit_scale")


#: The CLIP row's note in the tables: which output it ranks.
CLIP_ROW_NOTE = "vision tower's pooled output (pooler_output), before the visual projection"


def load_clip_vision(path: Path):
    """``transformers.CLIPVisionModel`` from a local directory holding either the vision tower
    alone or a whole CLIP (``CLIPModel.save_pretrained``): the vision weights loaded, the text
    tower's and the projections' left out without transformers' unexpected-key report; any
    other missing or unexpected weight is :class:`~csip.base.errors.BadFile` naming it."""
    from transformers import CLIPVisionModel
    from transformers.utils import logging as hf_logging

    from ..base.errors import BadFile

    hf_logging.disable_progress_bar()
    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the report lists the text keys, which are expected here
    try:
        with loading_model(path, "--clip", "a transformers CLIP vision model"):
            model, info = CLIPVisionModel.from_pretrained(str(path), local_files_only=True, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(old)
    unexpected = sorted(k for k in info.get("unexpected_keys", ()) if not k.startswith(CLIP_NOT_IMAGE))
    missing = sorted(info.get("missing_keys", ()))
    if missing or unexpected:
        what = ", ".join([*(f"missing {k}" for k in missing[:3]), *(f"unexpected {k}" for k in unexpected[:3])])
        raise BadFile(f"--clip {path}: not a CLIP image encoder ({what}"
                      f"{', ...' if len(missing) + len(unexpected) > 6 else ''})")
    return model


class CLIPImageEncoder(nn.Module):
    """CLIP's image tower (``transformers.CLIPVisionModel``) from a local directory: the
    vision tower alone or a whole CLIP model (:func:`load_clip_vision`).

    ``features(batch)`` → ``(B, hidden)``: ``pooler_output`` (the post-layernorm class token),
    the representation before CLIP's visual projection — the image encoder's own output, as
    the ImageNet rows use their backbone's pooled features (CLIP ViT-B/16: 768; the
    projected ``image_embeds``, 512, are CLIP's joint text-image space). Mean/std come from the directory's
    ``preprocessor_config.json`` when present, else CLIP's published values; the input size
    from the model config.
    """

    uses = ("image",)

    def __init__(self, path: str | Path):
        super().__init__()
        # transformers: an optional dependency (the "ml" extra), ~1.5 s to import, only for the CLIP row
        path = Path(path)
        self.model = load_clip_vision(path)
        cfg = self.model.config
        mean, std = CLIP_MEAN, CLIP_STD
        pre = path / "preprocessor_config.json"
        if pre.is_file():
            try:
                p = json.loads(pre.read_text())
                mean, std = tuple(p.get("image_mean", mean)), tuple(p.get("image_std", std))
            except ValueError:
                pass
        self.out_dim = int(cfg.hidden_size)
        self.pre = _Preprocess(int(cfg.image_size), mean, std)

    def features(self, batch: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:  # noqa: D102
        image = batch if isinstance(batch, torch.Tensor) else batch["image"]
        return self.model(pixel_values=self.pre(image)).pooler_output.float()

    forward = features


def random_init_encoder(model: str, seed: int = 0, feature_dim: int = 256, width: int = 64):
    """A Table 1 encoder with seeded random weights, wrapped as an :class:`ImageTower`
    (``width``: ResNet18 stem channels, for the encoders that have one)."""
    extra = {"width": int(width)} if model != "2d" and int(width) != 64 else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        enc = build_image_encoder(model, out_dim=int(feature_dim), **extra)
    cfg = {"kind": "random", "image_encoder": {"name": model, "out_dim": int(feature_dim), **extra}}
    return ImageTower(enc, None, cfg).eval()


@dataclass
class EncoderSpec:
    """One row of the comparison: how to get the encoder, and what to call it.

    ``load()`` builds the module (lazily: big pre-trained models are loaded only when their
    features are computed, and dropped afterwards). ``status`` is ``"ok"`` or ``"skipped"``
    (then ``note`` says why, e.g. the option that was not given).
    """

    name: str
    group: str
    model: str
    source: str = ""
    loader: Callable[[], nn.Module] | None = None
    status: str = "ok"
    note: str = ""
    info: dict = field(default_factory=dict)

    def load(self) -> nn.Module:
        if self.loader is None:
            raise RuntimeError(f"encoder {self.name!r} is {self.status}: {self.note}")
        return self.loader()

    def describe(self) -> dict:
        """Plain-JSON description for results.json."""
        return {"name": self.name, "group": self.group, "model": self.model, "source": self.source,
                "status": self.status, "note": self.note, **self.info}


def pretrained_spec(key: str, path: str | Path | None, size: int = 224) -> EncoderSpec:
    """The spec of pre-trained baseline ``key`` (see :data:`PRETRAINED`); skipped without a path."""
    display, option, _kind = PRETRAINED[key]
    if path is None:
        return EncoderSpec(display, "pre-trained", key, status="skipped", note=f"no {option} PATH given")
    path = Path(path)
    if key == "clip":
        return EncoderSpec(display, "pre-trained", key, str(path), lambda: CLIPImageEncoder(path).eval(),
                           note=CLIP_ROW_NOTE)
    return EncoderSpec(display, "pre-trained", key, str(path), lambda: TorchvisionEncoder(key, path, size).eval())


def random_init_spec(model: str, seed: int, feature_dim: int, width: int = 64) -> EncoderSpec:
    """The random-init row of Table 1 encoder ``model``."""
    src = f"seed {seed}" + (f", width {width}" if model != "2d" and width != 64 else "")
    return EncoderSpec(f"random-init {model_display(model)}", "random init", model, src,
                       lambda: random_init_encoder(model, seed, feature_dim, width))


def checkpoint_spec(name: str, path: str | Path) -> EncoderSpec:
    """The row of a trained checkpoint (file, run directory or exported encoder).

    Reads the model config now (cheap; also validates the file), so the group (``"C-SIP"`` or
    ``"supervised"``) and the Table 1 model are known before any work.
    """
    tower = load_encoder(path, map_location="cpu")
    cfg = getattr(tower, "config", {}) or {}
    kind = cfg.get("kind", "csip")
    model = (cfg.get("image_encoder") or {}).get("name", "?")
    group = "C-SIP" if kind == "csip" else "supervised"
    info = {"out_dim": int(tower.out_dim), "uses": list(tower.uses), "train_image_size": tower.image_size,
            "width": int((cfg.get("image_encoder") or {}).get("width", 64))}
    return EncoderSpec(name, group, model, str(path), lambda: tower, note=_unfinished_note(Path(path)), info=info)


def _unfinished_note(path: Path) -> str:
    """``"unfinished run (no final.pt): last.pt, step 19"`` for a run directory whose training
    did not end (its rows are still computed, from the checkpoint :func:`run_checkpoint` picks),
    else ``""``."""
    if not path.is_dir() or (path / EXPORT_WEIGHTS).is_file() or (path / "checkpoints" / "final.pt").is_file():
        return ""
    picked = run_checkpoint(path)
    step = load_checkpoint(picked, mmap=True).get("step")
    return f"unfinished run (no final.pt): {picked.name}, step {step}"


def find_runs(runs_dir: str | Path) -> dict[str, Path]:
    """``{name: path}`` of the trained encoders under ``runs_dir``: every sub-directory holding a
    checkpoint (:func:`~csip.models.encoder.run_checkpoint`; an unfinished run's row says so in its
    note) or an encoder exported by
    ``csip pretrain --export`` (``model.safetensors`` + a ``config.json`` of format ``csip-encoder``);
    the name is the sub-directory's name. ``runs_dir`` itself counts when it is a run."""
    root = Path(runs_dir)

    def is_export(p: Path) -> bool:
        if not (p / EXPORT_WEIGHTS).is_file() or not (p / EXPORT_CONFIG).is_file():
            return False
        try:
            return json.loads((p / EXPORT_CONFIG).read_text()).get("format") == EXPORT_FORMAT
        except (OSError, ValueError, AttributeError):
            return False

    def is_run(p: Path) -> bool:
        return run_checkpoint(p) is not None or is_export(p)

    if is_run(root):
        return {root.name: root}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and is_run(p)}


__all__ = [
    "CLIPImageEncoder",
    "CLIP_NOT_IMAGE",
    "load_clip_vision",
    "EncoderSpec",
    "GROUPS",
    "PRETRAINED",
    "TABLE1_MODELS",
    "TorchvisionEncoder",
    "checkpoint_spec",
    "find_runs",
    "model_display",
    "pretrained_spec",
    "random_init_encoder",
    "random_init_spec",
]

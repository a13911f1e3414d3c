"""Image encoders f_v of the paper's Table 1, all taking the same batch dict.

Every encoder is called as ``encoder(batch)`` with ``batch`` a mapping holding (some of)

- ``"image"``: ``uint8`` ``(B, 3, S, S)`` — the square crop around the two objects, as the cache
  stores it. It is converted and normalised here, on the device (ImageNet mean/std), not in the
  data loader: uint8 travels 4× lighter than float32 and the GPU does the arithmetic for free.
- ``"boxes"``: ``float32`` ``(B, 2, 4)`` — boxes of A and B, ``(x0, y0, x1, y1)`` normalised to
  ``[0, 1]`` in that crop.

and returns features ``(B, out_dim)``; ``encoder.uses`` names the keys it reads.

==================  ========  =====  ====================================================
name                image     boxes  architecture
==================  ========  =====  ====================================================
``"resnet18"``      yes       no     ResNet18 (from scratch, or ImageNet weights) + MLP
``"2d"``            no        yes    MLP on both boxes' coordinates + derived features
``"drnet"``         yes       yes    ResNet18 over image ⊕ two binary box masks (5 ch) + MLP
``"resnet18+2d"``   yes       yes    concat(ResNet18 features, 2D features) + MLP
==================  ========  =====  ====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..base.weights_io import safetensors_load, torch_load

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNormalize(nn.Module):
    """``uint8`` ``(B, 3, H, W)`` in 0..255 (or float in [0, 1]) → float, ImageNet-normalised.

    The memory format of the input (e.g. ``channels_last``) is preserved.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("inv_std", 1.0 / (torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = image.float() if image.dtype == torch.uint8 else image.float() * 255.0
        return (x - self.mean) * self.inv_std


def box_features(boxes: torch.Tensor) -> torch.Tensor:
    """Coordinates of the two boxes and features derived from them, ``(B, 2, 4)`` → ``(B, 24)``.

    Per box (8 + 8): ``x0, y0, x1, y1``, width, height, centre x, centre y. Pairwise (8): centre
    offset B→A (dx, dy), its length, log area ratio A/B, IoU, intersection over A's and over B's
    area, and the union box's area. All are ~O(1) for normalised boxes.
    """
    a, b = boxes[:, 0].float(), boxes[:, 1].float()

    def per_box(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        wh = (x[:, 2:] - x[:, :2]).clamp_min(0)
        ctr = (x[:, 2:] + x[:, :2]) / 2
        return torch.cat([x, wh, ctr], 1), wh, ctr

    fa, wha, ca = per_box(a)
    fb, whb, cb = per_box(b)
    area_a = (wha[:, 0] * wha[:, 1]).clamp_min(1e-6)
    area_b = (whb[:, 0] * whb[:, 1]).clamp_min(1e-6)
    lo = torch.maximum(a[:, :2], b[:, :2])
    hi = torch.minimum(a[:, 2:], b[:, 2:])
    inter_wh = (hi - lo).clamp_min(0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    iou = inter / (area_a + area_b - inter).clamp_min(1e-6)
    ulo = torch.minimum(a[:, :2], b[:, :2])
    uhi = torch.maximum(a[:, 2:], b[:, 2:])
    union_area = (uhi - ulo).prod(1)
    d = ca - cb
    pair = torch.stack(
        [d[:, 0], d[:, 1], d.norm(dim=1), torch.log(area_a / area_b), iou, inter / area_a, inter / area_b, union_area],
        1,
    )
    return torch.cat([fa, fb, pair], 1)


BOX_FEATURES = 24


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Rasterise the two normalised boxes ``(B, 2, 4)`` as binary masks ``(B, 2, size, size)``.

    A pixel (row i, column j) is inside a box when its centre ``((j + ½)/size, (i + ½)/size)``
    is; built on the boxes' device (no loader work).
    """
    c = (torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5) / size
    bx = boxes.float()
    inx = (c.view(1, 1, size) >= bx[..., 0:1]) & (c.view(1, 1, size) < bx[..., 2:3])  # (B,2,W)
    iny = (c.view(1, 1, size) >= bx[..., 1:2]) & (c.view(1, 1, size) < bx[..., 3:4])  # (B,2,H)
    return (iny.unsqueeze(-1) & inx.unsqueeze(-2)).float()


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2) -> nn.Sequential:
    """``layers`` linear layers with ReLU between them (none after the last)."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.ReLU(inplace=True)]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a local ``.safetensors`` file or a torch file (``weights_only``).

    A torch file may hold the state dict itself or wrap it under ``"state_dict"`` / ``"model"``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return safetensors_load(path)
    obj = torch_load(path, "cpu", "weights file")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    return obj


#: Channels of torchvision's ResNet18 stem (the ImageNet weights' width).
STANDARD_WIDTH = 64


class ResNet18Backbone(nn.Module):
    """A ResNet18 without its classifier: ``(B, C, S, S)`` float → ``(B, 8·width)``.

    The layers, their names and their initialisation are torchvision's ``resnet18`` (stem conv
    7×7/2 and max-pool, four stages of two ``BasicBlock`` s, global average pooling); ``width``
    is the stem's channels, doubled at each stage (64-128-256-512 for the standard network, whose
    modules, state-dict keys and seeded initial weights equal torchvision's exactly). A narrower
    ``width`` (e.g. 32: 32-64-128-256, a quarter of the multiply-adds) is what a CPU-sized study
    can train; ImageNet weights need the standard width.

    ``in_channels != 3`` gives a wider stem (DRNet's image ⊕ box masks). ``weights``: path to local
    ImageNet weights (torchvision's ``resnet18-*.pth`` or a ``.safetensors`` of the same keys);
    ``fc`` is dropped and, for a wider stem, the RGB filters are copied and the extra channels
    start at zero. No network access is ever attempted.
    """

    def __init__(self, in_channels: int = 3, weights: str | Path | None = None, width: int = STANDARD_WIDTH):
        super().__init__()
        # torchvision takes 1.6 s to import even after torch: only when a ResNet18 is built
        from torchvision.models.resnet import BasicBlock, conv1x1

        if width < 1:
            raise ValueError(f"ResNet18 width must be >= 1, got {width}")
        if weights is not None and width != STANDARD_WIDTH:
            raise ValueError(f"ImageNet ResNet18 weights need width {STANDARD_WIDTH}, got width {width}")
        self.width = int(width)
        self.out_dim = 8 * self.width
        w = self.width
        self.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = w
        for i, planes in enumerate((w, 2 * w, 4 * w, 8 * w), start=1):
            stride = 1 if i == 1 else 2
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                                     BasicBlock(planes, planes)))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        nn.Linear(8 * w, 1000)  # torchvision builds its classifier here: the same random stream
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        if weights is not None:
            state = {k: v for k, v in load_state_file(weights).items() if not k.startswith("fc.")}
            state = {k[len("net."):] if k.startswith("net.") else k: v for k, v in state.items()}
            cw = state.get("conv1.weight")
            if cw is not None and in_channels != 3:
                new = torch.zeros(w, in_channels, 7, 7, dtype=cw.dtype)
                new[:, :3] = cw
                state["conv1.weight"] = new
            missing, unexpected = self.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"{weights}: not ResNet18 weights (missing {missing[:5]}, unexpected {unexpected[:5]})"
                )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints of csip 0.1 wrapped torchvision's module as ``net``: same tensors, one level deeper
        for key in [k for k in state_dict if k.startswith(prefix + "net.")]:
            state_dict[prefix + key[len(prefix) + 4:]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def _width_config(width: int) -> dict:
    """The ``width`` entry of an encoder's config: absent for the standard width, so configs
    (and checkpoints) of standard networks read as before."""
    return {} if int(width) == STANDARD_WIDTH else {"width": int(width)}


class ImageEncoderBase(nn.Module):
    """Common face: ``uses`` (batch keys read), ``out_dim`` (feature width), ``config``."""

    uses: tuple[str, ...] = ()
    out_dim: int

    def __init__(self, name: str, out_dim: int, **config):
        super().__init__()
        self.out_dim = int(out_dim)
        self.config = {"name": name, "out_dim": self.out_dim, **config}


class ResNet18MLP(ImageEncoderBase):
    """"resnet18": image only. ResNet18 (8·width = 512) → MLP → 512 → ``out_dim``."""

    uses = ("image",)

    def __init__(self, out_dim: int = 256, weights: str | Path | None = None, width: int = STANDARD_WIDTH):
        super().__init__("resnet18", out_dim, **_width_config(width))
        self.normalize = ImageNormalize()
        self.backbone = ResNet18Backbone(3, weights, width)
        self.mlp = mlp(self.backbone.out_dim, 512, out_dim)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # noqa: D102
        return self.mlp(self.backbone(self.normalize(batch["image"])))


class Box2D(ImageEncoderBase):
    """"2d": boxes only. :func:`box_features` (24) → MLP 24 → 256 → 256 → ``out_dim``."""

    uses = ("boxes",)

    def __init__(self, out_dim: int = 256, hidden: int = 256):
        super().__init__("2d", out_dim, hidden=hidden)
        self.mlp = mlp(BOX_FEATURES, hidden, out_dim, layers=3)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # noqa: D102
        return self.mlp(box_features(batch["boxes"]))


class DRNetLike(ImageEncoderBase):
    """"drnet": image ⊕ binary masks of the two boxes as two extra channels (5 in all) →
    ResNet18 with a 5-channel stem (512) → MLP → ``out_dim``.

    Inspired by DRNet (Dai et al., CVPR 2017), whose spatial module reads the two boxes as
    binary masks; here, as in the paper's variant, masks and pixels share one network.
    """

    uses = ("image", "boxes")

    def __init__(self, out_dim: int = 256, weights: str | Path | None = None, width: int = STANDARD_WIDTH):
        super().__init__("drnet", out_dim, **_width_config(width))
        self.normalize = ImageNormalize()
        self.backbone = ResNet18Backbone(5, weights, width)
        self.mlp = mlp(self.backbone.out_dim, 512, out_dim)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # noqa: D102
        img = self.normalize(batch["image"])
        masks = (box_masks(batch["boxes"], img.shape[-1]) - 0.5) * 2.0  # ±1, like normalised pixels
        x = torch.cat([img, masks.to(img.dtype)], 1)
        if img.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.mlp(self.backbone(x))


class ResNet18Plus2D(ImageEncoderBase):
    """"resnet18+2d": concat(ResNet18 (512), 2D branch (128)) → MLP 640 → 512 → ``out_dim``."""

    uses = ("image", "boxes")

    def __init__(self, out_dim: int = 256, weights: str | Path | None = None, box_dim: int = 128,
                 width: int = STANDARD_WIDTH):
        super().__init__("resnet18+2d", out_dim, box_dim=box_dim, **_width_config(width))
        self.normalize = ImageNormalize()
        self.backbone = ResNet18Backbone(3, weights, width)
        self.box = mlp(BOX_FEATURES, 256, box_dim, layers=2)
        self.mlp = mlp(self.backbone.out_dim + box_dim, 512, out_dim)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # noqa: D102
        v = self.backbone(self.normalize(batch["image"]))
        b = F.relu(self.box(box_features(batch["boxes"])))
        return self.mlp(torch.cat([v, b.to(v.dtype)], 1))

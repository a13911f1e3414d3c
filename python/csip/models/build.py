"""Building models from their plain-JSON configs: the image encoders f_v by name
(:data:`IMAGE_ENCODERS`, the paper's Table 1), the C-SIP and supervised models, and the
evaluable image tower of a built model."""

from __future__ import annotations

import copy

from torch import nn

from .composite import CSIPModel, ImageTower, SupervisedModel
from .heads import LogitScale
from .image import STANDARD_WIDTH, Box2D, DRNetLike, ResNet18MLP, ResNet18Plus2D, _width_config
from .spatial import SpatialEncoder

#: name → class of every image encoder (paper, Table 1).
IMAGE_ENCODERS: dict[str, type[nn.Module]] = {
    "resnet18": ResNet18MLP,
    "2d": Box2D,
    "drnet": DRNetLike,
    "resnet18+2d": ResNet18Plus2D,
}


#: The model kinds :func:`build_model` builds (the ``model_kind`` of the C-SIP and supervised objectives).
MODEL_KINDS = ("csip", "supervised")


def build_image_encoder(name: str, out_dim: int = 256, weights: str | None = None, **kwargs) -> nn.Module:
    """Build image encoder ``name`` (see :data:`IMAGE_ENCODERS`) with feature width ``out_dim``.

    ``weights``: local ImageNet ResNet18 weights (``.pth`` or ``.safetensors``) for the encoders
    with a ResNet; ``None`` trains from scratch (the paper's setting). Extra ``kwargs`` go to the
    class (e.g. ``hidden`` for ``"2d"``).
    """
    try:
        cls = IMAGE_ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown image encoder {name!r}; choose one of {sorted(IMAGE_ENCODERS)}") from None
    if name == "2d":
        if weights is not None:
            raise ValueError("the '2d' encoder has no image backbone: ImageNet weights do not apply")
        return cls(out_dim=out_dim, **kwargs)
    return cls(out_dim=out_dim, weights=weights, **kwargs)


def default_model_config(
    model: str,
    n_levels: int,
    n_angles: int,
    supervised: bool = False,
    embed_dim: int = 128,
    feature_dim: int = 256,
    spatial_channels: int = 32,
    logit_scale: float = 1 / 0.07,
    learn_logit_scale: bool = True,
    n_classes: int = 9,
    image_size: int | None = None,
    width: int = STANDARD_WIDTH,
    kind: str | None = None,
) -> dict:
    """A plain-JSON config for :func:`build_model` (what checkpoints and exports record).
    ``width``: channels of the ResNet18 stem (encoders with a ResNet; 64 is torchvision's);
    ``kind``: the model a training objective builds (``"csip"``, ``"supervised"``, another
    objective's), by default ``"supervised"`` when ``supervised`` else ``"csip"``."""
    enc = {"name": model, "out_dim": feature_dim, **({} if model == "2d" else _width_config(width))}
    return {
        "kind": kind or ("supervised" if supervised else "csip"),
        "image_encoder": enc,
        "spatial_encoder": {"n_levels": n_levels, "n_angles": n_angles, "channels": spatial_channels,
                            "out_dim": feature_dim},
        "embed_dim": embed_dim,
        "head_hidden": 512,
        "logit_scale": {"init": logit_scale, "learnable": learn_logit_scale, "max": 100.0},
        "n_classes": n_classes,
        "image_size": image_size,
    }


def build_model(config: dict, weights: str | None = None) -> nn.Module:
    """Build a :class:`CSIPModel` or :class:`SupervisedModel` from :func:`default_model_config`."""
    config = copy.deepcopy(config)
    if config["kind"] not in MODEL_KINDS:
        raise ValueError(f"model kind {config['kind']!r}: build_model builds {', '.join(MODEL_KINDS)} (the "
                         "objective that trains another kind builds its model)")
    ie = config["image_encoder"]
    enc = build_image_encoder(ie.pop("name"), weights=weights, **ie)
    if config["kind"] == "supervised":
        return SupervisedModel(enc, config.get("n_classes", 9))
    se = config["spatial_encoder"]
    ls = config["logit_scale"]
    return CSIPModel(
        enc,
        SpatialEncoder(se["n_levels"], se["n_angles"], channels=se["channels"], out_dim=se["out_dim"]),
        embed_dim=config["embed_dim"],
        head_hidden=config.get("head_hidden", 512),
        logit_scale=LogitScale(ls["init"], ls["learnable"], ls["max"]),
    )


def image_tower(model: nn.Module, config: dict) -> ImageTower:
    """The evaluable image side of a built model (shares its modules)."""
    head = model.image_head if isinstance(model, CSIPModel) else None
    return ImageTower(model.image_encoder, head, config)


__all__ = ["IMAGE_ENCODERS", "MODEL_KINDS", "build_image_encoder", "build_model", "default_model_config", "image_tower"]

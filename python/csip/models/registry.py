"""The names of the image encoders, without torch: the one list that the command line
(``csip pretrain --model``, ``csip eval``'s random-init rows, ``csip run --encoders``) reads,
so that ``csip --help`` need not import torch. :data:`csip.models.build.IMAGE_ENCODERS` maps
the same names to their classes (a test holds them equal)."""

from __future__ import annotations

#: Table 1 encoders (names of :func:`csip.models.build_image_encoder`) with display names, in
#: the paper's order (also the study's ``TABLE1_ENCODERS``; a test checks them against the models).
TABLE1_MODELS: dict[str, str] = {
    "resnet18": "ResNet18+MLP",
    "2d": "2D",
    "drnet": "DRNet",
    "resnet18+2d": "ResNet18+2D",
}


__all__ = ["TABLE1_MODELS"]

"""Models of C-SIP: image encoders f_v (Table 1 of the paper), the spatial encoder f_u,
projection heads g_v / g_u, the whole models built from them, their checkpoints and the
trained-encoder API.

- :mod:`~csip.models.registry`: the encoders' names (torch-free: the command line reads it);
- :mod:`~csip.models.image`, :mod:`~csip.models.spatial`, :mod:`~csip.models.heads`,
  :mod:`~csip.models.composite`: the modules;
- :mod:`~csip.models.build`: models built from their plain-JSON configs;
- :mod:`~csip.models.checkpoint`: the checkpoint format of training runs;
- :mod:`~csip.models.encoder`: a trained image encoder loaded, exported and run
  (:func:`load_encoder`, :func:`export_encoder`, :func:`encode`).

>>> from csip.models import build_image_encoder, IMAGE_ENCODERS
>>> sorted(IMAGE_ENCODERS)
['2d', 'drnet', 'resnet18', 'resnet18+2d']
>>> enc = build_image_encoder("2d", out_dim=64)
>>> import torch
>>> enc({"boxes": torch.rand(4, 2, 4)}).shape
torch.Size([4, 64])

Attributes are imported on first use, so that ``csip.models.registry`` stays free of torch.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("IMAGE_ENCODERS", "build_image_encoder", "build_model", "default_model_config", "image_tower"),
                    "build"),
    **dict.fromkeys(("CSIPModel", "ImageTower", "SupervisedModel"), "composite"),
    **dict.fromkeys(("LogitScale", "ProjectionHead"), "heads"),
    **dict.fromkeys(("Box2D", "DRNetLike", "ImageNormalize", "ResNet18MLP", "ResNet18Plus2D", "box_features",
                     "box_masks", "load_state_file"), "image"),
    **dict.fromkeys(("SpatialEncoder", "ThetaCircularConv2d", "circular_theta_pad"), "spatial"),
    **dict.fromkeys(("encode", "export_encoder", "load_encoder"), "encoder"),
    "TABLE1_MODELS": "registry",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

"""Models: θ-circular spatial encoder, image encoders of Table 1, heads, weights loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from csip.cache.order import hflip_batch, mirror_boxes, mirror_sfb
from csip.models import (
    IMAGE_ENCODERS,
    ImageNormalize,
    LogitScale,
    ProjectionHead,
    SpatialEncoder,
    box_features,
    box_masks,
    build_image_encoder,
    build_model,
    circular_theta_pad,
    default_model_config,
)

torch.set_num_threads(2)


def test_circular_pad_wraps_theta_and_zeros_r():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)
    y = circular_theta_pad(x, 1, 1)
    assert y.shape == (1, 2, 5, 6)
    assert torch.equal(y[..., 1:-1, 0], x[..., :, -1])  # left pad = last column
    assert torch.equal(y[..., 1:-1, -1], x[..., :, 0])  # right pad = first column
    assert torch.count_nonzero(y[..., 0, :]) == 0 and torch.count_nonzero(y[..., -1, :]) == 0


def test_spatial_encoder_border_depends_on_opposite_border():
    torch.manual_seed(0)
    enc = SpatialEncoder(9, 16, channels=4, out_dim=8)
    x = torch.rand(1, 9, 16)
    y0 = enc.conv_features(x)
    x2 = x.clone()
    x2[..., -1] += 1.0  # last θ column
    y1 = enc.conv_features(x2)
    assert not torch.allclose(y0[..., 0], y1[..., 0])  # first output column sees it: padding is circular
    # the r axis is not periodic: the last row does not reach the first output row
    x3 = x.clone()
    x3[:, -1, :] += 1.0
    y3 = enc.conv_features(x3)
    assert torch.allclose(y0[:, :, 0, :], y3[:, :, 0, :])


def test_spatial_encoder_is_equivariant_to_theta_shifts():
    torch.manual_seed(0)
    enc = SpatialEncoder(9, 16, channels=4, out_dim=8)
    x = torch.rand(2, 9, 16)
    y = enc.conv_features(x)  # θ: 16 → 8 → 4 (two stride-2 convs)
    y_shift = enc.conv_features(torch.roll(x, 4, dims=-1))
    torch.testing.assert_close(y_shift, torch.roll(y, 1, dims=-1), rtol=1e-5, atol=1e-6)
    assert enc(x).shape == (2, 8)
    with pytest.raises(ValueError, match="levels"):
        enc(torch.rand(2, 8, 16))


@pytest.mark.parametrize("name", sorted(IMAGE_ENCODERS))
def test_image_encoders_forward_backward(name):
    torch.manual_seed(0)
    enc = build_image_encoder(name, out_dim=16)
    batch = {
        "image": torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8),
        "boxes": torch.rand(2, 2, 4).sort(-1)[0],
    }
    f = enc(batch)
    assert f.shape == (2, 16) and enc.out_dim == 16
    f.sum().backward()
    assert set(enc.uses) <= {"image", "boxes"}
    # an encoder only reads what it says it uses
    f2 = enc({k: batch[k] for k in enc.uses})
    torch.testing.assert_close(f, f2)


def test_unknown_encoder():
    with pytest.raises(ValueError, match="unknown image encoder"):
        build_image_encoder("vit")


def test_image_normalize_matches_imagenet_formula():
    img = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(ImageNormalize()(img), (img.float() / 255 - mean) / std)
    cl = img.contiguous(memory_format=torch.channels_last)
    assert ImageNormalize()(cl).is_contiguous(memory_format=torch.channels_last)


def test_box_masks_and_features():
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.25], [0.5, 0.5, 1.0, 1.0]]])
    m = box_masks(boxes, 8)
    assert m.shape == (1, 2, 8, 8)
    assert m[0, 0].sum() == 4 * 2 and m[0, 0, :2, :4].all()
    assert m[0, 1].sum() == 16 and m[0, 1, 4:, 4:].all()
    f = box_features(boxes)
    assert f.shape == (1, 24) and torch.isfinite(f).all()
    # the mirror of the mirror is the identity; the centre offset changes sign along x
    torch.testing.assert_close(mirror_boxes(mirror_boxes(boxes)), boxes)
    fm = box_features(mirror_boxes(boxes))
    torch.testing.assert_close(fm[0, 16], -f[0, 16])


def test_mirror_sfb_is_theta_to_pi_minus_theta():
    k = 12
    sfb = torch.rand(3, 5, k)
    m = mirror_sfb(sfb)
    for c in range(k):
        assert torch.equal(m[..., c], sfb[..., (k - c) % k])
    assert torch.equal(mirror_sfb(m), sfb)


def test_hflip_batch_selected_items_only():
    batch = {"image": torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8), "boxes": torch.rand(2, 2, 4),
             "sfb": torch.rand(2, 3, 6)}
    out = hflip_batch(batch, torch.tensor([True, False]))
    assert torch.equal(out["image"][0], batch["image"][0].flip(-1))
    assert torch.equal(out["image"][1], batch["image"][1])
    assert torch.equal(out["sfb"][0], mirror_sfb(batch["sfb"][0]))
    assert torch.equal(out["boxes"][1], batch["boxes"][1])


def test_heads_and_logit_scale():
    h = ProjectionHead(16, 8, hidden=32)
    z = h(torch.randn(5, 16))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(5))
    s = LogitScale()
    assert math.isclose(float(s().detach()), 1 / 0.07, rel_tol=1e-6)
    with torch.no_grad():
        s.log_scale.fill_(math.log(500.0))
    assert math.isclose(float(s().detach()), 100.0, rel_tol=1e-6)
    s().backward()
    assert float(s.log_scale.grad) == 0.0  # clamped: no gradient
    assert not LogitScale(10.0, learnable=False).log_scale.requires_grad


def test_build_model_csip_and_supervised():
    cfg = default_model_config("2d", 5, 16, embed_dim=8, feature_dim=16)
    m = build_model(cfg)
    v, u, s = m({"boxes": torch.rand(3, 2, 4), "sfb": torch.rand(3, 5, 16)})
    assert v.shape == u.shape == (3, 8) and s.ndim == 0
    sup = build_model(default_model_config("2d", 5, 16, supervised=True, feature_dim=16))
    assert sup({"boxes": torch.rand(3, 2, 4)}).shape == (3, 9)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_imagenet_weights_from_local_file(tmp_path, suffix):
    from torchvision.models import resnet18

    torch.manual_seed(1)
    ref = resnet18(weights=None)
    path = tmp_path / f"r18{suffix}"
    if suffix == ".pth":
        torch.save(ref.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    enc = build_image_encoder("resnet18", out_dim=8, weights=str(path))
    torch.testing.assert_close(enc.backbone.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)
    dr = build_image_encoder("drnet", out_dim=8, weights=str(path))
    w = dr.backbone.conv1.weight
    torch.testing.assert_close(w[:, :3], ref.conv1.weight)
    assert torch.count_nonzero(w[:, 3:]) == 0
    with pytest.raises(ValueError, match="2d"):
        build_image_encoder("2d", weights=str(path))
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not ResNet18"):
        build_image_encoder("resnet18", weights=str(bad))


def test_standard_backbone_is_torchvision_resnet18_exactly():
    """Width 64: the same modules, keys, seeded initial weights and outputs as torchvision's."""
    from torchvision.models import resnet18

    from csip.models.image import ResNet18Backbone

    torch.manual_seed(3)
    ref = resnet18(weights=None).eval()
    torch.manual_seed(3)
    ours = ResNet18Backbone().eval()
    ref_state = {k: v for k, v in ref.state_dict().items() if not k.startswith("fc.")}
    assert list(ours.state_dict()) == list(ref_state)
    for k, v in ref_state.items():
        torch.testing.assert_close(ours.state_dict()[k], v, rtol=0, atol=0, msg=k)
    ref.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("name", ["resnet18", "drnet", "resnet18+2d"])
def test_narrow_resnet_width(name):
    """A narrower ResNet18: every stage's channels scale with the width; the config records it
    (and omits it at the standard width, so older configs read the same)."""
    torch.manual_seed(0)
    enc = build_image_encoder(name, out_dim=8, width=16)
    assert enc.backbone.out_dim == 128 and enc.backbone.layer4[1].conv2.out_channels == 128
    assert enc.backbone.conv1.out_channels == 16 and enc.config["width"] == 16
    batch = {
        "image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8),
        "boxes": torch.rand(2, 2, 4).sort(-1)[0],
    }
    assert enc(batch).shape == (2, 8)
    assert "width" not in build_image_encoder(name, out_dim=8).config
    n16 = sum(p.numel() for p in enc.backbone.parameters())
    n64 = sum(p.numel() for p in build_image_encoder(name, out_dim=8).backbone.parameters())
    assert 14 < n64 / n16 < 17  # conv weights scale as width²


def test_narrow_resnet_refuses_imagenet_weights_and_bad_width(tmp_path):
    from csip.models.image import ResNet18Backbone

    with pytest.raises(ValueError, match="width 64"):
        ResNet18Backbone(weights=tmp_path / "w.pth", width=32)
    with pytest.raises(ValueError, match=">= 1"):
        ResNet18Backbone(width=0)


def test_checkpoints_with_the_old_wrapped_keys_still_load():
    """csip 0.1 stored the backbone as ``backbone.net.*``; those states load unchanged."""
    torch.manual_seed(0)
    enc = build_image_encoder("resnet18", out_dim=8)
    old = {k.replace("backbone.", "backbone.net.", 1) if k.startswith("backbone.") else k: v
           for k, v in enc.state_dict().items()}
    torch.manual_seed(1)
    fresh = build_image_encoder("resnet18", out_dim=8)
    fresh.load_state_dict(old)
    for k, v in enc.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[k], v, msg=k)


def test_channels_last_model_matches_contiguous():
    torch.manual_seed(0)
    enc = build_image_encoder("drnet", out_dim=8).eval()
    batch = {
        "image": torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8),
        "boxes": torch.rand(2, 2, 4).sort(-1)[0],
    }
    a = enc(batch)
    enc_cl = enc.to(memory_format=torch.channels_last)
    b = enc_cl({**batch, "image": batch["image"].contiguous(memory_format=torch.channels_last)})
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)

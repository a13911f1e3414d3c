"""The contrastive loss against a computation by hand, and the supervised loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from csip.train.loss import ClipLoss, clip_loss, supervised_loss


def _by_hand(v: np.ndarray, u: np.ndarray, s: float, eps: float) -> float:
    """Explicit loops: smoothed cross-entropy of both directions, averaged."""
    n = v.shape[0]

    def ce(a: np.ndarray, b: np.ndarray) -> float:
        total = 0.0
        for i in range(n):
            logits = [s * float(np.dot(a[i], b[k])) for k in range(n)]
            m = max(logits)
            lse = m + math.log(sum(math.exp(x - m) for x in logits))
            for k in range(n):
                target = (1 - eps) * (1.0 if k == i else 0.0) + eps / n
                total -= target * (logits[k] - lse)
        return total / n

    return 0.5 * (ce(v, u) + ce(u, v))


@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("scale", [1.0, 1 / 0.07, 100.0])
def test_clip_loss_matches_hand_computation(eps, scale):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(6, 5))
    u = rng.normal(size=(6, 5))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    got = clip_loss(torch.tensor(v, dtype=torch.float64).float(), torch.tensor(u).float(), torch.tensor(scale), eps)
    want = _by_hand(v.astype(np.float32).astype(np.float64), u.astype(np.float32).astype(np.float64), scale, eps)
    assert float(got) == pytest.approx(want, rel=1e-5, abs=1e-5)
    assert float(ClipLoss(eps)(torch.tensor(v).float(), torch.tensor(u).float(), torch.tensor(scale))) == pytest.approx(
        want, rel=1e-5, abs=1e-5)


def test_clip_loss_is_float32_under_bf16_autocast():
    """Training runs the loss inside autocast (bf16 on CUDA); its logits must stay float32
    (bf16 cosines would move the logits by ~0.2 at scale 100). CPU autocast casts matmuls alike."""
    torch.manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(64, 32), dim=1)
    u = torch.nn.functional.normalize(torch.randn(64, 32), dim=1)
    want = clip_loss(v, u, 100.0, 0.3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = clip_loss(v.bfloat16(), u.bfloat16(), torch.tensor(100.0), 0.3)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(float(clip_loss(v.bfloat16(), u.bfloat16(), 100.0, 0.3)), abs=1e-6)
    assert abs(float(got) - float(want)) < 0.05  # only the inputs' bf16 rounding remains


def test_clip_loss_sharded_rows_average_to_the_whole():
    """The per-process form (local rows vs all columns, with offset) averages to the global loss."""
    torch.manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    u = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    whole = clip_loss(v, u, 10.0, 0.3)
    parts = [clip_loss(v[i:i + 4], u[i:i + 4], 10.0, 0.3, v, u, offset=i) for i in (0, 4)]
    torch.testing.assert_close(sum(parts) / 2, whole)


def test_perfect_alignment_and_smoothing_floor():
    v = torch.eye(4)
    loss0 = clip_loss(v, v, 100.0, 0.0)
    assert float(loss0) < 1e-6
    # with smoothing, the floor is the entropy-like term, not 0
    assert float(clip_loss(v, v, 100.0, 0.3)) > 0.1
    with pytest.raises(ValueError):
        ClipLoss(1.0)


def test_supervised_loss_ignores_unknown_labels():
    logits = torch.randn(4, 9, requires_grad=True)
    labels = torch.tensor([2, -1, 5, -1])
    got = supervised_loss(logits, labels)
    want = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    torch.testing.assert_close(got, want)
    none = supervised_loss(logits, torch.full((4,), -1))
    assert float(none.detach()) == 0.0
    none.backward()  # still differentiable

"""csip.descriptor: the Python face of csip_core used by the cache."""

from __future__ import annotations

import numpy as np
import pytest

import csip_core
from cache_helpers import RandomSource
from csip.descriptor import (
    DescriptorParams,
    crop_pair,
    default_forces,
    resolve_forces,
    sfb,
    sfb_for_samples,
    sfb_pairs,
    sfb_stream,
)


def test_forces_specs():
    d = default_forces()
    assert d.shape == (57,) and d[0] == -2.24 and d[-1] == 2.24 and 0.0 in d and 2.0 in d
    np.testing.assert_array_equal(d, np.round(np.asarray(csip_core.DEFAULT_FORCES, float), 10))
    np.testing.assert_array_equal(resolve_forces("-2.24:2.24:0.08"), d)
    np.testing.assert_array_equal(resolve_forces(None), d)
    np.testing.assert_array_equal(resolve_forces("0, 1,2"), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(resolve_forces([0.5, 1.5]), [0.5, 1.5])
    for bad in ("1:2", "2:1:0.1", "0:1:0", "x,y", ","):
        with pytest.raises(ValueError):
            resolve_forces(bad)


def test_params():
    p = DescriptorParams.make("0,1,2", 90, "none")
    assert p.shape == (3, 90)
    assert DescriptorParams.from_json(p.to_json()) == p
    with pytest.raises(ValueError):
        DescriptorParams.make(None, 180, "sum")
    with pytest.raises(ValueError):
        DescriptorParams.make(None, 0, "max")


def test_crop_is_free_and_batches_agree():
    src = RandomSource(n=7, size=40)
    samples = [src.load(i) for i in range(7)]
    p = DescriptorParams.make("default", 45, "max")
    one = np.stack([sfb(s.mask_a, s.mask_b, p) for s in samples])
    assert one.shape == (7, 57, 45) and one.dtype == np.float32
    # cropping to the union box does not change the banner (translation invariance)
    full = np.stack(
        [csip_core.sfb(s.mask_a, s.mask_b, forces=list(p.forces), n_angles=45, normalize="max") for s in samples]
    )
    np.testing.assert_allclose(one, full, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sfb_for_samples(samples, p), one)
    chunks = list(sfb_stream(((s.mask_a, s.mask_b) for s in samples), p, chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), one)
    raw = sfb_pairs(
        [s.mask_a for s in samples], [s.mask_b for s in samples], forces="0,1", n_angles=45, normalize="none"
    )
    assert raw.shape == (7, 2, 45) and raw.max() > 1.0
    assert sfb_pairs([], [], p).shape == (0, 57, 45)


def test_crop_pair():
    a = np.zeros((20, 30), bool)
    b = np.zeros((20, 30), bool)
    a[2:5, 3:6] = True
    b[10:12, 20:25] = True
    ca, cb = crop_pair(a, b)
    assert ca.shape == cb.shape == (10, 22) and ca.sum() == 9 and cb.sum() == 10
    with pytest.raises(ValueError, match="empty"):
        crop_pair(a, np.zeros_like(b))

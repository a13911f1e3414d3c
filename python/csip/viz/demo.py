"""The sFB demo figure: built-in synthetic scenes, their two masks and their symmetric Force
Banners (the paper's Fig. 2). ``csip demo`` and ``csip run`` call :func:`sfb_demo`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import csip_core

from ..data import PREDICATES
from ..data.synthetic import SyntheticSource
from .figures import sfb_figure


def sfb_demo(out_dir: str | Path, n_scenes: int = 4, seed: int = 0, n_angles: int = 180) -> dict:
    """Write ``sfb_demo.png`` (scenes, masks A and B, banners), ``sfb_demo.npz`` (the banners,
    float32 ``(n, 57, n_angles)``, forces, ids) and ``sfb_demo.json`` in ``out_dir``.
    Returns ``{"png": path, "seconds": banner time, "shape": [...]}``."""
    source = SyntheticSource(n=n_scenes, seed=seed)
    samples = [source.load(i) for i in range(n_scenes)]
    forces = list(csip_core.DEFAULT_FORCES)
    t0 = time.perf_counter()
    banners = csip_core.sfb_batch([(s.mask_a, s.mask_b) for s in samples], n_angles=n_angles)
    elapsed = time.perf_counter() - t0
    rows = []
    for s, banner in zip(samples, banners):
        relation = PREDICATES[s.label] if s.label is not None else "no clear relation"
        rows.append({"image": s.image, "mask_a": s.mask_a, "mask_b": s.mask_b, "sfb": banner,
                     "caption": f"{s.names[0]} {relation} {s.names[1]}"})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = sfb_figure(rows, forces, out_dir / "sfb_demo.png",
                     title="Symmetric Force Banners (each force level normalised by its maximum over θ)")
    np.savez_compressed(out_dir / "sfb_demo.npz", sfb=banners, forces=np.asarray(forces),
                        ids=np.asarray([s.id for s in samples]))
    (out_dir / "sfb_demo.json").write_text(json.dumps(
        {"scenes": [r["caption"] for r in rows], "shape": list(banners.shape), "seconds": round(elapsed, 4)},
        indent=1))
    return {"png": png, "seconds": elapsed, "shape": list(banners.shape)}


__all__ = ["sfb_demo"]

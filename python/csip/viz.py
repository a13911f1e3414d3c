"""Figures: symmetric Force Banners beside their masks (the paper's Fig. 2).

All functions write PNG files with matplotlib's Agg backend (no display needed) and return the
path. Banners are drawn with θ (degrees, [0, 180)) along x and the force level r along y,
bright for strong forces, black for zero, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def overlay(image: np.ndarray, mask_a: np.ndarray, mask_b: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The image (uint8 (H, W, 3)) with A tinted orange and B tinted blue → uint8 (H, W, 3)."""
    out = image.astype(np.float32)
    for mask, colour in ((mask_a, (255, 140, 0)), (mask_b, (30, 120, 255))):
        m = mask.astype(bool)
        out[m] = (1 - alpha) * out[m] + alpha * np.asarray(colour, np.float32)
    return out.clip(0, 255).astype(np.uint8)


def draw_banner(ax, banner: np.ndarray, forces: Sequence[float], title: str | None = None) -> None:
    """Draw one banner (R, K) on a matplotlib axis: θ in degrees along x, r along y."""
    r = np.asarray(forces, dtype=float)
    ax.imshow(
        banner,
        aspect="auto",
        origin="lower",
        cmap="inferno",
        extent=(0.0, 180.0, r[0], r[-1]),
        interpolation="nearest",
    )
    ax.set_xlabel("θ (degrees)")
    ax.set_ylabel("force level r")
    ax.set_xticks([0, 45, 90, 135, 180])
    if title:
        ax.set_title(title, fontsize=9)


def sfb_figure(
    rows: Sequence[dict],
    forces: Sequence[float],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """One row per scene: the image with both masks, mask A, mask B, and the sFB.

    Each dict holds ``image`` (uint8 (H, W, 3)), ``mask_a``, ``mask_b`` (bool (H, W)),
    ``sfb`` (float (R, K)) and optionally ``caption``.
    """
    plt = _pyplot()
    n = len(rows)
    fig, axes = plt.subplots(n, 4, figsize=(13, 2.9 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.8]})
    for ax_row, row in zip(axes, rows):
        ax_row[0].imshow(overlay(row["image"], row["mask_a"], row["mask_b"]))
        ax_row[0].set_title(row.get("caption", ""), fontsize=9)
        ax_row[1].imshow(row["mask_a"], cmap="gray")
        ax_row[1].set_title("A", fontsize=9)
        ax_row[2].imshow(row["mask_b"], cmap="gray")
        ax_row[2].set_title("B", fontsize=9)
        for ax in ax_row[:3]:
            ax.set_xticks([])
            ax.set_yticks([])
        draw_banner(ax_row[3], row["sfb"], forces, "symmetric Force Banner")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

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
    # matplotlib takes 0.5 s to import: only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: The colours of objects A and B in the figures (RGB, uint8).
COLOUR_A, COLOUR_B = (255, 140, 0), (30, 120, 255)


def boundary(mask: np.ndarray) -> np.ndarray:
    """The boundary of ``mask`` (bool (H, W)): its pixels with a 4-neighbour outside it (the
    image border counts as outside) → bool (H, W)."""
    m = np.pad(mask.astype(bool), 1, constant_values=False)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask.astype(bool) & ~inner


def outlined(image: np.ndarray, mask_a: np.ndarray, mask_b: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """:func:`overlay` with each mask's boundary drawn in its colour (A orange, B blue; B's
    outline over A's where they meet): what Fig. 3 shows of each item → uint8 (H, W, 3)."""
    out = overlay(image, mask_a, mask_b, alpha)
    for mask, colour in ((mask_a, COLOUR_A), (mask_b, COLOUR_B)):
        out[boundary(mask)] = colour
    return out


def overlay(image: np.ndarray, mask_a: np.ndarray, mask_b: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The image (uint8 (H, W, 3)) with A tinted orange and B tinted blue → uint8 (H, W, 3)."""
    out = image.astype(np.float32)
    for mask, colour in ((mask_a, COLOUR_A), (mask_b, COLOUR_B)):
        m = mask.astype(bool)
        out[m] = (1 - alpha) * out[m] + alpha * np.asarray(colour, np.float32)
    return out.clip(0, 255).astype(np.uint8)


def _banner_image(ax, banner: np.ndarray, forces: Sequence[float]) -> None:
    """The banner (R, K) as an image: θ in degrees [0, 180) along x, r along y, bright = strong."""
    r = np.asarray(forces, dtype=float)
    ax.imshow(banner, aspect="auto", origin="lower", cmap="inferno",
              extent=(0.0, 180.0, r[0], r[-1]), interpolation="nearest")


def _save(fig, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` to ``path`` (PNG; parent directories created) and release it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def draw_banner(ax, banner: np.ndarray, forces: Sequence[float], title: str | None = None) -> None:
    """Draw one banner (R, K) on a matplotlib axis: θ in degrees along x, r along y."""
    _banner_image(ax, banner, forces)
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
    return _save(fig, path, dpi=110)


def retrieval_grid(
    queries: Sequence[dict],
    forces: Sequence[float],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Queries and their top-k retrieved items, each image above its sFB (the paper's Fig. 3).

    ``queries``: one dict per query with ``"query"`` (a dict like :func:`sfb_figure`'s rows:
    ``image`` uint8 (H, W, 3), ``mask_a``/``mask_b`` bool (H, W) or None, ``sfb`` (R, K) or
    None, ``caption``) and ``"results"`` (a list of such dicts, best first). Each query takes
    two figure rows (images, then banners); the query sits in the first column, framed in red.
    A and B are tinted and outlined in every image (:func:`outlined`).
    """
    plt = _pyplot()
    nq = len(queries)
    ncol = 1 + max((len(q["results"]) for q in queries), default=0)
    fig, axes = plt.subplots(2 * nq, ncol, figsize=(2.2 * ncol, 3.6 * nq), squeeze=False,
                             gridspec_kw={"height_ratios": [1.3, 0.9] * nq})
    for qi, q in enumerate(queries):
        items = [q["query"], *q["results"]]
        for j in range(ncol):
            ax_img, ax_sfb = axes[2 * qi, j], axes[2 * qi + 1, j]
            for ax in (ax_img, ax_sfb):
                ax.set_xticks([])
                ax.set_yticks([])
            if j >= len(items):
                ax_img.axis("off")
                ax_sfb.axis("off")
                continue
            it = items[j]
            img = it["image"]
            if it.get("mask_a") is not None and it.get("mask_b") is not None:
                img = outlined(img, it["mask_a"], it["mask_b"])
            ax_img.imshow(img)
            ax_img.set_title(it.get("caption", ""), fontsize=7)
            if j == 0:
                for side in ax_img.spines.values():
                    side.set_edgecolor("red")
                    side.set_linewidth(2.5)
            if it.get("sfb") is not None:
                _banner_image(ax_sfb, it["sfb"], forces)
            else:
                ax_sfb.axis("off")
        axes[2 * qi, 0].set_ylabel("query", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=100)


def acc_at_n_plot(
    curves: Sequence[dict],
    path: str | Path,
    title: str | None = "SRR: Acc@n",
) -> Path:
    """Acc@n against n, one line per encoder (the paper's Fig. 4).

    ``curves``: dicts with ``name``, ``ns`` (e.g. [1..5]), ``values`` (accuracies in [0, 1])
    and optionally ``style`` (``"solid"``: C-SIP, ``"dashed"``: supervised, ``"dotted"``:
    baselines) and ``color`` (curves sharing a Table 1 model can share a colour).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for c in curves:
        ax.plot(list(c["ns"]), [100.0 * v for v in c["values"]], marker="o", markersize=3,
                linestyle=c.get("style", "solid"), color=c.get("color"), label=c["name"])
    ax.set_xlabel("n")
    ax.set_ylabel("Acc@n (%)")
    if curves:
        ax.set_xticks(list(curves[0]["ns"]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title)
    return _save(fig, path, dpi=110)

"""The figure of ``csip search --out``: the query (an image, or a layout drawn as its two masks),
its banner, and the top-k images, each above its banner, with **A outlined in orange and B in
blue** (the masks' contours, over the untinted image).

:func:`check_out_file` runs before any work: a search whose figure could not be written fails
at once, in one line, instead of after the whole ranking. The PNG is written atomically (a
temporary file beside it, then renamed), so an interrupted search leaves the previous figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..base.checks import write_probe
from ..base.errors import UnwritableOutput
from ..viz.figures import COLOUR_A, COLOUR_B


def check_out_file(out: Path, option: str = "--out") -> Path:
    """``out`` when a PNG can be written there: its directory exists (a missing one is refused,
    not created), is a directory and takes a file, and ``out`` is not a directory.
    :class:`UnwritableOutput` naming the option otherwise."""
    out = Path(out)
    parent = out.parent
    if out.is_dir():
        raise UnwritableOutput(f"{option} {out}: is a directory (give a PNG file name)")
    if not parent.exists():
        raise UnwritableOutput(f"{option} {out}: directory {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise UnwritableOutput(f"{option} {out}: {parent} is not a directory")
    try:
        write_probe(parent)
    except OSError as exc:
        raise UnwritableOutput(f"{option} {out}: cannot write in {parent} ({exc.strerror or exc})") from None
    return out


def _outlined(ax, view: dict) -> None:
    """An image (or, for a layout, black) with the contours of A and B."""
    m_a, m_b = view.get("mask_a"), view.get("mask_b")
    img = view.get("image")
    if img is None:  # a layout: its masks, filled, on black
        shape = m_a.shape
        img = np.zeros((*shape, 3), np.uint8)
        img[m_a] = COLOUR_A
        img[m_b & ~m_a] = COLOUR_B
        img[m_a & m_b] = (160, 130, 130)
    ax.imshow(img, interpolation="nearest")
    for mask, colour in ((m_a, COLOUR_A), (m_b, COLOUR_B)):
        if mask is not None and mask.any():
            padded = np.pad(mask.astype(float), 1)  # a contour closes at the image border too
            ax.contour(np.arange(-1, mask.shape[1] + 1), np.arange(-1, mask.shape[0] + 1), padded,
                       levels=[0.5], colors=[tuple(c / 255 for c in colour)], linewidths=1.6)
    ax.set_xlim(-0.5, img.shape[1] - 0.5)
    ax.set_ylim(img.shape[0] - 0.5, -0.5)


def search_figure(out: Path, query: dict, results: Sequence[dict], forces: Sequence[float], title: str) -> Path:
    """Write the figure to ``out`` (PNG): column 0 the query (``query``: ``image`` or None,
    ``mask_a``/``mask_b``, ``sfb`` or None, ``caption``), then one column per result (dicts of
    the same keys, best first); images above, banners below."""
    from ..base.files import atomic_write
    from ..viz.figures import _pyplot, draw_banner

    plt = _pyplot()
    items = [query, *results]
    fig, axes = plt.subplots(2, len(items), figsize=(2.3 * len(items), 4.6), squeeze=False,
                             gridspec_kw={"height_ratios": [1.3, 0.9]})
    for j, it in enumerate(items):
        ax_img, ax_sfb = axes[0, j], axes[1, j]
        _outlined(ax_img, it)
        ax_img.set_title(it.get("caption", ""), fontsize=7)
        if j == 0:
            for side in ax_img.spines.values():
                side.set_edgecolor("red")
                side.set_linewidth(2.5)
        if it.get("sfb") is not None:
            draw_banner(ax_sfb, it["sfb"], forces)
            ax_sfb.set_xlabel("θ", fontsize=7)
            ax_sfb.set_ylabel("r" if j == 0 else "", fontsize=7)
            ax_sfb.tick_params(labelsize=6)
        else:
            ax_sfb.axis("off")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
    fig.suptitle(title + "  (A orange, B blue)", fontsize=9)
    fig.tight_layout()

    def write(tmp) -> None:
        fig.savefig(tmp, dpi=100, format="png")

    try:
        return atomic_write(out, write)
    finally:
        plt.close(fig)


__all__ = ["check_out_file", "search_figure"]

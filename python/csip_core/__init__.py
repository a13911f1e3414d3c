"""csip_core: the Rust engine of csip (force histograms, force banners, symmetric force banners).

See ``help(csip_core.sfb)`` and the module docs of :mod:`csip.descriptor` for the formulas,
conventions and units.
"""

from ._csip_core import (  # noqa: F401
    DEFAULT_FORCES,
    __version__,
    force_banner,
    force_histogram,
    kernel_table,
    resize_mask,
    resize_rgb,
    rle_window,
    sfb,
    sfb_batch,
)
from ._csip_core import __doc__ as _native_doc

__doc__ = (__doc__ or "") + "\n" + (_native_doc or "")
__all__ = [
    "DEFAULT_FORCES",
    "force_banner",
    "force_histogram",
    "kernel_table",
    "resize_mask",
    "resize_rgb",
    "rle_window",
    "sfb",
    "sfb_batch",
    "__version__",
]

"""Type stubs of csip_core, the Rust engine of csip (see the module docstring)."""

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

__version__: str
#: The paper's 57 force levels, -2.24 .. 2.24 in steps of 0.08.
DEFAULT_FORCES: tuple[float, ...]

_Mask = npt.ArrayLike  # 2-D, bool or integer dtype; non-zero = object
_Forces = Sequence[float] | npt.NDArray[np.floating] | None
_Normalize = Literal["max", "none"] | None

def force_histogram(a: _Mask, b: _Mask, r: float, n_dirs: int = 360) -> npt.NDArray[np.float64]:
    """F_r^{AB}(theta_k), theta_k = 2*pi*k/n_dirs; float64 (n_dirs,)."""

def force_banner(
    a: _Mask, b: _Mask, forces: _Forces = None, n_dirs: int = 360
) -> npt.NDArray[np.float64]:
    """Force banner: one histogram per force level; float64 (R, n_dirs)."""

def sfb(
    a: _Mask,
    b: _Mask,
    forces: _Forces = None,
    n_angles: int = 180,
    normalize: _Normalize = "max",
) -> npt.NDArray[np.float32]:
    """Symmetric force banner over theta in [0, pi); float32 (R, n_angles)."""

def sfb_batch(
    masks_a: npt.ArrayLike | Sequence[_Mask] | Sequence[tuple[_Mask, _Mask]],
    masks_b: npt.ArrayLike | Sequence[_Mask] | None = None,
    forces: _Forces = None,
    n_angles: int = 180,
    normalize: _Normalize = "max",
    n_threads: int | None = None,
    chunk_size: int = 64,
    progress: Callable[[int, int], object] | None = None,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """Symmetric force banners of many pairs in parallel; float32 (N, R, n_angles). Each pair is
    encoded and computed on a worker thread; progress(done, total) after every chunk_size
    pairs are written, in order; out must be a C-contiguous float32 array."""

def kernel_table(forces: _Forces = None, max_distance: int = 256) -> npt.NDArray[np.float64]:
    """Pixel-pair kernel k_r(d), d = 0..max_distance; float64 (R, max_distance + 1)."""

def resize_mask(mask: _Mask, height: int, width: int) -> npt.NDArray[np.bool_]:
    """A binary mask resized to bool (height, width) by area coverage: an output pixel is set
    when the mask covers at least half of the input area it stands for (exact)."""

def resize_rgb(image: npt.ArrayLike, height: int, width: int) -> npt.NDArray[np.uint8]:
    """uint8 (H, W, 3) resized to (height, width, 3) with Pillow's antialiased bilinear filter,
    byte for byte as Image.fromarray(image).resize((width, height), Image.BILINEAR)."""

def rle_window(
    counts: bytes | str | Sequence[int], height: int, width: int, window: tuple[int, int, int, int]
) -> npt.NDArray[np.bool_]:
    """The window (x0, y0, x1, y1) of a COCO RLE mask of height x width pixels, bool
    (y1 - y0, x1 - x0), decoding only the window's columns; counts compressed or run lengths."""

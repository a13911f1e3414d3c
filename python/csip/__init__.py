"""csip: Contrastive Spatial-Image Pre-training (C-SIP).

Layers, from the ground up: :mod:`csip_core` (Rust engine for symmetric Force Banners),
:mod:`csip.descriptor` (its Python face), :mod:`csip.data` (one ``Sample`` record, one adapter
per source), :mod:`csip.cache` (the one cache format), :mod:`csip.models`, :mod:`csip.train`,
:mod:`csip.eval`, and the ``csip`` command line (:mod:`csip.cli`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("csip")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


def load_encoder(path, map_location="cpu"):
    """Load a trained image encoder as a ready ``torch.nn.Module`` (see :mod:`csip.models.checkpoint`)."""
    from .models.encoder import load_encoder as _load  # torch: `import csip` stays light without it

    return _load(path, map_location=map_location)


__all__ = ["__version__", "load_encoder"]

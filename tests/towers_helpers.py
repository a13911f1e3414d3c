"""A C-SIP checkpoint whose two towers are aligned well enough to test what the banner tower
does (query by layout, cross-modal retrieval): the box-only ``2d`` model, 30 short epochs on
the session's synthetic cache (about 7 s on one core), memoised for the session."""

from __future__ import annotations

from pathlib import Path

from eval_helpers import one_thread

_MEMO: dict[tuple, Path] = {}


def aligned_csip_run(base: Path, cache: Path) -> Path:
    """The run directory of that training (trained once per session)."""
    key = (str(base), str(cache))
    if key not in _MEMO:
        from csip.train.config import TrainConfig
        from csip.train.run import train

        out = base / "run-2d-csip-aligned"
        if not (out / "checkpoints" / "final.pt").is_file():
            with one_thread():
                train(TrainConfig(out=str(out), cache=str(cache), model="2d", epochs=30, batch_size=32, workers=0,
                                  progress=False, feature_dim=32, embed_dim=16, spatial_channels=8, log_every=1000,
                                  device="cpu"))
        _MEMO[key] = out
    return _MEMO[key]

"""The built-in study: the paper's Table 2 (CBIR), Fig. 4 (SRR) and Table 3 (VQA) on the
synthetic scenes, for each Table 1 image encoder × {random init, supervised, C-SIP} × seeds.

>>> from csip.study import StudyConfig, run_study          # doctest: +SKIP
>>> doc = run_study(StudyConfig(out="csip-out"))            # doctest: +SKIP
>>> doc["verdicts"]["resnet18"]["vs supervised"]["margin"]  # doctest: +SKIP

``csip run`` is a thin command over :func:`run_study`; :class:`StudyConfig` holds its defaults.
Submodules are imported on use, as in :mod:`csip.eval`: ``csip run --help`` (and ``csip
--help``, which lists it) reads :mod:`.config` only, without torch.
"""

from __future__ import annotations

from ..base.lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_EPOCHS": "config",
    "DEMO_ENCODERS": "config",
    "FULL_TABLE": "config",
    "StudyConfig": "config",
    "TABLE1_ENCODERS": "config",
    "TRAININGS": "config",
    "run_study": "run",
    "StudyError": "stages",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)

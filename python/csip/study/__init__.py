"""The built-in study: the paper's Table 2 (CBIR), Fig. 4 (SRR) and Table 3 (VQA) on the
synthetic scenes, for each Table 1 image encoder × {random init, supervised, C-SIP} × seeds.

>>> from csip.study import StudyConfig, run_study          # doctest: +SKIP
>>> doc = run_study(StudyConfig(out="csip-out"))            # doctest: +SKIP
>>> doc["verdicts"]["resnet18"]["vs supervised"]["margin"]  # doctest: +SKIP

``csip run`` is a thin command over :func:`run_study`; :class:`StudyConfig` holds its defaults.
"""

from .config import DEFAULT_EPOCHS, DEMO_ENCODERS, FULL_TABLE, TABLE1_ENCODERS, TRAININGS, StudyConfig
from .run import run_study
from .stages import StudyError

__all__ = ["DEFAULT_EPOCHS", "DEMO_ENCODERS", "FULL_TABLE", "StudyConfig", "StudyError", "TABLE1_ENCODERS",
           "TRAININGS", "run_study"]

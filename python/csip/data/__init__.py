"""Data sources for csip: one adapter per dataset format, all yielding :class:`Sample`.

:func:`open_source` maps a spec string (``"synthetic"``, ``"coco:PATH"``, ...) to an adapter; every
adapter follows the :class:`Source` protocol (see :mod:`csip.data.source`). Adapters are imported
lazily, so importing this package stays cheap (no torch, no pycocotools).
"""

from .sample import PREDICATES, Question, Sample, SkipItem, box_of
from .source import Source, open_source

__all__ = ["PREDICATES", "Question", "Sample", "SkipItem", "Source", "box_of", "open_source"]

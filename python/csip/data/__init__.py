"""Data sources for csip: one adapter per dataset format, all yielding :class:`Sample`."""

from .sample import PREDICATES, Question, Sample, SkipItem, box_of

__all__ = ["PREDICATES", "Question", "Sample", "SkipItem", "box_of"]

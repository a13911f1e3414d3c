"""Templated yes/no questions about a synthetic scene, balanced so that the text alone gives
little away."""

from __future__ import annotations

import numpy as np

from ..sample import PREDICATES, Question
from .relations import ObjectMasks, relations

_TEMPLATES = ("Is the {a} {p} the {b}?", "Is the {a} {p} the {b} in the image?", "Is the {a} {p} the {b} here?")

#: Sampling weights of predicates for false questions, set so that each predicate is answered
#: "yes" about half of the time (measured over 2000 scenes): a text-only model gains little.
_FALSE_WEIGHT = {"next to": 3.0, "in front of": 2.6, "behind": 2.6, "in": 0.5, "on": 0.7, "under": 0.8}


def questions(rng: np.random.Generator, truth_ab: dict[str, bool | None], label: int | None, a: ObjectMasks,
              b: ObjectMasks, a_in_front: bool, size: int, name_a: str, name_b: str) -> list[Question]:
    """One true and one false templated question (random order), or none when the scene has no
    clearly true or no clearly false statement. False ones swap the objects or use a predicate
    that is false, weighted by ``_FALSE_WEIGHT``."""
    truth_ba, _ = relations(b, a, not a_in_front, size)
    if label is not None:
        true_q = (PREDICATES[label], False)
    else:
        cands = [(p, False) for p in PREDICATES if truth_ab[p] is True] + [
            (p, True) for p in PREDICATES if truth_ba[p] is True
        ]
        if not cands:
            return []
        true_q = cands[int(rng.integers(len(cands)))]
    p_true, swapped = true_q
    rev = truth_ab if swapped else truth_ba
    same = truth_ba if swapped else truth_ab
    others = [(p, swapped) for p in PREDICATES if same[p] is False]
    if rev[p_true] is False and (rng.random() < 0.5 or not others):
        false_q = (p_true, not swapped)
    elif others:
        w = np.array([_FALSE_WEIGHT.get(p, 1.0) for p, _ in others])
        false_q = others[int(rng.choice(len(others), p=w / w.sum()))]
    else:
        return []
    out = []
    for (p, sw), ans in ((true_q, True), (false_q, False)):
        x, y = (name_b, name_a) if sw else (name_a, name_b)
        tpl = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
        out.append(Question(tpl.format(a=x, p=p, b=y), ans))
    if rng.random() < 0.5:
        out.reverse()
    return out

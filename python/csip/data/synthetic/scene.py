"""One synthetic scene from its (seed, index), and the scenes as a data source."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..option_values import option_float, option_int
from ..sample import PREDICATES, Sample, box_of
from .appearance import COLOUR_NAMES, appearance, background, paint
from .layout import Occluder, close_in, find_occluder, place_pair
from .questions import questions
from .relations import ObjectMasks, relations
from .shapes import SHAPES, Shape, new_shape, render

#: Version of the scene generator, recorded in every cache made from it. Version 1 (csip 0.1 up to
#: the commit that added this constant) drew every relation but "in front of" / "behind" from
#: the two boxes alone; version 2 is described in :mod:`csip.data.synthetic`.
GENERATOR_VERSION = 2


@dataclass
class Layout:
    """The geometry of a scene's two main objects: their shapes, masks, depth order, the truth
    of each predicate and the label (see :func:`~csip.data.synthetic.relations.relations`)."""

    shape_a: Shape
    shape_b: Shape
    a: ObjectMasks
    b: ObjectMasks
    a_in_front: bool
    truth: dict[str, bool | None]
    label: int | None


def _min_visible(size: int) -> int:
    """Fewest pixels of A or B that must stay visible (after overlap and occluder): 0.3 % of the
    image, at least 16."""
    return max(16, int(0.003 * size * size))


def _pair_shapes(rng: np.random.Generator, target: str | None, kinds: tuple[str, str], size: int,
                 variant: bool) -> tuple[Shape, Shape]:
    """Shapes of A and B, with radii (px) for ``target``: A small inside a large B for "in" (and
    for the straddling variant of "in front of" / "behind"), similar sizes otherwise."""
    small_a = target == "in" or (variant and target in ("in front of", "behind"))
    if small_a:
        rb, ra = rng.uniform(0.2, 0.28) * size, rng.uniform(0.055, 0.085) * size
    else:
        ra, rb = rng.uniform(0.08, 0.17, 2) * size
    a, b = new_shape(rng, kinds[0], ra), new_shape(rng, kinds[1], rb)
    if target == "in" and b.kind == "ring":
        a.r = min(a.r, 0.8 * b.r * b.extra[0])  # fit in the hole or on the band alike
    return a, b


def _attempt(rng: np.random.Generator, target: str | None, kinds: tuple[str, str], size: int, variant: bool,
             min_visible: int) -> Layout | None:
    """One try at laying out A and B for ``target``; None when it cannot be done."""
    sa, sb = _pair_shapes(rng, target, kinds, size, variant)
    if not place_pair(rng, target, sa, sb, size, variant):
        return None
    closed = close_in(rng, target, variant, render(sa, size), render(sb, size), size)
    if closed is None:
        return None
    (full_a, fill_a), (full_b, fill_b) = closed
    if target in ("in front of", "in"):
        a_front = True
    elif target == "behind":
        a_front = False
    else:
        a_front = bool(rng.random() < 0.5)
    vis_a, vis_b = (full_a, full_b & ~full_a) if a_front else (full_a & ~full_b, full_b)
    if vis_a.sum() < min_visible or vis_b.sum() < min_visible:
        return None
    a, b = ObjectMasks(vis_a, full_a, fill_a), ObjectMasks(vis_b, full_b, fill_b)
    truth, label = relations(a, b, a_front, size)
    return Layout(sa, sb, a, b, a_front, truth, label)


def _layout(rng: np.random.Generator, target: str | None, kinds: tuple[str, str], size: int, variant: bool,
            retries: int) -> Layout | None:
    """The first of ``retries`` tries whose label is ``target`` (any label for a free layout),
    else the last that could be made, else None."""
    min_visible = _min_visible(size)
    best = None
    for _ in range(retries):
        lay = _attempt(rng, target, kinds, size, variant, min_visible)
        if lay is None:
            continue
        best = lay
        if target is None or (lay.label is not None and PREDICATES[lay.label] == target):
            break
    return best


def _other_name(rng: np.random.Generator, taken: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """A (colour, shape) for a distractor or occluder, or None when it would repeat a named object."""
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    return None if (colour, kind) in taken else (colour, kind)


def _occlude(rng: np.random.Generator, lay: Layout, size: int, p_occluder: float,
             taken: tuple[tuple[str, str], ...]) -> tuple[Occluder, str] | None:
    """With probability ``p_occluder``, hide part of A or B behind an occluder
    (:func:`~csip.data.synthetic.layout.find_occluder`), then judge the relation again from what
    stays visible. Returns the occluder and its colour name, or None."""
    if rng.random() >= p_occluder:
        return None
    name = _other_name(rng, taken)
    if name is None:
        return None
    occ = find_occluder(rng, name[1], lay.a, lay.b, size, _min_visible(size))
    if occ is None:
        return None
    x = lay.a if occ.hides_a else lay.b
    hidden = dataclasses.replace(x, visible=x.visible & ~occ.mask)
    if occ.hides_a:
        lay.a = hidden
    else:
        lay.b = hidden
    lay.truth, lay.label = relations(lay.a, lay.b, lay.a_in_front, size)
    return occ, name[0]


def _picture(rng: np.random.Generator, lay: Layout, size: int, distractors: int, taken, occluder) -> np.ndarray:
    """The scene's image, uint8 ``(size, size, 3)``: background and clutter, up to ``distractors``
    small shapes, B and A in depth order, the occluder over everything, sensor-like grain."""
    img = background(rng, size)
    for _ in range(int(rng.integers(0, distractors + 1))):
        name = _other_name(rng, taken)
        if name is None:
            continue
        d = new_shape(rng, name[1], rng.uniform(0.05, 0.09) * size)
        d.cx, d.cy = rng.uniform(d.extent, size - d.extent, 2)
        paint(img, render(d, size)[0], appearance(rng, name[0], size))
    app_a, app_b = appearance(rng, taken[0][0], size), appearance(rng, taken[1][0], size)
    order = [(lay.b.full, app_b), (lay.a.full, app_a)] if lay.a_in_front else [(lay.a.full, app_a), (lay.b.full, app_b)]
    for m, app in order:
        paint(img, m, app)
    if occluder is not None:
        occ, colour = occluder
        paint(img, occ.mask, appearance(rng, colour, size))
    img += rng.standard_normal((size, size), dtype=np.float32)[None] * np.float32(3.0)
    return np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0))


def _name_pair(rng: np.random.Generator) -> tuple[tuple[str, str], tuple[str, str]]:
    """(colour, shape) of A and of B, never both equal."""
    ka, kb = (SHAPES[int(i)] for i in rng.integers(len(SHAPES), size=2))
    ca = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    cb = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    while (cb, kb) == (ca, ka):
        cb = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    return (ca, ka), (cb, kb)


@dataclass(frozen=True)
class Scene:
    """A scene with what made it: the :class:`~csip.data.sample.Sample` the data sources give,
    the layout of A and B (full and filled masks included) and the occluder, if any."""

    sample: Sample
    layout: Layout
    occluder: Occluder | None


def compose_scene(seed: int, index: int, size: int = 128, distractors: int = 2, p_free: float = 0.1,
                  retries: int = 6, p_occluder: float = 0.5) -> Scene:
    """Scene ``index`` of the stream ``seed`` with its geometry (:class:`Scene`); a pure function
    of its arguments. :func:`make_scene` keeps only its sample."""
    rng = np.random.default_rng((int(seed), int(index)))
    (ca, ka), (cb, kb) = _name_pair(rng)
    target = None if rng.random() < p_free else PREDICATES[int(rng.integers(len(PREDICATES)))]
    variant = bool(rng.random() < 0.5)
    lay = _layout(rng, target, (ka, kb), size, variant, retries)
    if lay is None:  # could not place (rare): a free layout from a derived stream, same id
        fallback = compose_scene(seed, index + 1_000_000_007, size, distractors, 1.0, retries, p_occluder)
        return dataclasses.replace(
            fallback, sample=dataclasses.replace(fallback.sample, id=f"synthetic-{seed}-{index}")
        )
    taken = ((ca, ka), (cb, kb))
    occluder = _occlude(rng, lay, size, p_occluder, taken)
    image = _picture(rng, lay, size, distractors, taken, occluder)
    name_a, name_b = f"{ca} {ka}", f"{cb} {kb}"
    qs = questions(rng, lay.truth, lay.label, lay.a, lay.b, lay.a_in_front, size, name_a, name_b)
    sample = Sample(
        id=f"synthetic-{seed}-{index}", image=image, mask_a=lay.a.visible, mask_b=lay.b.visible,
        box_a=box_of(lay.a.visible), box_b=box_of(lay.b.visible), label=lay.label, questions=qs,
        source="synthetic", names=(name_a, name_b),
    )
    return Scene(sample, lay, None if occluder is None else occluder[0])


def make_scene(seed: int, index: int, size: int = 128, distractors: int = 2, p_free: float = 0.1, retries: int = 6,
               p_occluder: float = 0.5) -> Sample:
    """Scene ``index`` of the stream ``seed``: a :class:`~csip.data.sample.Sample` with image
    ``uint8 (size, size, 3)``, visible masks and their boxes, label (or None) and 0 or 2
    questions (one yes, one no). A pure function of its arguments."""
    return compose_scene(seed, index, size, distractors, p_free, retries, p_occluder).sample


#: Bounds of the scene options: the generator's shapes need 32 px; 4096 px scenes are already
#: 1,000 times the default's pixels; past a few dozen distractors a scene is mostly clutter
#: (and placing 10^8 of them never ends).
MIN_SIZE, MAX_SIZE, MAX_DISTRACTORS = 32, 4096, 64


class SyntheticSource:
    """The built-in synthetic scenes as a :class:`~csip.data.source.Source`.

    ``n`` scenes of ``size`` x ``size`` pixels from stream ``seed``; ``distractors`` is the most
    extra shapes per scene (behind the main objects); ``p_free`` the share of free
    (unconstrained, often unlabelled) layouts; ``p_occluder`` the chance that an occluder hides
    part of A or B. ``load(i)`` never raises ``SkipItem``.
    """

    name = "synthetic"

    #: The options (``-O name=value``) and what they mean; defaults are the constructor's.
    OPTIONS = {
        "n": "number of scenes (--n sets it)",
        "seed": "stream of scenes (--seed sets it)",
        "size": f"side of the scenes in pixels ({MIN_SIZE}..{MAX_SIZE})",
        "distractors": f"most extra shapes per scene, behind the main objects (0..{MAX_DISTRACTORS})",
        "p_free": "share of free (unconstrained, often unlabelled) layouts",
        "p_occluder": "chance that an occluder hides part of A or B",
    }

    def __init__(self, n: int = 10000, seed: int = 0, size: int = 128, distractors: int = 2, p_free: float = 0.1,
                 p_occluder: float = 0.5):
        self.n, self.seed = option_int(n, "n", lo=0), option_int(seed, "seed", lo=0)
        self.size = option_int(size, "size", MIN_SIZE, MAX_SIZE)
        self.distractors = option_int(distractors, "distractors", 0, MAX_DISTRACTORS)
        self.p_free, self.p_occluder = (
            option_float(p_free, "p_free", 0.0, 1.0),
            option_float(p_occluder, "p_occluder", 0.0, 1.0),
        )

    def __len__(self) -> int:
        return self.n

    def item_id(self, i: int) -> str:
        """The id of item ``i`` (without making it)."""
        return f"synthetic-{self.seed}-{i}"

    def load(self, i: int) -> Sample:
        if not 0 <= i < self.n:
            raise IndexError(i)
        sample = make_scene(self.seed, i, self.size, self.distractors, self.p_free, p_occluder=self.p_occluder)
        sample.mask_source = "exact"
        return sample

    def options(self) -> dict:
        return {
            "n": self.n,
            "seed": self.seed,
            "size": self.size,
            "distractors": self.distractors,
            "p_free": self.p_free,
            "p_occluder": self.p_occluder,
            "generator": GENERATOR_VERSION,
            "masks": "exact",
        }


def _load_one(args):
    src, i = args
    return src.load(i)


def generate(n: int, seed: int = 0, workers: int = 1, **opts) -> Iterator[Sample]:
    """Yield scenes ``0 .. n-1`` of stream ``seed`` in order, computed by ``workers`` processes
    (``opts`` go to :class:`SyntheticSource`: size, distractors, p_free, p_occluder)."""
    src = SyntheticSource(n=n, seed=seed, **opts)
    if workers <= 1:
        for i in range(n):
            yield src.load(i)
        return
    with mp.get_context().Pool(workers) as pool:
        yield from pool.imap(_load_one, ((src, i) for i in range(n)), chunksize=64)

"""One search, start to end: :func:`search` (a :class:`SearchRequest`) → a :class:`SearchOutcome`
(the query, its top k), and :func:`draw` (the figure). ``csip search`` is a thin command over them.

Which space ranks what:

- a cache item or an image file: the encoder's features f_v (before the projection head), as
  ``csip eval`` ranks CBIR, for any trained encoder (:func:`csip.load_encoder`);
- a layout or a cache item's banner: the banner tower g_u∘f_u embeds the query, the image tower
  g_v∘f_v the gallery, both in C-SIP's shared space (:func:`csip.models.towers.load_towers`); a
  checkpoint without a banner tower is refused (:class:`~csip.models.towers.NoBannerTower`).

Every input is checked before any feature is computed; every vector ranked is checked finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.errors import BadFile, BadOption


@dataclass
class SearchRequest:
    """What to search: ``cache`` (the gallery's cache directory), ``checkpoint`` (a checkpoint
    file, run directory or exported encoder) and exactly one of ``query`` (a cache index or an
    image file, as a string), ``layout`` (boxes or a two-colour PNG, :mod:`.layout`) and
    ``layout_from`` (a cache index: that item's banner). ``sam_*``: the image query's SAM."""

    cache: Path
    checkpoint: Path
    query: str | None = None
    layout: str | None = None
    layout_from: int | None = None
    k: int = 5
    split: str = "all"
    sam_checkpoint: Path | None = None
    sam_kind: str = "vit_h"
    sam_options: tuple[dict, dict] = field(default_factory=lambda: ({}, {}))
    device: str | None = None
    batch_size: int = 256


@dataclass
class SearchOutcome:
    """A search's answer: ``results`` (:func:`.ranking.ranked`'s dicts, best first), what the
    query was (``label``: as given; ``mode``), the gallery (``split``, ``n_gallery``), and what
    the figure draws of the query (``view``, with its banner ``view["sfb"]`` or None)."""

    label: str
    mode: str
    split: str
    n_gallery: int
    results: list[dict]
    view: dict

    def to_json(self) -> dict:
        """What ``--json`` prints (every number finite: checked before ranking)."""
        return {"query": self.label, "mode": self.mode, "split": self.split, "results": self.results}


def open_cache(path: Path):
    """The gallery's :class:`~csip.cache.Cache`; :class:`BadOption` naming ``--cache``."""
    from ..cache import Cache, CacheError

    try:
        return Cache(path)
    except CacheError as exc:
        raise BadOption(f"--cache: {exc}") from None


def cache_index(text: str | int, cache, option: str) -> int:
    """A cache position given as ``text``, checked against the cache's size."""
    try:
        i = int(text)
    except ValueError:
        raise BadOption(f"{option}: {text!r} is not a cache index") from None
    if not 0 <= i < len(cache):
        raise BadOption(f"{option}: index {i} is out of range (the cache has {len(cache)} items)")
    return i


def check_request(req: SearchRequest, cache) -> None:
    """:class:`BadOption` for a request that names no query or more than one, a checkpoint or
    SAM file that does not exist, or a gallery split with no items."""
    given = [n for n, v in (("--query", req.query), ("--layout", req.layout), ("--layout-from", req.layout_from))
             if v is not None]
    if len(given) != 1:
        raise BadOption("give exactly one of --query, --layout and --layout-from"
                        + (f" (got {' and '.join(given)})" if given else ""))
    if not Path(req.checkpoint).exists():
        raise BadOption(f"--checkpoint: not found: {req.checkpoint}")
    if req.sam_checkpoint is not None and not Path(req.sam_checkpoint).is_file():
        raise BadOption(f"--sam-checkpoint: not found: {req.sam_checkpoint}")
    if len(gallery_of(cache, req.split)) == 0:
        raise BadOption(f"--split {req.split}: the cache has no such items")


def gallery_of(cache, split: str) -> np.ndarray:
    """The gallery's cache positions ``(G,)``, sorted."""
    return cache.indices(None if split == "all" else split)


def search(req: SearchRequest) -> SearchOutcome:
    """Run ``req``; :class:`~csip.base.errors.CsipInputError` (one line) for bad input."""
    from ..base.checks import default_device

    cache = open_cache(req.cache)
    check_request(req, cache)
    device = req.device or default_device()
    if req.query is None:
        return _layout_search(req, cache, device)
    return _feature_search(req, cache, device)


def _load_encoder(checkpoint: Path):
    """The trained image tower of ``checkpoint``; :class:`BadFile` naming it when it cannot load."""
    from ..models.encoder import load_encoder

    try:
        return load_encoder(checkpoint)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
        raise BadFile(f"--checkpoint {checkpoint}: cannot load it: {exc}") from None


def _feature_search(req: SearchRequest, cache, device: str) -> SearchOutcome:
    """A cache item or an image file, ranked by the encoder's features f_v."""
    from ..eval.features import extract
    from .queries import image_query, image_view, item_query_view
    from .ranking import check_finite, image_features, index_features, ranked

    qpath = Path(req.query).expanduser()
    q_index = None if qpath.is_file() else _query_index(req.query, cache)
    encoder = _load_encoder(req.checkpoint)
    uses = tuple(encoder.uses)
    if q_index is None and req.sam_checkpoint is None and "boxes" in uses:
        raise BadOption(f"the encoder reads {' and '.join(uses)}: an image query needs its two objects, give "
                        "--sam-checkpoint (or use an encoder that reads the image only, e.g. resnet18)")
    gallery = gallery_of(cache, req.split)
    table = extract(encoder, cache, gallery, req.batch_size, device)
    check_finite(table.features, req.checkpoint, "the gallery's features")
    if q_index is not None:
        q_feat, exclude = index_features(encoder, cache, table, gallery, q_index, device)
        mode, q_sfb = "cache item", np.asarray(cache.sfb[q_index])
        view = dict(item_query_view(cache, q_index, f"query #{q_index}"), sfb=q_sfb)
    else:
        gen, pick = req.sam_options
        q = image_query(qpath, cache, req.sam_checkpoint, req.sam_kind, device, gen, pick)
        q_feat, exclude, mode, q_sfb = image_features(encoder, q, device), None, q["mode"], q["sfb"]
        view = dict(image_view(q, f"query {qpath.name}"), sfb=q_sfb)
    check_finite(q_feat, req.checkpoint, "the query's features")
    results = ranked(cache, gallery, q_feat, table.features, req.k, exclude, q_sfb)
    return SearchOutcome(str(req.query), mode, req.split, len(gallery), results, view)


def _query_index(text: str, cache) -> int:
    """``--query`` as a cache index (an existing file was taken as an image before)."""
    try:
        int(text)
    except ValueError:
        raise BadOption(f"--query: {text!r} is neither a cache index nor an existing image file") from None
    return cache_index(text, cache, "--query")


def _layout_search(req: SearchRequest, cache, device: str) -> SearchOutcome:
    """A layout or a cache item's banner, embedded by the banner tower, against the gallery's
    image embeddings."""
    from ..eval.features import extract
    from ..models.towers import embed_banners, image_side, load_towers, towers_config
    from .queries import layout_query
    from .ranking import check_finite, ranked

    from_item = None if req.layout_from is None else cache_index(req.layout_from, cache, "--layout-from")
    q = layout_query(cache, req.layout, from_item)  # bad layouts are refused before the checkpoint is read
    try:
        config = towers_config(req.checkpoint)
        model = load_towers(req.checkpoint)
    except (FileNotFoundError, KeyError, RuntimeError) as exc:
        raise BadFile(f"--checkpoint {req.checkpoint}: cannot load it: {exc}") from None
    shape = tuple(config["spatial_encoder"][k] for k in ("n_levels", "n_angles"))
    if shape != tuple(cache.sfb_shape):
        raise BadOption(f"--checkpoint {req.checkpoint}: its banner tower reads {shape[0]}×{shape[1]} banners, the "
                        f"cache's are {cache.sfb_shape[0]}×{cache.sfb_shape[1]}")
    gallery = gallery_of(cache, req.split)
    table = extract(image_side(model, config), cache, gallery, req.batch_size, device, features="embed")
    check_finite(table.features, req.checkpoint, "the gallery's image embeddings")
    u = check_finite(embed_banners(model, q["sfb"][None], device=device), req.checkpoint, "the layout's embedding")
    exclude = None
    if from_item is not None and np.any(gallery == from_item):
        exclude = int(np.searchsorted(gallery, from_item))  # its own image would be a trivial answer
    results = ranked(cache, gallery, u, table.features, req.k, exclude, q["sfb"])
    label = req.layout if req.layout is not None else str(req.layout_from)
    return SearchOutcome(label, q["mode"], req.split, len(gallery), results, dict(q["view"], sfb=q["sfb"]))


def draw(out: Path, req: SearchRequest, outcome: SearchOutcome) -> Path:
    """The figure of ``outcome`` (:func:`.figure.search_figure`) into ``out``."""
    from ..eval.items import item_view
    from .figure import search_figure

    cache = open_cache(req.cache)
    res = [item_view(cache, r["index"], f"#{r['index']} {r['label'] or '?'}\ncos {r['score']:.2f}"
                     + (f"  rel {r['relevance']:.2f}" if "relevance" in r else "")) for r in outcome.results]
    return search_figure(out, outcome.view, res, cache.forces, f"csip search: {outcome.mode}, top {len(res)}")


__all__ = ["SearchOutcome", "SearchRequest", "cache_index", "check_request", "draw", "gallery_of", "open_cache",
           "search"]

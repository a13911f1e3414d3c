"""``csip search``: the cache items whose spatial configuration is closest to a query's.

::

    csip search --cache DIR --checkpoint CKPT --query INDEX|IMAGE [-k 5] [--out grid.png]
                [--split all] [--sam-checkpoint FILE [--sam-kind vit_h] [-O KEY=VALUE ...]]
                [--device cpu|cuda] [--json]

The encoder (a checkpoint file, run directory or exported encoder of ``csip pretrain``) embeds
the query and every gallery item (the cache's ``--split``, all items by default); items are
ranked by the cosine of their features (the pre-projection features, as in ``csip eval``).
Printed: rank, cache index, id, score (cosine), relation label, and — when the query's banner is
known — the relevance ``cos(sFB(query), sFB(item))`` that CBIR's NDCG uses. ``--out`` draws the
query and its top-k with their banners (PNG).

The query:

- an integer: the cache item at that position (left out of its own results);
- an image file. Its two objects are unknown:

  - with ``--sam-checkpoint``, SAM's automatic masks give them (the two largest masks that are
    not the same region, as ``csip precompute folder:DIR`` picks them; ``-O`` passes options
    such as ``points_per_side=16`` or ``max_area_frac=0.9``), and the image is cropped to the
    union box, padded to a square and resized exactly as the cache was built; the query's sFB
    is computed with the cache's descriptor settings;
  - without it, only encoders that read the image alone (``uses == ("image",)``, e.g.
    ``resnet18``) can be used: the **whole image** is padded to a centred square (black) and
    resized to the cache's size S — no crop, since the objects are unknown. Encoders that
    read boxes need ``--sam-checkpoint``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .options import key_values

#: -O keys that go to SamAutomaticMaskGenerator; the others choose the two masks (pick_two).
_GENERATOR_KEYS = ("points_per_side", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh")
_PICK_KEYS = ("saliency", "max_area_frac", "max_overlap", "min_pixels")


def _parse_opts(items: tuple[str, ...]) -> tuple[dict, dict]:
    gen, pick = {}, {}
    for key, value in key_values(items, "-O/--sam-opt"):
        if key in _GENERATOR_KEYS:
            gen[key] = value
        elif key in _PICK_KEYS:
            pick[key] = value
        else:
            raise click.BadParameter(f"unknown option {key!r}; known: {', '.join(_GENERATOR_KEYS + _PICK_KEYS)}",
                                     param_hint="-O/--sam-opt")
    return gen, pick


def whole_image(image, size: int):
    """uint8 ``(H, W, 3)`` → uint8 ``(3, S, S)``: resized to fit ``S`` (aspect kept, bilinear),
    centred on a black square — the cache's pad-and-resize, with the whole image as the crop."""
    import numpy as np  # numpy and PIL: lazy for `--help` (see search)
    from PIL import Image

    h, w = image.shape[:2]
    side = max(h, w)
    nw, nh = max(1, round(w * size / side)), max(1, round(h * size / side))
    small = np.asarray(Image.fromarray(image, mode="RGB").resize((nw, nh), Image.Resampling.BILINEAR))
    out = np.zeros((3, size, size), dtype=np.uint8)
    oy, ox = (size - nh) // 2, (size - nw) // 2
    out[:, oy : oy + nh, ox : ox + nw] = small.transpose(2, 0, 1)
    return out


def image_query(path: Path, cache, uses: tuple[str, ...], sam_checkpoint: Path | None, sam_kind: str,
                sam_device: str | None, gen_opts: dict, pick_opts: dict) -> dict:
    """Prepare an image file as a query: ``{"image" (3,S,S) uint8, "boxes" (2,4) or None,
    "masks" (2,S,S) bool or None, "sfb" (R,K) or None, "mode"}``."""
    import numpy as np  # numpy and the library: lazy for `--help` (see search)

    from ..cache.prepare import prepare_sample
    from ..data.common import read_rgb
    from ..data.folder import pick_two
    from ..data.sam import AutoMasker
    from ..data.sample import Sample, SkipItem, box_of
    from ..descriptor import DescriptorParams, sfb

    try:
        rgb = read_rgb(path, exif_transpose=True)
    except SkipItem as exc:
        raise click.BadParameter(f"query image {path}: {exc}", param_hint="--query") from None
    s = cache.image_size
    if sam_checkpoint is None:
        return {"image": whole_image(rgb, s), "boxes": None, "masks": None, "sfb": None, "mode": "whole image"}
    masker = AutoMasker(sam_checkpoint, sam_kind, sam_device, gen_opts)
    masks = masker(rgb)
    try:
        a, b = pick_two(masks, **pick_opts)
        sample = Sample(id=f"query-{path.name}", image=rgb, mask_a=masks[a], mask_b=masks[b],
                        box_a=box_of(masks[a]), box_b=box_of(masks[b]))
        item = prepare_sample(sample, 0, s)
    except SkipItem as exc:
        raise click.BadParameter(f"query image {path}: SAM found no usable pair of objects ({exc}); "
                                 f"{len(masks)} masks before filtering", param_hint="--query") from None
    params = DescriptorParams.from_json(cache.descriptor)
    banner = sfb(sample.mask_a, sample.mask_b, params)
    m = np.unpackbits(item.masks, axis=-1, count=s).astype(bool)
    return {"image": item.image, "boxes": item.boxes, "masks": m, "sfb": banner, "mode": "SAM masks"}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--cache", "cache_dir", required=True, type=click.Path(path_type=Path), help="Cache directory (the gallery)."
)
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path),
              help="Trained encoder: checkpoint file, run directory or exported encoder.")
@click.option("--query", required=True, help="A cache index (integer) or an image file.")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Results to list.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the result grid here (PNG)."
)
@click.option("--split", default="all", show_default=True, type=click.Choice(["train", "val", "test", "all"]),
              help="Gallery split.")
@click.option("--sam-checkpoint", type=click.Path(path_type=Path), default=None,
              help="Local SAM checkpoint: find the two objects of an image query (and crop like the cache).")
@click.option("--sam-kind", default="vit_h", show_default=True, type=click.Choice(["vit_h", "vit_l", "vit_b", "tiny"]))
@click.option("-O", "--sam-opt", "sam_opts", multiple=True, metavar="KEY=VALUE",
              help=f"SAM mask options: {', '.join(_GENERATOR_KEYS + _PICK_KEYS)}.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def search(cache_dir, checkpoint, query, k, out, split, sam_checkpoint, sam_kind, sam_opts, device, batch_size,
           as_json) -> None:
    """List (and draw) the cache items most similar in spatial configuration to QUERY."""
    # torch, numpy and the library are imported here, not at the top: `csip search --help`
    # stays at about 0.06 s instead of the 1.5 s that importing torch takes
    from ..base.checks import default_device
    from ..eval.features import extract

    cache = _open_cache(cache_dir)
    if not Path(checkpoint).exists():
        raise click.UsageError(f"--checkpoint: not found: {checkpoint}")
    qpath, q_index = _parse_query(query, cache)
    if sam_checkpoint is not None and not Path(sam_checkpoint).is_file():
        raise click.UsageError(f"--sam-checkpoint: not found: {sam_checkpoint}")
    gen_opts, pick_opts = _parse_opts(sam_opts)
    encoder = _checked_encoder(checkpoint, image_query=q_index is None, with_sam=sam_checkpoint is not None)
    device = device or default_device()
    gallery = cache.indices(None if split == "all" else split)
    if len(gallery) == 0:
        raise click.UsageError(f"--split {split}: the cache has no such items")
    table = extract(encoder, cache, gallery, batch_size, device)
    if q_index is not None:
        query_features, q_view, exclude = _index_query(encoder, cache, table, gallery, q_index, device)
        mode = "cache item"
    else:
        q_view = image_query(qpath, cache, tuple(encoder.uses), sam_checkpoint, sam_kind, device, gen_opts, pick_opts)
        query_features, exclude, mode = _image_features(encoder, q_view, device), None, q_view["mode"]
    results = _ranked(cache, gallery, query_features, table.features, k, exclude, q_view.get("sfb"))
    _print_results(results, query, mode, split, len(gallery), as_json)
    if out is not None:
        _draw(out, cache, results, q_index, q_view, qpath)


def _open_cache(cache_dir: Path):
    """The gallery's :class:`~csip.cache.Cache` (a usage error naming ``--cache`` if it is unusable)."""
    from ..cache import Cache, CacheError  # imports numpy: lazy for `--help` (see search)

    try:
        return Cache(cache_dir)
    except CacheError as exc:
        raise click.UsageError(f"--cache: {exc}") from None


def _parse_query(query: str, cache) -> tuple[Path, int | None]:
    """``(path, index)``: ``index`` is the cache position when ``query`` is an integer (checked
    against the cache's size) and not an existing file, else ``None`` (an image query)."""
    qpath = Path(query).expanduser()
    if qpath.is_file():
        return qpath, None
    try:
        q_index = int(query)
    except ValueError:
        raise click.UsageError(f"--query: {query!r} is neither a cache index nor an existing image file") from None
    if not 0 <= q_index < len(cache):
        raise click.UsageError(f"--query: index {q_index} is out of range (the cache has {len(cache)} items)")
    return qpath, q_index


def _checked_encoder(checkpoint: Path, *, image_query: bool, with_sam: bool):
    """The trained encoder of ``checkpoint``; a usage error if it cannot be loaded, or if it
    reads boxes while an image query has no SAM to find them."""
    from ..models.encoder import load_encoder  # imports torch: lazy for `--help` (see search)

    try:
        encoder = load_encoder(checkpoint)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
        raise click.UsageError(f"--checkpoint {checkpoint}: cannot load it: {exc}") from None
    uses = tuple(encoder.uses)
    if image_query and not with_sam and "boxes" in uses:
        raise click.UsageError(
            f"the encoder reads {' and '.join(uses)}: an image query needs its two objects, give --sam-checkpoint "
            "(or use an encoder that reads the image only, e.g. resnet18)")
    return encoder


def _index_query(encoder, cache, table, gallery, q_index: int, device: str):
    """A cache item as the query: ``(features (1, D), {"sfb": (R, K)}, position to leave out
    of the ranking or None)``. Its features come from the gallery's table when it is in it."""
    import numpy as np  # lazy for `--help` (see search)

    from ..eval.features import extract

    in_gallery = bool(np.any(gallery == q_index))
    features = table.rows([q_index]) if in_gallery else extract(encoder, cache, [q_index], 1, device).features
    exclude = int(np.searchsorted(gallery, q_index)) if in_gallery else None
    return features, {"sfb": np.asarray(cache.sfb[q_index])}, exclude


def _image_features(encoder, q_view: dict, device: str):
    """Features ``(1, D)`` float32 of a prepared image query (:func:`image_query`)."""
    import torch  # lazy for `--help` (see search)

    uses = tuple(encoder.uses)
    batch = {"image": torch.from_numpy(q_view["image"])[None].to(device)}
    if q_view["boxes"] is not None:
        batch["boxes"] = torch.from_numpy(q_view["boxes"])[None].to(device)
    encoder = encoder.to(device).eval()
    with torch.no_grad():
        return encoder.features({name: v for name, v in batch.items() if name in uses}).float().cpu().numpy()


def _ranked(cache, gallery, query_features, gallery_features, k: int, exclude: int | None, q_sfb) -> list[dict]:
    """The top ``k`` gallery items by cosine of features: ``{"rank", "index", "id", "score",
    "label"}``, and ``"relevance"`` (cosine of the banners) when the query's banner ``q_sfb``
    is known."""
    import numpy as np  # lazy for `--help` (see search)

    from ..data import PREDICATES
    from ..eval.cbir import top_k

    idx, scores = top_k(query_features, gallery_features, k, exclude=[exclude])
    results = []
    for column, score in zip(idx[0], scores[0]):
        pos = int(gallery[column])
        label = int(cache.labels[pos])
        row = {"rank": len(results) + 1, "index": pos, "id": cache.ids[pos], "score": float(score),
               "label": PREDICATES[label] if 0 <= label < len(PREDICATES) else None}
        if q_sfb is not None:
            a, b = np.asarray(q_sfb, np.float64).ravel(), np.asarray(cache.sfb[pos], np.float64).ravel()
            row["relevance"] = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
        results.append(row)
    return results


def _print_results(results: list[dict], query: str, mode: str, split: str, n_gallery: int, as_json: bool) -> None:
    """Print the ranking as JSON or as a table."""
    if as_json:
        click.echo(json.dumps({"query": query, "mode": mode, "split": split, "results": results}, indent=2))
        return
    click.echo(f"query {query} ({mode}); gallery: {split} split, {n_gallery} items; cosine of encoder features")
    click.echo(f"{'rank':>4}  {'index':>6}  {'score':>7}  {'rel':>6}  {'label':<15}  id")
    for r in results:
        rel = f"{r['relevance']:.3f}" if "relevance" in r else "—"
        click.echo(
            f"{r['rank']:>4}  {r['index']:>6}  {r['score']:>7.4f}  {rel:>6}  {str(r['label'] or '—'):<15}  {r['id']}"
        )


def _draw(out: Path, cache, results: list[dict], q_index: int | None, q_view: dict, qpath: Path) -> None:
    """Draw the query and its results with their banners into the PNG ``out``."""
    from ..eval.items import item_view, label_name  # imports numpy: lazy for `--help` (see search)
    from ..viz.figures import retrieval_grid

    if q_index is not None:
        qv = item_view(cache, q_index, f"query #{q_index} {label_name(cache, q_index)}")
    else:
        m = q_view.get("masks")
        qv = {"image": q_view["image"].transpose(1, 2, 0), "mask_a": None if m is None else m[0],
              "mask_b": None if m is None else m[1], "sfb": q_view.get("sfb"), "caption": f"query {qpath.name}"}
    res = [item_view(cache, r["index"], f"#{r['index']} {r['label'] or '?'}\ncos {r['score']:.2f}"
                     + (f"  rel {r['relevance']:.2f}" if "relevance" in r else "")) for r in results]
    retrieval_grid([{"query": qv, "results": res}], cache.forces, out, title=f"csip search: top {len(res)}")
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":  # pragma: no cover
    search(sys.argv[1:])

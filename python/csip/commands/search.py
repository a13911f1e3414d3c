"""``csip search``: the cache items whose spatial configuration is closest to a query's.

::

    csip search --cache DIR --checkpoint CKPT (--query INDEX|IMAGE | --layout LAYOUT | --layout-from INDEX)
                [-k 5] [--out grid.png]
                [--split all] [--sam-checkpoint FILE [--sam-kind vit_h] [-O KEY=VALUE ...]]
                [--device cpu|cuda] [--json]

The encoder (a checkpoint file, run directory or exported encoder of ``csip pretrain``) embeds
the query and every gallery item (the cache's ``--split``, all items by default); items are
ranked by the cosine of their features (the pre-projection features, as in ``csip eval``).
Printed: rank, cache index, id, score (cosine), relation label, and — when the query's banner is
known — the relevance ``cos(sFB(query), sFB(item))`` that CBIR's NDCG uses. ``--out`` draws the
query and its top-k with their banners (PNG).

``--out``: the figure's directory must exist and be writable; both are checked before any
work (a missing directory is refused, not created), and the PNG is replaced atomically.
``--json`` never holds NaN: an encoder whose features are not finite is refused (exit 2).

The query (exactly one of):

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
- ``--layout "A=x0,y0,x1,y1 B=x0,y0,x1,y1"`` (two boxes, relative coordinates in [0, 1] of
  the cache's image frame, y down) or ``--layout FILE.png`` (two masks: **A red, B blue**, any
  other colour background; see :mod:`csip.search.layout`): the layout is rasterised at the
  cache's image size, its banner computed with the cache's descriptor settings, embedded by the
  C-SIP checkpoint's banner tower g_u∘f_u, and the gallery ranked by the cosine of its image
  embeddings g_v∘f_v (the shared space). A checkpoint with no banner tower (supervised, an
  exported encoder) is refused;
- ``--layout-from INDEX``: the same with the banner of cache item INDEX (not its image; the
  item is left out of its own results).

The search itself lives in :mod:`csip.search`; this module is its command line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..search import GENERATOR_KEYS, PICK_KEYS
from .failures import reporting_errors
from .options import key_values


def whole_image(image, size: int):
    """:func:`csip.search.queries.whole_image` (kept importable from here)."""
    from ..search.queries import whole_image as _whole_image

    return _whole_image(image, size)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--cache", "cache_dir", required=True, type=click.Path(path_type=Path),
              help="Cache directory (the gallery).")
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path),
              help="Trained encoder: checkpoint file, run directory or exported encoder.")
@click.option("--query", default=None, help="A cache index (integer) or an image file.")
@click.option("--layout", default=None,
              help='Query by layout: "A=x0,y0,x1,y1 B=x0,y0,x1,y1" (relative, in [0, 1]) or a PNG (A red, B blue). '
                   "Needs a C-SIP checkpoint.")
@click.option("--layout-from", default=None, metavar="INDEX",
              help="Query by the banner (not the image) of this cache item. Needs a C-SIP checkpoint.")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Results to list.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the figure here (PNG; its directory must exist).")
@click.option("--split", default="all", show_default=True, type=click.Choice(["train", "val", "test", "all"]),
              help="Gallery split.")
@click.option("--sam-checkpoint", type=click.Path(path_type=Path), default=None,
              help="Local SAM checkpoint: find the two objects of an image query (and crop like the cache).")
@click.option("--sam-kind", default="vit_h", show_default=True, type=click.Choice(["vit_h", "vit_l", "vit_b", "tiny"]))
@click.option("-O", "--sam-opt", "sam_opts", multiple=True, metavar="KEY=VALUE",
              help=f"SAM mask options: {', '.join(GENERATOR_KEYS + PICK_KEYS)}.")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def search(cache_dir, checkpoint, query, layout, layout_from, k, out, split, sam_checkpoint, sam_kind, sam_opts,
           device, batch_size, as_json) -> None:
    """List (and draw) the cache items most similar in spatial configuration to a query."""
    # the library (torch, numpy) is imported here, not at the top: `csip search --help` stays fast
    with reporting_errors():
        from ..search.api import SearchRequest, draw
        from ..search.api import search as run_search
        from ..search.figure import check_out_file
        from ..search.queries import split_sam_options

        if out is not None:
            check_out_file(out)
        req = SearchRequest(cache_dir, checkpoint, query, layout, layout_from, k, split, sam_checkpoint, sam_kind,
                            split_sam_options(key_values(sam_opts, "-O/--sam-opt")), device, batch_size)
        outcome = run_search(req)
        _print(outcome, as_json)
        if out is not None:
            click.echo(f"wrote {draw(out, req, outcome)}", err=True)


def _print(outcome, as_json: bool) -> None:
    """Print the ranking as JSON or as a table."""
    if as_json:
        click.echo(json.dumps(outcome.to_json(), indent=2, allow_nan=False))
        return
    space = "banner tower vs image embeddings" if outcome.view.get("image") is None else "encoder features"
    click.echo(f"query {outcome.label} ({outcome.mode}); gallery: {outcome.split} split, {outcome.n_gallery} items; "
               f"cosine of {space}")
    click.echo(f"{'rank':>4}  {'index':>6}  {'score':>7}  {'rel':>6}  {'label':<15}  id")
    for r in outcome.results:
        rel = f"{r['relevance']:.3f}" if "relevance" in r else "—"
        label = str(r["label"] or "—")
        click.echo(f"{r['rank']:>4}  {r['index']:>6}  {r['score']:>7.4f}  {rel:>6}  {label:<15}  {r['id']}")


if __name__ == "__main__":  # pragma: no cover
    search(sys.argv[1:])

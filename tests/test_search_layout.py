"""``csip search --layout`` / ``--layout-from``: retrieval by a layout on the built-in scenes, the
layout's parsing and rasterising, and the refusals (no banner tower, bad layouts, --out, NaN)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from csip.cache import Cache
from csip.cli import main
from csip.data import PREDICATES
from csip.search.api import SearchRequest, search
from csip.search.layout import box_masks, png_masks
from csip.search.ranking import banner_cosine
from eval_helpers import trained_run
from towers_helpers import aligned_csip_run

pytestmark = pytest.mark.usefixtures("single_thread")

#: The banner is symmetric: these pairs of predicates are one configuration to it.
_MERGED = {"to the left of": "left/right", "to the right of": "left/right", "above": "above/under",
           "under": "above/under", "in front of": "front/behind", "behind": "front/behind"}


def _search(*args):
    return CliRunner().invoke(main, ["search", *map(str, args)])


def _boxes_text(b) -> str:
    return " ".join(f"{n}=" + ",".join(f"{x:.5f}" for x in b[k]) for k, n in enumerate("AB"))


def test_a_layout_of_an_items_boxes_ranks_its_configuration_near_the_top(base, cache):
    run, c = aligned_csip_run(base, cache), Cache(cache)
    n, k = len(c), 10
    ranks, top_rel, all_rel = [], [], []
    for i in range(0, n, 25):
        out = search(SearchRequest(cache, run, layout=_boxes_text(c.boxes[i]), k=n, device="cpu"))
        order = [r["index"] for r in out.results]
        assert sorted(order) == list(range(n))  # the whole gallery, each once
        ranks.append(order.index(i) + 1)
        own = np.asarray(c.sfb[i])
        top_rel.append(np.mean([banner_cosine(own, c.sfb[j]) for j in order[:k]]))
        all_rel.append(np.mean([banner_cosine(own, c.sfb[j]) for j in range(n)]))  # chance: a random top k
    assert np.median(ranks) < (n + 1) / 4  # a random ranking puts the item at (n + 1) / 2 on average
    assert np.mean(top_rel) > np.mean(all_rel) + 0.15 and np.mean(np.greater(top_rel, all_rel)) >= 0.75


def test_a_side_by_side_layout_retrieves_side_by_side_pairs_in_either_order(base, cache):
    run, c = aligned_csip_run(base, cache), Cache(cache)
    k = 20
    names = [PREDICATES[x] if x >= 0 else None for x in np.asarray(c.labels)]
    chance = np.mean([_MERGED.get(p) == "left/right" for p in names])
    ab = search(SearchRequest(cache, run, layout="A=0.05,0.35,0.4,0.65 B=0.6,0.35,0.95,0.65", k=k, device="cpu"))
    ba = search(SearchRequest(cache, run, layout="B=0.05,0.35,0.4,0.65 A=0.6,0.35,0.95,0.65", k=k, device="cpu"))
    assert [r["index"] for r in ab.results] == [r["index"] for r in ba.results]  # the banner is symmetric
    hit = np.mean([_MERGED.get(r["label"]) == "left/right" for r in ab.results])
    assert hit > 2 * chance, (hit, chance)
    stacked = search(SearchRequest(cache, run, layout="A=0.35,0.05,0.65,0.4 B=0.35,0.6,0.65,0.95", k=k, device="cpu"))
    assert np.mean([_MERGED.get(r["label"]) == "left/right" for r in stacked.results]) < chance  # not every layout


def test_layout_from_an_item_uses_its_banner_and_draws_the_figure(base, cache, tmp_path):
    run, c = aligned_csip_run(base, cache), Cache(cache)
    fig = tmp_path / "lay.png"
    res = _search("--cache", cache, "--checkpoint", run, "--layout-from", 7, "-k", 4, "--json", "--device", "cpu",
                  "--out", fig)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["mode"] == "banner of cache item 7" and len(out["results"]) == 4
    assert all(r["index"] != 7 for r in out["results"])
    for r in out["results"]:
        assert r["relevance"] == pytest.approx(banner_cosine(c.sfb[7], c.sfb[r["index"]]))
    assert Image.open(fig).size[0] > 300
    res = _search("--cache", cache, "--checkpoint", run, "--layout", "A=0.1,0.1,0.4,0.4 B=0.5,0.5,0.9,0.9",
                  "-k", 3, "--device", "cpu")
    assert res.exit_code == 0 and "banner tower vs image embeddings" in res.output


def test_boxes_rasterise_to_the_documented_pixels():
    m = box_masks({"A": (0.0, 0.0, 0.5, 0.25), "B": (0.26, 0.9, 0.27, 1.0)}, 8)
    expect_a = np.zeros((8, 8), bool)
    expect_a[0:2, 0:4] = True
    expect_b = np.zeros((8, 8), bool)
    expect_b[7:8, 2:3] = True  # a box thinner than a pixel still covers one
    assert (m[0] == expect_a).all() and (m[1] == expect_b).all()


def test_a_two_colour_png_reads_as_the_same_masks(tmp_path):
    img = np.full((20, 40, 3), 255, np.uint8)  # white background, 2:1, padded to a square
    img[5:10, 0:10] = (250, 10, 10)  # A red
    img[10:20, 30:40] = (0, 0, 230)  # B blue
    img[0:2, 0:2] = (255, 255, 0)  # yellow: background
    Image.fromarray(img).save(tmp_path / "l.png")
    m = png_masks(tmp_path / "l.png", 40)
    a = np.zeros((40, 40), bool)
    a[15:20, 0:10] = True
    b = np.zeros((40, 40), bool)
    b[20:30, 30:40] = True
    assert (m[0] == a).all() and (m[1] == b).all()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(ValueError, match="no red pixel"):
        png_masks(tmp_path / "black.png", 8)


@pytest.mark.parametrize("layout, message", [
    ("A=0.1,0.1,0.5,0.5", "expected two boxes"),
    ("A=0.1,0.1,0.5,0.5 C=0,0,1,1", "expected A=x0,y0,x1,y1"),
    ("A=0.1,0.1,0.5,0.5 A=0,0,1,1", "box A is given twice"),
    ("A=0.1,0.1,0.5 B=0,0,1,1", "expected four numbers"),
    ("A=0.1,0.1,0.5,x B=0,0,1,1", "not four numbers"),
    ("A=0.1,0.1,1.5,0.5 B=0,0,1,1", "in [0, 1]"),
    ("A=0.1,0.1,nan,0.5 B=0,0,1,1", "finite"),
    ("A=0.5,0.1,0.1,0.5 B=0,0,1,1", "x0 < x1"),
    ("nope.png", "neither boxes"),
])
def test_bad_layouts_are_refused_in_one_line(base, cache, layout, message):
    run = aligned_csip_run(base, cache)
    res = _search("--cache", cache, "--checkpoint", run, "--layout", layout)
    assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_a_checkpoint_without_a_banner_tower_is_refused(base, cache, tmp_path):
    from csip.models.encoder import export_encoder

    sup = trained_run(base, cache, "2d", supervised=True)
    res = _search("--cache", cache, "--checkpoint", sup, "--layout", "A=0,0,0.4,0.4 B=0.6,0.6,1,1")
    assert res.exit_code == 2 and "supervised checkpoint has no banner tower" in res.output
    assert len(res.output.strip().splitlines()) == 1
    exported = export_encoder(aligned_csip_run(base, cache) / "checkpoints" / "final.pt", tmp_path / "exp")
    res = _search("--cache", cache, "--checkpoint", exported, "--layout-from", 0)
    assert res.exit_code == 2 and "no banner tower" in res.output
    res = _search("--cache", cache, "--checkpoint", sup, "--query", 0, "--layout-from", 0)
    assert res.exit_code == 2 and "exactly one of --query, --layout and --layout-from" in res.output


def test_out_is_checked_before_any_work(base, cache, tmp_path):
    run = trained_run(base, cache, "2d")
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "missing" / "g.png", "does not exist"), (tmp_path / "file" / "g.png",
                                                                               "is not a directory"),
                         (tmp_path, "is a directory")):
        res = _search("--cache", cache, "--checkpoint", tmp_path / "no-such.pt", "--query", 0, "--out", out)
        assert res.exit_code == 2 and message in res.output, res.output  # before the checkpoint is even looked at
    assert not (tmp_path / "missing").exists()
    res = _search("--cache", cache, "--checkpoint", run, "--query", 0, "--out", tmp_path / "ok.png", "--device", "cpu")
    assert res.exit_code == 0 and (tmp_path / "ok.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_non_finite_weights_are_refused_naming_the_checkpoint(base, cache, tmp_path):
    import torch

    from csip.models.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(aligned_csip_run(base, cache) / "checkpoints" / "final.pt")
    state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                      for k, v in state["model"].items()}
    bad = save_checkpoint(tmp_path / "nan.pt", state)
    for query in (("--query", 3), ("--layout-from", 3)):
        res = _search("--cache", cache, "--checkpoint", bad, *query, "--json", "--device", "cpu")
        assert res.exit_code == 2 and "nan.pt" in res.output and "not finite" in res.output, res.output
        assert "NaN" not in res.stdout.replace("hold NaN", "")

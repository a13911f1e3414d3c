"""``csip search``: cache-index and image queries, the grid, and refusals of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from csip.cli import main
from data_fixtures import tiny_sam_checkpoint, write_image
from eval_helpers import trained_run

pytestmark = pytest.mark.usefixtures("single_thread")


def _search(*args):
    return CliRunner().invoke(main, ["search", *map(str, args)])


def test_index_query_lists_the_nearest_items_and_draws_them(base, cache, tmp_path):
    run = trained_run(base, cache, "2d")
    grid = tmp_path / "grid.png"
    res = _search("--cache", cache, "--checkpoint", run, "--query", "3", "-k", "4", "--out", grid, "--json",
                  "--device", "cpu")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rs = out["results"]
    assert [r["rank"] for r in rs] == [1, 2, 3, 4] and all(r["index"] != 3 for r in rs)
    assert all(a["score"] >= b["score"] for a, b in zip(rs, rs[1:]))
    assert all(0 <= r["relevance"] <= 1 + 1e-6 for r in rs) and rs[0]["id"].startswith("synthetic")
    assert grid.is_file() and grid.stat().st_size > 0
    # the same ranking as the encoder's features, computed directly
    from csip import load_encoder
    from csip.cache import Cache
    from csip.eval.cbir import top_k
    from csip.eval.features import extract

    c = Cache(cache)
    t = extract(load_encoder(run), c, c.indices(None), device="cpu")
    idx, _ = top_k(t.rows([3]), t.features, 4, exclude=[3])
    assert [r["index"] for r in rs] == idx[0].tolist()
    # plain listing, test split only
    res = _search("--cache", cache, "--checkpoint", run, "--query", "3", "--split", "test", "--device", "cpu")
    assert res.exit_code == 0 and "rank" in res.output and "test split" in res.output


def test_image_query_whole_image_and_with_sam(base, cache, tmp_path):
    img = tmp_path / "photo.png"
    write_image(img)
    sup_r18 = trained_run(base, cache, "resnet18", supervised=True)  # reads the image only
    res = _search("--cache", cache, "--checkpoint", sup_r18, "--query", img, "-k", "3", "--json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["mode"] == "whole image" and len(out["results"]) == 3 and "relevance" not in out["results"][0]
    # a box-reading encoder needs SAM for an image query
    run2d = trained_run(base, cache, "2d")
    res = _search("--cache", cache, "--checkpoint", run2d, "--query", img)
    assert res.exit_code == 2 and "--sam-checkpoint" in res.output
    sam = tiny_sam_checkpoint(tmp_path / "tiny-sam.pt")
    grid = tmp_path / "g.png"
    res = _search("--cache", cache, "--checkpoint", run2d, "--query", img, "-k", "2", "--json", "--device", "cpu",
                  "--sam-checkpoint", sam, "--sam-kind", "tiny", "--out", grid,
                  "-O", "points_per_side=4", "-O", "pred_iou_thresh=0", "-O", "stability_score_thresh=0",
                  "-O", "box_nms_thresh=1", "-O", "max_area_frac=1", "-O", "max_overlap=1", "-O", "min_pixels=1")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["mode"] == "SAM masks" and len(out["results"]) == 2 and "relevance" in out["results"][0]
    assert grid.is_file()


def test_whole_image_pads_to_a_centred_square():
    from csip.commands.search import whole_image

    img = np.full((20, 40, 3), 200, np.uint8)
    out = whole_image(img, 16)
    assert out.shape == (3, 16, 16) and out.dtype == np.uint8
    assert (out[:, :4] == 0).all() and (out[:, 12:] == 0).all() and (out[:, 4:12] == 200).all()


@pytest.mark.parametrize("case", ["checkpoint", "index", "file", "cache", "opt", "unreadable"])
def test_search_refuses_bad_input(base, cache, tmp_path, case):
    run = trained_run(base, cache, "2d")
    (tmp_path / "fake.png").write_text("hello")
    args = {
        "unreadable": ["--cache", cache, "--checkpoint", trained_run(base, cache, "resnet18", supervised=True),
                       "--query", tmp_path / "fake.png"],
        "checkpoint": ["--cache", cache, "--checkpoint", tmp_path / "nope.pt", "--query", "0"],
        "index": ["--cache", cache, "--checkpoint", run, "--query", "100000"],
        "file": ["--cache", cache, "--checkpoint", run, "--query", tmp_path / "nope.png"],
        "cache": ["--cache", tmp_path / "nocache", "--checkpoint", run, "--query", "0"],
        "opt": ["--cache", cache, "--checkpoint", run, "--query", "0", "-O", "colour=red"],
    }[case]
    res = _search(*args)
    assert res.exit_code == 2, res.output
    assert {"checkpoint": "nope.pt", "index": "out of range", "file": "nope.png", "cache": "nocache",
            "opt": "colour", "unreadable": "query image"}[case] in res.output

"""The pieces of a build split out of ``csip.cache.writer.build``: the chunk plan, the in-order
feeder of the consolidator, and the skipped-items summary of the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from csip.cache.assemble import InOrderFeeder, SkippedItems
from csip.cache.format import SKIP_LIST_CAP
from csip.cache.plan import ChunkPlan


@pytest.mark.parametrize("n_items", [1, 5, 7, 8, 9, 64, 100])
@pytest.mark.parametrize("chunk", [1, 3, 8, 512])
@pytest.mark.parametrize("shard_n", [1, 2, 3])
def test_the_plan_agrees_with_counting_item_by_item(n_items, chunk, shard_n):
    """Reference: each item's chunk is item // chunk; shard i owns the chunks c % n == i."""
    chunk_of = [item // chunk for item in range(n_items)]
    owned = set()
    for shard_i in range(shard_n):
        plan = ChunkPlan(n_items, chunk, shard_i, shard_n)
        assert plan.n_chunks == max(chunk_of) + 1
        assert plan.sharded == (shard_n > 1)
        for c in range(plan.n_chunks):
            items = [item for item, of in enumerate(chunk_of) if of == c]
            assert plan.items_of(c) == (items[0], items[-1] + 1)
        mine = plan.mine()
        assert mine == [c for c in range(plan.n_chunks) if c % shard_n == shard_i]
        assert plan.count_items(mine) == sum(1 for of in chunk_of if of in mine)
        owned |= set(mine)
    assert owned == set(range(max(chunk_of) + 1))  # every chunk has one owner


def test_the_plan_counts_exact_values():
    plan = ChunkPlan(n_items=10, chunk=4, shard_i=1, shard_n=2)
    assert (plan.n_chunks, plan.mine(), plan.items_of(2)) == (3, [1], (8, 10))
    assert (plan.count_items([0, 2]), plan.count_items([])) == (6, 0)


class _RecordingConsolidator:
    """Takes chunk ``next`` only, as Consolidator does; records what it was given."""

    def __init__(self):
        self.next = 0
        self.added = []

    def add(self, c, path, arrays=None):
        assert c == self.next, f"chunk {c} added out of order (expected {self.next})"
        self.added.append((c, path, arrays))
        self.next += 1


def test_the_feeder_appends_in_chunk_order_whatever_order_chunks_finish_in():
    recorder = _RecordingConsolidator()
    earlier = {1: Path("chunks/1"), 4: Path("chunks/4")}  # finished by an earlier run
    feeder = InOrderFeeder(recorder, earlier)
    feeder.drain()
    assert recorder.added == []  # chunk 0 is missing: nothing can go yet
    feeder.add(2, Path("new/2"), {"a": 2})
    assert recorder.added == []
    feeder.add(0, Path("new/0"), {"a": 0})
    assert [(c, str(p), a) for c, p, a in recorder.added] == [
        (0, "new/0", {"a": 0}), (1, "chunks/1", None), (2, "new/2", {"a": 2})]
    feeder.add(3, Path("new/3"))  # no arrays: the consolidator reads the files
    assert [(c, a) for c, _, a in recorder.added[3:]] == [(3, None), (4, None)]
    assert recorder.next == 5
    assert earlier == {1: Path("chunks/1"), 4: Path("chunks/4")}  # the caller's dict is left alone


def test_skipped_items_count_reasons_and_list_the_first_ones():
    manifests = [{"skipped": [[3, "missing file", ""], [5, "bad annotation", "no box"]]},  # chunks without ids
                 {"skipped": []},
                 {"skipped": [[9, "missing file", "/d/x.jpg", "unrel-7-0"], [11, "mask too small", "", None]]}]
    skipped = SkippedItems.of(manifests)
    assert skipped.count == 4
    assert dict(skipped.reasons) == {"missing file": 2, "bad annotation": 1, "mask too small": 1}
    assert skipped.listed == [{"index": 3, "reason": "missing file"},
                              {"index": 5, "reason": "bad annotation", "message": "no box"},
                              {"index": 9, "id": "unrel-7-0", "reason": "missing file", "message": "/d/x.jpg"},
                              {"index": 11, "reason": "mask too small"}]
    from csip.cache.assemble import skip_line

    assert [skip_line(e) for e in skipped.listed] == [
        "item 3: missing file", "item 5: bad annotation: no box", "unrel-7-0: missing file: /d/x.jpg",
        "item 11: mask too small"]
    assert skip_line([4, "missing file", "a.jpg"]) == "item 4: missing file: a.jpg"  # a manifest of csip < the ids


def test_skipped_items_list_is_capped_but_counts_are_not():
    manifests = [{"skipped": [[i, "unreadable image", ""] for i in range(SKIP_LIST_CAP + 7)]}]
    skipped = SkippedItems.of(manifests)
    assert skipped.count == SKIP_LIST_CAP + 7 and skipped.reasons["unreadable image"] == SKIP_LIST_CAP + 7
    assert len(skipped.listed) == SKIP_LIST_CAP and skipped.listed[-1] == {"index": SKIP_LIST_CAP - 1,
                                                                          "reason": "unreadable image"}

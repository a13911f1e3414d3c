"""How a build's items are cut into chunks, and which chunks one shard computes.

A run of ``n_items`` source items with ``chunk`` items per chunk has ``ceil(n_items / chunk)``
chunks; chunk ``c`` covers items ``[c·chunk, min((c+1)·chunk, n_items))``
(:func:`csip.cache.chunks.chunk_range`). Shard ``i`` of ``n`` computes the chunks with
``c % n == i``. :func:`csip.cache.writer.build` asks this plan instead of repeating the
arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .chunks import chunk_range


@dataclass(frozen=True)
class ChunkPlan:
    """The chunks of one run (``n_items`` items, ``chunk`` per chunk) and shard
    ``shard_i`` of ``shard_n``'s part of them."""

    n_items: int
    chunk: int
    shard_i: int = 0
    shard_n: int = 1

    @property
    def n_chunks(self) -> int:
        """Chunks of the whole run (every shard)."""
        return math.ceil(self.n_items / self.chunk)

    @property
    def sharded(self) -> bool:
        """Whether this process computes only a part of the run (``shard_n > 1``)."""
        return self.shard_n > 1

    def items_of(self, c: int) -> tuple[int, int]:
        """``(start, stop)``: the source items of chunk ``c``."""
        return chunk_range(c, self.chunk, self.n_items)

    def mine(self) -> list[int]:
        """The chunks this shard computes, in order."""
        return [c for c in range(self.n_chunks) if c % self.shard_n == self.shard_i]

    def count_items(self, chunks: Iterable[int]) -> int:
        """Source items covered by ``chunks`` (for the progress bar's total and start)."""
        return sum(stop - start for start, stop in map(self.items_of, chunks))

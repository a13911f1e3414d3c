"""One intra-op thread for the small heads of the evaluation (SRR probes, VQA fusion)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block on one torch intra-op thread, then restore the previous count.

    The probes and VQA heads multiply matrices of a few hundred columns: a second thread gains
    little when the cores are free and costs several times over when they are shared (measured:
    a VQA head in 15 s on one thread, 57 s on two, on two busy cores). One thread also fixes the
    order of every float sum, so their numbers do not depend on the machine's core count.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


__all__ = ["single_threaded"]

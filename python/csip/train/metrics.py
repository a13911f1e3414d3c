"""A run's ``metrics.jsonl``: written during training (:class:`MetricsWriter`), read back
(:func:`read_metrics`).

One JSON object per line: ``"kind": "train"`` records (step, epoch, loss, lr, images_per_s,
time, logit_scale) at each log step, ``"kind": "val"`` records at each epoch end.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..base.files import atomic_write


class MetricsWriter:
    """Appends records to ``out/metrics.jsonl`` (flushed per line) and, with ``tensorboard``, to
    ``out/tensorboard``. Only the main process writes (``enabled``); elsewhere ``log`` is a no-op.

    ``resumed_at``: the step of the checkpoint a resumed run starts from. Records of later steps
    were written by the run that was stopped (killed between logging a step and saving its
    checkpoint) and are logged again by the resumed run: they are dropped first, so that the
    file holds each step once."""

    def __init__(self, out: Path, tensorboard: bool, enabled: bool, resumed_at: int | None = None):
        self.enabled = enabled
        if enabled and resumed_at is not None:
            _drop_records_after(out / "metrics.jsonl", resumed_at)
        self.f = open(out / "metrics.jsonl", "a") if enabled else None
        self.tb = None
        if enabled and tensorboard:
            # lazy: tensorboard is an optional dependency, and slow to import
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))

    def log(self, rec: dict) -> None:
        """Write one record (a JSON line; its numbers as TensorBoard scalars at ``rec["step"]``)."""
        if not self.enabled:
            return
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        if self.tb is not None:
            for k, v in rec.items():
                if k not in ("step", "epoch", "time") and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, rec["step"])

    def close(self) -> None:  # noqa: D102
        if self.f:
            self.f.close()
        if self.tb is not None:
            self.tb.close()


def _drop_records_after(path: Path, step: int) -> None:
    """Rewrite ``path`` (atomically) without its records of steps after ``step``; a torn last
    line (the process killed while writing it) goes too."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if (s := _step(line)) is not None and s <= step]
    if len(kept) < len(lines):
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(f"{line}\n" for line in kept)))


def _step(line: str) -> int | None:
    """The ``step`` of one metrics.jsonl line; ``None`` for a line that is not a record."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def read_metrics(run_dir: str | Path, kind: str = "train") -> list[dict]:
    """The records of ``run_dir/metrics.jsonl`` of one ``kind`` ("train" or "val"); for a step
    logged twice (a run resumed from an earlier checkpoint), the later record wins. Sorted by step."""
    recs: dict[int, dict] = {}
    p = Path(run_dir) / "metrics.jsonl"
    if p.is_file():
        for line in p.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("kind", "train") == kind:
                    recs[r["step"]] = r
    return [recs[k] for k in sorted(recs)]


__all__ = ["MetricsWriter", "read_metrics"]

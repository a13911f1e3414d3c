"""Spatial relation recognition (SRR): a probe on frozen features, Acc@1..5 (the paper's Fig. 4).

The encoder is frozen; its features ``(N, D)`` of the labelled items are the probe's input.
A **linear** probe (the paper's "linear probing"; ``kind="mlp"``: one hidden layer) is trained
with cross-entropy over the nine relation classes (:data:`csip.data.PREDICATES`) on the train
split, and scored on the test split by Acc@n: the fraction of items whose true class is among
the ``n`` highest logits.

Features are standardised with the train split's mean and standard deviation (so one learning
rate suits every encoder, whatever its feature scale). With labelled validation items, the
epoch with the best validation accuracy (ties: the earliest) is kept — the usual probe
protocol, and it keeps an over-trained MLP probe honest. Everything is seeded: the same
features and seed give the same probe, bit for bit, on CPU (the default device).

The task (:class:`Srr`, registered as ``"srr"``) trains one probe per encoder row on the
cache's labelled train items (val: epoch selection) and scores the test items, plus a *class
prior* reference row; its typed rows and table (:class:`SrrResult`, :class:`SrrTable`), its
Markdown and its figure (Acc@n per encoder, Fig. 4) are here.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 3, 60); x = np.eye(3)[y] + 0.1 * rng.standard_normal((60, 3))
>>> res = evaluate_probe(x[:40], y[:40], x[40:], y[40:], n_classes=3, config=ProbeConfig(epochs=50))
>>> res["acc"][1] > 0.9
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..base.files import json_ready
from ..data import PREDICATES
from ..viz.figures import acc_at_n_plot
from .report import metric_table, not_meaningful_line, sorted_rows
from .task import Task, TaskContext, TaskTable, by_cutoff, present, row_features, row_ids
from .threads import single_threaded

N_CLASSES = 9
DEFAULT_NS: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass
class ProbeConfig:
    """Probe hyper-parameters (recorded in results.json).

    ``kind``: ``"linear"`` or ``"mlp"`` (Linear → ReLU → Dropout → Linear, ``hidden`` wide);
    AdamW with ``lr`` and ``weight_decay``, mini-batches of ``batch_size`` in a seeded order,
    ``epochs`` passes; ``seed`` fixes the initialisation and the order.
    """

    kind: str = "linear"
    epochs: int = 100
    lr: float = 1e-2
    weight_decay: float = 1e-4
    batch_size: int = 256
    hidden: int = 256
    dropout: float = 0.1
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class Standardize(nn.Module):
    """``(x − mean) / std`` with statistics fixed at construction (std floored at 1e-6)."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", x.mean(0, keepdim=True))
        self.register_buffer("std", x.std(0, unbiased=False, keepdim=True).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (x - self.mean) / self.std


def make_probe(in_dim: int, n_classes: int, kind: str = "linear", hidden: int = 256, dropout: float = 0.1) -> nn.Module:
    """The probe head (without standardisation): ``(B, in_dim)`` → logits ``(B, n_classes)``."""
    if kind == "linear":
        return nn.Linear(in_dim, n_classes)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))
    raise ValueError(f"probe kind must be 'linear' or 'mlp', got {kind!r}")


def accuracy_at_n(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
                  ns: Sequence[int] = DEFAULT_NS) -> dict[int, float]:
    """Acc@n for each ``n``: the fraction of rows whose label is among the ``n`` top logits.

    ``logits`` ``(N, C)``, ``labels`` ``(N,)`` in ``0..C-1``. Ties at the n-th place count in
    the label's favour only if ``topk`` picks it (index order); with float logits ties are rare.
    """
    lg = torch.as_tensor(np.asarray(logits) if not isinstance(logits, torch.Tensor) else logits).float()
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).long()
    if lg.shape[0] == 0:
        return {int(n): float("nan") for n in ns}
    c = lg.shape[1]
    top = torch.topk(lg, min(max(ns), c), dim=1).indices  # (N, nmax)
    hit = top == y[:, None]
    return {int(n): float(hit[:, : min(n, c)].any(1).float().mean()) for n in ns}


def _as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))


def train_probe(x_train, y_train, n_classes: int = N_CLASSES, config: ProbeConfig | None = None,
                x_val=None, y_val=None) -> tuple[nn.Module, dict]:
    """Train a probe on ``x_train`` ``(N, D)`` / ``y_train`` ``(N,)``; returns ``(model, info)``.

    ``model`` maps features ``(B, D)`` (raw, it standardises them itself) to logits
    ``(B, n_classes)``, in eval mode. ``info``: ``best_epoch`` (1-based; the last one without
    validation data), ``val_acc`` (or None), ``train_loss`` (last epoch's mean).
    """
    cfg = config or ProbeConfig()
    x = _as_tensor(x_train)
    y = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    if x.shape[0] == 0:
        raise ValueError("no training items for the probe")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    has_val = x_val is not None and y_val is not None and len(y_val) > 0
    xv = _as_tensor(x_val) if has_val else None
    yv = torch.as_tensor(np.asarray(y_val, dtype=np.int64)) if has_val else None
    with torch.random.fork_rng(devices=[]), single_threaded():
        torch.manual_seed(int(cfg.seed))
        model = nn.Sequential(Standardize(x), make_probe(x.shape[1], n_classes, cfg.kind, cfg.hidden, cfg.dropout))
        gen = torch.Generator().manual_seed(int(cfg.seed))
        opt = torch.optim.AdamW(model[1].parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        best = (-1.0, 0, None)
        last_loss = float("nan")
        n = x.shape[0]
        for epoch in range(1, int(cfg.epochs) + 1):
            model.train()
            perm = torch.randperm(n, generator=gen)
            tot = 0.0
            for s in range(0, n, int(cfg.batch_size)):
                idx = perm[s : s + int(cfg.batch_size)]
                loss = loss_fn(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += loss.item() * idx.numel()
            last_loss = tot / n
            if has_val:
                model.eval()
                with torch.no_grad():
                    acc = float((model(xv).argmax(1) == yv).float().mean())
                if acc > best[0]:
                    best = (acc, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        if has_val and best[2] is not None:
            model.load_state_dict(best[2])
    model.eval()
    info = {"best_epoch": best[1] if has_val else int(cfg.epochs), "val_acc": best[0] if has_val else None,
            "train_loss": last_loss}
    return model, info


def evaluate_probe(x_train, y_train, x_test, y_test, n_classes: int = N_CLASSES, config: ProbeConfig | None = None,
                   x_val=None, y_val=None, ns: Sequence[int] = DEFAULT_NS) -> dict:
    """Train a probe (:func:`train_probe`) and score it: ``{"acc": {n: Acc@n}, "n_train",
    "n_val", "n_test", "best_epoch", "val_acc", "train_loss"}`` (accuracies in [0, 1])."""
    model, info = train_probe(x_train, y_train, n_classes, config, x_val, y_val)
    with torch.no_grad():
        logits = model(_as_tensor(x_test))
    return {
        "acc": accuracy_at_n(logits, np.asarray(y_test, dtype=np.int64), ns),
        "n_train": int(len(y_train)),
        "n_val": int(len(y_val)) if y_val is not None else 0,
        "n_test": int(len(y_test)),
        **info,
    }


def class_prior_accuracy(y_train, y_test, n_classes: int = N_CLASSES,
                         ns: Sequence[int] = DEFAULT_NS) -> dict[int, float]:
    """Acc@n of always ranking the classes by their train frequency (a chance-level reference)."""
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=n_classes).astype(np.float64)
    # tiny decreasing offset: ties broken by class index, deterministically
    logits = np.tile(counts - 1e-6 * np.arange(n_classes), (len(y_test), 1))
    return accuracy_at_n(logits, y_test, ns)


# --------------------------------------------------------------------------- the task


#: The reference row of the SRR table: classes ranked by their train frequency.
CLASS_PRIOR = "class prior"


@dataclass(frozen=True)
class ProbeFit:
    """How an SRR probe was chosen: its 1-based best val epoch and val accuracy (None without val)."""

    best_epoch: int
    val_acc: float | None


@dataclass(frozen=True)
class SrrResult:
    """One encoder's SRR row: Acc@n per n (None when the row was not run); ``probe`` for the
    rows that trained a probe (not the class prior, not skipped rows)."""

    name: str
    group: str
    model: str
    status: str
    note: str
    acc: dict[int, float] | None
    probe: ProbeFit | None = None
    features: str | None = None

    def to_json(self) -> dict:
        fit = {} if self.probe is None else {"best_epoch": self.probe.best_epoch, "val_acc": self.probe.val_acc}
        return json_ready({"name": self.name, "group": self.group, "model": self.model, "status": self.status,
                           "note": self.note, "acc": self.acc, **fit, **present([("features", self.features)])})

    @classmethod
    def from_json(cls, d: Mapping) -> SrrResult:
        probe = ProbeFit(d["best_epoch"], d.get("val_acc")) if "best_epoch" in d else None
        return cls(d["name"], d["group"], d["model"], d["status"], d["note"], by_cutoff(d.get("acc")), probe,
                   d.get("features"))


@dataclass(frozen=True)
class SrrTable(TaskTable):
    """SRR: Acc@n of a probe per encoder, with the probe's settings and the split sizes."""

    probe: dict
    ns: tuple[int, ...]
    n_classes: int
    classes: tuple[str, ...]
    n_train: int
    n_val: int
    n_test: int
    test_class_counts: tuple[int, ...]
    rows: tuple[SrrResult, ...]
    markdown: str
    not_meaningful: str | None = None  # why the table measures nothing (see one_class_test); no bold then
    ROW = SrrResult
    OPTIONAL = ("not_meaningful",)


def srr_indices(cache) -> dict[str, np.ndarray]:
    """Labelled cache positions per split: ``{"train", "val", "test"}``, each ``(n,)``."""
    labels = np.asarray(cache.labels)
    return {s: cache.indices(s)[labels[cache.indices(s)] >= 0] for s in ("train", "val", "test")}


def one_class_test(counts: Sequence[int], classes: Sequence[str]) -> str | None:
    """Why SRR measures nothing when every labelled test item is of one class (the class prior
    then scores 100% at every n, and a probe is judged on one class only); None otherwise."""
    present_ = [i for i, c in enumerate(counts) if c > 0]
    if len(present_) != 1:
        return None
    n, name = int(counts[present_[0]]), classes[present_[0]]
    return (f"the test split's {n} labelled item{'s are' if n != 1 else ' is'} all {name!r}: "
            "the class prior scores 100% at every n")


def srr_task(cache, tables: dict, specs: Sequence, probe: ProbeConfig | None = None,
             ns: Sequence[int] = DEFAULT_NS) -> SrrTable:
    """Acc@n of a probe per encoder (``tables``: features by row; ``specs``: the rows, skipped
    ones included), plus a *class prior* reference row (classes ranked by train frequency)."""
    probe = probe or ProbeConfig()
    n_classes = len(PREDICATES)
    idx = srr_indices(cache)
    labels = np.asarray(cache.labels)
    y = {s: labels[i] for s, i in idx.items()}
    if len(idx["train"]) == 0 or len(idx["test"]) == 0:
        raise ValueError(f"SRR needs labelled train and test items (train {len(idx['train'])}, "
                         f"test {len(idx['test'])})")
    rows: list[SrrResult] = [SrrResult(CLASS_PRIOR, "reference", "", "ok", "classes ranked by train frequency",
                                       class_prior_accuracy(y["train"], y["test"], n_classes, ns))]
    has_val = len(idx["val"]) > 0
    for spec in specs:
        if spec.status != "ok" or spec.name not in tables:
            rows.append(SrrResult(*row_ids(spec), None, None, row_features(spec)))
            continue
        t = tables[spec.name]
        res = evaluate_probe(t.rows(idx["train"]), y["train"], t.rows(idx["test"]), y["test"], n_classes, probe,
                             t.rows(idx["val"]) if has_val else None, y["val"] if has_val else None, ns)
        rows.append(SrrResult(*row_ids(spec), res["acc"], ProbeFit(res["best_epoch"], res["val_acc"]),
                              row_features(spec)))
    counts = tuple(np.bincount(y["test"], minlength=n_classes).tolist())
    table = SrrTable(probe=probe.to_json(), ns=tuple(ns), n_classes=n_classes, classes=tuple(PREDICATES),
                     n_train=int(len(idx["train"])), n_val=int(len(idx["val"])), n_test=int(len(idx["test"])),
                     test_class_counts=counts, rows=tuple(sorted_rows(rows)),  # rows were appended in encoder order
                     markdown="", not_meaningful=one_class_test(counts, PREDICATES))
    return dataclasses.replace(table, markdown=srr_markdown(table))


def srr_table(rows: Sequence[SrrResult], ns: Sequence[int], bold: bool = True) -> str:
    """Markdown table of Acc@n (percent; the numbers behind Fig. 4); no bold unless ``bold``."""
    return metric_table(rows, "acc", ns, "Acc@", 1, () if bold else ns)


def srr_markdown(table: SrrTable) -> str:
    """The SRR section of the report: the probe, the labelled items, and the table."""
    return (f"## SRR — {table.probe.get('kind', 'linear')} probe on frozen features, Acc@n (%) "
            f"over {table.n_classes} classes; train {table.n_train}, val {table.n_val}, test {table.n_test} "
            "labelled items\n\n" + not_meaningful_line(table.not_meaningful)
            + srr_table(table.rows, table.ns, bold=not table.not_meaningful))


_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
            "tab:gray", "tab:olive", "tab:cyan"]


def acc_plot(srr: SrrTable, path: str | Path) -> Path:
    """Fig. 4: Acc@n per encoder; solid C-SIP, dashed supervised, dotted baselines; one colour
    per Table 1 model where the model is shared."""
    styles = {"C-SIP": "solid", "supervised": "dashed"}
    colours: dict[str, str] = {}
    curves = []
    for r in srr.rows:
        if r.status != "ok" or not r.acc:
            continue
        key = r.model or r.name
        if key not in colours:
            colours[key] = _COLOURS[len(colours) % len(_COLOURS)]
        label = r.name if r.group in ("reference", "pre-trained") else f"{r.name} ({r.group})"
        curves.append({"name": label, "ns": list(srr.ns), "values": [r.acc[n] for n in srr.ns],
                       "style": styles.get(r.group, "dotted"),
                       "color": "black" if r.group == "reference" else colours[key]})
    return acc_at_n_plot(curves, path, title="SRR: Acc@n (solid C-SIP, dashed supervised, dotted baselines)")


class Srr(Task):
    """Spatial relation recognition (Fig. 4): Acc@n of a probe on every encoder's frozen
    features, options ``--probe``, ``--probe-epochs``, ``--probe-lr``; figure: Acc@n per encoder."""

    name = "srr"
    title = "SRR"
    table_type = SrrTable
    figure_files = ("fig_srr_acc.png",)
    reference_rows = (CLASS_PRIOR,)

    def missing(self, cache, cfg) -> str | None:
        if not cache.has_labels:
            return f"SRR needs relation labels, and the cache {cache.path} has none"
        idx = srr_indices(cache)
        if len(idx["train"]) == 0 or len(idx["test"]) == 0:
            return (f"SRR needs labelled train and test items; the cache {cache.path} has {len(idx['train'])} "
                    f"labelled train and {len(idx['test'])} labelled test items")
        return None

    def items(self, ctx: TaskContext) -> np.ndarray:
        return np.concatenate(list(srr_indices(ctx.cache).values()))

    def run(self, ctx: TaskContext) -> SrrTable:
        cfg = ctx.cfg
        lr = cfg.probe_lr or (1e-2 if cfg.probe == "linear" else 1e-3)
        return srr_task(ctx.cache, ctx.tables, ctx.specs,
                        ProbeConfig(kind=cfg.probe, epochs=cfg.probe_epochs, lr=lr, seed=cfg.seed))

    def markdown(self, table: SrrTable) -> str:
        return srr_markdown(table)

    def figures(self, ctx: TaskContext, table: SrrTable) -> dict[str, str]:
        return {"srr_acc": str(acc_plot(table, ctx.out / "fig_srr_acc.png"))}


__all__ = ["CLASS_PRIOR", "DEFAULT_NS", "N_CLASSES", "ProbeConfig", "ProbeFit", "Srr", "SrrResult", "SrrTable",
           "Standardize", "acc_plot", "accuracy_at_n", "class_prior_accuracy", "evaluate_probe", "make_probe",
           "srr_indices", "srr_markdown", "srr_table", "srr_task", "train_probe"]

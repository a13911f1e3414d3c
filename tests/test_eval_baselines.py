"""Baseline encoders (random init, torchvision ImageNet models, CLIP) and the report tables."""

from __future__ import annotations

import pytest
import torch

from csip.base.errors import BadFile
from csip.eval import baselines as B
from csip.eval.cbir import cbir_table
from csip.eval.results import CbirResult, VqaResult
from csip.eval.vqa import vqa_table
from eval_helpers import resnet18_weights, tiny_clip_dir

pytestmark = pytest.mark.usefixtures("single_thread")


def _batch(n=2, s=32):
    g = torch.Generator().manual_seed(0)
    return {"image": torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8, generator=g), "boxes": torch.rand(n, 2, 4)}


def test_torchvision_resnet_loads_local_weights_strictly(base):
    w = resnet18_weights(base)
    enc = B.TorchvisionEncoder("resnet18", w, size=32).eval()
    with torch.no_grad():
        f = enc.features(_batch())
    assert f.shape == (2, 512) and enc.uses == ("image",) and enc.out_dim == 512
    ref = B.TorchvisionEncoder("resnet18", w, size=32).eval()  # same file, same features
    with torch.no_grad():
        assert torch.equal(ref.features(_batch()), f)
    with pytest.raises(ValueError, match="resnet18-random.pth"):
        B.TorchvisionEncoder("resnet50", w)  # another architecture's weights
    with pytest.raises(ValueError):
        B.TorchvisionEncoder("vit_b_16", None, size=64)  # ViT-B/16 is 224 px only


def test_clip_image_encoder_from_a_local_directory(base):
    enc = B.CLIPImageEncoder(tiny_clip_dir(base)).eval()
    with torch.no_grad():
        f = enc.features(_batch(3, 48))  # resized to the config's 32 px
    assert f.shape == (3, 32) and enc.out_dim == 32


def test_random_init_is_seeded_and_specs_describe_themselves():
    a, b, c = (B.random_init_encoder("2d", seed=s, feature_dim=8) for s in (1, 1, 2))
    x = _batch()
    with torch.no_grad():
        assert torch.equal(a.features(x), b.features(x)) and not torch.equal(a.features(x), c.features(x))
    spec = B.pretrained_spec("resnet50", None)
    assert spec.status == "skipped" and "--imagenet-resnet50" in spec.note
    with pytest.raises(RuntimeError):
        spec.load()
    assert B.random_init_spec("resnet18+2d", 0, 8).describe()["name"] == "random-init ResNet18+2D"


def test_find_runs_only_takes_csip_runs(tmp_path):
    (tmp_path / "a" / "checkpoints").mkdir(parents=True)
    (tmp_path / "a" / "checkpoints" / "final.pt").write_bytes(b"x")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"x")
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "empty").mkdir()
    assert list(B.find_runs(tmp_path)) == ["a"]


def test_an_unfinished_run_is_a_row_whose_note_says_so(tmp_path):
    from csip.train.config import TrainConfig
    from csip.train.run import train
    from toydata import ToyPairs

    run = tmp_path / "runs" / "r"
    train(TrainConfig(out=str(run), model="2d", epochs=1, batch_size=8, workers=0, progress=False, feature_dim=16,
                      embed_dim=8, spatial_channels=4), dataset=ToyPairs(24))
    assert B.checkpoint_spec("r", run).note == ""  # finished: final.pt
    (run / "checkpoints" / "final.pt").unlink()  # as a run stopped by a signal leaves it
    assert list(B.find_runs(tmp_path / "runs")) == ["r"]
    spec = B.checkpoint_spec("r", run)
    assert spec.note == "unfinished run (no final.pt): last.pt, step 3" and spec.status == "ok"


def test_tables_bold_the_best_and_dash_skipped_rows():
    rows = [
        CbirResult("random ranking", "reference", "", "ok", "", {10: 0.9}),
        CbirResult("x", "C-SIP", "2d", "ok", "", {10: 0.7}),
        CbirResult("y", "supervised", "resnet18", "ok", "", {10: 0.6}),
        CbirResult("z", "pre-trained", "clip", "skipped", "no --clip", None),
    ]
    md = cbir_table(rows, [10])
    lines = md.splitlines()
    assert lines[0].startswith("| Training | Encoder | Model | NDCG@10")
    assert "| reference | random ranking |  | 90.0 |" in md  # references are not bolded
    assert "| C-SIP | x | 2D | **70.0** |" in md and "| supervised | y | ResNet18+MLP | 60.0 |" in md
    assert "| pre-trained | z |  | — | no --clip |" in md
    # group order: reference, random init, pre-trained, supervised, C-SIP
    assert [line.split("|")[2].strip() for line in lines[2:]] == ["random ranking", "z", "y", "x"]
    vq = vqa_table([VqaResult("text only", ("text",), "ok", "", 0.5),
                    VqaResult("a + text", ("text", "a"), "ok", "", 0.625)])
    assert "| a + text | **62.50** |" in vq


def _tiny_full_clip(path):
    """A whole CLIP (text and vision towers, projections) saved with save_pretrained."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    cfg = CLIPConfig(text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                      vocab_size=100, max_position_embeddings=16),
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=8), projection_dim=16)
    model = CLIPModel(cfg)
    model.save_pretrained(str(path))
    return model


def test_a_full_clip_directory_loads_its_vision_tower_without_the_unexpected_key_report(tmp_path, capfd):
    full = _tiny_full_clip(tmp_path / "clip")
    capfd.readouterr()
    enc = B.CLIPImageEncoder(tmp_path / "clip").eval()
    err = capfd.readouterr()
    assert "UNEXPECTED" not in err.err + err.out and "text_model" not in err.err + err.out
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ours = enc.model(pixel_values=x).pooler_output
        theirs = full.vision_model(pixel_values=x).pooler_output  # the row: pooled, not projected
    assert torch.allclose(ours, theirs, atol=1e-5) and enc.out_dim == 32
    assert B.pretrained_spec("clip", tmp_path / "clip").note == B.CLIP_ROW_NOTE


def test_a_directory_that_is_not_clip_is_one_line_naming_it(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8)
    CLIPVisionModel(cfg).save_pretrained(str(tmp_path / "v"))
    from safetensors.torch import load_file, save_file

    f = tmp_path / "v" / "model.safetensors"
    state = load_file(str(f))
    gone = next(k for k in state if k.endswith("post_layernorm.weight"))
    state.pop(gone)
    state["other.weight"] = torch.zeros(2)
    save_file(state, str(f), metadata={"format": "pt"})
    with pytest.raises(BadFile, match=r"--clip .*: not a CLIP image encoder \(missing \S*post_layernorm.weight, "
                                      r"unexpected other.weight\)"):
        B.CLIPImageEncoder(tmp_path / "v")

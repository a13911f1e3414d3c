"""``csip run --config FILE.toml``: a study described in a TOML file, and the commented templates
``csip run --print-config paper|synthetic`` writes.

``preset = "paper"`` is the paper's protocol on the real datasets (:class:`~csip.study.paper.
PaperConfig`: top-level keys, then the tables ``[spatialsense]``, ``[coco]``, ``[unrel]``,
``[gqa]``, ``[weights]``, ``[train]``, ``[eval]``); ``preset = "synthetic"`` is the built-in study
(:class:`~csip.study.config.StudyConfig`'s fields as top-level keys). Dataset and weight paths
are relative to the file's folder; ``out`` to the current directory. An unknown key, a key in
the wrong table or a value of the wrong type is refused with one line naming it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..base.errors import BadFile, BadOption
from .config import StudyConfig
from .paper import CocoData, EvalSettings, GqaData, PaperConfig, SpatialSenseData, TrainSettings, UnrelData, Weights

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The tables of a paper config and their dataclasses.
SECTIONS = {"spatialsense": SpatialSenseData, "coco": CocoData, "unrel": UnrelData, "gqa": GqaData,
            "weights": Weights, "train": TrainSettings, "eval": EvalSettings}
#: Keys holding a path of the dataset or weights (relative to the file's folder).
PATH_KEYS = {"annotations", "images", "instances", "path", "train_questions", "eval_questions",
             "train_scene_graphs", "eval_scene_graphs", *(f.name for f in dataclasses.fields(Weights))}
#: StudyConfig fields a synthetic config may not set (they are the tests').
_NOT_IN_FILES = {"extra_train"}


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML document of ``path``; :class:`BadFile` naming the file and the error."""
    p = Path(path)
    if not p.is_file():
        raise BadFile(f"--config {p}: no such file" if not p.exists() else f"--config {p}: not a regular file")
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadFile(f"--config {p}: not a readable TOML file ({exc})") from None


def _values(cls: type, table: dict[str, Any], where: str, base: Path, section: str = "") -> dict[str, Any]:
    """The fields of dataclass ``cls`` from TOML ``table`` (lists as tuples, paths resolved);
    :class:`BadOption` naming ``section.key`` (``where``: the file) for an unknown key, a table,
    a list or not where the field wants one, or a path that is not a string."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for key, value in table.items():
        name = f"{section}.{key}" if section else key
        if key not in fields or key in _NOT_IN_FILES:
            known = ", ".join(k for k in fields if k not in _NOT_IN_FILES and k not in SECTIONS)
            raise BadOption(f"{where}: {name}: unknown key (known in {f'[{section}]' if section else 'the top level'}: "
                            f"{known})")
        if isinstance(value, dict):
            raise BadOption(f"{where}: {name}: a table where a value was expected")
        wants_list = str(fields[key].type).startswith("tuple")
        if wants_list != isinstance(value, list):
            want = "a list" if wants_list else "one value, not a list"
            raise BadOption(f"{where}: {name} {value!r}: expected {want}")
        if isinstance(value, list):
            value = tuple(value)
        if key in PATH_KEYS:
            if not isinstance(value, str) or not value:
                raise BadOption(f"{where}: {name} {value!r}: expected a path (a string)")
            value = str((base / Path(value).expanduser()).resolve()) if not Path(value).is_absolute() else value
        out[key] = value
    return out


def load(path: str | Path) -> StudyConfig | PaperConfig:
    """The config of the TOML file ``path`` (see the module docstring), checked."""
    p = Path(path)
    doc = read_toml(p)
    base = p.resolve().parent
    preset = doc.get("preset", "paper")
    where = str(p)
    if preset == "synthetic":
        values = _values(StudyConfig, {k: v for k, v in doc.items() if k != "preset"}, where, base)
        try:
            return StudyConfig(**values)
        except (TypeError, ValueError) as exc:
            raise BadOption(f"{where}: {exc}") from None
    if preset != "paper":
        raise BadOption(f"{where}: preset {preset!r}: expected 'paper' or 'synthetic'")
    top = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    for name in tables:
        if name not in SECTIONS:
            raise BadOption(f"{where}: unknown table [{name}] (known: {', '.join(SECTIONS)})")
    if "spatialsense" not in tables:
        raise BadOption(f"{where}: the protocol needs a [spatialsense] table (its annotations.json and images)")
    parts = {}
    for name, cls in SECTIONS.items():
        if name in tables:
            values = _values(cls, tables[name], where, base, name)
            missing = [f.name for f in dataclasses.fields(cls)
                       if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                       and f.name not in values]
            if missing:
                raise BadOption(f"{where}: {', '.join(f'{name}.{m}' for m in missing)} missing")
            parts[name] = cls(**values)
    cfg = PaperConfig(**_values(PaperConfig, top, where, base), **parts)
    return cfg.validate()


PAPER_TEMPLATE = '''# csip run --config FILE: the paper's protocol (section 4) on the real datasets.
# csip never downloads: every path names a local file or folder (docs/reproduce.md lists what
# to fetch from each release). Dataset and weight paths are relative to this file's folder.
preset = "paper"
out = "csip-paper"            # caches/, runs/, eval/, summary.md, summary.json (relative to the current directory)
seeds = [0]                   # per encoder and seed: a supervised and a C-SIP training, then the evaluations
encoders = ["resnet18", "2d", "drnet", "resnet18+2d"]   # Table 1
# device = "cuda"             # default: cuda when available
progress = true

[spatialsense]                # princeton-vl/SpatialSense: annotations.json and images/{flickr,nyu}
annotations = "data/spatialsense/annotations.json"
images = "data/spatialsense/images"
splits = "release"            # the release's split, or "paper": 3606/681/1146 of the positive images (seeded)

[coco]                        # the COCO subset of the pretraining (remove the table to pretrain on SpatialSense alone)
instances = "data/coco/annotations/instances_train2017.json"
images = "data/coco/train2017"
max_objects = 3               # images with at most 3 instance masks; A and B the two largest

[unrel]                       # UnRel: annotations.mat and images/ (CBIR only; every item a query)
path = "data/unrel"

[gqa]                         # GQA verify-rel questions: train on the train file, report on the evaluation file
train_questions = "data/gqa/train_balanced_questions.json"
eval_questions = "data/gqa/val_balanced_questions.json"
images = "data/gqa/images"
# train_scene_graphs = "data/gqa/train_sceneGraphs.json"   # default: beside each questions file
# eval_scene_graphs = "data/gqa/val_sceneGraphs.json"

[weights]                     # a missing entry skips its rows (SAM: the boxes become the masks)
sam = "weights/sam_vit_b_01ec64.pth"                 # kind (vit_b/l/h) read from the checkpoint
imagenet_resnet18 = "weights/resnet18-f37072fd.pth"  # torchvision .pth or .safetensors
imagenet_resnet50 = "weights/resnet50-0676ba61.pth"
imagenet_vit_b16 = "weights/vit_b_16-c867db91.pth"
clip = "weights/clip-vit-base-patch16"               # a transformers CLIP directory: its image encoder is the row
text_encoder = "weights/bert-base-uncased"           # VQA's frozen text encoder (default: the bundled MiniLM)

[train]                       # the paper's settings
image_size = 224
width = 64                    # torchvision's ResNet18
batch_size = 256
epochs = 10
lrs = [1e-5, 1e-4, 1e-3]      # each training runs at each; the best val metric is kept
label_smoothing = 0.3
select = "val_ndcg10_embed"   # the val metric that picks each run's checkpoint and learning rate
forces = "default"            # 57 force levels r from -2.24 to 2.24
n_angles = 180

[eval]
features = "embed"            # C-SIP rows ranked in the shared image-banner space
vqa_epochs = 30
'''


def synthetic_template() -> str:
    """The built-in study as a config file: every :class:`StudyConfig` field at its default."""
    d = StudyConfig()
    lines = ["# csip run --config FILE: the built-in study on the synthetic scenes (what `make demo` runs).",
             "# Every key is a `csip run` option (its --help says what it does); these are the defaults.",
             'preset = "synthetic"']
    for f in dataclasses.fields(StudyConfig):
        if f.name in _NOT_IN_FILES:
            continue
        v = getattr(d, f.name)
        if v is None:
            lines.append(f"# {f.name} = ...")
            continue
        lines.append(f"{f.name} = {_toml(v)}")
    return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def template(name: str) -> str:
    """The commented template of preset ``name`` (``"paper"`` or ``"synthetic"``)."""
    if name == "paper":
        return PAPER_TEMPLATE
    if name == "synthetic":
        return synthetic_template()
    raise BadOption(f"--print-config {name!r}: expected paper or synthetic")


__all__ = ["PAPER_TEMPLATE", "load", "read_toml", "template"]

"""What the built-in study runs: one :class:`StudyConfig`, the single source of its defaults.

``csip run`` derives its options from these fields; :func:`csip.study.run_study` takes the
config. Two presets:

- the **default** (``make demo``, ≤ 15 minutes on two CPU cores, install included): the image
  encoder ResNet18 (from pixels) and the box encoder 2D, 3 seeds each;
- :data:`FULL_TABLE` (``csip run --encoders all``): the four Table 1 encoders.

Why these sizes (measured on two CPU cores; the README's "Sizes, and why" paragraph gives the figures):

- **5,000 scenes at 32 px.** ResNet18 trains at ~500 images/s (supervised) and ~330 images/s
  (C-SIP: the banner encoder and both heads add ~50 %) at 32 px on two cores, 4× slower at
  64 px. 32 px keeps both objects visible (they span 8-22 % of the scene side each before the
  crop to their union box, which enlarges them) and fits 3 seeds × 2 trainings × 2 encoders in
  the budget.
- **Epochs** (:data:`DEFAULT_EPOCHS`): long enough that every run's best val epoch lies before
  the end and twice the budget gains little (``--budget-check`` measures it on seed 0 and the
  summary shows it); the checkpoint is chosen on val (``select``), so a run that peaks early
  is judged at its peak, not at its last epoch.
- **Banner 29 × 90** (2° × 0.16 force-level steps instead of 1° × 0.08): the banner is smooth
  in θ and r; the CBIR relevance (banner cosine) barely changes (pairwise relevances correlate
  at 1.0000, max difference 0.009 on these scenes) and the banner encoder runs 5× faster.
- **VQA heads: 12 epochs** (``csip eval``'s default is 30): the head of the best val epoch is kept,
  and in the 3-seed study with 30 epochs every head's best epoch was ≤ 10; the first 12 epochs of
  a 30-epoch run are the same computation, so the numbers are the same at 40 % of the time.
- **Same data, batch, schedule and selection for supervised and C-SIP** of an encoder: only
  the loss differs (relation labels vs banners).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..base.errors import BadOption
from ..base.options import check_fields, option
from ..eval.config import RANDOM_INIT_MODELS

#: The four image encoders of the paper's Table 1, in its order (those of ``csip eval``'s
#: random-init rows, :data:`csip.eval.config.TABLE1_MODELS`).
TABLE1_ENCODERS = RANDOM_INIT_MODELS

#: ``make demo``'s encoders: the image encoder the paper's claim is about, and the box encoder.
DEMO_ENCODERS = ("resnet18", "2d")

#: The three rows of Table 2 per encoder.
TRAININGS = ("random-init", "supervised", "c-sip")

#: Training epochs per encoder (C-SIP and supervised alike).
DEFAULT_EPOCHS = 10


@dataclass
class StudyConfig:
    """Everything ``csip run`` does; the defaults are ``make demo``'s. Each field carries its
    ``csip run`` flag and bounds (:func:`csip.base.options.option`); :meth:`validate` checks
    them (called on construction) and raises :class:`~csip.base.errors.BadOption`."""

    out: str = option("csip-out", flag="--out")
    encoders: tuple[str, ...] = option(DEMO_ENCODERS, flag="--encoders")
    seeds: tuple[int, ...] = option((0, 1, 2), flag="--seeds")
    n: int = option(5000, flag="--n", integer=True, minimum=20)  # synthetic scenes: 80 % train, 10 % val, 10 % test
    image_size: int = option(32, flag="--image-size", integer=True, minimum=16)
    # ResNet18 stem channels (32-64-128-256); 64 is torchvision's ResNet18
    width: int = option(32, flag="--width")
    epochs: int = option(DEFAULT_EPOCHS, flag="--epochs")
    batch_size: int = option(256, flag="--batch-size")
    lr: float = option(5e-4, flag="--lr")
    label_smoothing: float = option(0.3, flag="--label-smoothing")
    n_angles: int = option(90, flag="--n-angles", integer=True, minimum=1)
    forces: str = option("-2.24:2.24:0.16", flag="--forces")
    data_seed: int = option(0, flag="--data-seed")
    eval_split: str = option("test", flag="--eval-split")  # "val" to choose settings; report on "test"
    # the paper's three, then the banner tower's two (cross-modal retrieval, relations from layouts)
    tasks: tuple[str, ...] = option(("cbir", "srr", "vqa", "crossmodal", "zeroshot"), flag="--task")
    features: str = option("embed", flag="--features")  # C-SIP rows: "embed" (g_v∘f_v) or "pre" (f_v)
    # VQA fusion heads (best val epoch kept); every head peaked by epoch 10 of 30
    vqa_epochs: int = option(12, flag="--vqa-epochs", integer=True, minimum=1)
    # seed 0 of every run again at 2× the epochs (adds ~4.5 min on 2 cores)
    budget_check: bool = option(False, flag="--budget-check")
    text_encoder: str | None = option(None, flag="--text-encoder")  # VQA; None: the bundled MiniLM
    threads: int | None = option(None, flag="--threads")
    device: str | None = option(None, flag="--device")  # None: cuda when available
    figures: bool = option(True, flag="--figures")
    progress: bool = option(False, flag="--progress")
    quiet: bool = option(False, flag="--quiet")
    extra_train: dict = field(default_factory=dict)  # more TrainConfig fields (tests)

    def __post_init__(self):
        self.encoders = tuple(self.encoders)
        self.seeds = tuple(int(s) for s in self.seeds)
        self.tasks = tuple(self.tasks)
        if "cbir" not in self.tasks:
            self.tasks = ("cbir", *self.tasks)  # Table 2 is about CBIR
        self.validate()

    def validate(self) -> StudyConfig:
        """:class:`~csip.base.errors.BadOption` for a setting no study can use (the field
        metadata's bounds, then the study's own rules); ``self`` otherwise."""
        bad = [e for e in self.encoders if e not in TABLE1_ENCODERS]
        if bad or not self.encoders:
            raise BadOption(
                f"encoders must be among {', '.join(TABLE1_ENCODERS)}; got {', '.join(self.encoders) or 'none'}"
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise BadOption(f"seeds must be distinct and at least one; got {self.seeds}")
        if self.features not in ("pre", "embed"):
            raise BadOption(f"features must be 'pre' or 'embed', got {self.features!r}")
        if self.eval_split not in ("val", "test"):
            raise BadOption(f"eval_split must be 'val' or 'test', got {self.eval_split!r}")
        if self.epochs < 1 or self.n < 20 or self.batch_size < 2:
            raise BadOption("need epochs >= 1, n >= 20 and batch_size >= 2")
        if min(self.seeds) < 0 or self.data_seed < 0:
            raise BadOption(f"seeds and data_seed must be >= 0; got {self.seeds} and {self.data_seed}")
        if self.width < 1 or (self.threads is not None and self.threads < 1):
            raise BadOption(f"need width >= 1 and threads >= 1 (or None); got {self.width} and {self.threads}")
        check_fields(self)
        return self

    @property
    def select(self) -> str:
        """The val metric that picks each run's checkpoint: CBIR NDCG@10 with the study's features."""
        return f"val_ndcg10_{self.features}"

    def settings(self) -> dict:
        """Plain-JSON settings for ``summary.json``."""
        d = dataclasses.asdict(self)
        d.pop("extra_train")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


#: ``csip run --encoders all``: the paper's full Table 2 on the built-in scenes.
FULL_TABLE = dict(encoders=TABLE1_ENCODERS)

__all__ = ["DEFAULT_EPOCHS", "DEMO_ENCODERS", "FULL_TABLE", "StudyConfig", "TABLE1_ENCODERS", "TRAININGS"]

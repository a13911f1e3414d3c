"""The study's stages, each a call into the library: build the cache, train one run, evaluate
one (encoder, seed), and CBIR with the other feature kind. Each stage skips work that is done
with the same settings and refuses a directory that holds work made with other settings."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

from ..base.checks import default_device
from ..base.errors import BadOption, CsipInputError
from ..base.files import read_regular_text
from ..base.fingerprint import cache_identity_at, describe_diff, fingerprint, settings_diff
from ..cache.format import CacheError
from ..cache.union import expand_cache_paths
from ..cache.writer import build, resolve_source
from ..descriptor import DescriptorParams
from ..eval import check_config, checkpoint_ndcg
from ..eval.api import evaluate
from ..eval.config import EvalConfig, eval_settings
from ..eval.results import EvalResults
from ..train.config import TrainConfig, run_settings, stored_run_settings
from ..train.data import DataError
from ..train.loss_monitor import TrainingDiverged
from ..train.resume import read_params
from ..train.run import check_options, train
from .config import StudyConfig
from .plan import CacheStep, Plan


class StudyError(CsipInputError, RuntimeError):
    """A stage cannot run on its input, or its directory holds work made with other settings
    (the message names the directory and why): bad input, exit code 2 on the command line. A
    training whose loss diverged raises :class:`~csip.train.TrainingDiverged` instead."""


def check_settings(cfg: StudyConfig) -> None:
    """:class:`~csip.base.errors.BadOption` for a setting that a later stage would refuse (the
    forces, the trainings' options and device, VQA's text encoder), before any work: a bad
    ``--lr`` must not surface after the precompute, nor a bad ``--text-encoder`` after every
    training."""
    try:
        DescriptorParams.make(cfg.forces, cfg.n_angles, "max")
    except ValueError as exc:
        raise BadOption(str(exc)) from None
    out = Path(cfg.out)
    for encoder in cfg.encoders:
        check_options(train_config(cfg, out, out / "cache", encoder, False, cfg.seeds[0], cfg.epochs))
    check_config(eval_config(cfg, out / "cache", out / "eval", cfg.encoders[0], cfg.seeds[0], {}))  # VQA's text encoder


def check_plan(plan: Plan) -> None:
    """:class:`~csip.base.errors.BadOption` for a step a later stage would refuse, before any
    work: every training's options, every evaluation's (with its task inputs, e.g. VQA's text
    encoder) and every dataset and weights path named."""
    for step in plan.caches:
        spec_path = step.source.partition(":")[2]
        for value in (spec_path, *(v for k, v in step.options.items() if k in ("images", "sam_checkpoint",
                                                                               "eval_questions", "scene_graphs",
                                                                               "eval_scene_graphs"))):
            if value and not Path(value).exists():
                raise BadOption(f"{step.name}: not found: {value}")
    for t in plan.trainings:
        for tc in t.configs:
            check_options(tc)
    for e in plan.evaluations:
        check_config(e.make({row: Path("unknown") for row in e.rows}))


def source_sizes(plan: Plan) -> dict[str, int | None]:
    """Each cache step's source item count (an upper bound of its cache's items), None when the
    source cannot be opened now (its files missing)."""
    out: dict[str, int | None] = {}
    for step in plan.caches:
        try:
            out[step.name] = len(resolve_source(step.source, **step.options))
        except (CsipInputError, ValueError, OSError, CacheError):
            out[step.name] = None
    return out


def checkpoint_sizes(plan: Plan) -> dict[str, int | None]:
    """Bytes of one checkpoint of each training (weights and AdamW's two moments, float32), from
    its model built at the first cache's banner shape."""
    from ..models.build import build_model, default_model_config
    from ..train.objectives import objective_class

    sizes: dict[str, int | None] = {}
    shape = plan.caches[0].desc.shape if plan.caches else (57, 180)
    for t in plan.trainings:
        tc = t.configs[0]
        try:
            config = default_model_config(
                tc.model,
                shape[0],
                shape[1],
                kind=objective_class(tc.objective_name).model_kind,
                embed_dim=tc.embed_dim,
                feature_dim=tc.feature_dim,
                width=tc.width,
                spatial_channels=tc.spatial_channels,
            )
            n = sum(p.numel() for p in build_model(config).parameters())
            sizes[t.name] = 3 * 4 * n
        except (ValueError, KeyError):
            sizes[t.name] = None
    return sizes


def build_cache(step: CacheStep, threads: int | None = None, progress: bool = False,
                workers: int | None = None) -> str:
    """Precompute (or resume, or find complete) the cache of ``step``; its build status
    (``"complete"`` or ``"already-complete"``). ``workers``: loader processes (default: one
    per core); ``threads``: the sFB engine's."""
    try:
        src = resolve_source(step.source, **step.options)
        res = build(src, step.out, spec=step.source, seed=step.seed, image_size=step.image_size, desc=step.desc,
                    shard=(0, 1), n_threads=threads, progress=progress, workers=workers)
    except (CacheError, ValueError, FileNotFoundError) as exc:
        raise StudyError(f"precompute {step.name} into {step.out}: {exc}") from None
    return res["status"]


def train_config(cfg: StudyConfig, run_dir: Path, cache_dir: Path, encoder: str, supervised: bool, seed: int,
                 epochs: int) -> TrainConfig:
    """The :class:`TrainConfig` of one run of the study."""
    return TrainConfig(out=str(run_dir), cache=str(cache_dir), split="train", model=encoder, supervised=supervised,
                       epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed,
                       label_smoothing=cfg.label_smoothing, progress=cfg.progress,
                       device=cfg.device or default_device(), select=cfg.select, width=cfg.width, **cfg.extra_train)


def data_identity(cache: str | Path | tuple | list) -> dict | None:
    """The identity a training records of its data (:func:`csip.train.data.cache_dataset`'s):
    one cache's :func:`~csip.base.fingerprint.cache_identity`, or ``{"union": [theirs, in
    order]}`` for several (``cache``: a directory, a glob, ``@LIST`` or a tuple of those); None
    when one of them has no readable manifest."""
    try:
        ids = [cache_identity_at(p) for p in expand_cache_paths(cache)]
    except (CacheError, OSError):
        return None
    if not ids or any(i is None for i in ids):
        return None
    return ids[0] if len(ids) == 1 else {"union": ids}


def train_run(tc: TrainConfig) -> str:
    """Train one run (or skip it when finished with the same settings, or resume it).
    Returns ``"trained"``, ``"resumed"`` or ``"skipped"``."""
    run_dir = Path(tc.out)
    ckpts = run_dir / "checkpoints"
    if (ckpts / "final.pt").is_file() or (ckpts / "last.pt").is_file():
        # the run's settings fingerprint: the run-defining options (those --resume keeps) and the cache
        asked = run_settings(tc, data_identity(tc.cache))
        stored = stored_run_settings(read_params(run_dir), tc.cache, asked["cache"])
        if fingerprint(stored) != fingerprint(asked):
            what = describe_diff(settings_diff(stored, asked))
            raise StudyError(f"{run_dir} holds a run made with other settings ({what}); "
                             "choose another --out or delete it")
        if (ckpts / "final.pt").is_file():
            return "skipped"
        tc.resume = True
    try:
        train(tc)
    except (CsipInputError, DataError, FileExistsError, FileNotFoundError) as exc:
        raise StudyError(f"{run_dir}: {exc}") from None
    except TrainingDiverged as exc:
        raise TrainingDiverged(f"{run_dir}: {exc}") from None
    return "resumed" if tc.resume else "trained"


def selected_checkpoint(run_dir: Path) -> Path:
    """The checkpoint the study judges: ``best.pt`` (chosen on val), else ``final.pt``."""
    best = run_dir / "checkpoints" / "best.pt"
    return best if best.is_file() else run_dir / "checkpoints" / "final.pt"


def eval_config(cfg: StudyConfig, cache_dir: Path, eval_dir: Path, encoder: str, seed: int,
                checkpoints: dict[str, Path]) -> EvalConfig:
    """The evaluation of one (encoder, seed): its random-init row (weights seeded with ``seed``)
    and the given trained checkpoints, on the study's tasks and features."""
    return EvalConfig(cache=cache_dir, out=eval_dir, tasks=cfg.tasks, checkpoints=checkpoints,
                      random_init_models=(encoder,), random_init_width=cfg.width, seed=seed, split=cfg.eval_split,
                      features=cfg.features, figures=cfg.figures, text_encoder=cfg.text_encoder,
                      vqa_epochs=cfg.vqa_epochs if "vqa" in cfg.tasks else EvalConfig.vqa_epochs,
                      device=cfg.device or (None if default_device() == "cuda" else "cpu"), quiet=True)


def eval_command(ec: EvalConfig) -> str:
    """The shell command that reproduces the evaluation ``ec`` (``csip eval`` + :meth:`EvalConfig.to_args`)."""
    return "csip eval " + " ".join(shlex.quote(a) for a in dataclasses.replace(ec, quiet=False).to_args())


def run_eval(ec: EvalConfig, checkpoints: dict[str, Path], shared: dict | None = None) -> tuple[EvalResults, bool]:
    """``(results, reused)``: the evaluation ``ec`` (the one :func:`eval_command` prints), or
    the results in ``ec.out/results.json`` when they were made with the same settings (their
    fingerprint, :func:`csip.eval.config.eval_settings`: arguments, checkpoints' sha256, cache).
    The results keep the arguments as ``"command_args"``; ``shared``: the resources the
    evaluations keep across calls (:func:`csip.eval.api.evaluate`)."""
    args = ec.to_args()
    res_path = ec.out / "results.json"
    old = _read_results(res_path)
    if old is not None and _same_evaluation(old, ec, checkpoints, res_path):
        return old, True
    try:
        return evaluate(ec, command_args=args, shared=shared), False
    except CsipInputError as exc:
        raise StudyError(f"eval into {ec.out}: {exc}") from None


def _read_results(path: Path) -> EvalResults | None:
    try:
        return EvalResults.from_json(json.loads(read_regular_text(path)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _same_evaluation(old: EvalResults, ec: EvalConfig, checkpoints: dict[str, Path], res_path: Path) -> bool:
    """Whether ``old`` is what ``ec`` would compute: equal fingerprints; for results written
    before they had one, equal ``command_args`` and results newer than every checkpoint."""
    if old.fingerprint is not None:
        ident = cache_identity_at(ec.cache) or {}
        return old.fingerprint == fingerprint(eval_settings(ec, ident.get("content_hash")))
    try:
        fresh = all(res_path.stat().st_mtime >= Path(p).stat().st_mtime for p in checkpoints.values())
    except OSError:
        return False
    return fresh and old.command_args == tuple(ec.to_args())


def cbir_ndcg(cache_dir: Path, checkpoint: Path, split: str, features: str, device: str,
              ks: tuple[int, ...] = (10, 25)) -> dict[int, float]:
    """CBIR NDCG@k (fractions) of one checkpoint with ``features`` ("pre" or "embed"), with
    ``csip eval``'s protocol (queries = gallery = ``split``, the query left out):
    :func:`csip.eval.cbir.checkpoint_ndcg`."""
    return checkpoint_ndcg(cache_dir, checkpoint, split, features, device, ks)


__all__ = ["StudyError", "build_cache", "cbir_ndcg", "eval_command", "eval_config", "run_eval",
           "selected_checkpoint", "train_config", "train_run"]

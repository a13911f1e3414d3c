"""The study's stages, each a call into the library: build the cache, train one run, evaluate
one (encoder, seed), and CBIR with the other feature kind. Each stage skips work that is done
with the same settings and refuses a directory that holds work made with other settings."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

from ..cache.format import CacheError
from ..eval.config import EvalConfig
from ..errors import CsipInputError
from ..fingerprint import cache_identity_at, describe_diff, fingerprint, settings_diff
from ..train import DataError, TrainConfig, TrainingDiverged, read_params, train
from ..train_config import run_settings, stored_run_settings
from .config import StudyConfig


class StudyError(RuntimeError):
    """A stage cannot run or cannot be reused (the message names the directory and why)."""


def build_cache(cfg: StudyConfig, cache_dir: Path, log) -> str:
    """Precompute (or resume, or find complete) the synthetic scenes into ``cache_dir``.
    Returns the build status (``"complete"`` or ``"already-complete"``)."""
    from ..cache.writer import build, resolve_source
    from ..descriptor import DescriptorParams

    try:
        src = resolve_source("synthetic", n=cfg.n, seed=cfg.data_seed)
        desc = DescriptorParams.make(cfg.forces, cfg.n_angles, "max")
        res = build(src, cache_dir, spec="synthetic", seed=cfg.data_seed, image_size=cfg.image_size, desc=desc,
                    shard=(0, 1), n_threads=cfg.threads, progress=cfg.progress, log=log)
    except (CacheError, ValueError) as exc:
        raise StudyError(f"precompute into {cache_dir}: {exc}") from None
    return res["status"]


def train_config(cfg: StudyConfig, run_dir: Path, cache_dir: Path, encoder: str, supervised: bool, seed: int,
                 epochs: int) -> TrainConfig:
    """The :class:`TrainConfig` of one run of the study."""
    return TrainConfig(out=str(run_dir), cache=str(cache_dir), split="train", model=encoder, supervised=supervised,
                       epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed,
                       label_smoothing=cfg.label_smoothing, progress=cfg.progress, device=cfg.device or _device(),
                       select=cfg.select, width=cfg.width, **cfg.extra_train)


def train_run(tc: TrainConfig) -> str:
    """Train one run (or skip it when finished with the same settings, or resume it).
    Returns ``"trained"``, ``"resumed"`` or ``"skipped"``."""
    run_dir = Path(tc.out)
    ckpts = run_dir / "checkpoints"
    if (ckpts / "final.pt").is_file() or (ckpts / "last.pt").is_file():
        # the run's settings fingerprint: the run-defining options (those --resume keeps) and the cache
        asked = run_settings(tc, cache_identity_at(tc.cache))
        stored = stored_run_settings(read_params(run_dir), tc.cache, asked["cache"])
        if fingerprint(stored) != fingerprint(asked):
            what = describe_diff(settings_diff(stored, asked))
            raise StudyError(f"{run_dir} holds a run made with other settings ({what}); choose another --out or delete it")
        if (ckpts / "final.pt").is_file():
            return "skipped"
        tc.resume = True
    try:
        train(tc)
    except (CsipInputError, DataError, TrainingDiverged, FileExistsError, FileNotFoundError) as exc:
        raise StudyError(f"{run_dir}: {exc}") from None
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
                      device=cfg.device or (None if _cuda() else "cpu"), quiet=True)


def eval_command(ec: EvalConfig) -> str:
    """The shell command that reproduces the evaluation ``ec`` (``csip eval`` + :meth:`EvalConfig.to_args`)."""
    return "csip eval " + " ".join(shlex.quote(a) for a in dataclasses.replace(ec, quiet=False).to_args())


def run_eval(ec: EvalConfig, checkpoints: dict[str, Path]) -> dict:
    """The evaluation ``ec`` (the one :func:`eval_command` prints), or its results when
    ``ec.out/results.json`` was made with the same arguments and is newer than every checkpoint.
    The results keep those arguments as ``"command_args"``."""
    from ..eval.api import run
    from ..eval.report import write_json

    args = ec.to_args()
    res_path = ec.out / "results.json"
    if res_path.is_file():
        try:
            res = json.loads(res_path.read_text())
            fresh = all(res_path.stat().st_mtime >= Path(p).stat().st_mtime for p in checkpoints.values())
            if fresh and res.get("command_args") == args:
                return res | {"_skipped": True}
        except (OSError, ValueError):
            pass
    try:
        res = run(ec)
    except CsipInputError as exc:
        raise StudyError(f"eval into {ec.out}: {exc}") from None
    res["command_args"] = args
    write_json(res_path, res)  # atomically, as the evaluation wrote it
    return res


def cbir_ndcg(cache_dir: Path, checkpoint: Path, split: str, features: str, device: str,
              ks: tuple[int, ...] = (10, 25)) -> dict[int, float]:
    """CBIR NDCG@k (fractions) of one checkpoint with ``features`` ("pre" or "embed"), with
    ``csip eval``'s protocol (queries = gallery = ``split``, the query left out)."""
    import numpy as np

    from ..cache import Cache
    from ..checkpoint import load_encoder
    from ..eval.cbir import ndcg
    from ..eval.features import extract

    cache = Cache(cache_dir)
    q = cache.indices(split)
    table = extract(load_encoder(checkpoint, map_location="cpu"), cache, q, device=device, features=features)
    return {k: float(v) for k, v in ndcg(table.rows(q), np.asarray(cache.sfb[q]), ks=ks).items()}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _device() -> str:
    return "cuda" if _cuda() else "cpu"


__all__ = ["StudyError", "build_cache", "cbir_ndcg", "eval_command", "eval_config", "run_eval",
           "selected_checkpoint", "train_config", "train_run"]

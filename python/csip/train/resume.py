"""Resuming a run: the checkpoint's run-defining options win over the new call's, and the
run's recorded settings (``params.json``) must be those it is resumed with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..base.errors import BadOption
from ..base.files import read_regular_text
from ..base.fingerprint import describe_diff, fingerprint, settings_diff
from .config import (
    RUN_DEFINING_FIELDS,
    TrainConfig,
    stored_run_settings,
)


def resumed_config(cfg: TrainConfig, stored: dict) -> TrainConfig:
    """``cfg`` with the run-defining options of the checkpoint's config (and its cache, when
    ``cfg`` names none), so that ``--resume`` continues the same run whatever else is typed."""
    upd = {k: stored[k] for k in RUN_DEFINING_FIELDS if k in stored}
    if cfg.cache is None and stored.get("cache"):
        upd["cache"] = stored["cache"]
    return dataclasses.replace(cfg, **upd)


def read_params(run_dir: str | Path) -> dict:
    """A run's ``params.json`` ({} when it has none or it cannot be read)."""
    try:
        params = json.loads(read_regular_text(Path(run_dir) / "params.json"))
    except (OSError, ValueError):
        return {}
    return params if isinstance(params, dict) else {}


def check_same_run(out: Path, stored_params: dict, settings: dict, cache: str | None) -> None:
    """:class:`BadOption` when a resumed run's settings (``settings``: the run-defining options,
    from its checkpoint, and the identity of the data it is given now) are not those it
    recorded in ``params.json``, e.g. a cache rebuilt with other content; the message lists
    the differences. A run without ``params.json`` is not checked."""
    if not stored_params:
        return
    stored = stored_run_settings(stored_params, cache, settings["cache"])
    if fingerprint(stored) != fingerprint(settings):
        diff = describe_diff(settings_diff(stored, settings), "in the run", "now")
        raise BadOption(f"--resume: {out} holds a run made with other settings ({diff})")

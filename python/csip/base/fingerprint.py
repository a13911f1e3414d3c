"""One settings fingerprint for caches, training runs and evaluations.

A *settings* dict holds everything that fixes what a piece of work computes (plain JSON
values: the run-defining options and the identities of its inputs). Its **fingerprint** is
the first 16 hex digits of the sha256 of its canonical JSON (sorted keys, no spaces, ASCII):
two works with equal settings have equal fingerprints whatever the key order, and any
change of a value changes it.

Who uses it:

- the cache: ``manifest["run"]["params_hash"]`` is :func:`fingerprint` of the build
  parameters (:func:`csip.cache.format.params_hash` is this function, so every existing cache
  keeps its hash);
- a training run: ``params.json`` holds ``fingerprint_settings``
  (:func:`csip.train.config.run_settings`: the run-defining options and the cache's identity)
  and their ``fingerprint``; ``csip run`` reuses a run, and ``--resume`` continues one, only
  when the fingerprints agree;
- an evaluation: ``results.json`` holds ``fingerprint_settings``
  (:func:`csip.eval.config.eval_settings`: the ``csip eval`` arguments, the checkpoints'
  sha256 and the cache's content hash) and their ``fingerprint``; ``csip run`` reuses a
  finished evaluation only when they agree.

:func:`settings_diff` says what differs, for the error messages. Standard library only: the
cache layer imports this module.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

#: How :func:`settings_diff` shows a key that one side lacks.
ABSENT = "<absent>"


def canonical_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys, no spaces and ASCII only: one text per value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(settings: dict[str, Any]) -> str:
    """16 hex digits: sha256 of :func:`canonical_json` of ``settings``."""
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()[:16]


def settings_diff(stored: dict[str, Any], asked: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """``{"dotted.key": (stored value, asked value)}`` for every key whose values differ
    (nested dicts compared key by key; a missing key shows as :data:`ABSENT`), sorted by key."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(set(stored) | set(asked), key=str):
        a, b = stored.get(k, ABSENT), asked.get(k, ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(settings_diff(a, b, f"{prefix}{k}."))
        elif canonical_json(a) != canonical_json(b):  # as the fingerprint sees them: (1,) == [1], 1 != 1.0
            out[f"{prefix}{k}"] = (a, b)
    return out


def describe_diff(diff: dict[str, tuple[Any, Any]], there: str = "there", here: str = "asked") -> str:
    """``"epochs: 2 there, 3 asked; lr: ..."``: a :func:`settings_diff` in one line."""
    return "; ".join(f"{k}: {short_repr(a)} {there}, {short_repr(b)} {here}" for k, (a, b) in diff.items())


def short_repr(v: Any) -> str:
    s = v if v == ABSENT else repr(v)
    return s if len(s) <= 70 else s[:67] + "..."


def settings_record(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"fingerprint_settings": settings, "fingerprint": fingerprint(settings)}``: how
    ``params.json`` and ``results.json`` record them."""
    return {"fingerprint_settings": settings, "fingerprint": fingerprint(settings)}


def sha256_file(path: str | os.PathLike, bufsize: int = 1 << 22) -> str:
    """sha256 (64 hex digits) of a file's bytes, read in ``bufsize`` chunks; only a regular file
    (:func:`csip.base.files.open_regular`: a FIFO would block the read)."""
    from .files import open_regular

    h = hashlib.sha256()
    with open_regular(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def path_identity(path: str | os.PathLike) -> str:
    """What a file or directory holds, as one sha256: a file's :func:`sha256_file`; a
    directory's sha256 over ``"relative/path:sha256\\n"`` of every file under it, sorted."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p).as_posix()}:{sha256_file(f)}\n".encode())
    return h.hexdigest()


def cache_identity(manifest: dict[str, Any]) -> dict[str, str]:
    """A cache's identity from its ``manifest.json``: ``{"content_hash"}`` (every file's
    sha256), plus ``"params_hash"`` (the fingerprint of its build parameters) when it has one."""
    ident = {"content_hash": manifest.get("content_hash")}
    ph = (manifest.get("run") or {}).get("params_hash")
    if ph is not None:
        ident["params_hash"] = ph
    return ident


def cache_identity_at(cache_dir: str | os.PathLike) -> dict[str, str] | None:
    """:func:`cache_identity` of the cache in ``cache_dir`` (None when it has no readable manifest)."""
    try:
        from .files import read_regular_json

        return cache_identity(read_regular_json(Path(cache_dir) / "manifest.json"))
    except (OSError, ValueError, AttributeError):
        return None


__all__ = ["ABSENT", "cache_identity", "cache_identity_at", "canonical_json", "describe_diff", "fingerprint",
           "path_identity", "settings_diff", "settings_record", "sha256_file", "short_repr"]

"""Parsing of the repeatable ``-O KEY=VALUE`` options some commands take."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import click


def key_values(items: Iterable[str], param_hint: str) -> Iterator[tuple[str, Any]]:
    """``(key, value)`` of each ``KEY=VALUE`` in order: the key with dashes turned into
    underscores, the value parsed as JSON when it can be (``3``, ``0.5``, ``true``, ``[1, 2]``),
    else kept as the string. ``click.BadParameter`` naming ``param_hint`` for an item that is
    not ``KEY=VALUE``."""
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=param_hint)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        yield key, value

"""Package attributes imported on first use, so that importing a package (and ``csip --help``)
does not import torch or other slow modules it only sometimes needs."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: attribute ``name`` is ``name`` of the
    submodule ``exports[name]`` (``"api"``; or a relative module name such as ``"..cache.order"``
    for a name a package re-exports from elsewhere), imported when first asked for;
    ``AttributeError`` otherwise. Use: ``__getattr__ = lazy_exports(__name__, {"run": "api", ...})``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module if module.startswith(".") else f".{module}", package), name)

    return __getattr__

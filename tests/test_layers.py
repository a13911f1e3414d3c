"""The layers (docs/ARCHITECTURE.md): the library (cache, train, eval, study and what they use)
never reaches up into the command line (``csip.commands``, ``csip.cli``), neither when imported
nor inside a function."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import csip

PACKAGE = Path(csip.__file__).parent
COMMAND_LAYER = ("csip.commands", "csip.cli")


def test_importing_the_library_imports_no_command():
    code = ("import sys, json; import csip.cache, csip.train, csip.eval, csip.study; "
            "import csip.eval.api, csip.eval.plan, csip.study.run, csip.study.stages; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert "csip.study.stages" in loaded and "csip.eval.api" in loaded  # the check itself works
    assert [m for m in loaded if m.startswith(COMMAND_LAYER) or m == "click"] == []


def _package_of(path: Path) -> str:
    """The package a module file's relative imports start from (``csip.study`` for stages.py)."""
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__") if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of every module (and imported name) ``source`` imports, at the top or
    inside a function; relative imports resolved against ``package``."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            mod = ".".join(p for p in (base, node.module) if p)
            names += [mod] + [f"{mod}.{a.name}" for a in node.names]
    return names


def test_no_library_module_imports_a_command_even_lazily():
    library = [p for p in PACKAGE.rglob("*.py") if "commands" not in p.relative_to(PACKAGE).parts and p.name != "cli.py"]
    assert PACKAGE / "study" / "stages.py" in library and len(library) > 40
    offenders = {str(p.relative_to(PACKAGE)): m for p in library
                 for m in _imported_modules(p.read_text(encoding="utf-8"), _package_of(p)) if m.startswith(COMMAND_LAYER)}
    assert offenders == {}


def test_the_import_scan_resolves_lazy_relative_imports():
    """What run_eval once did (``from ..commands.evaluate import evaluate`` in a function) is seen."""
    src = "import json\nfrom . import table\ndef f():\n    from ..commands.evaluate import evaluate\n"
    names = _imported_modules(src, _package_of(PACKAGE / "study" / "stages.py"))
    assert names == ["json", "csip.study", "csip.study.table", "csip.commands.evaluate", "csip.commands.evaluate.evaluate"]
    assert _package_of(PACKAGE / "eval" / "__init__.py") == "csip.eval"


def test_the_cache_and_data_layers_never_import_training_or_evaluation():
    """``csip.cache`` and ``csip.data`` sit below training and evaluation (the batched loader's data
    order lives in ``csip.cache.order``, which ``csip.train`` re-exports), even lazily."""
    lower = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in ("cache", "data")]
    assert PACKAGE / "cache" / "batches.py" in lower
    upper = ("csip.train", "csip.training", "csip.eval", "csip.study", "csip.selection")
    offenders = {str(p.relative_to(PACKAGE)): m for p in lower
                 for m in _imported_modules(p.read_text(encoding="utf-8"), _package_of(p))
                 if m.startswith(upper)}
    assert offenders == {}

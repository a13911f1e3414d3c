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
    library = [
        p for p in PACKAGE.rglob("*.py") if "commands" not in p.relative_to(PACKAGE).parts and p.name != "cli.py"
    ]
    assert PACKAGE / "study" / "stages.py" in library and len(library) > 40
    offenders = {
        str(p.relative_to(PACKAGE)): m
        for p in library
        for m in _imported_modules(p.read_text(encoding="utf-8"), _package_of(p))
        if m.startswith(COMMAND_LAYER)
    }
    assert offenders == {}


def test_the_import_scan_resolves_lazy_relative_imports():
    """What run_eval once did (``from ..commands.evaluate import evaluate`` in a function) is seen."""
    src = "import json\nfrom . import table\ndef f():\n    from ..commands.evaluate import evaluate\n"
    names = _imported_modules(src, _package_of(PACKAGE / "study" / "stages.py"))
    assert names == [
        "json",
        "csip.study",
        "csip.study.table",
        "csip.commands.evaluate",
        "csip.commands.evaluate.evaluate",
    ]
    assert _package_of(PACKAGE / "eval" / "__init__.py") == "csip.eval"


def test_the_cache_and_data_layers_never_import_training_or_evaluation():
    """``csip.cache`` and ``csip.data`` sit below training and evaluation (the batched loader's data
    order lives in ``csip.cache.order``, which ``csip.train`` re-exports), even lazily."""
    lower = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in ("cache", "data")]
    assert PACKAGE / "cache" / "batches.py" in lower
    upper = ("csip.train", "csip.eval", "csip.study")
    offenders = {str(p.relative_to(PACKAGE)): m for p in lower
                 for m in _imported_modules(p.read_text(encoding="utf-8"), _package_of(p))
                 if m.startswith(upper)}
    assert offenders == {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports: at the top, under ``TYPE_CHECKING`` (an
    annotation-only import still ties the two modules together) or inside a function."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        targets = set()
        for imported in _imported_modules(path.read_text(encoding="utf-8"), _package_of(path)):
            if imported in files:
                targets.add(imported)
            elif imported.rpartition(".")[0] in files:  # "from pkg.mod import name"
                targets.add(imported.rpartition(".")[0])
        graph[name] = targets - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_even_annotation_only_or_lazy():
    graph = _import_graph()
    assert "csip.train.state" in graph["csip.train.loop"]  # the scan sees the imports
    assert _cycles(graph) == []


def test_at_most_four_loose_modules_at_the_top_of_the_package():
    """Every concern has a home (a package); the top holds only the package's face."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert "cli.py" in loose and len(loose) <= 4, loose


def test_no_function_is_longer_than_100_lines():
    lengths = {f"{p.relative_to(PACKAGE)}:{node.name}": node.end_lineno - node.lineno + 1
               for p in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert "train/run.py:setup_run" in lengths  # the scan sees them
    assert {name: n for name, n in lengths.items() if n > 100} == {}

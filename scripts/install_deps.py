"""Install csip's pinned dependencies one large wheel at a time, to keep the disk peak low.

``pip install`` downloads every wheel of a resolution before it installs any. The PyPI build of
torch pulls in its CUDA libraries (3.0 GB of wheels that unpack to 5.8 GB, torch 2.14.1), so a
plain install of csip's requirements into a fresh venv peaked at 8.7 GiB of disk (``df`` sampled
every second; 74 s), and a machine with less free space fails with "No space left on device"
(CI did). This script resolves the same requirements once (``pip install --dry-run --report``,
which reads only the packages' metadata), then installs the resolved versions without
dependencies and without pip's cache: each large wheel (torch, triton, the CUDA libraries) on its
own, the small rest in one call. Measured the same way: 5.9 GiB peak, 96 s.
A package missed here would still be installed by ``maturin develop``, which resolves again.

Usage (from the Makefile): ``python scripts/install_deps.py EXTRA [EXTRA ...]``; it installs
``[project] dependencies`` of pyproject.toml plus the named optional-dependency groups into the
interpreter that runs it. ``maturin develop`` afterwards finds them satisfied and installs none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LARGE_PREFIXES = ("torch", "triton", "nvidia-", "cuda-")


def requirements(extras: list[str]) -> list[str]:
    """The requirement strings of pyproject.toml: the base list plus the given extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in groups]
    if unknown:
        raise SystemExit(f"install_deps: unknown extra(s) {unknown}; pyproject.toml has {sorted(groups)}")
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += groups[extra]
    return reqs


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def resolve(reqs: list[str]) -> list[str]:
    """``name==version`` for every package pip would install for ``reqs`` (none downloaded)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        pip("install", "--quiet", "--dry-run", "--no-cache-dir", "--report", str(report), *reqs)
        items = json.loads(report.read_text())["install"]
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items]


def main(extras: list[str]) -> None:
    pinned = resolve(requirements(extras))
    large = [p for p in pinned if p.lower().startswith(LARGE_PREFIXES)]
    small = [p for p in pinned if p not in large]
    for i, spec in enumerate(large, 1):
        print(f"install_deps: [{i}/{len(large)}] {spec}", flush=True)
        pip("install", "--quiet", "--no-deps", "--no-cache-dir", spec)
    if small:
        print(f"install_deps: {len(small)} small packages", flush=True)
        pip("install", "--quiet", "--no-deps", "--no-cache-dir", *small)


if __name__ == "__main__":
    main(sys.argv[1:])

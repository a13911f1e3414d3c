"""What the machine is, for reading a scaling benchmark: logical CPUs, the ones this process may
run on, and how many physical cores they are (SMT siblings share a core's execution units, so
16 threads on 8 cores × 2 siblings cannot scale like 16 cores).

Read from Linux sysfs (``/sys/devices/system/cpu/cpu*/topology``) and ``/proc/cpuinfo``; each
item is None where the file is missing (another OS, a container hiding sysfs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class Topology:
    """The CPUs this process may use (``allowed``, logical ids) grouped by physical core.

    ``cores``: one tuple of sibling logical ids (those in ``allowed``) per physical core, keyed by
    (package, core id) and sorted. ``smt_pairs``: the cores with more than one allowed sibling.
    """

    allowed: tuple[int, ...]
    cores: tuple[tuple[int, ...], ...] | None

    @property
    def n_physical(self) -> int | None:
        return None if self.cores is None else len(self.cores)

    @property
    def smt_cores(self) -> tuple[tuple[int, ...], ...]:
        return tuple(c for c in self.cores or () if len(c) > 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def topology(allowed: list[int] | None = None, sys_cpu: Path = SYS_CPU) -> Topology:
    """Group ``allowed`` (default: this process's affinity) by (physical_package_id, core_id)."""
    if allowed is None:
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else list(range(os.cpu_count() or 1))
    groups: dict[tuple[int, int], list[int]] = {}
    for cpu in allowed:
        topo = sys_cpu / f"cpu{cpu}" / "topology"
        core, pkg = _read(topo / "core_id"), _read(topo / "physical_package_id")
        if core is None or pkg is None:
            return Topology(tuple(allowed), None)
        groups.setdefault((int(pkg), int(core)), []).append(cpu)
    return Topology(tuple(allowed), tuple(tuple(sorted(g)) for _, g in sorted(groups.items())))


def cpuinfo_model(path: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first ``model name`` of /proc/cpuinfo."""
    text = _read(path)
    for line in (text or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def describe() -> list[str]:
    """Lines that say what the machine is (printed at the top of the benchmark)."""
    topo = topology()
    lines = [f"CPU: {cpuinfo_model() or 'unknown model'}",
             f"os.cpu_count() = {os.cpu_count()}, usable (sched_getaffinity) = {len(topo.allowed)}"]
    if topo.cores is None:
        lines.append("physical cores: unknown (no sysfs topology)")
    else:
        smt = topo.smt_cores
        lines.append(f"physical cores among the usable CPUs: {topo.n_physical} "
                     f"({len(smt)} with SMT siblings usable"
                     + (f", e.g. CPUs {','.join(map(str, smt[0]))} share a core" if smt else "")
                     + ")")
        if smt and len(topo.allowed) > topo.n_physical:
            lines.append(f"  note: more than {topo.n_physical} threads share cores: beyond that, "
                         "expect SMT gains (well under 2× per core), not core gains")
    l3 = _read(SYS_CPU / "cpu0" / "cache" / "index3" / "size")
    gov = _read(SYS_CPU / "cpu0" / "cpufreq" / "scaling_governor")
    fmax = _read(SYS_CPU / "cpu0" / "cpufreq" / "cpuinfo_max_freq")
    thp = _read(Path("/sys/kernel/mm/transparent_hugepage/enabled"))
    lines.append(f"L3 (cpu0): {l3 or 'unknown'}; cpufreq governor: {gov or 'not exposed'}"
                 + (f", max {int(fmax) / 1e6:.2f} GHz" if fmax else "")
                 + f"; transparent huge pages: {thp or 'unknown'}")
    return lines

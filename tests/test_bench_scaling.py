"""benches/bench_sfb_scaling.py and its helpers: the load-imbalance bound (exact makespans of each
hand-out, and the bounds any list schedule obeys), the machine's topology read from a fake
sysfs, and one tiny end-to-end run (the device session runs it once and must not fail there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import csip_core

BENCHES = Path(__file__).resolve().parents[1] / "benches"
sys.path.insert(0, str(BENCHES))

from scaling_balance import SCHEDULES, efficiency, makespan  # noqa: E402
from scaling_machine import cpuinfo_model, topology  # noqa: E402


def test_makespans_by_hand():
    times = [3.0, 1.0, 1.0, 1.0]
    # static: [3, 1] | [1, 1]; strided: pairs 0, 2 | 1, 3; dynamic and guided (⌈left / 4⌉ = 1):
    # thread 0 takes the 3, thread 1 the three 1s
    assert makespan(times, 2, "static") == 4.0
    assert makespan(times, 2, "strided") == 4.0
    assert makespan(times, 2, "dynamic") == 3.0
    assert makespan(times, 2, "guided") == 3.0
    assert efficiency(times, 2, "dynamic") == 1.0
    assert efficiency(times, 2, "static") == 6.0 / 8.0
    # guided claims 3, 2, then single pairs: [1,1,1] [1,1] then 1s, the 10 last → 4 + 10
    times = [1.0] * 8 + [10.0]
    assert makespan(times, 2, "guided") == 14.0
    assert makespan(times, 2, "static") == 13.0  # [1]*5 | [1, 1, 1, 10]
    # one thread computes every pair in turn, whatever the hand-out
    assert all(makespan([2.0] * 16, 1, s) == 32.0 for s in SCHEDULES)


@pytest.mark.parametrize("seed", range(20))
def test_every_schedule_obeys_the_list_scheduling_bounds(seed):
    rng = np.random.default_rng(seed)
    times = rng.exponential(1.0, rng.integers(1, 200)).tolist()
    n = int(rng.integers(1, 20))
    lower = max(max(times), sum(times) / n)
    for s in SCHEDULES:
        assert makespan(times, n, s) >= lower - 1e-9
        assert 0 < efficiency(times, n, s) <= 1 + 1e-12
    # Graham: a greedy list schedule ends within one pair of the average
    assert makespan(times, n, "dynamic") <= sum(times) / n + max(times) + 1e-9


def test_bad_schedule_and_thread_count():
    with pytest.raises(ValueError, match="schedule must be one of static, strided, dynamic, "
                                         "guided, got 'rayon'"):
        makespan([1.0], 2, "rayon")
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        makespan([1.0], 0, "guided")


def _fake_sysfs(root: Path, cores: dict[int, tuple[int, int]]) -> Path:
    for cpu, (pkg, core) in cores.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{pkg}\n")
        (topo / "core_id").write_text(f"{core}\n")
    return root


def test_topology_groups_smt_siblings(tmp_path):
    # 2 packages; CPUs 0 and 4 share core 0 of package 0, CPUs 1 and 5 core 1; 2, 3 alone
    sys_cpu = _fake_sysfs(tmp_path, {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1),
                                     4: (0, 0), 5: (0, 1)})
    topo = topology(list(range(6)), sys_cpu)
    assert topo.cores == ((0, 4), (1, 5), (2,), (3,))
    assert topo.n_physical == 4 and topo.smt_cores == ((0, 4), (1, 5))
    topo = topology([0, 1, 2], sys_cpu)  # siblings outside the affinity do not count
    assert topo.cores == ((0,), (1,), (2,)) and topo.smt_cores == ()
    assert topology([0, 7], sys_cpu).cores is None  # no topology for CPU 7: unknown


def test_cpuinfo_model(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n")
    assert cpuinfo_model(info) == "AMD EPYC 9654 96-Core Processor"
    info.write_text("processor\t: 0\n")
    assert cpuinfo_model(info) is None


def test_benchmark_runs_end_to_end_beside_a_baseline():
    """Threads, the process ceiling and a baseline build (here the same build) in one tiny run:
    every table is printed and the baseline's banners are the same bytes."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(csip_core.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run(
        [sys.executable, str(BENCHES / "bench_sfb_scaling.py"), "--threads", "1,2",
         "--pairs", "6", "--size", "24", "--repeats", "1",
         "--baseline", str(Path(csip_core.__file__).parents[1])],
        capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "usable (sched_getaffinity)" in out and "physical cores" in out
    assert "| 2 | 3.0 |" in out  # pairs per thread in the ceiling table
    assert "code efficiency" in out and "per-core rate" in out and "clock probe rate" in out
    assert "transparent huge pages" in out
    assert "banners bit-identical" in out
    assert "f_cpu" in out and "Amdahl fit" in out

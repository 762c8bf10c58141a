"""SubGroup gangs vs flat gangs: one allocate cycle in process.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_subgroups.py [JOBS]`` (default 300).
JOBS jobs of a CPU-only leader + 2 tensor-parallel groups of 4 pods x 2 GPUs, as PodGroups with
SubGroups (each group required in one rack) and as flat minMember-9 gangs, on 500 nodes x 8
GPUs in 50 racks of 10 (250 jobs fit). Prints the cycle p50 of 3 cycles and pods/s.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gpuplane.scheduler import manifests as m  # noqa: E402
from gpuplane.scheduler.config import SchedulerConfig  # noqa: E402
from gpuplane.scheduler.cycle import run_rounds  # noqa: E402
from gpuplane.scheduler.snapshot import build_snapshot  # noqa: E402

RACK = "example.com/rack"
TOPO = {"apiVersion": "kai.scheduler/v1alpha1", "kind": "Topology", "metadata": {"name": "dc"},
        "spec": {"levels": [{"nodeLabel": RACK, "alias": "rack"}, {"nodeLabel": "kubernetes.io/hostname"}]}}
SHAPE = (("leader", 1, 0), ("tp0", 4, 2), ("tp1", 4, 2))  # (subgroup, pods, GPUs per pod)


def objects(jobs: int, subgroups: bool) -> list[dict[str, Any]]:
    out = [TOPO] + [m.node(f"n{i}", gpus=8, labels={RACK: f"r{i // 10}"}) for i in range(500)]
    tc = {"topology": "dc", "requiredTopologyLevel": "rack"}
    for j in range(jobs):
        pg = m.podgroup(f"j{j}", 9, "default-queue")
        if subgroups:
            del pg["spec"]["minMember"]
            pg["spec"]["subGroups"] = [{"name": "leader", "minMember": 1},
                                       {"name": "tp0", "minMember": 4, "topologyConstraint": tc},
                                       {"name": "tp1", "minMember": 4, "topologyConstraint": tc}]
        out.append(pg)
        for sg, n, gpus in SHAPE:
            for i in range(n):
                p = m.pod(f"j{j}-{sg}-{i}", gpus=gpus, group=f"j{j}", cpu="100m", memory="100Mi")
                if subgroups:
                    p["metadata"].setdefault("labels", {})["kai.scheduler/subgroup-name"] = sg
                out.append(p)
    return m.schedule_objects(out)


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for subgroups in (False, True):
        snap = build_snapshot(objects(jobs, subgroups))
        times = []
        for _ in range(3):
            t = time.perf_counter()
            result = run_rounds(snap, 1, SchedulerConfig(), "2026-06-01T12:00:00Z")
            times.append(time.perf_counter() - t)
        p50 = statistics.median(times)
        print(f"{'subgroups ' if subgroups else 'flat gangs'}: {jobs} jobs x 9 pods, bound {len(result.placements)}, "
              f"cycle p50 {p50 * 1000:.0f} ms, {len(result.placements) / p50:.0f} pods/s")


if __name__ == "__main__":
    main()

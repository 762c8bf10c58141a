"""Running-pod accounting per cycle: ``_Cluster`` from scratch vs from a RunningAccount.

    PYTHONPATH=src python benchmarks/bench_running_account.py [CYCLES] [CHANGED_PER_CYCLE]

Philly-sized state: 88 nodes x 8 GPUs, 14 queues, ~700 running annotated pods (1, 2, 4 or 8
GPUs) plus pending pods. Each cycle derives the next snapshot from the last one with
``dataclasses.replace`` (the unchanged pods keep their ``PodInfo`` objects, as an incremental
snapshot builder gives them): CHANGED_PER_CYCLE running pods finish and as many new ones start.
Prints ms per ``_Cluster`` construction both ways and checks that both give the same state.
"""
from __future__ import annotations

import dataclasses
import random
import sys
import time

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.account import RunningAccount
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import _Cluster
from gpuplane.scheduler.snapshot import build_snapshot
from gpuplane.sim.philly import philly_cluster, philly_queues

NOW = "2026-06-01T12:00:00Z"


def main(cycles: int = 200, changed: int = 4, seed: int = 0) -> None:
    rng = random.Random(seed)
    queues = {f"vc{i:02d}": 704 // 14 for i in range(14)}
    base = philly_cluster(704) + philly_queues(queues)
    free = {f"philly-{i:03d}": list(range(8)) for i in range(88)}
    n = 0

    def running_pod() -> dict | None:
        nonlocal n
        size = rng.choice([1] * 12 + [2, 4, 8])
        nodes = [k for k, v in free.items() if len(v) >= size]
        if not nodes:
            return None
        node = rng.choice(nodes)
        gpus, free[node] = free[node][:size], free[node][size:]
        n += 1
        return m.pod(f"job-{n}", queue=rng.choice(list(queues)), gpus=size, cpu="4", memory="32Gi", node_name=node,
                     held=",".join(f"gpu-{i}" for i in gpus))

    pods = [p for p in (running_pod() for _ in range(1000)) if p is not None]
    pending = [m.pod(f"wait-{i}", queue=rng.choice(list(queues)), gpus=rng.choice([1, 8])) for i in range(200)]
    snap = build_snapshot(m.schedule_objects(base + pods + pending))
    print(f"running pods {sum(p.holds_resources for p in snap.pods.values())}, pods {len(snap.pods)}")
    cfg = SchedulerConfig()
    acct = RunningAccount()
    _Cluster(snap, cfg, NOW, account=acct)  # cold: remembers the pods
    t_full = t_inc = 0.0
    for _ in range(cycles):
        # next snapshot: `changed` running pods finish, as many new ones start
        running = [k for k, p in snap.pods.items() if p.holds_resources]
        new_pods = dict(snap.pods)
        for k in rng.sample(running, changed):
            p = new_pods.pop(k)
            for g in p.held_gpus:
                free[p.node_name].append(int(g[4:]))
            free[p.node_name].sort()
        objs = [o for o in (running_pod() for _ in range(changed)) if o is not None]
        added = build_snapshot(m.schedule_objects(base + objs))
        new_pods.update(added.pods)
        snap = dataclasses.replace(snap, pods=new_pods, groups={**snap.groups, **added.groups})
        t0 = time.perf_counter()
        full = _Cluster(snap, cfg, NOW)
        t1 = time.perf_counter()
        inc = _Cluster(snap, cfg, NOW, account=acct)
        t2 = time.perf_counter()
        t_full += t1 - t0
        t_inc += t2 - t1
        assert full.alloc == inc.alloc and full.held_gpu == inc.held_gpu
        assert all(full.nodes[k].gpu_used == inc.nodes[k].gpu_used and full.nodes[k].cpu == inc.nodes[k].cpu
                   for k in full.nodes)
    print(f"cycles {cycles}, {changed} pods finish + {changed} start per cycle")
    print(f"_Cluster from scratch: {1000 * t_full / cycles:.2f} ms/cycle")
    print(f"_Cluster from account: {1000 * t_inc / cycles:.2f} ms/cycle "
          f"(incremental {acct.incremental}, rebuilt {acct.rebuilt}, full {acct.full})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))

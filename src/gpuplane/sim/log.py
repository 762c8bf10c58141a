"""What a simulation run records: the raw facts metrics and reports are computed from.

The engine appends to a ``SimLog``; ``gpuplane.sim.metrics`` turns it into numbers and
``gpuplane.sim.report`` into tables and figures. Keeping the log plain data lets a report be
re-rendered, and metrics be tested on hand-built logs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class JobRecord:
    name: str
    queue: str
    kind: str
    pods: int
    gpus: float  # GPUs the whole job holds while running (MIG/fractions as shares of a GPU)
    duration_s: float
    submit_s: float
    start_s: Optional[float] = None  # first time all its pods were bound (the latest start after evictions)
    first_start_s: Optional[float] = None
    end_s: Optional[float] = None
    evictions: int = 0


@dataclass
class Sample:
    """Cluster state at one instant of simulated time (taken after each scheduling cycle)."""

    t: float
    gpus_allocated: float
    queue_allocated: dict[str, float]
    queue_fair_share: dict[str, float]
    queue_requested: dict[str, float]
    pending_pods: int
    running_pods: int
    fragmentation: float = 0.0  # idle GPU capacity no typical shape can use, in GPUs (0 when not measured)


@dataclass
class CycleRecord:
    t: float
    wall_s: float
    pods_bound: int
    pods_evicted: int
    pending: int


@dataclass
class OccupancyFrame:
    """Per-node, per-GPU used share (0..1) at one instant, for the occupancy map."""

    t: float
    nodes: list[str]
    used: list[list[float]]  # used[i][g]: share of GPU g on nodes[i]
    fragmentation: Optional[float] = None  # FGD F(M) summed over nodes, in GPUs (M: the workload's GPU shapes)


@dataclass
class SimLog:
    scenario: str
    seed: int
    gpus: int  # cluster GPU capacity (whole GPUs)
    nodes: int
    policy: str = "default"
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    cycles: list[CycleRecord] = field(default_factory=list)
    occupancy: list[OccupancyFrame] = field(default_factory=list)
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0

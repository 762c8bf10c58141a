"""The unit of simulated work: a job of one or more pods that runs for a duration and leaves.

Workload generators and trace readers produce ``SimJob`` values; the engine turns them into
Kubernetes objects (PodGroup, Pods, claim templates) and submits them at ``submit_s``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class SimJob:
    """One job: ``pods`` pods, each asking for the same GPU shape, gang-scheduled as a whole.

    GPU shape, exactly one of:
      * ``gpus_per_pod`` >= 1 whole GPUs (``nvidia.com/gpu`` on device-plugin nodes, or a DRA claim
        of that many devices when ``dra`` is true);
      * ``gpu_fraction`` in (0, 1) of one GPU (KAI ``gpu-fraction`` annotation);
      * ``gpu_memory_mib`` of one GPU's memory (KAI ``gpu-memory`` annotation);
      * ``mig_profile`` such as ``"1g.18gb"`` (a DRA claim for one MIG device of that profile);
      * none of these: a CPU-only pod.
    """

    name: str
    queue: str
    submit_s: float
    duration_s: float
    pods: int = 1
    gpus_per_pod: int = 0
    gpu_fraction: Optional[float] = None
    gpu_memory_mib: Optional[int] = None
    mig_profile: Optional[str] = None
    dra: bool = False
    cpu_milli: int = 1000
    memory_mib: int = 1024
    priority_class: str = "train"  # KAI's built-ins: train (preemptible), build/inference (not)
    kind: str = "train"  # free text for reports: train, inference, notebook, ...
    min_member: Optional[int] = None  # defaults to ``pods`` (all or nothing)
    node_selector: dict[str, str] = field(default_factory=dict)

    @property
    def gpus(self) -> float:
        """GPUs the whole job asks for (fractions and MIG devices as a share of one GPU)."""
        if self.gpus_per_pod:
            return float(self.gpus_per_pod * self.pods)
        if self.gpu_fraction is not None:
            return self.gpu_fraction * self.pods
        return 0.0

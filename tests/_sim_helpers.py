"""Fixtures the simulator tests share: small Node / Queue objects and the shared/traces folder."""
from __future__ import annotations

from pathlib import Path


def node(name: str, gpus: int = 8) -> dict:
    res = {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"nvidia.com/gpu.count": str(gpus), "nvidia.com/gpu.memory": "81920",
                                                  "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
            "status": {"capacity": res, "allocatable": res}}


def queue(name: str, quota: float, limit: float = -1) -> dict:
    other = {"quota": -1, "overQuotaWeight": 1, "limit": -1}
    return {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": name},
            "spec": {"resources": {"gpu": {"quota": quota, "overQuotaWeight": 1, "limit": limit}, "cpu": other, "memory": other}}}


def shared_traces() -> Path:
    """shared/traces next to (or above) the checkout, else /work/shared/traces."""
    here = Path(__file__).resolve().parents[1]
    for base in (here.parent, here.parent.parent, Path("/work")):
        if (base / "shared" / "traces").is_dir():
            return base / "shared" / "traces"
    return here.parent / "shared" / "traces"

"""gpuplane's KAI-compatible scheduler: queue tree and fair-share division (more to come)."""

from .fairshare import compute_fair_shares, compute_fair_shares_exact, divide_among_siblings
from .queues import RESOURCES, UNLIMITED, QueueNode, QueueTree, ResourceSpec

__all__ = [
    "RESOURCES",
    "UNLIMITED",
    "QueueNode",
    "QueueTree",
    "ResourceSpec",
    "compute_fair_shares",
    "compute_fair_shares_exact",
    "divide_among_siblings",
]

"""Node filters that do not depend on what is in use, and node scoring.

Static filters (kube-scheduler's): the node is schedulable, the pod tolerates its
``NoSchedule`` / ``NoExecute`` taints, ``spec.nodeSelector`` and the required node affinity
match. Each failure is a short reason in words; the cycle counts reasons over nodes.

Scoring follows KAI's score bands, highest band first (lexicographic):
- fractional pods: nodes with a partially used GPU that fits the share first (gpusharingorder);
- CPU-only pods: CPU-only nodes first (resourcetype);
- then ``placementStrategy``: ``binpack`` takes the node with the least free left (of GPUs for
  GPU pods, of CPU for CPU-only pods), ``spread`` the one with the largest free fraction;
- then the node name.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Optional

from ..dra.nodeselect import NodeSelectorError, selector_matches
from .snapshot import NodeInfo, PodInfo, pod_affinity_selector

__all__ = ["static_filter", "node_score"]


def _tolerates(tolerations: list[Any], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.effect and t.effect != taint.get("effect"):
            continue
        if t.operator == "Exists":
            if not t.key or t.key == taint.get("key"):
                return True
        elif t.key == taint.get("key") and (t.value or "") == (taint.get("value") or ""):
            return True
    return False


def static_filter(node: NodeInfo, pod: PodInfo) -> Optional[str]:
    """Why the pod can never go to this node, or ``None``."""
    if node.unschedulable:
        return "node is unschedulable (cordoned)"
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod.pod.spec.tolerations, taint):
            return f"untolerated taint {taint.get('key')}"
    labels = node.node.metadata.labels
    for k, v in pod.pod.spec.node_selector.items():
        if labels.get(k) != v:
            return "node selector does not match"
    sel = pod_affinity_selector(pod.pod)
    if sel is not None:
        try:
            if not selector_matches(sel, node.node):
                return "required node affinity does not match"
        except NodeSelectorError:
            return "required node affinity is invalid"
    return None


def node_score(node: NodeInfo, pod: PodInfo, strategies: dict[str, str], free_gpu_after: Fraction,
               free_cpu_after: Fraction, shares_partial_gpu: bool, uses_gpu: bool) -> tuple:
    """Sort key: the smallest key is the best node."""
    if uses_gpu:
        total = Fraction(max(node.gpus + node.dra_gpus, 1))
        strategy = strategies["gpu"]
        placement = free_gpu_after if strategy == "binpack" else -(free_gpu_after / total)
        return (0 if shares_partial_gpu else 1, 0, placement, node.name)
    total = node.cpu_milli or Fraction(1)
    strategy = strategies["cpu"]
    placement = free_cpu_after if strategy == "binpack" else -(free_cpu_after / total)
    cpu_only_node = node.gpus == 0 and node.dra_gpus == 0
    return (1, 0 if cpu_only_node else 1, placement, node.name)

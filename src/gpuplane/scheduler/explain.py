"""Why is a pod pending? The structured reason chain behind ``gpuplane explain POD``.

After the scheduling rounds, a pending pod of this scheduler has a
:class:`~gpuplane.scheduler.cycle.PendingReason`. :func:`explain_pod` turns it into a chain a
user can read top-down:

1. the queue: its path in the tree and, at every level, allocated / fair share / quota / limit
   per resource, and which level's limit or quota stopped the pod;
2. the topology constraint (a PodGroup's ``topologyConstraint``): the level, and why no
   domain could host the gang (e.g. the best rack's free GPUs);
3. the gang: minMember, running, pending, how many could be placed, how many short;
4. the nodes: on how many nodes each filter failed;

then what would unblock it (:mod:`gpuplane.scheduler.unblock`): the evictions reclaim or
preempt would make for it, or why they would not, and the capacity missing (a queue limit or
quota overrun, the GPUs / CPU / memory missing on one node, the pods missing from a gang).

A pod nominated by reclaim or preempt (waiting for victims to release their resources) has
the reason code ``Pipelined`` and ``nominatedNodeName``; a pod evicted in an earlier round is
pending again (recreated) and is explained like any other.

:func:`format_explanation` prints it as text; the dict form is for ``-o json``.
"""

from __future__ import annotations

from typing import Any, Optional

from .cycle import NO_NODE_FITS, NO_NODES, PendingReason, ScheduleResult, format_amount
from .output import number
from .queues import RESOURCES, UNLIMITED
from .snapshot import Key
from .unblock import unblock

__all__ = ["ExplainError", "find_pod", "explain_pod", "format_explanation"]


class ExplainError(Exception):
    """The pod cannot be explained; ``code`` is the exit code (1: not pending/not found, 2: ambiguous)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def find_pod(result: ScheduleResult, ref: str) -> Key:
    """``namespace/name``, or ``name`` (in ``default`` first, else the only namespace that has it)."""
    pods = result.snapshot.pods
    if "/" in ref:
        ns, _, name = ref.partition("/")
        if (ns, name) not in pods:
            raise ExplainError(f"pod {ns}/{name} not found in the snapshot")
        return (ns, name)
    if ("default", ref) in pods:
        return ("default", ref)
    matches = [k for k in pods if k[1] == ref]
    if not matches:
        raise ExplainError(f"pod {ref} not found in the snapshot")
    if len(matches) > 1:
        raise ExplainError(f"pod name {ref} is ambiguous: " + ", ".join(f"{k[0]}/{k[1]}" for k in matches)
                           + "; give NAMESPACE/NAME", 2)
    return matches[0]


def _queue_levels(result: ScheduleResult, queue: str, stopped_at: str) -> list[dict[str, Any]]:
    tree = result.snapshot.tree
    if queue not in tree:
        return []
    levels = []
    for q in reversed([queue] + tree.ancestors(queue)):
        node = tree[q]
        res = {}
        for r in RESOURCES:
            spec = node.spec(r)
            res[r] = {
                "allocated": number(result.allocated[q][r]),
                "allocatedNonPreemptible": number(result.allocated_np[q][r]),
                "fairShare": number(result.fair_share.get(q, {}).get(r, 0.0)),
                "quota": "unlimited" if spec.quota == UNLIMITED else number(spec.quota),
                "limit": "none" if spec.limit == UNLIMITED else number(spec.limit),
            }
        levels.append({"queue": q, "priority": node.priority, "resources": res, "stopsPod": q == stopped_at})
    return levels


def explain_pod(result: ScheduleResult, ref: str) -> dict[str, Any]:
    """The reason chain for a pending pod; :class:`ExplainError` if there is nothing to explain."""
    key = find_pod(result, ref)
    snap = result.snapshot
    info = snap.pods[key]
    name = f"{key[0]}/{key[1]}"
    placement = result.placements.get(key)
    if placement is not None:
        raise ExplainError(f"pod {name} is not pending: it was scheduled to node {placement.node}")
    if key in result.evicted:
        raise ExplainError(f"pod {name} is not pending: it was evicted in the last round and is Releasing on node "
                           f"{result.evicted[key]}")
    if info.state != "Pending" and key not in result.recreated:
        where = f" on node {info.node_name}" if info.node_name else ""
        raise ExplainError(f"pod {name} is not pending: it is {info.state}{where}")
    if not info.ours:
        raise ExplainError(f"pod {name} is pending but not handled by scheduler {snap.scheduler_name} "
                           f"(spec.schedulerName is {info.pod.spec.scheduler_name or 'empty'!s})")
    reason: Optional[PendingReason] = result.reasons.get(key)
    if reason is None:
        raise ExplainError(f"pod {name} is pending but no reason was recorded (it was not tried)")
    group = snap.groups[info.group] if info.group != ("", "") else snap.groups[("pod", *key)]  # type: ignore[index]
    chain: list[dict[str, Any]] = []
    stopped_at = reason.queue_level or (reason.pod_reason.queue_level if reason.pod_reason else "")
    chain.append({"step": "queue", "queue": group.queue, "levels": _queue_levels(result, group.queue, stopped_at),
                  "ok": not stopped_at and reason.code not in ("QueueDoesNotExist", "QueueIsNotLeaf")})
    if reason.topology is not None:
        chain.append({"step": "topology", **reason.topology, "ok": False})
    if reason.gang is not None:
        chain.append({"step": "gang", **reason.gang, "ok": False})
    node_reason = reason if reason.code in (NO_NODE_FITS, NO_NODES) else reason.pod_reason
    if node_reason is not None and node_reason.code in (NO_NODE_FITS, NO_NODES):
        chain.append({"step": "nodes", "nodes": node_reason.nodes_total,
                      "failed": dict(sorted(node_reason.node_reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                      "ok": False})
    return {
        "pod": name,
        "queue": group.queue,
        "priority": group.priority,
        "preemptible": group.preemptible,
        "group": {"kind": group.kind, "name": group.ref, "minMember": group.min_member},
        "rounds": result.rounds,
        "reason": reason.to_dict(),
        "chain": chain,
        "message": reason.message,
        **({"nominatedNodeName": result.nominated[key]} if key in result.nominated else {}),
        "unblock": unblock(result, group, info, reason),
    }


def _limit_text(v: Any, r: str) -> str:
    return v if isinstance(v, str) else format_amount(r, v)


def format_explanation(ex: dict[str, Any]) -> str:
    lines = [f"Pod {ex['pod']} is pending after {ex['rounds']} round{'s' if ex['rounds'] != 1 else ''}.",
             f"  queue {ex['queue']}, priority {ex['priority']}, {'preemptible' if ex['preemptible'] else 'non-preemptible'}",
             f"  reason: {ex['reason']['code']}: {ex['message']}"]
    n = 1
    for step in ex["chain"]:
        if step["step"] == "queue":
            lines.append(f"{n}. queue {step['queue']}: {'within limits' if step['ok'] else 'BLOCKS THE POD'}")
            for lvl in step["levels"]:
                mark = "  <-- stops the pod" if lvl["stopsPod"] else ""
                lines.append(f"     {lvl['queue']} (priority {lvl['priority']}){mark}")
                for r, v in lvl["resources"].items():
                    lines.append(f"       {r:<6} allocated {format_amount(r, v['allocated'])}, fair share "
                                 f"{format_amount(r, v['fairShare'])}, quota {_limit_text(v['quota'], r)}, "
                                 f"limit {_limit_text(v['limit'], r)}")
        elif step["step"] == "topology":
            levels = ", ".join(f"{k} level {step[f'{k}Level']}" for k in ("required", "preferred") if step.get(f"{k}Level"))
            lines.append(f"{n}. topology {step['topology'] or '(none)'} ({levels}): "
                         f"{step.get('message') or 'no placement within the constraint'}")
        elif step["step"] == "gang":
            lines.append(f"{n}. gang {step['kind']} {step['name']}: minMember {step['minMember']}, "
                         f"{step['active']} running, {step['pending']} pending, {step['placed']} could be placed: "
                         f"short by {step['short']}")
        elif step["step"] == "nodes":
            lines.append(f"{n}. nodes: none of {step['nodes']} fits")
            for why, count in step["failed"].items():
                lines.append(f"     {count:>4} x {why}")
        n += 1
    u = ex.get("unblock")
    if u:
        lines.append("What would unblock it:")
        lines.append(f"  {u['message']}")
        if "evictions" in u or "capacity" in u:
            for p in u.get("notPossible", []):
                lines.append(f"  ({p['action']}: {p['message']})")
        if "evictions" in u and "capacity" in u:
            lines.append(f"  otherwise: {u['capacity']['message']}")
    return "\n".join(lines) + "\n"

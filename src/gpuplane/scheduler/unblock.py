"""What would unblock a pending job: the part of ``gpuplane explain`` after the reason chain.

Two answers, in this order:

1. **Evictions.** On the state after the last round, reclaim and then preempt run their victim
   search for the job (:func:`~gpuplane.scheduler.actions.plan_reclaim`,
   :func:`~gpuplane.scheduler.actions.plan_preempt`: the same search the actions use, nothing
   committed). If one finds victims: which jobs, their queue, pods and GPUs, and the node(s) the
   job would be nominated to. If not: why (preemption delay, fair share, victims
   non-preemptible or within their min-runtime, ...). They are not asked for a job the actions
   never try again now (nominated, or a gang without enough pods).
2. **The capacity missing**, from the reason: a queue limit or non-preemptible quota ("queue
   team-a limit 16 GPUs, 14 allocated, the job asks 4: 2 over"); free GPUs, CPU or memory on
   the nodes the pod may use ("needs 8 GPUs on one node; the most free on any node is 5
   (node-3); 3 more GPUs free on one node would place it"); for a gang, how many more pods of its
   shape the nodes would need to hold.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any, Optional

from .cycle import NO_NODE_FITS, NO_NODES, NON_PREEMPTIBLE_OVER_QUOTA, OVER_LIMIT, PendingReason, format_amount
from .placement import static_filter
from .queues import UNLIMITED
from .snapshot import GroupInfo, PodInfo

if TYPE_CHECKING:  # pragma: no cover
    from .cycle import ScheduleResult, _Cluster

__all__ = ["unblock"]

NOT_RETRIED = ("Pipelined", "QueueDoesNotExist", "QueueIsNotLeaf", "ResourceClaimNotFound")


def _n(v: Fraction | float | int) -> str:
    return f"{float(v):g}"


def _gpus(v: Fraction | float | int) -> str:
    return format_amount("gpu", v)


def _victims(c: "_Cluster", plan: Any) -> list[dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for g, pods in plan.victims:
        v = merged.setdefault(g.key, {"kind": g.kind, "name": g.ref, "queue": g.queue, "pods": 0, "gpus": Fraction(0)})
        v["pods"] += len(pods)
        v["gpus"] += sum((c.held_charge(p)["gpu"] for p in pods), Fraction(0))
    out = []
    for v in merged.values():
        v["gpus"] = float(v["gpus"]) if v["gpus"].denominator != 1 else int(v["gpus"])
        out.append(v)
    return out


def _evictions(c: "_Cluster", job: GroupInfo, reason: PendingReason) -> tuple[Optional[dict[str, Any]], list[dict[str, str]]]:
    """The first action that would evict for the job, or why none would."""
    from . import actions

    if reason.code in NOT_RETRIED or job.queue not in c.snap.tree or not c.snap.tree.is_leaf(job.queue):
        return None, []
    pending, need = actions._needed(c, job)
    if not pending or len(pending) < need:
        return None, []
    left = actions.delay_left(c, job)
    not_possible: list[dict[str, str]] = []
    for name in ("reclaim", "preempt"):
        condition = ""
        if not c.config.action_enabled(name):
            condition = f"{name} is disabled (actions.{name}.enabled: false); if it were enabled, "
        elif left > 0:
            condition = f"once the job's preemptionDelay has passed ({actions._seconds(left)} left), "
        plan = actions.plan_reclaim(c, job, explain=True) if name == "reclaim" else actions.plan_preempt(c, job, explain=True)
        if plan.victims is not None and plan.fit is not None:
            victims = _victims(c, plan)
            nodes = sorted({pl.node for key, pl in plan.fit.items() if c._group_of(c.snap.pods[key]).key == job.key})
            names = "; ".join(f"{v['kind']} {v['name']} (queue {v['queue']}, {v['pods']} pod{'s' if v['pods'] != 1 else ''}, "
                              f"{_gpus(v['gpus'])})" for v in victims)
            msg = (f"{condition}{name} would evict {len(victims)} job{'s' if len(victims) != 1 else ''}: {names}; the job "
                   f"would then be placed on node{'s' if len(nodes) != 1 else ''} {', '.join(nodes)}")
            found = {"action": name, "victims": victims, "nodes": nodes, "message": msg}
            if condition:
                found["condition"] = condition.split(";")[0].rstrip(", ")
            return found, not_possible
        msg = plan.why or "no victims"
        if plan.blocked:
            msg += " (" + "; ".join(f"{why}: {', '.join(names)}" for why, names in plan.blocked.items()) + ")"
        if condition:
            msg = condition.split(";")[0].rstrip(", ") + "; and " + msg
        not_possible.append({"action": name, "message": msg})
    return None, not_possible


def _job_request(c: "_Cluster", job: GroupInfo) -> dict[str, Fraction]:
    from . import actions

    pending, need = actions._needed(c, job)
    return actions._charge_sum([c.charge_for(p) for p in pending[:need]])


def _queue_capacity(c: "_Cluster", job: GroupInfo, r: PendingReason) -> Optional[dict[str, Any]]:
    q, res = r.queue_level, r.resource
    if not q or not res or q not in c.snap.tree:
        return None
    spec = c.snap.tree[q].spec(res)
    asks = _job_request(c, job)[res]
    unit = format_amount(res, 0).split(" ", 1)[1] if res != "gpu" else "GPUs"
    if r.code == OVER_LIMIT and spec.limit != UNLIMITED:
        alloc = c.alloc[q][res]
        over = alloc + asks - Fraction(spec.limit)
        limit_text = format_amount(res, spec.limit) if res != "gpu" else f"{_n(spec.limit)} {unit}"
        return {"kind": "queueLimit", "queue": q, "resource": res, "limit": float(spec.limit), "allocated": float(alloc),
                "asks": float(asks), "over": float(over),
                "message": f"queue {q} limit {limit_text}, {_n(alloc)} allocated, the job asks {_n(asks)}: {_n(over)} over"}
    if r.code == NON_PREEMPTIBLE_OVER_QUOTA and spec.quota != UNLIMITED:
        alloc = c.alloc_np[q][res]
        over = alloc + asks - Fraction(spec.quota)
        quota_text = format_amount(res, spec.quota) if res != "gpu" else f"{_n(spec.quota)} {unit}"
        return {"kind": "queueQuota", "queue": q, "resource": res, "quota": float(spec.quota), "allocated": float(alloc),
                "asks": float(asks), "over": float(over),
                "message": (f"queue {q} quota {quota_text}, {_n(alloc)} allocated to non-preemptible jobs, the job asks "
                            f"{_n(asks)}: {_n(over)} over (a preemptible job may use resources over quota)")}
    return None


def _whole_free(c: "_Cluster", name: str) -> int:
    return sum(1 for u in c.nodes[name].gpu_used if u == 0)


def _node_capacity(c: "_Cluster", job: GroupInfo, pod: PodInfo, pods_needed: int, failed: dict[str, int]
                   ) -> Optional[dict[str, Any]]:
    """The GPUs (or CPU, memory) missing on the nodes the pod may use."""
    usable = [n for n in c.snap.nodes if static_filter(n, pod) is None]
    if not usable:
        return {"kind": "nodes", "message": f"no node accepts the pod at all (node filters: "
                                            f"{'; '.join(f'{k}: {v}' for k, v in failed.items())})"}
    d = pod.gpu
    if d.whole:
        w = d.whole
        free = sorted(((_whole_free(c, n.name), n.name) for n in usable), key=lambda t: (-t[0], t[1]))
        best, where = free[0]
        if pods_needed <= 1:
            if best < w:
                return {"kind": "gpus", "perNode": w, "mostFree": best, "node": where, "missing": w - best,
                        "message": (f"needs {_gpus(w)} on one node; the most free on any node is {best} ({where}); "
                                    f"{_gpus(w - best).replace(' GPU', ' more GPU')} free on one node would place it")}
        else:
            slots = sum(f // w for f, _ in free)
            if slots < pods_needed:
                short = pods_needed - slots
                return {"kind": "gpus", "perNode": w, "pods": pods_needed, "room": slots, "missing": short * w,
                        "message": (f"the gang needs {pods_needed} more pods of {_gpus(w)} each; the nodes have room "
                                    f"for {slots} (the most free on one node is {best}, {where}); room for {short} "
                                    f"more pod{'s' if short != 1 else ''} of {_gpus(w)} would place it")}
    if d.is_shared and d.fraction is not None:
        need = d.fraction
        best_free, where = max(((max((1 - u for u in c.nodes[n.name].gpu_used), default=Fraction(0)), n.name)
                                for n in usable), key=lambda t: (t[0], [-ord(ch) for ch in t[1]]))
        if best_free < need:
            return {"kind": "gpuShare", "share": float(need), "mostFree": float(best_free), "node": where,
                    "message": (f"needs {_n(need)} of one GPU; the most free on one GPU is {_n(best_free)} ({where}); "
                                f"{_n(need - best_free)} more of one GPU free would place it")}
    for res, attr, amount in (("cpu", "cpu", pod.cpu_milli), ("memory", "memory", pod.memory)):
        if not amount:
            continue
        free = max(((getattr(c.nodes[n.name], attr), n.name) for n in usable), key=lambda t: (t[0], [-ord(ch) for ch in t[1]]))
        if free[0] >= amount:
            continue
        conv = (lambda v: format_amount("cpu", v)) if res == "cpu" else (lambda v: format_amount("memory", Fraction(v) / 10**6))
        return {"kind": res, "needs": float(amount), "mostFree": float(free[0]), "node": free[1],
                "message": (f"needs {conv(amount)} ({res}) on one node; the most free on any node is {conv(free[0])} "
                            f"({free[1]}); {conv(amount - free[0])} more free on one node would place it")}
    if pod.claims:
        return {"kind": "dra", "message": "no node has free devices matching the pod's ResourceClaims "
                                          "(see the node reasons above)"}
    return None


def unblock(result: "ScheduleResult", job: GroupInfo, pod: PodInfo, reason: PendingReason) -> dict[str, Any]:
    """``{"evictions"?, "notPossible", "capacity"?, "message"}`` for a pending pod."""
    c = result.cluster
    out: dict[str, Any] = {}
    if reason.code == "Pipelined":
        node = result.nominated.get(pod.key, "")
        out["message"] = f"nothing: it is nominated to node {node} and binds once the evicted pods are gone"
        return out
    if c is None:
        out["message"] = "unknown (no scheduler state)"
        return out
    evictions, not_possible = _evictions(c, job, reason)
    out["notPossible"] = not_possible
    if evictions is not None:
        out["evictions"] = evictions
    capacity = None
    inner = reason.pod_reason or reason
    if inner.code in (OVER_LIMIT, NON_PREEMPTIBLE_OVER_QUOTA):
        capacity = _queue_capacity(c, job, inner)
    elif inner.code in (NO_NODE_FITS, NO_NODES):
        if inner.code == NO_NODES:
            capacity = {"kind": "nodes", "message": "there are no nodes: any node the pod fits on would place it"}
        else:
            gang = reason.gang or {}
            pods_needed = int(gang.get("short", 0)) + int(gang.get("placed", 0)) if gang else 1
            capacity = _node_capacity(c, job, pod, max(pods_needed, 1), inner.node_reasons)
    elif reason.gang is not None and reason.code == "GangShortfall" and reason.pod_reason is None:
        short = reason.gang.get("short", 0)
        capacity = {"kind": "pods", "missing": short,
                    "message": f"{short} more pod{'s' if short != 1 else ''} of the gang must exist (minMember "
                               f"{reason.gang.get('minMember')})"}
    if capacity is not None:
        out["capacity"] = capacity
    if evictions is not None:
        out["message"] = evictions["message"]
    elif capacity is not None:
        out["message"] = capacity["message"]
    elif not_possible:
        out["message"] = "no eviction would make room: " + "; ".join(f"{p['action']}: {p['message']}" for p in not_possible)
    else:
        out["message"] = reason.message
    return out

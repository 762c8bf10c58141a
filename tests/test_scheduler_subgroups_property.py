"""Property tests over random SubGroup trees: a job is bound only when every required SubGroup
meets its minimum, no SubGroup is bound partially, required rack constraints hold, no GPU is
double-booked, pods naming an unknown SubGroup never bind."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.api import kai
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"
RACK = "example.com/rack"
TOPO = {"apiVersion": "kai.scheduler/v1alpha1", "kind": "Topology", "metadata": {"name": "dc"},
        "spec": {"levels": [{"nodeLabel": RACK, "alias": "rack"}, {"nodeLabel": "kubernetes.io/hostname"}]}}


@st.composite
def job(draw, name: str, created: str) -> list[dict[str, Any]]:
    """A PodGroup with a random SubGroup tree (depth <= 2) and its pods."""
    subs: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    rack = {"topology": "dc", "requiredTopologyLevel": "rack"}

    def leaf(sg: str, parent: Optional[str]) -> None:
        d: dict[str, Any] = {"name": sg}
        if parent:
            d["parent"] = parent
        mm = draw(st.one_of(st.none(), st.integers(0, 3)))
        if mm is not None:
            d["minMember"] = mm
        if draw(st.integers(0, 4)) == 0:
            d["topologyConstraint"] = rack
        subs.append(d)
        gpus = draw(st.integers(0, 2))
        for i in range(draw(st.integers(0, 4))):
            pods.append(pod(f"{name}-{sg}-{i}", name, sg, gpus, created))

    top = draw(st.integers(1, 3))
    for t in range(top):
        sg = f"s{t}"
        if draw(st.booleans()):
            leaf(sg, None)
        else:
            kids = draw(st.integers(1, 3))
            d: dict[str, Any] = {"name": sg}
            mg = draw(st.one_of(st.none(), st.integers(0, kids)))
            if mg is not None:
                d["minSubGroup"] = mg
            if draw(st.integers(0, 4)) == 0:
                d["topologyConstraint"] = rack
            subs.append(d)
            for k in range(kids):
                leaf(f"{sg}-{k}", sg)
    spec: dict[str, Any] = {"queue": "default-queue", "subGroups": subs}
    root_min = draw(st.one_of(st.none(), st.integers(0, top)))
    if root_min is not None:
        spec["minSubGroup"] = root_min
    level = draw(st.sampled_from(["", "", "required", "preferred"]))
    if level:
        spec["topologyConstraint"] = {"topology": "dc", f"{level}TopologyLevel": "rack"}
    for i in range(draw(st.integers(0, 2))):  # the implicit default SubGroup
        pods.append(pod(f"{name}-free-{i}", name, None, draw(st.integers(0, 1)), created))
    if draw(st.integers(0, 5)) == 0:
        pods.append(pod(f"{name}-stray", name, "nope", 1, created))
    pg = {"apiVersion": "scheduling.run.ai/v2alpha2", "kind": "PodGroup",
          "metadata": {"name": name, "namespace": "default", "creationTimestamp": created}, "spec": spec}
    return [pg] + pods


def pod(name: str, group: str, sg: Optional[str], gpus: int, created: str) -> dict[str, Any]:
    p = m.pod(name, gpus=gpus, group=group, created=created, cpu="100m", memory="100Mi")
    if sg:
        p["metadata"].setdefault("labels", {})[kai.SUBGROUP_LABEL] = sg
    return p


@st.composite
def cluster(draw, queues: bool = False) -> list[dict[str, Any]]:
    """Nodes in two racks and jobs; with ``queues``, two queues of quota 2 and two priorities
    (so that reclaim and preempt evict)."""
    nodes = [m.node(f"n{i}", gpus=draw(st.integers(0, 4)), labels={RACK: f"r{draw(st.integers(0, 1))}"})
             for i in range(draw(st.integers(1, 4)))]
    jobs = []
    for j in range(draw(st.integers(1, 3 if queues else 2))):
        objs = draw(job(f"j{j}", f"2026-01-0{j + 1}T00:00:00Z"))
        if queues:
            objs[0]["spec"]["queue"] = draw(st.sampled_from(["qa", "qb"]))
            objs[0]["spec"]["priorityClassName"] = draw(st.sampled_from(["train", "build-preemptible"]))
        jobs += objs
    extra = [m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)] if queues else []
    return [TOPO] + extra + nodes + jobs


def satisfied(spec: dict[str, Any], bound: dict[str, int]) -> tuple[bool, set[str]]:
    """The oracle: is the tree satisfied by ``bound`` pods per leaf; and the SubGroups satisfied."""
    subs = spec["subGroups"]
    kids: dict[Optional[str], list[dict[str, Any]]] = {}
    for sg in subs:
        kids.setdefault(sg.get("parent"), []).append(sg)
    ok: set[str] = set()

    def check(sg: dict[str, Any]) -> bool:
        children = kids.get(sg["name"], [])
        if not children:
            good = bound.get(sg["name"], 0) >= (1 if sg.get("minMember") is None else sg["minMember"])
        else:
            n = sum(check(c) for c in children)
            good = n >= (len(children) if sg.get("minSubGroup") is None else sg["minSubGroup"])
        if good:
            ok.add(sg["name"])
        return good

    n = sum(check(c) for c in kids.get(None, []))
    return n >= (len(kids.get(None, [])) if spec.get("minSubGroup") is None else spec["minSubGroup"]), ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster(), st.integers(1, 3))
def test_subgroup_gangs_bind_only_whole(objs, rounds):
    check(objs, rounds)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster(queues=True), st.integers(1, 5))
def test_subgroup_gangs_stay_whole_through_reclaim_and_preempt(objs, rounds):
    check(objs, rounds)


def check(objs: list[dict[str, Any]], rounds: int) -> None:
    snap = build_snapshot(m.schedule_objects(objs))
    result = run_rounds(snap, rounds, SchedulerConfig(), NOW)
    # pods evicted in the last round still hold their GPUs: they count as bound here
    bound_keys = set(result.placements) | {k for k in result.evicted}
    node_of = {k: p.node for k, p in result.placements.items()}
    rack_of = {n.name: n.node.metadata.labels[RACK] for n in snap.nodes}

    # no GPU double-booked
    use: dict[tuple[str, int], Fraction] = {}
    for p in result.placements.values():
        for i in p.gpu_indices:
            use[(p.node, i)] = use.get((p.node, i), Fraction(0)) + p.gpu_share
            assert use[(p.node, i)] <= 1, f"GPU {i} of {p.node} booked {use[(p.node, i)]}"
    gpus = {n.name: n.gpus for n in snap.nodes}
    for (node, i) in use:
        assert i < gpus[node]

    for o in objs:
        if o["kind"] != "PodGroup":
            continue
        name, spec = o["metadata"]["name"], o["spec"]
        members = [k for k, p in snap.pods.items() if p.group == ("default", name)]
        assert ("default", f"{name}-stray") not in bound_keys
        per_leaf: dict[str, int] = {}
        leaf_pods: dict[str, list] = {}
        for k in members:
            sg = snap.pods[k].pod.metadata.labels.get(kai.SUBGROUP_LABEL, "")
            if k in bound_keys:
                per_leaf[sg] = per_leaf.get(sg, 0) + 1
                leaf_pods.setdefault(sg, []).append(k)
        if not any(k in bound_keys for k in members):
            continue
        ok, good = satisfied(spec, per_leaf)
        assert ok, f"{name} bound {per_leaf} but its tree is not satisfied"
        parent = {sg["name"]: sg.get("parent") for sg in spec["subGroups"]}
        for sg, n in per_leaf.items():
            if sg:
                # no partial SubGroup: a leaf with bound pods, and all its ancestors, are satisfied
                cur: Optional[str] = sg
                while cur:
                    assert cur in good, f"{name}: SubGroup {cur} bound partially ({per_leaf})"
                    cur = parent.get(cur)
        if spec.get("topologyConstraint", {}).get("requiredTopologyLevel"):
            racks = {rack_of[node_of[k]] for k in members if k in node_of}
            assert len(racks) <= 1, f"{name}: PodGroup spans racks {racks}"
        # required rack constraints: a SubGroup's bound pods share one rack
        for sgd in spec["subGroups"]:
            if not sgd.get("topologyConstraint"):
                continue
            under = {sgd["name"]} | {s["name"] for s in spec["subGroups"] if s.get("parent") == sgd["name"]}
            racks = {rack_of[node_of[k]] for s in under for k in leaf_pods.get(s, []) if k in node_of}
            assert len(racks) <= 1, f"{name}: SubGroup {sgd['name']} spans racks {racks}"


def _pg(name: str, queue: str, created: str, subs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "scheduling.run.ai/v2alpha2", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"queue": queue, "subGroups": subs, "priorityClassName": "train"}}


def test_a_subgroup_gang_is_never_evicted_partially_as_elastic_surplus():
    # Found by hypothesis: reclaim took the "youngest pod above minMember" of a SubGroup gang (j1)
    # as an elastic surplus pod and cut its required SubGroup s0-1 below its minimum. A PodGroup
    # with SubGroups is now evicted whole.
    rack = {"topology": "dc", "requiredTopologyLevel": "rack"}
    d0, d1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    objs = [TOPO, m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2), m.node("n0", gpus=2, labels={RACK: "r0"}),
            _pg("j0", "qb", d0, [{"name": "s0", "topologyConstraint": rack}]),
            pod("j0-s0-0", "j0", "s0", 1, d0), pod("j0-s0-1", "j0", "s0", 1, d0), pod("j0-stray", "j0", "nope", 1, d0),
            _pg("j1", "qa", d1, [{"name": "s0", "topologyConstraint": rack},
                                 {"name": "s0-0", "parent": "s0", "topologyConstraint": rack},
                                 {"name": "s0-1", "parent": "s0", "topologyConstraint": rack}]),
            pod("j1-s0-0-0", "j1", "s0-0", 1, d1), pod("j1-s0-1-0", "j1", "s0-1", 1, d1),
            pod("j1-free-0", "j1", None, 0, d1), pod("j1-stray", "j1", "nope", 1, d1)]
    check(objs, 3)

"""PodGroup topologyConstraint in the allocate action (required / preferred levels)."""

from __future__ import annotations

import pytest

from gpuplane.api.errors import ValidationFailed
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.explain import explain_pod, format_explanation
from gpuplane.scheduler.snapshot import build_snapshot

BLOCK, RACK = "example.com/topology-block", "example.com/topology-rack"
TOPO = {"apiVersion": "kai.scheduler/v1alpha1", "kind": "Topology", "metadata": {"name": "dc"},
        "spec": {"levels": [{"nodeLabel": BLOCK, "alias": "block"}, {"nodeLabel": RACK},
                            {"nodeLabel": "kubernetes.io/hostname"}]}}


def rnode(name, block, rack, gpus=8):
    return m.node(name, gpus=gpus, labels={BLOCK: block, RACK: rack})


def gang(name, pods, gpus, required=None, preferred=None, created="2026-01-01T00:00:00Z"):
    pg = m.podgroup(name, pods, "default-queue")
    tc = {"topology": "dc"}
    if required:
        tc["requiredTopologyLevel"] = required
    if preferred:
        tc["preferredTopologyLevel"] = preferred
    if required or preferred:
        pg["spec"]["topologyConstraint"] = tc
    return [pg] + [m.pod(f"{name}-{i}", gpus=gpus, group=name, created=created) for i in range(pods)]


def schedule(objs):
    snap = build_snapshot(m.schedule_objects(objs))
    return run_rounds(snap, 1, SchedulerConfig(), "2026-06-01T12:00:00Z")


def racks(result, prefix):
    rack_of = {n.name: n.node.metadata.labels[RACK] for n in result.snapshot.nodes}
    return {rack_of[p.node] for k, p in result.placements.items() if k[1].startswith(prefix)}


# rack-1: 2 x 8 (16 free); rack-2: 8 + 4 (12 free); rack-3: 3 x 8 (24 free)
def cluster(rack2_small=4):
    return [TOPO, rnode("a1", "b1", "rack-1"), rnode("a2", "b1", "rack-1"),
            rnode("c1", "b1", "rack-2"), rnode("c2", "b1", "rack-2", gpus=rack2_small),
            rnode("d1", "b2", "rack-3"), rnode("d2", "b2", "rack-3"), rnode("d3", "b2", "rack-3")]


def test_required_rack_keeps_the_gang_in_one_rack():
    # 4 x 4 GPUs = 16: unconstrained binpack would start on the 4-GPU node c2 and spill over racks;
    # required rack: the tightest rack that can host all 16 (rack-1) takes the whole gang
    result = schedule(cluster() + gang("job", 4, 4, required=RACK))
    assert len([k for k in result.placements if k[1].startswith("job")]) == 4
    assert racks(result, "job") == {"rack-1"}


def test_required_level_by_alias_block():
    # 3 x 8 GPUs fit in both blocks (3 free 8-GPU nodes each); b2 (24 free) is tighter than b1 (28)
    result = schedule(cluster() + gang("job", 3, 8, required="block"))
    block_of = {n.name: n.node.metadata.labels[BLOCK] for n in result.snapshot.nodes}
    assert len(result.placements) == 3
    assert {block_of[p.node] for p in result.placements.values()} == {"b2"}


def test_required_gang_that_fits_the_cluster_but_no_rack_stays_pending():
    # 4 x 8 = 32 GPUs: the cluster has 52 free, the biggest rack 24
    objs = cluster() + gang("job", 4, 8, required=RACK)
    result = schedule(objs)
    assert not any(k[1].startswith("job") for k in result.placements)
    reason = result.reasons[("default", "job-0")]
    assert reason.code == "TopologyConstraintUnsatisfied"
    assert "in one rack (topology dc, required level example.com/topology-rack); best rack rack-3 has 24 free" in reason.message
    assert "needs 4 pods x 8 GPUs (32 GPUs)" in reason.message
    ex = explain_pod(result, "job-0")
    steps = [s["step"] for s in ex["chain"]]
    assert "topology" in steps
    text = format_explanation(ex)
    assert "topology dc (required level example.com/topology-rack)" in text and "best rack rack-3 has 24 free" in text
    # without the constraint the same gang fits the cluster
    assert len(schedule(cluster() + gang("job", 4, 8)).placements) == 4


def test_required_domain_that_fits_by_gpus_but_not_cpu_tries_the_next():
    objs = [TOPO, m.node("a1", gpus=8, cpu="2", labels={BLOCK: "b1", RACK: "rack-1"}),
            rnode("b1", "b1", "rack-2"), rnode("b2", "b1", "rack-2")]
    objs += gang("job", 2, 4, required=RACK)
    for o in objs:
        if o["kind"] == "Pod":
            o["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    result = schedule(objs)
    assert racks(result, "job") == {"rack-2"}


def test_preferred_rack_packs_into_one_rack_when_possible():
    result = schedule(cluster() + gang("job", 4, 4, preferred=RACK))
    assert racks(result, "job") == {"rack-1"}


def test_preferred_rack_falls_back_across_racks():
    result = schedule(cluster() + gang("job", 4, 8, preferred=RACK))  # 32 GPUs: no rack has them
    assert len(result.placements) == 4
    placed_racks = racks(result, "job")
    assert len(placed_racks) == 2 and "rack-3" in placed_racks  # the rack with most free is filled first
    rack_of = {n.name: n.node.metadata.labels[RACK] for n in result.snapshot.nodes}
    assert sum(1 for p in result.placements.values() if rack_of[p.node] == "rack-3") == 3


def test_required_with_preferred_fills_one_preferred_domain_first():
    # required block: only b2 (rack-3 8+8, rack-4 8) hosts 2 x 8; preferred rack: rack-3 takes both
    objs = [TOPO, rnode("a1", "b1", "rack-1"), rnode("d1", "b2", "rack-3"), rnode("d2", "b2", "rack-3"),
            rnode("b9", "b2", "rack-4")]  # b9 sorts first by name
    result = schedule(objs + gang("job", 2, 8, required="block", preferred=RACK))
    assert racks(result, "job") == {"rack-3"}


def test_unknown_topology_is_rejected_by_the_snapshot():
    with pytest.raises(ValidationFailed, match="no Topology with this name"):
        schedule(cluster()[1:] + gang("job", 2, 4, required=RACK))


def test_required_domains_all_fail_on_other_resources_explained():
    objs = [TOPO, m.node("a1", gpus=8, cpu="2", labels={BLOCK: "b1", RACK: "rack-1"})] + gang("job", 2, 4, required=RACK)
    for o in objs:
        if o["kind"] == "Pod":
            o["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    result = schedule(objs)
    assert not result.placements
    reason = result.reasons[("default", "job-0")]
    assert reason.code == "GangShortfall" and "no rack could host the gang (1 candidate rack tried)" in reason.message
    assert reason.topology["domain"] == "rack-1"
    text = format_explanation(explain_pod(result, "job-0"))
    assert "best attempt: rack rack-1" in text and "insufficient cpu" in text

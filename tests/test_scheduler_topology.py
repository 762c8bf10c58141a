"""Topology-aware gang ordering (gpuplane.scheduler.topology)."""

from fractions import Fraction

import pytest

from gpuplane.scheduler.topology import (
    GangDemand, TopoNode, Topology, TopologyConstraint, clique_groups, order_nodes_for_gang,
)

TOPO = Topology.from_object({
    "metadata": {"name": "dc"},
    "spec": {"levels": [{"nodeLabel": "example.com/topology-block", "alias": "block"},
                        {"nodeLabel": "example.com/topology-rack"},
                        {"nodeLabel": "kubernetes.io/hostname"}]},
})


def node(name, block, rack, free, gpus=8, **extra):
    labels = {"example.com/topology-block": block, "example.com/topology-rack": rack, "kubernetes.io/hostname": name}
    labels.update(extra)
    return TopoNode(name, labels, Fraction(free), Fraction(gpus))


NODES = [
    node("a1", "b1", "rack-1", 8), node("a2", "b1", "rack-1", 8),  # rack-1: 16 free
    node("c1", "b1", "rack-2", 4), node("c2", "b1", "rack-2", 8),  # rack-2: 12 free
    node("d1", "b2", "rack-3", 8), node("d2", "b2", "rack-3", 8), node("d3", "b2", "rack-3", 2),  # rack-3: 18 free
]


def test_no_constraint_is_one_group_tightest_node_first():
    groups, why = order_nodes_for_gang(NODES, TOPO, TopologyConstraint(), 4)
    assert why == "" and len(groups) == 1
    assert groups[0].nodes[:2] == ["d3", "c1"]


def test_required_rack_domains_that_fit_tightest_first():
    groups, why = order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", "example.com/topology-rack"), 12)
    assert why == ""
    assert [g.value for g in groups] == ["rack-2", "rack-1", "rack-3"]  # 12, 16, 18 free
    assert groups[0].nodes == ["c1", "c2"] and groups[0].fits and groups[0].path == ("b1", "rack-2")


def test_required_level_by_alias_and_pod_granularity():
    # 2 pods x 8 GPUs: rack-2 has 12 free but no two nodes with 8 free
    groups, why = order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", "block"), GangDemand(3, Fraction(8)))
    assert why == "" and [g.value for g in groups] == ["b1"]  # b1 fits 3 (a1, a2, c2), b2 only 2 (d1, d2)
    groups, why = order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", "example.com/topology-rack"),
                                       GangDemand(2, Fraction(8)))
    assert [g.value for g in groups] == ["rack-1", "rack-3"]


def test_shortfall_message():
    nodes = [node("n1", "b1", "rack-1", 4), node("n2", "b1", "rack-2", 8), node("n3", "b1", "rack-2", 4)]
    groups, why = order_nodes_for_gang(nodes, TOPO, TopologyConstraint("dc", "example.com/topology-rack"), 16)
    assert groups == []
    assert why == ("needs 16 GPUs in one rack (topology dc, required level example.com/topology-rack);"
                   " best rack rack-2 has 12 free")
    _, why = order_nodes_for_gang(nodes, TOPO, TopologyConstraint("dc", "example.com/topology-rack"),
                                  GangDemand(4, Fraction(4)))
    assert "needs 4 pods x 4 GPUs (16 GPUs) in one rack" in why and "room for 3 of the 4 pods" in why


def test_shortfall_counts_unlabelled_nodes():
    nodes = [node("n1", "b1", "rack-1", 4), TopoNode("bare", {}, Fraction(8), Fraction(8))]
    _, why = order_nodes_for_gang(nodes, TOPO, TopologyConstraint("dc", "example.com/topology-rack"), 8)
    assert why.endswith("best rack rack-1 has 4 free; 1 node lack the label example.com/topology-rack")


def test_preferred_only_falls_back_to_all_nodes():
    groups, why = order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", None, "example.com/topology-rack"), 20)
    assert why == "" and len(groups) == 1 and groups[0].level == ""  # no rack holds 20: fallback only
    # most free rack first when none fits: rack-3 (18), rack-1 (16), rack-2 (12)
    assert groups[0].nodes == ["d3", "d1", "d2", "a1", "a2", "c1", "c2"]
    groups, _ = order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", None, "example.com/topology-rack"), 14)
    assert [g.value for g in groups] == ["rack-1", "rack-3", ""]


def test_required_and_preferred():
    groups, why = order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", "block", "example.com/topology-rack"), 10)
    assert why == "" and [g.value for g in groups] == ["b2", "b1"]  # b2 (18 free) is tighter than b1 (28)
    # inside b1, nodes by preferred rack: rack-2 (12 free, fits 10) before rack-1 (16), tightest node first
    assert groups[1].nodes == ["c1", "c2", "a1", "a2"]


def test_unknown_level():
    with pytest.raises(ValueError, match="has no level 'zone'"):
        order_nodes_for_gang(NODES, TOPO, TopologyConstraint("dc", "zone"), 1)


def test_clique_groups_and_clique_level():
    nodes = [node("g1", "b1", "r1", 4, **{"nvidia.com/gpu.clique": "cl-a"}),
             node("g2", "b1", "r1", 4, **{"nvidia.com/gpu.clique": "cl-a"}),
             node("g3", "b1", "r1", 4, **{"nvidia.com/gpu.clique": "cl-b"}),
             node("g4", "b1", "r1", 4)]
    assert clique_groups(nodes) == {"cl-a": ["g1", "g2"], "cl-b": ["g3"]}
    topo = Topology("nvl", ("nvidia.com/gpu.clique", "kubernetes.io/hostname"))
    groups, why = order_nodes_for_gang(nodes, topo, TopologyConstraint("nvl", "nvidia.com/gpu.clique"), 8)
    assert why == "" and [(g.value, g.nodes) for g in groups] == [("cl-a", ["g1", "g2"])]
    _, why = order_nodes_for_gang(nodes, topo, TopologyConstraint("nvl", "nvidia.com/gpu.clique"), 12)
    assert why.startswith("needs 12 GPUs in one gpu.clique") and "best gpu.clique cl-a has 8 free" in why

"""PodGroup SubGroups in the allocate action: per-SubGroup gang minimums, minSubGroup, the
elastic phase, SubGroup topology constraints, NVLink cliques, explanations, multi-round runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gpuplane.api import kai
from gpuplane.api.errors import ValidationFailed
from gpuplane.api.models import ObjectMeta
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.explain import explain_pod, format_explanation
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot
from gpuplane.scheduler.subgroups import DEFAULT, build_tree

NOW = "2026-06-01T12:00:00Z"
BLOCK, RACK = "example.com/topology-block", "example.com/topology-rack"
CLIQUE = "nvidia.com/gpu.clique"
TOPO = {"apiVersion": "kai.scheduler/v1alpha1", "kind": "Topology", "metadata": {"name": "dc"},
        "spec": {"levels": [{"nodeLabel": BLOCK, "alias": "block"}, {"nodeLabel": RACK, "alias": "rack"},
                            {"nodeLabel": "kubernetes.io/hostname"}]}}


def pg(name="job", subgroups=(), queue="default-queue", **spec):
    obj = m.podgroup(name, 1, queue)
    del obj["spec"]["minMember"]
    obj["spec"].update(spec)
    obj["spec"]["subGroups"] = [dict(s) for s in subgroups]
    return obj


def sgpod(name, subgroup=None, gpus=1, group="job", **kw):
    p = m.pod(name, gpus=gpus, group=group, **kw)
    if subgroup:
        p["metadata"].setdefault("labels", {})["kai.scheduler/subgroup-name"] = subgroup
    return p


def schedule(objs, rounds=1):
    snap = build_snapshot(m.schedule_objects(objs))
    return run_rounds(snap, rounds, SchedulerConfig(), NOW)


def placed(result, prefix=""):
    return sorted(k[1] for k in result.placements if k[1].startswith(prefix))


def leader_workers(workers=4, min_workers=4):
    return [pg(subgroups=[{"name": "leader", "minMember": 1}, {"name": "workers", "minMember": min_workers}]),
            sgpod("leader-0", "leader")] + [sgpod(f"worker-{i}", "workers") for i in range(workers)]


# --- gang minimums per SubGroup -------------------------------------------------------------


def test_every_subgroup_meets_its_minimum_then_extra_pods_are_elastic():
    # 5 GPUs: leader + 4 workers (the minimums); the 5th worker is elastic and does not fit
    result = schedule([m.node("n1", gpus=4), m.node("n2", gpus=1)] + leader_workers(workers=5))
    assert placed(result) == ["leader-0", "worker-0", "worker-1", "worker-2", "worker-3"]
    assert result.reasons[("default", "worker-4")].code == "NoNodeFits"


def test_a_subgroup_short_of_its_minimum_keeps_the_whole_gang_pending():
    result = schedule([m.node("n1", gpus=3)] + leader_workers())
    assert placed(result) == []  # all or nothing: the leader is rolled back too
    reason = result.reasons[("default", "leader-0")]
    assert reason.code == "GangShortfall"
    assert "subgroup workers: 2 of minimum 4 pods placed (0 running): short by 2 pods" in reason.message
    assert "1 of minimum 2 SubGroups satisfied" in reason.message
    assert reason.gang["subGroup"] == "workers" and reason.gang["short"] == 2
    text = format_explanation(explain_pod(result, "worker-1"))
    assert "gang SubGroup workers of default/job: minMember 4, 0 running, 4 pending, 2 could be placed: short by 2" in text
    pgs = {o["metadata"]["name"]: o for o in result_objects(result) if o["kind"] == "PodGroup"}
    assert "subgroup workers" in json.dumps(pgs["job"]["status"])


def test_a_subgroup_without_enough_pods_is_reported_without_trying():
    result = schedule([m.node("n1", gpus=8)] + leader_workers(workers=3))
    assert placed(result) == []
    msg = result.reasons[("default", "worker-0")].message
    assert "subgroup workers needs 4 pods (minMember) but only 3 exist (0 running, 3 pending): short by 1 pod" in msg


def test_running_pods_count_toward_the_subgroup_minimum():
    objs = [m.node("n1", gpus=4)] + leader_workers()
    objs = [o for o in objs if o["metadata"]["name"] not in ("leader-0", "worker-0", "worker-1")]
    objs += [sgpod("leader-0", "leader", node_name="n1", held="gpu-0"),
             sgpod("worker-0", "workers", node_name="n1", held="gpu-1"),
             sgpod("worker-1", "workers", node_name="n1", held="gpu-2")]
    result = schedule(objs)
    # workers need 2 more; one GPU is free: nothing is placed, and the reason counts the running pods
    assert placed(result) == []
    assert "subgroup workers: 3 of minimum 4 pods placed (2 running): short by 1 pod" in result.reasons[("default", "worker-2")].message


def test_root_min_sub_group_takes_the_first_subgroup_that_fits():
    objs = [m.node("n1", gpus=2),
            pg(minSubGroup=1, subgroups=[{"name": "big", "minMember": 3}, {"name": "small", "minMember": 2}])]
    objs += [sgpod(f"big-{i}", "big") for i in range(3)] + [sgpod(f"small-{i}", "small") for i in range(2)]
    result = schedule(objs)
    assert placed(result) == ["small-0", "small-1"]
    # the optional subgroup that cannot reach its minimum gets nothing (no partial gang) and says why
    reason = result.reasons[("default", "big-0")]
    assert reason.code == "GangShortfall" and "subgroup big: 0 of minimum 3 pods placed" in reason.message


def test_optional_subgroup_is_added_as_a_gang_when_it_fits():
    objs = [m.node("n1", gpus=5),
            pg(minSubGroup=1, subgroups=[{"name": "a", "minMember": 2}, {"name": "b", "minMember": 3}])]
    objs += [sgpod(f"a-{i}", "a") for i in range(2)] + [sgpod(f"b-{i}", "b") for i in range(3)]
    assert len(placed(schedule(objs))) == 5


def test_mid_level_without_min_sub_group_requires_all_children():
    subs = [{"name": "leader", "minMember": 1}, {"name": "workers"},
            {"name": "replica-0", "parent": "workers", "minMember": 2},
            {"name": "replica-1", "parent": "workers", "minMember": 2}]
    pods = [sgpod("leader-0", "leader")] + [sgpod(f"r{r}-{i}", f"replica-{r}") for r in range(2) for i in range(2)]
    assert placed(schedule([m.node("n1", gpus=4), pg(subgroups=subs)] + pods)) == []
    msg = schedule([m.node("n1", gpus=4), pg(subgroups=subs)] + pods).reasons[("default", "r0-0")].message
    assert "subgroup workers: 1 of minimum 2 child SubGroups satisfied: short by 1" in msg
    assert "subgroup replica-1: 1 of minimum 2 pods placed" in msg
    # minSubGroup 1 on the mid level: one replica is enough
    subs[1] = {"name": "workers", "minSubGroup": 1}
    assert placed(schedule([m.node("n1", gpus=4), pg(subgroups=subs)] + pods)) == ["leader-0", "r0-0", "r0-1"]


def test_min_member_zero_subgroup_is_elastic():
    objs = [m.node("n1", gpus=2), pg(subgroups=[{"name": "core", "minMember": 2}, {"name": "extra", "minMember": 0}])]
    objs += [sgpod("extra-0", "extra", created="2025-01-01T00:00:00Z")]  # older, but only elastic
    objs += [sgpod(f"core-{i}", "core") for i in range(2)]
    assert placed(schedule(objs)) == ["core-0", "core-1"]


def test_pods_without_the_label_join_the_elastic_default_subgroup():
    objs = [m.node("n1", gpus=3), pg(subgroups=[{"name": "workers", "minMember": 2}])]
    objs += [sgpod(f"side-{i}", None, created="2025-01-01T00:00:00Z") for i in range(2)]
    objs += [sgpod(f"w-{i}", "workers") for i in range(2)]
    result = schedule(objs)
    assert placed(result) == ["side-0", "w-0", "w-1"]  # workers first; then one unlabelled pod fits
    assert result.reasons[("default", "side-1")].code == "NoNodeFits"


def test_podgroup_min_member_is_a_floor_on_the_total():
    objs = [m.node("n1", gpus=3), pg(minMember=4, subgroups=[{"name": "a", "minMember": 1}, {"name": "b", "minMember": 1}])]
    objs += [sgpod(f"a-{i}", "a") for i in range(2)] + [sgpod(f"b-{i}", "b") for i in range(2)]
    result = schedule(objs)
    assert placed(result) == []
    assert "needs 4 pods in total (minMember) but only 3 could be placed: short by 1 pod" in result.reasons[("default", "a-0")].message


def test_pod_naming_an_unknown_subgroup_is_explained_not_dropped():
    objs = [m.node("n1", gpus=8)] + leader_workers() + [sgpod("stray", "wrokers")]
    result = schedule(objs)
    assert len(placed(result)) == 5
    reason = result.reasons[("default", "stray")]
    assert reason.code == "SubGroupNotFound"
    assert "kai.scheduler/subgroup-name=wrokers names no SubGroup of PodGroup default/job" in reason.message
    assert "SubGroupNotFound" in format_explanation(explain_pod(result, "stray"))


# --- topology constraints on SubGroups ------------------------------------------------------


def rnode(name, block, rack, gpus=4):
    return m.node(name, gpus=gpus, labels={BLOCK: block, RACK: rack})


def racked(rack="rack"):
    tc = {"topology": "dc", "requiredTopologyLevel": rack}
    return pg(topologyConstraint={"topology": "dc", "requiredTopologyLevel": "block"},
              subgroups=[{"name": "a", "minMember": 4, "topologyConstraint": tc},
                         {"name": "b", "minMember": 4, "topologyConstraint": tc}])


def test_each_subgroup_in_one_rack_inside_one_block():
    nodes = [rnode("x1", "b1", "r1", 2), rnode("x2", "b1", "r1", 2), rnode("y1", "b1", "r2", 3),
             rnode("z1", "b2", "r3", 4), rnode("z2", "b2", "r4", 4)]
    pods = [sgpod(f"a{i}", "a") for i in range(4)] + [sgpod(f"b{i}", "b") for i in range(4)]
    result = schedule([TOPO] + nodes + [racked()] + pods)
    labels = {n.name: n.node.metadata.labels for n in result.snapshot.nodes}
    for sg in "ab":
        assert len({labels[p.node][RACK] for k, p in result.placements.items() if k[1].startswith(sg)}) == 1
    assert {labels[p.node][BLOCK] for p in result.placements.values()} == {"b2"}
    assert len(result.placements) == 8


def test_subgroup_domain_shortfall_names_the_subgroup_and_the_domain():
    # block b1 has 8 GPUs (fits the gang) but no rack with 4 free for subgroup b after a takes r1
    nodes = [rnode("x1", "b1", "r1", 4), rnode("y1", "b1", "r2", 2), rnode("y2", "b1", "r3", 2)]
    pods = [sgpod(f"a{i}", "a") for i in range(4)] + [sgpod(f"b{i}", "b") for i in range(4)]
    result = schedule([TOPO] + nodes + [racked()] + pods)
    assert placed(result) == []
    reason = result.reasons[("default", "b0")]
    assert "subgroup b needs 4 pods x 1 GPUs (4 GPUs) in one rack" in reason.message
    assert "best rack r2 has 2 free" in reason.message
    assert reason.code == "TopologyConstraintUnsatisfied"
    assert reason.topology["subGroup"] == "b" and reason.topology["within"] == "block b1"
    text = format_explanation(explain_pod(result, "b0"))
    assert "topology dc (required level rack): needs 4 pods x 1 GPUs (4 GPUs) in one rack" in text
    assert "gang SubGroup b of default/job: minMember 4" in text


def test_subgroup_preferred_rack_concentrates_pods():
    nodes = [rnode("x1", "b1", "r1", 2), rnode("y1", "b1", "r2", 4), rnode("y2", "b1", "r2", 4)]
    obj = pg(subgroups=[{"name": "w", "minMember": 3,
                         "topologyConstraint": {"topology": "dc", "preferredTopologyLevel": "rack"}}])
    result = schedule([TOPO] + nodes + [obj] + [sgpod(f"w{i}", "w", gpus=2) for i in range(3)])
    labels = {n.name: n.node.metadata.labels for n in result.snapshot.nodes}
    assert {labels[p.node][RACK] for p in result.placements.values()} == {"r2"}


def test_preferred_domain_is_no_fence_for_extra_pods():
    nodes = [rnode("x1", "b1", "r1", 2), rnode("y1", "b1", "r2", 2)]
    obj = pg(subgroups=[{"name": "w", "minMember": 2, "topologyConstraint": {"topology": "dc", "preferredTopologyLevel": "rack"}}])
    result = schedule([TOPO] + nodes + [obj] + [sgpod(f"w{i}", "w") for i in range(4)])
    assert sorted(p.node for p in result.placements.values()) == ["x1", "x1", "y1", "y1"]


def test_elastic_pods_of_a_constrained_subgroup_stay_in_one_domain():
    # minMember 0: nothing is required, yet the extra pods must share a rack (r2, the only one with room for all)
    nodes = [rnode("x1", "b1", "r1", 1), rnode("x2", "b1", "r1", 1), rnode("y1", "b1", "r2", 3)]
    obj = pg(subgroups=[{"name": "w", "minMember": 0, "topologyConstraint": {"topology": "dc", "requiredTopologyLevel": "rack"}}])
    result = schedule([TOPO] + nodes + [obj] + [sgpod(f"w{i}", "w") for i in range(3)])
    assert sorted(p.node for p in result.placements.values()) == ["y1", "y1", "y1"]
    # no rack with a free GPU at all: the pods say so
    nodes = [rnode("x1", "b1", "r1", 0), m.node("free", gpus=4)]
    result = schedule([TOPO] + nodes + [obj, sgpod("w0", "w")])
    reason = result.reasons[("default", "w0")]
    assert reason.code == "TopologyConstraintUnsatisfied"
    assert reason.message.startswith("gang PodGroup default/job: subgroup w: extra pods: needs 1 GPUs in one rack")


def test_unknown_topology_in_a_subgroup_is_an_input_error():
    obj = pg(subgroups=[{"name": "w", "minMember": 1, "topologyConstraint": {"topology": "nope", "requiredTopologyLevel": "rack"}}])
    with pytest.raises(ValidationFailed, match=r"spec.subGroups\[0\].topologyConstraint.topology: Not found"):
        build_snapshot(m.schedule_objects([m.node("n1", gpus=1), obj, sgpod("w0", "w")]))


# --- NVLink cliques -------------------------------------------------------------------------


def cnode(name, clique, gpus=4):
    return m.node(name, gpus=gpus, labels={CLIQUE: clique} if clique else {})


def test_whole_gpu_gang_prefers_one_clique_by_default():
    # cliques u.1 (8 free) and u.2 (6 free): the gang of 3 x 2 GPUs takes the tightest that fits
    nodes = [cnode("c1", "u.1"), cnode("c2", "u.2"), cnode("c3", "u.1"), cnode("c4", "u.2", gpus=2)]
    result = schedule(nodes + [m.podgroup("g", 3, "default-queue")] + [m.pod(f"g{i}", gpus=2, group="g") for i in range(3)])
    assert sorted(p.node for p in result.placements.values()) == ["c2", "c2", "c4"]


def test_without_clique_labels_placement_is_plain_binpack():
    nodes = [cnode("c1", None), cnode("c2", None), cnode("c3", None), cnode("c4", None, gpus=2)]
    result = schedule(nodes + [m.podgroup("g", 3, "default-queue")] + [m.pod(f"g{i}", gpus=2, group="g") for i in range(3)])
    # node by node (tightest first): c4, then c1 twice; with cliques it took c2 + c4 (one clique)
    assert sorted(p.node for p in result.placements.values()) == ["c1", "c1", "c4"]


def test_clique_preference_falls_back_across_cliques():
    nodes = [cnode("c1", "u.1", 2), cnode("c2", "u.2", 2)]
    result = schedule(nodes + [m.podgroup("g", 2, "default-queue")] + [m.pod(f"g{i}", gpus=2, group="g") for i in range(2)])
    assert sorted(p.node for p in result.placements.values()) == ["c1", "c2"]


def test_clique_preference_never_keeps_a_gang_pending_by_itself():
    nodes = [cnode("c1", "u.1", 4), cnode("c2", "u.2", 4)]
    result = schedule(nodes + [m.podgroup("g", 3, "default-queue")] + [m.pod(f"g{i}", gpus=4, group="g") for i in range(3)])
    assert not result.placements
    reason = result.reasons[("default", "g0")]
    assert reason.code == "GangShortfall" and reason.topology is None  # the soft default is not the cause
    assert "clique" not in reason.message


def test_clique_preference_applies_to_whole_gpu_gangs_only():
    from gpuplane.scheduler.topology import CLIQUE_LABEL, clique_preference

    topo, c = clique_preference([(2, False), (1, False)])
    assert topo.levels == (CLIQUE_LABEL,) and c.preferred_level == CLIQUE_LABEL and c.required_level is None
    assert clique_preference([(2, False)]) is None  # one pod
    assert clique_preference([(2, False), (0, True)]) is None  # a shared-GPU pod
    assert clique_preference([(1, False), (0, False)]) is None  # a pod without GPUs


def test_topology_may_use_the_clique_label_as_a_required_level():
    topo = {"apiVersion": "kai.scheduler/v1alpha1", "kind": "Topology", "metadata": {"name": "nvl"},
            "spec": {"levels": [{"nodeLabel": CLIQUE, "alias": "clique"}, {"nodeLabel": "kubernetes.io/hostname"}]}}
    nodes = [cnode("c1", "u.1", 2), cnode("c2", "u.2", 2)]
    g = m.podgroup("g", 2, "default-queue")
    g["spec"]["topologyConstraint"] = {"topology": "nvl", "requiredTopologyLevel": "clique"}
    result = schedule([topo] + nodes + [g] + [m.pod(f"g{i}", gpus=2, group="g") for i in range(2)])
    assert not result.placements
    assert "in one clique" in result.reasons[("default", "g0")].message


# --- validation -----------------------------------------------------------------------------


def test_membership_errors_name_the_pod_and_the_label():
    spec = kai.PodGroupSpec(sub_groups=[kai.SubGroup(name="workers"), kai.SubGroup(name="r0", parent="workers", min_member=1)])
    pgm = kai.PodGroup(metadata=ObjectMeta(name="job", namespace="ns"), spec=spec)
    errs = [str(e) for e in kai.subgroup_membership_errors(pgm, [
        ("ns", "a", {kai.SUBGROUP_LABEL: "nope"}), ("ns", "b", {kai.SUBGROUP_LABEL: "workers"}),
        ("ns", "c", {kai.SUBGROUP_LABEL: "r0"}), ("ns", "d", {})])]
    assert errs == [
        'Pod/ns/a: metadata.labels[kai.scheduler/subgroup-name]: Not found: "nope": PodGroup ns/job has no SubGroup with this name (its SubGroups: "r0", "workers")',
        'Pod/ns/b: metadata.labels[kai.scheduler/subgroup-name]: Invalid value: "workers": SubGroup workers of PodGroup ns/job has child SubGroups; pods join leaf SubGroups only',
    ]


def test_min_member_on_a_subgroup_with_children_is_rejected():
    spec = kai.PodGroupSpec(sub_groups=[kai.SubGroup(name="w", min_member=2), kai.SubGroup(name="r0", parent="w")])
    errs = [str(e) for e in kai.validate_podgroup(kai.PodGroup(metadata=ObjectMeta(name="pg", namespace="ns"), spec=spec))]
    assert errs == ['PodGroup/ns/pg: spec.subGroups[0].minMember: Invalid value: 2: minMember can only be set on a leaf '
                    'SubGroup (this one has child SubGroups; use minSubGroup)']


def test_subgroup_cycle_is_an_input_error_of_the_snapshot():
    obj = pg(subgroups=[{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}])
    with pytest.raises(ValidationFailed, match="SubGroup parents form a cycle: a -> b -> a"):
        build_snapshot(m.schedule_objects([obj]))


def test_tree_puts_unlabelled_pods_in_the_default_subgroup():
    obj = pg(subgroups=[{"name": "w", "minMember": 2}])
    tree = build_tree(("default", "job"), obj, {("default", "p0"): {}, ("default", "p1"): {kai.SUBGROUP_LABEL: "w"}})
    assert tree.nodes[DEFAULT].pods == (("default", "p0"),) and tree.nodes[DEFAULT].min_member == 0
    assert tree.nodes["w"].pods == (("default", "p1"),)
    assert tree.root.required_children == 1


# --- KAI-style multi-round: settle, then five more rounds without change --------------------


def state(objs, rounds):
    result = schedule(objs, rounds)
    return result, json.dumps(sorted((k[1], p.node, p.gpu_names) for k, p in result.placements.items()))


def assert_settles(objs, max_rounds=6):
    prev = None
    for n in range(1, max_rounds + 1):
        result, s = state(objs, n)
        if s == prev:
            break
        prev = s
    else:
        raise AssertionError(f"no fixed point within {max_rounds} rounds")
    for k in range(1, 6):
        result, s = state(objs, n + k)
        assert s == prev, f"round {n + k} changed"
        assert not any(e["round"] >= n for e in result.evictions), result.evictions
    return result


def test_rounds_settle_two_subgroup_gangs_competing():
    # two jobs, 6 GPUs: the older job's leader + 4 workers bind; the other (needs 5) never partially binds
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=2)]
    for j, created in (("old", "2026-01-01T00:00:00Z"), ("new", "2026-02-01T00:00:00Z")):
        objs.append(pg(j, subgroups=[{"name": "leader", "minMember": 1}, {"name": "workers", "minMember": 4}]))
        objs += [sgpod(f"{j}-leader", "leader", group=j, created=created)]
        objs += [sgpod(f"{j}-w{i}", "workers", group=j, created=created) for i in range(4)]
    result = assert_settles(objs)
    assert placed(result, "old") == ["old-leader", "old-w0", "old-w1", "old-w2", "old-w3"]
    assert placed(result, "new") == []
    assert "subgroup workers" in result.reasons[("default", "new-w0")].message


def test_rounds_settle_subgroup_gang_reclaims_its_quota():
    # qa borrowed all 8 GPUs; qb's gang (leader + 3 workers, 4 GPUs = its quota) reclaims 4 of them
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=4), m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=4)]
    objs += [m.pod(f"a{i}", queue="qa", gpus=1, node_name="n1" if i < 4 else "n2", held=f"gpu-{i % 4}",
                   priority_class="train", created=f"2026-06-01T0{i}:00:00Z") for i in range(8)]
    objs += [pg("job", queue="qb", subgroups=[{"name": "leader", "minMember": 1}, {"name": "workers", "minMember": 3}])]
    objs += [sgpod("l0", "leader", queue="qb", priority_class="train", created="2026-06-01T10:00:00Z")]
    objs += [sgpod(f"w{i}", "workers", queue="qb", priority_class="train", created="2026-06-01T10:00:00Z") for i in range(3)]
    result = assert_settles(objs)
    assert sorted(e["pod"] for e in result.evictions) == [f"default/a{i}" for i in range(4, 8)]
    assert placed(result, "l") + placed(result, "w") == ["l0", "w0", "w1", "w2"]


def test_rounds_settle_elastic_subgroup_grows_no_further():
    objs = [m.node("n1", gpus=4),
            pg(minSubGroup=1, subgroups=[{"name": "core", "minMember": 2}, {"name": "opt", "minMember": 3}])]
    objs += [sgpod(f"core-{i}", "core") for i in range(3)] + [sgpod(f"opt-{i}", "opt") for i in range(3)]
    result = assert_settles(objs)
    # core 2 + 1 elastic; opt needs 3 but only 1 GPU is left: it never binds partially
    assert placed(result) == ["core-0", "core-1", "core-2"]


# --- the CLI on the example -----------------------------------------------------------------


def test_cli_subgroups_example():
    from gpuplane.scheduler.cli import explain_command, schedule_command

    example = str(Path(__file__).resolve().parents[1] / "examples" / "scheduler" / "subgroups")
    out = CliRunner().invoke(schedule_command, ["-f", example, "-o", "json", "--now", NOW])
    assert out.exit_code == 0, out.output
    pods = {o["metadata"]["name"]: o for o in json.loads(out.output)["items"] if o["kind"] == "Pod"}
    bound = {n: p["spec"].get("nodeName") for n, p in pods.items() if p["spec"].get("nodeName")}
    # train: leader + 2 tensor-parallel groups of 4, each group in one NVLink clique
    assert sorted(n for n in bound if n.startswith("train-")) == (
        ["train-leader"] + [f"train-tp{g}-{i}" for g in range(2) for i in range(4)])
    clique = {n: n.split("-")[1] for n in ("nvl-a-0", "nvl-a-1", "nvl-b-0", "nvl-b-1")}
    for g in range(2):
        assert len({clique[bound[f"train-tp{g}-{i}"]] for i in range(4)}) == 1
    # infer: its workers subgroup cannot reach minMember: nothing of it binds
    assert not any(n.startswith("infer-") for n in bound)
    ex = CliRunner().invoke(explain_command, ["infer-worker-0", "-f", example, "--now", NOW])
    assert "subgroup workers:" in ex.output and "of minimum 4 pods placed" in ex.output

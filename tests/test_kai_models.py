"""KAI kinds: decoding realistic manifests, and every validation rule with its exact message."""

from __future__ import annotations

import copy
import math

import pytest

from gpuplane.api import kai
from gpuplane.api.core import PriorityClass, decode_priority_class
from gpuplane.api.errors import ValidationFailed
from gpuplane.api.loader import load_text
from gpuplane.api.models import ObjectMeta
from gpuplane.scheduler import QueueTree, compute_fair_shares

DEPARTMENTS = ["research", "product", "platform", "inference"]
TEAMS = ["vision", "nlp", "speech", "rl", "infra"]


def _queue_yaml(name: str, parent: str | None, gpu: tuple, cpu: tuple, mem: tuple, priority: int | None = None) -> str:
    lines = [
        "apiVersion: scheduling.run.ai/v2",
        "kind: Queue",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  displayName: {name.title()}",
    ]
    if parent:
        lines.append(f"  parentQueue: {parent}")
    if priority is not None:
        lines.append(f"  priority: {priority}")
    lines.append("  resources:")
    for rname, (quota, weight, limit) in (("gpu", gpu), ("cpu", cpu), ("memory", mem)):
        lines += [f"    {rname}:", f"      quota: {quota}", f"      overQuotaWeight: {weight}", f"      limit: {limit}"]
    return "\n".join(lines)


def cluster_yaml() -> str:
    """4 departments x 5 team queues, as a KAI admin would write them (cpu in millicores, memory in MB)."""
    docs = []
    for d, dept in enumerate(DEPARTMENTS):
        docs.append(_queue_yaml(dept, None, (16, d + 1, -1), (64000, 1, -1), (512000, 1, -1),
                                priority=200 if dept == "inference" else None))
        for t, team in enumerate(TEAMS):
            quota = [4, 4, 2, 2, 0][t]
            weight = [1, 2, 1, 0.5, 0][t]
            limit = -1 if t < 3 else 8
            docs.append(_queue_yaml(f"{dept}-{team}", dept, (quota, weight, limit), (quota * 8000, 1, -1),
                                    (quota * 64000, 1, -1)))
    docs.append("""apiVersion: kai.scheduler/v1alpha1
kind: Topology
metadata:
  name: cluster-topology
spec:
  levels:
  - nodeLabel: topology.kubernetes.io/zone
    alias: zone
  - nodeLabel: cloud.provider.com/topology-block
    alias: block
  - nodeLabel: cloud.provider.com/topology-rack
    alias: rack
  - nodeLabel: kubernetes.io/hostname""")
    docs.append("""apiVersion: scheduling.run.ai/v2alpha2
kind: PodGroup
metadata:
  name: pg-llm-pretrain
  namespace: research
  labels:
    kai.scheduler/queue: research-nlp
spec:
  queue: research-nlp
  priorityClassName: train
  minSubGroup: 2
  preemptionDelay: 5m
  stalenessGracePeriod: 2m
  topologyConstraint:
    topology: cluster-topology
    requiredTopologyLevel: block
    preferredTopologyLevel: cloud.provider.com/topology-rack
  subGroups:
  - name: leader
    minMember: 1
  - name: workers
    minSubGroup: 2
  - name: workers-replica-0
    parent: workers
    minMember: 8
    topologyConstraint:
      topology: cluster-topology
      requiredTopologyLevel: rack
  - name: workers-replica-1
    parent: workers
    minMember: 8""")
    docs.append("""apiVersion: scheduling.run.ai/v2alpha2
kind: PodGroup
metadata:
  name: pg-serving
  namespace: inference
spec:
  queue: inference-infra
  priorityClassName: inference
  minMember: 2
  preemptibility: non-preemptible""")
    return "\n---\n".join(docs)


def _decode_all():
    objs = [kai.decode_and_validate_kai(o) for o in load_text(cluster_yaml())]
    return objs


def test_cluster_manifests_decode_and_validate():
    objs = _decode_all()
    queues = [o for o in objs if isinstance(o, kai.Queue)]
    pgs = [o for o in objs if isinstance(o, kai.PodGroup)]
    topos = [o for o in objs if isinstance(o, kai.Topology)]
    assert len(queues) == 24 and len(pgs) == 2 and len(topos) == 1
    assert kai.validate_kai_objects(queues, pgs, topos) == []
    q = next(q for q in queues if q.metadata.name == "research-rl")
    assert q.spec.parent_queue == "research"
    assert kai.resource_values(q, "gpu") == kai.ResourceValues(quota=2.0, over_quota_weight=0.5, limit=8.0)
    assert kai.resource_values(q, "memory").quota == 128000.0
    assert kai.queue_priority(q) == 100
    assert kai.queue_priority(next(q for q in queues if q.metadata.name == "inference")) == 200
    pg = pgs[0]
    assert pg.spec.min_sub_group == 2 and pg.spec.min_member is None
    assert [s.name for s in pg.spec.sub_groups] == ["leader", "workers", "workers-replica-0", "workers-replica-1"]
    assert pg.spec.sub_groups[2].parent == "workers"
    assert pg.spec.sub_groups[2].topology_constraint.required_topology_level == "rack"
    assert pg.spec.topology_constraint.preferred_topology_level == "cloud.provider.com/topology-rack"
    assert kai.parse_duration(pg.spec.preemption_delay) == 300.0
    assert topos[0].spec.levels[0].alias == "zone"
    assert kai.topology_level_index(topos[0], "block") == 1
    assert kai.topology_level_index(topos[0], "kubernetes.io/hostname") == 3


def test_cluster_tree_and_fair_shares():
    queues = [o for o in _decode_all() if isinstance(o, kai.Queue)]
    tree = QueueTree.from_queues(queues)
    assert len(tree) == 25  # + implicit default-queue
    assert tree.roots == sorted(tree.roots)  # no creation timestamps: by name
    assert "default-queue" in tree.roots
    assert tree.children("research") == sorted(f"research-{t}" for t in TEAMS)
    assert tree.ancestors("platform-rl") == ["platform"]
    demand = {f"{d}-{t}": {"gpu": 10} for d in DEPARTMENTS for t in TEAMS}
    shares = compute_fair_shares(tree, {"gpu": 128}, demand)
    # inference (priority 200) takes everything it asks for first: 50 GPUs minus limits (rl, infra capped at 8).
    assert shares["inference"]["gpu"] == 46.0
    assert sum(shares[d]["gpu"] for d in DEPARTMENTS) + shares["default-queue"]["gpu"] <= 128
    for d in DEPARTMENTS:
        assert math.fsum(shares[f"{d}-{t}"]["gpu"] for t in TEAMS) <= shares[d]["gpu"]  # exact sum
        assert shares[f"{d}-infra"]["gpu"] == 0.0  # quota 0 and weight 0


def test_served_version_only():
    obj = {"apiVersion": "scheduling.run.ai/v2alpha1", "kind": "PodGroup", "metadata": {"name": "x", "namespace": "ns"}}
    with pytest.raises(ValidationFailed) as e:
        kai.decode_kai(obj)
    assert str(e.value) == "PodGroup/ns/x: apiVersion: Unsupported value: 'scheduling.run.ai/v2alpha1': supported values: 'scheduling.run.ai/v2alpha2'"
    assert kai.decode_kai({"apiVersion": "v1", "kind": "Pod", "metadata": {}}) is None


def test_type_errors_name_the_field():
    obj = {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": "q"},
           "spec": {"resources": {"gpu": {"quota": "lots"}}}}
    with pytest.raises(ValidationFailed) as e:
        kai.decode_kai(obj)
    err = e.value.errors[0]
    assert (err.kind, err.name, err.path) == ("Queue", "q", "spec.resources.gpu.quota")
    assert err.message == "Invalid value: Expected `float | null`, got `str`"


# --- Queue rules -----------------------------------------------------------------------------


def _queue(name="q", parent="", **gpu) -> kai.Queue:
    return kai.Queue(metadata=ObjectMeta(name=name),
                     spec=kai.QueueSpec(parent_queue=parent, resources=kai.QueueResources(gpu=kai.QueueResource(**gpu))))


def _msgs(errors):
    return [str(e) for e in errors]


@pytest.mark.parametrize(
    "gpu, expected",
    [
        (dict(quota=-1, limit=-1, over_quota_weight=0), []),
        (dict(quota=0, limit=0), []),
        (dict(quota=2.5, limit=4), []),
        (dict(quota=-2), ["Queue/q: spec.resources.gpu.quota: Invalid value: -2: must be -1 (unlimited) or greater than or equal to 0"]),
        (dict(limit=-0.5), ["Queue/q: spec.resources.gpu.limit: Invalid value: -0.5: must be -1 (unlimited) or greater than or equal to 0"]),
        (dict(over_quota_weight=-1), ["Queue/q: spec.resources.gpu.overQuotaWeight: Invalid value: -1: must be greater than or equal to 0"]),
        (dict(quota=float("nan")), ["Queue/q: spec.resources.gpu.quota: Invalid value: nan: must be a finite number"]),
        (dict(over_quota_weight=float("inf")), ["Queue/q: spec.resources.gpu.overQuotaWeight: Invalid value: inf: must be a finite number"]),
        (dict(quota=5, limit=4), ["Queue/q: spec.resources.gpu.quota: Invalid value: 5: must be less than or equal to limit (4)"]),
        (dict(quota=-1, limit=4), ["Queue/q: spec.resources.gpu.quota: Invalid value: -1: must be less than or equal to limit (4)"]),
    ],
)
def test_queue_resource_rules(gpu, expected):
    assert _msgs(kai.validate_queue(_queue(**gpu))) == expected


def test_queue_names_and_durations():
    q = _queue(name="Bad_Name", parent="Bad_Name")
    q.spec.reclaim_min_runtime = "5 minutes"
    q.spec.preempt_min_runtime = "-1m"
    msgs = _msgs(kai.validate_queue(q))
    assert msgs[0].startswith('Queue/Bad_Name: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    assert msgs[1].startswith('Queue/Bad_Name: spec.parentQueue: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    assert msgs[2] == 'Queue/Bad_Name: spec.parentQueue: Invalid value: "Bad_Name": a queue cannot be its own parent'
    assert msgs[3] == 'Queue/Bad_Name: spec.preemptMinRuntime: Invalid value: "-1m": must be greater than or equal to 0'
    assert msgs[4] == 'Queue/Bad_Name: spec.reclaimMinRuntime: Invalid value: "5 minutes": must be a duration such as "30s", "5m" or "1h30m"'
    assert _msgs(kai.validate_queue(kai.Queue())) == ["Queue/: metadata.name: Required value: name or generateName is required"]


def test_queue_hierarchy_rules():
    qs = [_queue("a", "b"), _queue("b", "c"), _queue("c", "a"), _queue("d", "missing"), _queue("e"), _queue("e")]
    assert _msgs(kai.validate_kai_objects(queues=qs)) == [
        'Queue/e: metadata.name: Duplicate value: "e"',
        'Queue/d: spec.parentQueue: Not found: "missing": parent queue does not exist',
        'Queue/a: spec.parentQueue: Invalid value: "b": queue hierarchy has a cycle: a -> b -> c -> a',
    ]
    with pytest.raises(ValidationFailed) as e:
        QueueTree.from_queues(qs)
    assert 'parent queue does not exist' in str(e.value)
    deep = [_queue("l0")] + [_queue(f"l{i}", f"l{i - 1}") for i in range(1, 8)]
    tree = QueueTree.from_queues(deep, add_default=False)
    assert tree.depth("l7") == 7 and tree.leaves() == ["l7"]


def test_queue_defaults_and_default_queue():
    q = kai.Queue(metadata=ObjectMeta(name="bare"))
    assert kai.resource_values(q, "gpu") == kai.ResourceValues(quota=0.0, over_quota_weight=1.0, limit=-1.0)
    assert kai.queue_priority(q) == 100
    qs = kai.with_default_queue([q])
    assert [x.metadata.name for x in qs] == ["bare", "default-queue"]
    assert kai.validate_queue(qs[1]) == []
    assert kai.with_default_queue(qs) == qs
    assert kai.pod_queue_name({}) == "default-queue"
    assert kai.pod_queue_name({"kai.scheduler/queue": "team-a"}) == "team-a"


# --- PodGroup rules --------------------------------------------------------------------------


def _pg(**spec) -> kai.PodGroup:
    subs = [kai.SubGroup(**s) for s in spec.pop("sub_groups", [])]
    return kai.PodGroup(metadata=ObjectMeta(name="pg", namespace="ns"), spec=kai.PodGroupSpec(sub_groups=subs, **spec))


@pytest.mark.parametrize(
    "spec, expected",
    [
        (dict(min_member=0), []),
        (dict(min_member=4, queue="team-a", preemptibility="preemptible", scheduling_backoff=-1), []),
        (dict(min_member=-1), ["PodGroup/ns/pg: spec.minMember: Invalid value: -1: must be greater than or equal to 0"]),
        (dict(min_member=1, min_sub_group=1, sub_groups=[dict(name="a", min_member=1)]),
         ['PodGroup/ns/pg: spec: Invalid value: "object": minMember and minSubGroup are mutually exclusive']),
        (dict(preemptibility="semi-preemptible"),
         ['PodGroup/ns/pg: spec.preemptibility: Unsupported value: "semi-preemptible": supported values: "preemptible", "non-preemptible"']),
        (dict(scheduling_backoff=0), ['PodGroup/ns/pg: spec.schedulingBackoff: Unsupported value: 0: supported values: "-1", "1"']),
        (dict(preemption_delay="soon"),
         ['PodGroup/ns/pg: spec.preemptionDelay: Invalid value: "soon": must be a duration such as "30s", "5m" or "1h30m"']),
        (dict(preemption_delay="-5s"), ['PodGroup/ns/pg: spec.preemptionDelay: Invalid value: "-5s": must be greater than or equal to 0']),
        (dict(staleness_grace_period="-1s"), []),  # negative disables stale-gang eviction
        (dict(queue="Team_A"), None),
        (dict(topology_constraint=kai.TopologyConstraint(required_topology_level="rack")),
         ["PodGroup/ns/pg: spec.topologyConstraint.topology: Required value: a topology is required when a topology level is set"]),
        (dict(min_sub_group=3, sub_groups=[dict(name="a", min_member=1), dict(name="b", min_member=1)]),
         ["PodGroup/ns/pg: spec.minSubGroup: Invalid value: 3: must be less than or equal to the number of top-level SubGroups (2)"]),
        (dict(sub_groups=[dict(name="a"), dict(name="a")]), ['PodGroup/ns/pg: spec.subGroups[1].name: Duplicate value: "a"']),
        (dict(sub_groups=[dict(name="")]), ["PodGroup/ns/pg: spec.subGroups[0].name: Required value"]),
        (dict(sub_groups=[dict(name="a", parent="nope")]), ['PodGroup/ns/pg: spec.subGroups[0].parent: Not found: "nope"']),
        (dict(sub_groups=[dict(name="a", parent="a")]),
         ['PodGroup/ns/pg: spec.subGroups[0].parent: Invalid value: "a": a SubGroup cannot be its own parent']),
        (dict(sub_groups=[dict(name="a", parent="b"), dict(name="b", parent="a")]),
         ['PodGroup/ns/pg: spec.subGroups[0].parent: Invalid value: "b": SubGroup parents form a cycle: a -> b -> a']),
        (dict(sub_groups=[dict(name="a", min_member=-2)]),
         ["PodGroup/ns/pg: spec.subGroups[0].minMember: Invalid value: -2: must be greater than or equal to 0"]),
        (dict(sub_groups=[dict(name="a", min_member=1, min_sub_group=1), dict(name="b", parent="a")]),
         ['PodGroup/ns/pg: spec.subGroups[0]: Invalid value: "object": minMember and minSubGroup are mutually exclusive']),
        (dict(sub_groups=[dict(name="a", min_sub_group=1)]),
         ["PodGroup/ns/pg: spec.subGroups[0].minSubGroup: Invalid value: 1: minSubGroup can only be set on a SubGroup that has child SubGroups"]),
        (dict(sub_groups=[dict(name="a", min_sub_group=2), dict(name="b", parent="a")]),
         ["PodGroup/ns/pg: spec.subGroups[0].minSubGroup: Invalid value: 2: must be less than or equal to the number of child SubGroups (1)"]),
    ],
)
def test_podgroup_rules(spec, expected):
    msgs = _msgs(kai.validate_podgroup(_pg(**spec)))
    if expected is None:
        assert len(msgs) == 1 and msgs[0].startswith('PodGroup/ns/pg: spec.queue: Invalid value: "Team_A": a lowercase RFC 1123 subdomain')
    else:
        assert msgs == expected


def test_podgroup_subgroup_name_is_a_label():
    msgs = _msgs(kai.validate_podgroup(_pg(sub_groups=[dict(name="a.b")])))
    assert len(msgs) == 1 and msgs[0].startswith('PodGroup/ns/pg: spec.subGroups[0].name: Invalid value: "a.b": a lowercase RFC 1123 label')


def test_podgroup_topology_references():
    objs = _decode_all()
    topos = [o for o in objs if isinstance(o, kai.Topology)]
    tc = kai.TopologyConstraint
    pgs = [
        _pg(topology_constraint=tc(topology="nope", required_topology_level="rack")),
        _pg(topology_constraint=tc(topology="cluster-topology", required_topology_level="row")),
        _pg(topology_constraint=tc(topology="cluster-topology", required_topology_level="rack", preferred_topology_level="zone")),
        _pg(sub_groups=[dict(name="a", topology_constraint=tc(topology="cluster-topology", preferred_topology_level="aisle"))]),
    ]
    for i, p in enumerate(pgs):
        p.metadata.name = f"pg{i}"
    assert _msgs(kai.validate_kai_objects(podgroups=pgs, topologies=topos)) == [
        'PodGroup/ns/pg0: spec.topologyConstraint.topology: Not found: "nope": no Topology with this name',
        'PodGroup/ns/pg1: spec.topologyConstraint.requiredTopologyLevel: Invalid value: "row": not a level of Topology "cluster-topology"',
        'PodGroup/ns/pg2: spec.topologyConstraint.preferredTopologyLevel: Invalid value: "zone": must be the required level or a level below it',
        'PodGroup/ns/pg3: spec.subGroups[0].topologyConstraint.preferredTopologyLevel: Invalid value: "aisle": not a level of Topology "cluster-topology"',
    ]
    dup = [_pg(), _pg()]
    assert _msgs(kai.validate_kai_objects(podgroups=dup)) == ['PodGroup/ns/pg: metadata.name: Duplicate value: "pg"']


# --- Topology rules --------------------------------------------------------------------------


def _topo(*levels) -> kai.Topology:
    return kai.Topology(metadata=ObjectMeta(name="t"),
                        spec=kai.TopologySpec(levels=[kai.TopologyLevel(node_label=l, alias=a) for l, a in levels]))


def test_topology_rules():
    assert _msgs(kai.validate_topology(_topo())) == ["Topology/t: spec.levels: Required value: at least 1 level is required"]
    assert _msgs(kai.validate_topology(_topo(*[(f"x/l{i}", "") for i in range(17)]))) == [
        "Topology/t: spec.levels: Too many: 17: must have at most 16 items"]
    assert _msgs(kai.validate_topology(_topo(("kubernetes.io/hostname", ""), ("x/rack", "")))) == [
        'Topology/t: spec.levels[0].nodeLabel: Invalid value: "kubernetes.io/hostname": kubernetes.io/hostname may only be the last level']
    assert _msgs(kai.validate_topology(_topo(("x/rack", "r"), ("x/rack", "r")))) == [
        'Topology/t: spec.levels[1].nodeLabel: Duplicate value: "x/rack"', 'Topology/t: spec.levels[1].alias: Duplicate value: "r"']
    assert _msgs(kai.validate_topology(_topo(("", "")))) == ["Topology/t: spec.levels[0].nodeLabel: Required value"]
    bad = _msgs(kai.validate_topology(_topo(("a/b/c", ""))))
    assert len(bad) == 1 and bad[0].startswith('Topology/t: spec.levels[0].nodeLabel: Invalid value: "a/b/c": a qualified name')
    assert kai.validate_topology(_topo(("x/block", "block"), ("kubernetes.io/hostname", "host"))) == []


# --- priority classes and preemptibility -----------------------------------------------------


def test_builtin_priority_classes():
    builtin = kai.builtin_priority_classes()
    assert {n: pc.value for n, pc in builtin.items()} == {"train": 50, "build-preemptible": 75, "build": 100, "inference": 125}
    assert kai.resolve_priority("train") == 50
    assert kai.resolve_priority("inference") == 125
    assert kai.resolve_priority("unknown") is None
    assert kai.resolve_priority("") == 50  # KAI's DefaultPodGroupPriority
    custom = {"train": PriorityClass(metadata=ObjectMeta(name="train"), value=10),
              "urgent": decode_priority_class({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                               "metadata": {"name": "urgent"}, "value": 1000, "globalDefault": True,
                                               "preemptionPolicy": "Never"})}
    assert kai.resolve_priority("train", custom) == 10  # a PriorityClass object overrides the built-in
    assert kai.resolve_priority("build", custom) == 100
    assert kai.resolve_priority("", custom) == 1000  # globalDefault
    assert custom["urgent"].preemption_policy == "Never"


@pytest.mark.parametrize(
    "priority, label, expected",
    [(50, "", True), (75, "", True), (99, "", True), (100, "", False), (125, "", False),
     (125, "preemptible", True), (50, "non-preemptible", False), (100, "preemptible", True)],
)
def test_preemptibility_rule(priority, label, expected):
    assert kai.is_preemptible(priority, label) is expected


@pytest.mark.parametrize("text, seconds", [("0", 0.0), ("5m", 300.0), ("1h30m", 5400.0), ("-1s", -1.0), ("1.5s", 1.5),
                                           ("300ms", 0.3), ("2h0m0s", 7200.0)])
def test_parse_duration(text, seconds):
    assert kai.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "1d", " 5m", "5m ", "--1s"])
def test_parse_duration_invalid(text):
    with pytest.raises(ValueError):
        kai.parse_duration(text)


def test_decode_and_validate_raises_all_errors():
    obj = {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": "q"},
           "spec": {"resources": {"gpu": {"quota": -3, "limit": -4}, "cpu": {"overQuotaWeight": -1}}}}
    with pytest.raises(ValidationFailed) as e:
        kai.decode_and_validate_kai(copy.deepcopy(obj))
    assert [x.path for x in e.value.errors] == ["spec.resources.gpu.quota", "spec.resources.gpu.limit", "spec.resources.cpu.overQuotaWeight"]

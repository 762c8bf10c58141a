"""Hand-written allocator cases, each run through BOTH gpuplane and the upstream Go
allocator (the oracle, hack/oracle): the two must agree exactly, and the outcome must be
the one written down here (devices chosen, unsat, or error).

Semantics: k8s.io/dynamic-resource-allocation/structured v0.37 "incubating"
(~/go/pkg/mod/k8s.io/dynamic-resource-allocation@v0.37.2/structured/internal/incubating/).
Without Go the tests skip locally and fail in CI (CI=true).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.difftest.harness import (  # noqa: E402
    GPU,
    NIC,
    allocated,
    claim,
    device,
    device_class,
    exact,
    first_available,
    node,
    picked,
    results,
    run_both,
    slice_,
    sub,
)

pytestmark = pytest.mark.oracle

GPU_CLASS = device_class("gpu", [f'device.driver == "{GPU}"'])
NIC_CLASS = device_class("nic", [f'device.driver == "{NIC}"'])
NODE_A = node("node-a", {"zone": "a", "tier": "2"})
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NODE_NAME_SELECTOR = {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]}]}


def gpus(n: int, **extra):
    return [device(f"gpu-{i}", attrs={"index": i}, **extra) for i in range(n)]


def base(*objs, devices=3):
    """Node, GPU class and one node-local pool with ``devices`` GPUs, plus ``objs``."""
    return [NODE_A, GPU_CLASS, slice_("s-a", gpus(devices)), *objs]


# --- ExactCount / All --------------------------------------------------------------------


def test_exact_count_picks_first_devices_in_order():
    both = run_both(base(claim("c", exact("r0", count=2))))
    assert picked(both) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-1")]
    # A nodeName slice pins the allocation to the node.
    assert both.allocations[0]["nodeSelector"] == NODE_NAME_SELECTOR


def test_exact_count_too_many_is_unsat():
    assert run_both(base(claim("c", exact("r0", count=4)))).status == "unsat"


def test_exact_count_skips_allocated_devices():
    objs = base(allocated("old", {"device": "gpu-0"}), claim("c", exact("r0", count=2)))
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-1"), ("r0", "pool-a", "gpu-2")]


def test_two_claims_get_disjoint_devices_in_claim_order():
    both = run_both(base(claim("c1", exact("r0")), claim("c2", exact("r0", count=2))))
    assert picked(both, 0) == [("r0", "pool-a", "gpu-0")]
    assert picked(both, 1) == [("r0", "pool-a", "gpu-1"), ("r0", "pool-a", "gpu-2")]


def test_all_mode_takes_every_matching_device():
    both = run_both(base(claim("c", exact("r0", all_=True, selectors=['device.attributes["gpu.example.com"].index != 1']))))
    assert picked(both) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-2")]


def test_all_mode_with_a_device_in_use_is_unsat():
    assert run_both(base(allocated("old", {"device": "gpu-1"}), claim("c", exact("r0", all_=True)))).status == "unsat"


def test_all_mode_without_matching_devices_is_unsat():
    both = run_both(base(claim("c", exact("r0", all_=True, selectors=['device.driver == "none"']))))
    assert both.status == "unsat"


def test_all_mode_incomplete_pool_is_an_error():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", gpus(2), count=2), claim("c", exact("r0", all_=True))]
    both = run_both(objs)
    assert both.status == "error"
    assert "asks for all devices, but resource pool gpu.example.com/pool-a is currently being updated" in both.error


def test_all_mode_invalid_pool_is_an_error():
    objs = [
        NODE_A, GPU_CLASS,
        slice_("s-a", gpus(1), count=2),
        slice_("s-b", gpus(1), count=2),  # gpu-0 again: duplicate device name
        claim("c", exact("r0", all_=True)),
    ]
    both = run_both(objs)
    assert both.status == "error"
    assert "asks for all devices, but resource pool gpu.example.com/pool-a is currently invalid" in both.error


def test_all_mode_constraint_violation_is_an_error():
    devs = [device("gpu-0", attrs={"model": "a"}), device("gpu-1", attrs={"model": "b"})]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", all_=True), constraints=[{"matchAttribute": f"{GPU}/model"}])]
    both = run_both(objs)
    assert both.status == "error"
    assert "because a claim constraint would not be satisfied" in both.error


# --- firstAvailable -------------------------------------------------------------------


def test_first_available_falls_back_to_the_next_subrequest():
    both = run_both(base(claim("c", first_available("r0", sub("big", count=5), sub("small", count=2)))))
    assert picked(both) == [("r0/small", "pool-a", "gpu-0"), ("r0/small", "pool-a", "gpu-1")]


def test_first_available_prefers_the_first_subrequest():
    both = run_both(base(claim("c", first_available("r0", sub("one", count=1), sub("two", count=2)))))
    assert picked(both) == [("r0/one", "pool-a", "gpu-0")]


def test_first_available_retries_when_a_later_request_fails():
    # r0/s0 takes gpu-0 and gpu-1; r1 then needs two more and fails, so r0 falls back to s1.
    both = run_both(base(claim("c", first_available("r0", sub("s0", count=2), sub("s1", count=1)), exact("r1", count=2))))
    assert picked(both) == [("r0/s1", "pool-a", "gpu-0"), ("r1", "pool-a", "gpu-1"), ("r1", "pool-a", "gpu-2")]


def test_first_available_subrequest_over_the_claim_limit_falls_back():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", gpus(33)),
            claim("c", first_available("r0", sub("huge", count=33), sub("one", count=1)))]
    assert picked(run_both(objs)) == [("r0/one", "pool-a", "gpu-0")]


# --- constraints ------------------------------------------------------------------------


def test_match_attribute_skips_mismatching_devices():
    devs = [device(f"gpu-{i}", attrs={"model": m}) for i, m in enumerate("abab")]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", count=2), constraints=[{"matchAttribute": f"{GPU}/model"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-2")]


def test_match_attribute_type_must_match_too():
    devs = [device("gpu-0", attrs={"numa": {"int": 0}}), device("gpu-1", attrs={"numa": {"string": "0"}}),
            device("gpu-2", attrs={"numa": {"int": 0}})]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", count=2), constraints=[{"matchAttribute": f"{GPU}/numa"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-2")]


def test_match_attribute_versions_compare_as_strings():
    # 1.0.0+a and 1.0.0+b are equal semantic versions but different strings.
    devs = [device("gpu-0", attrs={"v": {"version": "1.0.0+a"}}), device("gpu-1", attrs={"v": {"version": "1.0.0+b"}}),
            device("gpu-2", attrs={"v": {"version": "1.0.0+a"}})]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", count=2), constraints=[{"matchAttribute": f"{GPU}/v"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-2")]


def test_match_attribute_qualified_and_unqualified_names_are_the_same():
    devs = [device("gpu-0", attrs={"model": "a"}), device("gpu-1", attrs={f"{GPU}/model": "a"})]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", count=2), constraints=[{"matchAttribute": f"{GPU}/model"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-1")]


def test_match_attribute_of_a_foreign_domain_needs_the_qualified_name():
    # A NIC device's unqualified "model" is nic.example.com/model, not gpu.example.com/model.
    objs = [
        NODE_A, GPU_CLASS, NIC_CLASS,
        slice_("s-a", [device("gpu-0", attrs={"model": "a"})]),
        slice_("s-n", [device("nic-0", attrs={"model": "a"}), device("nic-1", attrs={f"{GPU}/model": "a"})], driver=NIC),
        claim("c", exact("g"), exact("n", "nic"), constraints=[{"matchAttribute": f"{GPU}/model"}]),
    ]
    assert picked(run_both(objs)) == [("g", "pool-a", "gpu-0"), ("n", "pool-a", "nic-1")]


def test_distinct_attribute():
    devs = [device(f"gpu-{i}", attrs={"pcie": p}) for i, p in enumerate(["p0", "p0", "p1"])]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", count=2), constraints=[{"distinctAttribute": f"{GPU}/pcie"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0"), ("r0", "pool-a", "gpu-2")]


def test_distinct_attribute_missing_attribute_rejects_device():
    devs = [device("gpu-0"), device("gpu-1", attrs={"pcie": "p0"}), device("gpu-2", attrs={"pcie": "p1"})]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0", count=2), constraints=[{"distinctAttribute": f"{GPU}/pcie"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-1"), ("r0", "pool-a", "gpu-2")]


def test_constraint_needs_backtracking_across_requests():
    # r0 first takes gpu-0 (model a); r1 then cannot find two more "a" devices, so the
    # search backtracks and r0 moves on to gpu-1.
    devs = [device(f"gpu-{i}", attrs={"model": m}) for i, m in enumerate("abbb")]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0"), exact("r1", count=2), constraints=[{"matchAttribute": f"{GPU}/model"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-1"), ("r1", "pool-a", "gpu-2"), ("r1", "pool-a", "gpu-3")]


def test_constraint_limited_to_named_subrequest():
    devs = [device(f"gpu-{i}", attrs={"model": m}) for i, m in enumerate("abab")]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs),
            claim("c", exact("r0"), first_available("r1", sub("s0", count=1)),
                  constraints=[{"requests": ["r0", "r1/s0"], "distinctAttribute": f"{GPU}/model"}])]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0"), ("r1/s0", "pool-a", "gpu-1")]


def test_constraints_are_per_claim():
    devs = [device(f"gpu-{i}", attrs={"model": m}) for i, m in enumerate("ab")]
    c = lambda n: claim(n, exact("r0"), constraints=[{"matchAttribute": f"{GPU}/model"}])  # noqa: E731
    both = run_both([NODE_A, GPU_CLASS, slice_("s-a", devs), c("c1"), c("c2")])
    assert picked(both, 0) == [("r0", "pool-a", "gpu-0")]
    assert picked(both, 1) == [("r0", "pool-a", "gpu-1")]


# --- config ---------------------------------------------------------------------------------


def test_class_config_and_claim_config_are_copied():
    gpu_cls = device_class("gpu", [f'device.driver == "{GPU}"'], config=[{"driver": GPU, "parameters": {"class": 1}}])
    other_cls = device_class("other", [f'device.driver == "{GPU}"'], config=[{"driver": GPU, "parameters": {"class": 2}}])
    objs = [
        NODE_A, gpu_cls, other_cls, slice_("s-a", gpus(3)),
        claim(
            "c",
            exact("r0"),
            exact("r1", "other"),
            config=[
                {"opaque": {"driver": GPU, "parameters": {"claim": "all"}}},
                {"requests": ["r0"], "opaque": {"driver": GPU, "parameters": {"claim": "r0"}}},
                {"requests": ["r0", "r1"], "opaque": {"driver": GPU, "parameters": {"claim": "both"}}},
            ],
        ),
    ]
    config = run_both(objs).allocations[0]["devices"]["config"]
    assert config == [
        {"source": "FromClass", "requests": ["r0"], "opaque": {"driver": GPU, "parameters": {"class": 1}}},
        {"source": "FromClass", "requests": ["r1"], "opaque": {"driver": GPU, "parameters": {"class": 2}}},
        {"source": "FromClaim", "opaque": {"driver": GPU, "parameters": {"claim": "all"}}},
        {"source": "FromClaim", "requests": ["r0"], "opaque": {"driver": GPU, "parameters": {"claim": "r0"}}},
        # 1.37: a config that covers every request gets its request list cleared.
        {"source": "FromClaim", "opaque": {"driver": GPU, "parameters": {"claim": "both"}}},
    ]


def test_class_config_shared_by_requests_covers_all_and_is_cleared():
    gpu_cls = device_class("gpu", [f'device.driver == "{GPU}"'], config=[{"driver": GPU, "parameters": {"x": 1}}])
    objs = [NODE_A, gpu_cls, slice_("s-a", gpus(2)), claim("c", exact("r0"), exact("r1"))]
    config = run_both(objs).allocations[0]["devices"]["config"]
    assert config == [{"source": "FromClass", "opaque": {"driver": GPU, "parameters": {"x": 1}}}]


def test_config_for_unselected_subrequest_is_dropped():
    gpu_cls = device_class("gpu", [f'device.driver == "{GPU}"'], config=[{"driver": GPU, "parameters": {"x": 1}}])
    objs = [
        NODE_A, gpu_cls, device_class("any"), slice_("s-a", gpus(2)),
        claim(
            "c",
            first_available("r0", sub("s0", count=3), sub("s1", count=1)),
            exact("r1", "any"),
            config=[
                {"requests": ["r0/s0"], "opaque": {"driver": GPU, "parameters": {"sub": "s0"}}},
                {"requests": ["r0/s1"], "opaque": {"driver": GPU, "parameters": {"sub": "s1"}}},
                {"requests": ["r0/s1", "r1"], "opaque": {"driver": GPU, "parameters": {"sub": "all"}}},
                {"requests": ["r0"], "opaque": {"driver": GPU, "parameters": {"parent": True}}},
            ],
        ),
    ]
    both = run_both(objs)
    assert picked(both) == [("r0/s1", "pool-a", "gpu-0"), ("r1", "pool-a", "gpu-1")]
    assert both.allocations[0]["devices"]["config"] == [
        {"source": "FromClass", "requests": ["r0/s1"], "opaque": {"driver": GPU, "parameters": {"x": 1}}},
        # The config for r0/s0 is dropped: that subrequest was not selected.
        {"source": "FromClaim", "requests": ["r0/s1"], "opaque": {"driver": GPU, "parameters": {"sub": "s1"}}},
        {"source": "FromClaim", "opaque": {"driver": GPU, "parameters": {"sub": "all"}}},
        {"source": "FromClaim", "requests": ["r0"], "opaque": {"driver": GPU, "parameters": {"parent": True}}},
    ]


# --- admin access -------------------------------------------------------------------------


def test_admin_access_gets_device_in_use_and_is_marked():
    objs = base(allocated("old", {"device": "gpu-0"}), claim("c", exact("r0", adminAccess=True)), devices=1)
    assert results(run_both(objs)) == [
        {"request": "r0", "driver": GPU, "pool": "pool-a", "device": "gpu-0", "adminAccess": True}
    ]


def test_admin_access_allocation_does_not_count_as_in_use():
    objs = base(allocated("admin", {"device": "gpu-0"}, admin=True), claim("c", exact("r0")), devices=1)
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0")]


def test_admin_access_same_device_twice_in_one_claim_is_not_possible():
    objs = base(claim("c", exact("r0", adminAccess=True), exact("r1", adminAccess=True)), devices=1)
    assert run_both(objs).status == "unsat"


def test_admin_access_does_not_bypass_taints():
    dev = device("gpu-0", taints=[{"key": "k", "effect": "NoSchedule"}])
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [dev]), claim("c", exact("r0", adminAccess=True))]
    assert run_both(objs).status == "unsat"


# --- partitionable devices ------------------------------------------------------------------


COUNTERS = [{"name": "gpu-0-counters", "counters": {"mem": {"value": "16Gi"}, "sm": {"value": "4"}}}]


def partitions(*mems: str, **extra):
    return [
        device(f"part-{i}", consumesCounters=[{"counterSet": "gpu-0-counters", "counters": {"mem": {"value": m}}}], **extra)
        for i, m in enumerate(mems)
    ]


def test_partitions_share_counters_from_a_counter_only_slice():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-0-counters", counters=COUNTERS, count=2),
            slice_("s-1-devices", partitions("16Gi", "8Gi", "8Gi"), count=2),
            claim("c", exact("r0", count=2))]
    # part-0 takes all 16Gi, so the first pair that fits is part-1 + part-2.
    assert picked(run_both(objs)) == [("r0", "pool-a", "part-1"), ("r0", "pool-a", "part-2")]


def test_partition_counters_exhausted_by_allocated_device():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-0-counters", counters=COUNTERS, count=2),
            slice_("s-1-devices", partitions("8Gi", "8Gi", "8Gi"), count=2),
            allocated("old", {"device": "part-0"}),
            claim("c", exact("r0", count=2))]
    assert run_both(objs).status == "unsat"


def test_counter_slice_for_another_node_still_counts():
    # The counter slice is published for another node: the pool looks incomplete at
    # first, then all slices of the pool are considered and the counters are found.
    objs = [NODE_A, GPU_CLASS, node("node-b"),
            slice_("s-0-counters", counters=COUNTERS, count=2, node_name="node-b"),
            slice_("s-1-devices", partitions("8Gi", "8Gi", "8Gi"), count=2),
            claim("c", exact("r0", count=3))]
    assert run_both(objs).status == "unsat"
    objs[-1] = claim("c", exact("r0", count=2))
    assert picked(run_both(objs)) == [("r0", "pool-a", "part-0"), ("r0", "pool-a", "part-1")]


def test_dangling_counter_set_makes_pool_invalid():
    devs = [device("part-0", consumesCounters=[{"counterSet": "nosuch", "counters": {"mem": {"value": "1Gi"}}}])]
    objs = [NODE_A, GPU_CLASS, slice_("s-0", counters=COUNTERS, count=2), slice_("s-1", devs, count=2),
            claim("c", exact("r0"))]
    both = run_both(objs)
    assert both.status == "unsat:invalid-pools"


def test_per_device_node_selection():
    devs = [
        device("d-other", nodeName="node-b"),
        device("d-all", allNodes=True),
        device("d-local", nodeName="node-a"),
        device("d-sel", nodeSelector={"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}),
    ]
    sl = slice_("s-a", devs, per_device=True)
    both = run_both([NODE_A, GPU_CLASS, sl, claim("c1", exact("r0")), claim("c2", exact("r0")), claim("c3", exact("r0"))])
    assert picked(both, 0) == [("r0", "pool-a", "d-all")]
    assert "nodeSelector" not in both.allocations[0]  # allNodes: available everywhere
    assert picked(both, 1) == [("r0", "pool-a", "d-local")]
    assert both.allocations[1]["nodeSelector"] == NODE_NAME_SELECTOR
    assert picked(both, 2) == [("r0", "pool-a", "d-sel")]
    assert both.allocations[2]["nodeSelector"] == {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
    }


# --- taints and tolerations -----------------------------------------------------------------


def tainted(effect: str, key: str = "maint", value: str = ""):
    t = {"key": key, "effect": effect, "timeAdded": "2026-01-01T00:00:00Z"}
    if value:
        t["value"] = value
    return [device("gpu-0", taints=[t]), device("gpu-1")]


@pytest.mark.parametrize("effect,expected", [("NoSchedule", "gpu-1"), ("NoExecute", "gpu-1"), ("None", "gpu-0")])
def test_taint_effects(effect, expected):
    objs = [NODE_A, GPU_CLASS, slice_("s-a", tainted(effect)), claim("c", exact("r0"))]
    assert picked(run_both(objs)) == [("r0", "pool-a", expected)]


@pytest.mark.parametrize(
    "toleration,expected",
    [
        ({"key": "maint", "operator": "Exists"}, "gpu-0"),
        ({"operator": "Exists"}, "gpu-0"),
        ({"key": "maint", "operator": "Equal", "value": "yes"}, "gpu-0"),
        ({"key": "maint", "operator": "Equal", "value": "no"}, "gpu-1"),
        ({"key": "maint", "value": "yes"}, "gpu-0"),  # operator defaults to Equal
        ({"key": "maint", "operator": "Exists", "effect": "NoExecute"}, "gpu-1"),
        ({"key": "maint", "operator": "Exists", "effect": "NoSchedule"}, "gpu-0"),
        ({"key": "other", "operator": "Exists"}, "gpu-1"),
    ],
)
def test_tolerations(toleration, expected):
    objs = [NODE_A, GPU_CLASS, slice_("s-a", tainted("NoSchedule", value="yes")),
            claim("c", exact("r0", tolerations=[toleration]))]
    both = run_both(objs)
    assert picked(both) == [("r0", "pool-a", expected)]
    # The (defaulted) tolerations are copied into the result.
    assert results(both)[0]["tolerations"] == [{"operator": "Equal", **toleration}]


# --- consumable capacity --------------------------------------------------------------------


def shared_gpu(name="gpu-0", memory="40Gi", policy=None, **extra):
    cap = {"value": memory}
    if policy:
        cap["requestPolicy"] = policy
    return device(name, allowMultipleAllocations=True, capacity={"memory": cap}, **extra)


def test_consumable_capacity_shares_a_device_with_rounding():
    policy = {"default": "1Gi", "validRange": {"min": "1Gi", "step": "1Gi"}}
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu(policy=policy)]),
            claim("c", exact("r0", capacity={"requests": {"memory": "1536Mi"}}), exact("r1"))]
    both = run_both(objs)
    res = results(both)
    assert [(r["device"], r["consumedCapacity"]) for r in res] == [("gpu-0", {"memory": "2Gi"}), ("gpu-0", {"memory": "1Gi"})]
    # Every share gets its own random lower-case UUID, on both sides.
    for raw in (both.oracle["allocations"], both.gpuplane.allocations):
        ids = [r["shareID"] for r in raw[0]["devices"]["results"]]
        assert len(set(ids)) == 2 and all(UUID_RE.match(i) for i in ids), ids


def test_consumable_capacity_valid_values_round_up():
    policy = {"default": "2Gi", "validValues": ["2Gi", "4Gi", "8Gi"]}
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu(policy=policy)]),
            claim("c", exact("r0", capacity={"requests": {"memory": "3Gi"}}))]
    assert results(run_both(objs))[0]["consumedCapacity"] == {"memory": "4Gi"}
    objs[-1] = claim("c", exact("r0", capacity={"requests": {"memory": "9Gi"}}))
    assert run_both(objs).status == "unsat"


def test_consumable_capacity_without_request_takes_everything():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu()]), claim("c", exact("r0"), exact("r1"))]
    assert run_both(objs).status == "unsat"  # the first share consumes the full 40Gi


def test_consumable_capacity_exhausted_by_allocated_claims():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu(), device("gpu-1")]),
            allocated("old", {"device": "gpu-0", "shareID": "6f1c2d3e-1111-4222-8333-444455556666",
                              "consumedCapacity": {"memory": "36Gi"}}),
            claim("c", exact("r0", capacity={"requests": {"memory": "8Gi"}}))]
    # gpu-0 has only 4Gi left; gpu-1 is not shareable and has no memory capacity at all.
    assert run_both(objs).status == "unsat"
    objs[-1] = claim("c", exact("r0", capacity={"requests": {"memory": "4Gi"}}))
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0")]


def test_capacity_request_on_unknown_capacity_does_not_match():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu()]), claim("c", exact("r0", capacity={"requests": {"nosuch": "1"}}))]
    assert run_both(objs).status == "unsat"


# --- binding conditions ---------------------------------------------------------------------


def binding_objs():
    bound = device("gpu-0", bindingConditions=["Attached"], bindingFailureConditions=["Failed"], bindsToNode=True)
    return [NODE_A, GPU_CLASS,
            slice_("s-a", [bound], pool="a-pool", all_nodes=True),
            slice_("s-b", [device("gpu-1")], pool="b-pool", all_nodes=True)]


def test_binding_condition_pools_come_last():
    both = run_both(binding_objs() + [claim("c", exact("r0"))])
    assert picked(both) == [("r0", "b-pool", "gpu-1")]
    both = run_both(binding_objs() + [claim("c", exact("r0", count=2))])
    res = results(both)
    assert [r["device"] for r in res] == ["gpu-1", "gpu-0"]
    assert res[1]["bindingConditions"] == ["Attached"] and res[1]["bindingFailureConditions"] == ["Failed"]
    # bindsToNode pins the allocation to the node even though the slice is allNodes.
    assert both.allocations[0]["nodeSelector"] == NODE_NAME_SELECTOR


@pytest.mark.parametrize("gate", ["DRADeviceBindingConditions", "DRAResourceClaimDeviceStatus"])
def test_binding_condition_device_not_selectable_when_gate_off(gate):
    assert run_both(binding_objs() + [claim("c", exact("r0", count=2))], gates={gate: False}).status == "unsat"


# --- pools ----------------------------------------------------------------------------------


def test_stale_generation_is_ignored():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-old", [device("old-0")], generation=1),
            slice_("s-new", [device("new-0")], generation=2),
            claim("c", exact("r0", all_=True))]
    assert picked(run_both(objs)) == [("r0", "pool-a", "new-0")]


def test_incomplete_pool_is_skipped_for_exact_count():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-a", [device("a-0")], pool="a", count=2),
            slice_("s-b", [device("b-0")], pool="b"),
            claim("c", exact("r0"))]
    assert picked(run_both(objs)) == [("r0", "b", "b-0")]


def test_newer_generation_elsewhere_makes_incomplete_pool_obsolete():
    objs = [NODE_A, GPU_CLASS, node("node-b"),
            slice_("s-1", [device("a-0")], count=2, generation=1),
            slice_("s-2", [device("a-1")], count=1, generation=2, node_name="node-b"),
            claim("c", exact("r0"))]
    assert run_both(objs).status == "unsat"  # obsolete pool, and not invalid


def test_invalid_pool_duplicate_device_is_reported():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-1", [device("gpu-0")], count=2),
            slice_("s-2", [device("gpu-0")], count=2),
            claim("c", exact("r0"))]
    both = run_both(objs)
    assert both.status == "unsat:invalid-pools"
    assert both.error.startswith("invalid resource pools were encountered")


def test_invalid_pool_does_not_matter_when_another_pool_has_devices():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-1", [device("gpu-0")], count=2),
            slice_("s-2", [device("gpu-0")], count=2),
            slice_("s-3", [device("gpu-9")], pool="pool-b"),
            claim("c", exact("r0"))]
    assert picked(run_both(objs)) == [("r0", "pool-b", "gpu-9")]


def test_slice_node_selection_and_resulting_node_selector():
    sel = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}
    sel2 = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b", "a"]},
                                                         {"key": "tier", "operator": "Gt", "values": ["1"]}]}]}
    objs = [NODE_A, GPU_CLASS, node("node-b"),
            slice_("s-1", [device("other")], pool="p1", node_name="node-b"),
            slice_("s-2", [device("sel")], pool="p2", node_selector=sel),
            slice_("s-3", [device("sel2")], pool="p3", node_selector=sel2),
            slice_("s-4", [device("all")], pool="p4", all_nodes=True),
            claim("c1", exact("r0", count=2)),
            claim("c2", exact("r0"))]
    both = run_both(objs)
    assert picked(both, 0) == [("r0", "p2", "sel"), ("r0", "p3", "sel2")]
    # One term: the union of the requirements, duplicates (same key, operator, value set) once.
    assert both.allocations[0]["nodeSelector"] == {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["a", "b"]},
        {"key": "tier", "operator": "Gt", "values": ["1"]},
    ]}]}
    assert picked(both, 1) == [("r0", "p4", "all")]
    assert "nodeSelector" not in both.allocations[1]


def test_node_selector_not_matching_hides_slice():
    sel = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]}
    objs = [NODE_A, GPU_CLASS, slice_("s-1", [device("gpu-0")], node_selector=sel), claim("c", exact("r0"))]
    assert run_both(objs).status == "unsat"


def test_claim_limit_of_32_devices_is_an_error():
    both = run_both(base(claim("c", exact("r0", count=33)), devices=1))
    assert both.status == "error"
    assert "exceeds the claim limit of 32" in both.error
    both = run_both(base(claim("c", exact("r0", count=20), exact("r1", count=13)), devices=1))
    assert both.status == "error"


def test_pools_are_ordered_by_driver_then_pool_name_and_slices_by_name():
    any_cls = device_class("any")
    objs = [
        NODE_A, any_cls,
        slice_("z-slice", [device("z")], driver=NIC, pool="a"),
        slice_("b-slice", [device("pb")], driver=GPU, pool="pool-b"),
        slice_("y-slice", [device("y")], driver=GPU, pool="pool-a", count=2),
        slice_("x-slice", [device("x")], driver=GPU, pool="pool-a", count=2),
        claim("c", exact("r0", "any", count=4)),
    ]
    assert picked(run_both(objs)) == [
        ("r0", "pool-a", "x"), ("r0", "pool-a", "y"), ("r0", "pool-b", "pb"), ("r0", "a", "z"),
    ]


# --- CEL ------------------------------------------------------------------------------------


def test_cel_runtime_error_is_an_error():
    objs = base(claim("c", exact("r0", selectors=['device.attributes["gpu.example.com"].nosuch == 1'])))
    both = run_both(objs)
    assert both.status == "error" and "CEL runtime error" in both.error


def test_cel_error_not_reached_when_devices_are_skipped_earlier():
    # gpu-0 is in use and gpu-1 matches first: the erroring selector never runs on a
    # device without the attribute.
    devs = [device("gpu-0"), device("gpu-1", attrs={"model": "a"}), device("gpu-2")]
    objs = [NODE_A, GPU_CLASS, slice_("s-a", devs), allocated("old", {"device": "gpu-0"}),
            claim("c", exact("r0", selectors=['device.attributes["gpu.example.com"].model == "a"']))]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-1")]


def test_allow_multiple_allocations_in_selector_without_consumable_capacity_gate():
    # The scheduler compiles selectors as stored expressions: device.allowMultipleAllocations
    # is known even with DRAConsumableCapacity off, and has the device's value.
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [device("gpu-0"), device("gpu-1", allowMultipleAllocations=True)]),
            claim("c", exact("r0", selectors=["device.allowMultipleAllocations"]))]
    both = run_both(objs, gates={"DRAConsumableCapacity": False})
    assert results(both) == [{"request": "r0", "driver": GPU, "pool": "pool-a", "device": "gpu-1"}]


# --- each gate switched off changes the outcome ---------------------------------------------


def test_gate_prioritized_list_off():
    objs = base(claim("c", first_available("r0", sub("s0"))))
    assert picked(run_both(objs)) == [("r0/s0", "pool-a", "gpu-0")]
    both = run_both(objs, gates={"DRAPrioritizedList": False})
    assert both.status == "error" and "has subrequests, but the DRAPrioritizedList feature is disabled" in both.error


def test_gate_admin_access_off():
    objs = base(claim("c", exact("r0", adminAccess=True)))
    assert run_both(objs).status == "ok"
    both = run_both(objs, gates={"DRAAdminAccess": False})
    assert both.status == "error" and "admin access is requested, but the feature is disabled" in both.error


def test_gate_partitionable_devices_off():
    objs = [NODE_A, GPU_CLASS,
            slice_("s-0-counters", counters=COUNTERS, count=2),
            slice_("s-1-devices", partitions("8Gi") + [device("plain")], count=2),
            claim("c", exact("r0"))]
    assert picked(run_both(objs)) == [("r0", "pool-a", "part-0")]
    # Off: devices that consume counters cannot be allocated.
    assert picked(run_both(objs, gates={"DRAPartitionableDevices": False})) == [("r0", "pool-a", "plain")]


def test_gate_partitionable_devices_off_hides_per_device_slices():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [device("gpu-0", allNodes=True)], per_device=True), claim("c", exact("r0"))]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-0")]
    assert run_both(objs, gates={"DRAPartitionableDevices": False}).status == "unsat"


def test_gate_device_taints_off():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", tainted("NoSchedule")), claim("c", exact("r0"))]
    assert picked(run_both(objs)) == [("r0", "pool-a", "gpu-1")]
    assert picked(run_both(objs, gates={"DRADeviceTaints": False})) == [("r0", "pool-a", "gpu-0")]


def test_gate_consumable_capacity_off():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu()]), claim("c1", exact("r0")), claim("c2", exact("r0"))]
    # On: the first share takes all 40Gi, so the second claim cannot fit.
    assert run_both(objs).status == "unsat"
    # Off: an ordinary exclusive device; still only one claim can have it.
    assert run_both(objs, gates={"DRAConsumableCapacity": False}).status == "unsat"
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu()]),
            claim("c1", exact("r0", capacity={"requests": {"memory": "1Gi"}})),
            claim("c2", exact("r0", capacity={"requests": {"memory": "1Gi"}}))]
    both = run_both(objs)
    assert picked(both, 0) == [("r0", "pool-a", "gpu-0")] and picked(both, 1) == [("r0", "pool-a", "gpu-0")]
    both = run_both(objs, gates={"DRAConsumableCapacity": False})
    assert both.status == "error" and "has capacity requests, but the DRAConsumableCapacity feature is disabled" in both.error


def test_gate_consumable_capacity_off_shared_allocation_counts_as_exclusive():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu()]),
            allocated("old", {"device": "gpu-0", "shareID": "6f1c2d3e-1111-4222-8333-444455556666",
                              "consumedCapacity": {"memory": "1Gi"}}),
            claim("c", exact("r0"))]
    both = run_both(objs, gates={"DRAConsumableCapacity": False})
    assert both.status == "unsat"


# --- node selector parsing (upstream: labels.NewRequirement + strconv.ParseInt) -------------


@pytest.mark.parametrize(
    "label,op,value,expected",
    [
        ("5", "Gt", "1", "ok"),
        ("01", "Gt", "0", "ok"),  # ParseInt accepts leading zeros
        ("gold", "Gt", "1", "unsat"),  # a non-integer label never matches Gt/Lt
        ("1_000", "Gt", "1", "unsat"),  # ParseInt does not accept digit separators
        ("99999999999999999999", "Gt", "1", "unsat"),  # out of int64 range
        ("5", "Gt", "-1", "error"),  # the value must also be a valid label value
        ("5", "Lt", "1_0", "error"),
    ],
)
def test_node_selector_gt_lt_parsing(label, op, value, expected):
    sel = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "tier", "operator": op, "values": [value]}]}]}
    objs = [node("node-a", {"tier": label}), GPU_CLASS, slice_("s-a", gpus(1), node_selector=sel), claim("c", exact("r0"))]
    both = run_both(objs)
    assert both.status == expected, both.error
    if expected == "error":
        assert "failed to perform node selection for slice s-a" in both.error


# --- consumable capacity across claims; quantity text ---------------------------------------


def test_consumable_capacity_exhausted_across_pending_claims():
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu("gpu-0"), shared_gpu("gpu-1")]),
            *[claim(f"c{i}", exact("r0", capacity={"requests": {"memory": "24Gi"}})) for i in range(3)]]
    # 24Gi + 24Gi does not fit into 40Gi: each claim gets its own device, the third none.
    assert run_both(objs).status == "unsat"
    objs = objs[:-1]
    both = run_both(objs)
    assert picked(both, 0) == [("r0", "pool-a", "gpu-0")] and picked(both, 1) == [("r0", "pool-a", "gpu-1")]


@pytest.mark.parametrize(
    "request_text,expected",
    [
        ("2Gi", "2Gi"),
        ("2048Mi", "2Gi"),  # not canonical: written canonically
        ("1.5Gi", "1536Mi"),
        ("+2Gi", "+2Gi"),  # apimachinery keeps the text it parsed when it deems it canonical
        ("1.500G", "1.500G"),
        ("2000M", "2G"),
    ],
)
def test_consumed_capacity_quantity_text(request_text, expected):
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [shared_gpu()]),
            claim("c", exact("r0", capacity={"requests": {"memory": request_text}}))]
    assert results(run_both(objs))[0]["consumedCapacity"] == {"memory": expected}


# --- CEL details that decide outcomes ---------------------------------------------------------


@pytest.mark.parametrize(
    "expression,expected",
    [
        # A version (a custom CEL type) compared with == to another type is a runtime error
        # upstream, while != is simply true.
        ('device.attributes["gpu.example.com"].v == 1', "error"),
        ('device.attributes["gpu.example.com"].v != 1', "ok"),
        ('device.attributes["gpu.example.com"].v == semver("1.0.0+build")', "ok"),
        ('device.capacity["gpu.example.com"].memory == quantity("16384Mi")', "ok"),
        # sign() is a global function, not a method.
        ('sign(quantity("1")) == 1', "ok"),
        ('quantity("1").sign() == 1', "error"),
        # isInteger() depends on apimachinery's internal representation: quantities parsed
        # into inf.Dec (fractional binary, very large binary) or with a negative scale are not
        # "integers" even when their value is.
        ('quantity("2k").isInteger()', "ok"),
        ('quantity("1.5Gi").isInteger()', "unsat"),
        ('quantity("1000m").isInteger()', "unsat"),
        ('quantity("1Pi").isInteger()', "unsat"),
    ],
)
def test_cel_semantics(expression, expected):
    dev = device("d0", attrs={"v": {"version": "1.0.0"}}, capacity={"memory": "16Gi"})
    objs = [NODE_A, GPU_CLASS, slice_("s-a", [dev]), claim("c", exact("r0", selectors=[expression]))]
    assert run_both(objs).status == expected

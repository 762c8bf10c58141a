"""Fair-share division: hand-computed examples (docs/fairness.md) and hypothesis properties."""

from __future__ import annotations

import math
import random
from fractions import Fraction as F

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.api.errors import ValidationFailed
from gpuplane.scheduler import QueueNode, QueueTree, ResourceSpec, compute_fair_shares, compute_fair_shares_exact
from gpuplane.scheduler.fairshare import aggregate_demand


def shares(specs, capacity, demand, **kw):
    tree = QueueTree.from_specs(specs)
    return {q: r.get("gpu") for q, r in compute_fair_shares_exact(tree, {"gpu": capacity}, {k: {"gpu": v} for k, v in demand.items()}, **kw).items()}


# --- hand-computed examples (each one is worked in docs/fairness.md) ------------------------


def test_quota_then_weights():
    s = shares({"a": {"gpu": {"quota": 2, "overQuotaWeight": 1}}, "b": {"gpu": {"quota": 2, "overQuotaWeight": 3}}},
               10, {"a": 100, "b": 100})
    assert s == {"a": F(7, 2), "b": F(13, 2)}


def test_priority_bucket_beats_weight():
    # "priority 2 / weight 1 beats priority 1 / weight 100"
    s = shares({"a": {"priority": 2, "gpu": {"overQuotaWeight": 1}}, "b": {"priority": 1, "gpu": {"overQuotaWeight": 100}}},
               8, {"a": 10, "b": 10})
    assert s == {"a": 8, "b": 0}
    s = shares({"a": {"priority": 2, "gpu": {"overQuotaWeight": 1}}, "b": {"priority": 1, "gpu": {"overQuotaWeight": 100}}},
               8, {"a": 3, "b": 10})
    assert s == {"a": 3, "b": 5}


def test_water_filling_redistributes_what_a_satisfied_queue_leaves():
    s = shares({"a": {}, "b": {}, "c": {}}, 12, {"a": 2, "b": 10, "c": 10})
    assert s == {"a": 2, "b": 5, "c": 5}


def test_limit_caps_share():
    s = shares({"a": {"gpu": {"limit": 3}}, "b": {}}, 10, {"a": 10, "b": 10})
    assert s == {"a": 3, "b": 7}


def test_unlimited_quota_deserves_everything():
    s = shares({"a": {"gpu": {"quota": -1}}, "b": {}}, 10, {"a": 4, "b": 10})
    assert s == {"a": 4, "b": 6}


def test_zero_weight_gets_no_over_quota_share():
    s = shares({"a": {"gpu": {"quota": 2, "overQuotaWeight": 0}}, "b": {"gpu": {"overQuotaWeight": 1}}}, 10, {"a": 10, "b": 3})
    assert s == {"a": 2, "b": 3}  # 5 GPUs stay unassigned


def test_oversubscribed_quotas_scale_down():
    s = shares({"a": {"gpu": {"quota": 6}}, "b": {"gpu": {"quota": 2}}}, 4, {"a": 10, "b": 10})
    assert s == {"a": 3, "b": 1}


def test_fractions_are_exact():
    # KAI floors each over-quota give to whole GPUs (0 here) and hands the 1 GPU to one queue.
    s = shares({"a": {}, "b": {}, "c": {}}, 1, {"a": 5, "b": 5, "c": 5})
    assert s == {"a": F(1, 3), "b": F(1, 3), "c": F(1, 3)}
    tree = QueueTree.from_specs({"a": {}, "b": {}, "c": {}})
    fl = compute_fair_shares(tree, {"gpu": 1.0}, {q: {"gpu": 5} for q in "abc"})
    assert all(v["gpu"] <= 1 / 3 for v in fl.values())
    assert math.fsum(v["gpu"] for v in fl.values()) <= 1.0


def test_hierarchy():
    specs = {
        "dept-a": {"gpu": {"quota": 2, "overQuotaWeight": 1}},
        "dept-b": {"gpu": {"quota": 2, "overQuotaWeight": 3}},
        "a1": {"parent": "dept-a", "gpu": {"quota": 1}},
        "a2": {"parent": "dept-a", "gpu": {"quota": 0}},
    }
    s = shares(specs, 10, {"a1": 5, "a2": 5, "dept-b": 100})
    assert s == {"dept-a": F(7, 2), "dept-b": F(13, 2), "a1": F(9, 4), "a2": F(5, 4)}


def test_parent_limit_caps_children_and_child_limits_cap_parent_request():
    specs = {"d": {"gpu": {"limit": 5}}, "x": {"parent": "d"}, "y": {"parent": "d"}, "other": {}}
    assert shares(specs, 20, {"x": 10, "y": 10, "other": 100}) == {"d": 5, "x": F(5, 2), "y": F(5, 2), "other": 15}
    specs = {"d": {}, "x": {"parent": "d", "gpu": {"limit": 1}}, "y": {"parent": "d", "gpu": {"limit": 1}}, "other": {}}
    # d requests 20 but its children may only use 2: d's share is 2, the rest goes to "other".
    assert shares(specs, 20, {"x": 10, "y": 10, "other": 100}) == {"d": 2, "x": 1, "y": 1, "other": 18}


def test_time_based_usage_shifts_over_quota():
    # W' = 1/2 each; P_a = 1/2 + (1/2 - 1/2) = 1/2, P_b = 1/2 + (1/2 - 0) = 1.
    tree = QueueTree.from_specs({"a": {}, "b": {}})
    s = compute_fair_shares_exact(tree, {"gpu": 9}, {"a": {"gpu": 100}, "b": {"gpu": 100}}, usage={"a": {"gpu": 0.5}})
    assert (s["a"]["gpu"], s["b"]["gpu"]) == (3, 6)
    s = compute_fair_shares_exact(tree, {"gpu": 9}, {"a": {"gpu": 100}, "b": {"gpu": 100}}, usage={"a": {"gpu": 0.5}}, k_value=0)
    assert (s["a"]["gpu"], s["b"]["gpu"]) == (F(9, 2), F(9, 2))


def test_resources_divide_independently():
    tree = QueueTree.from_specs({"a": {"gpu": {"quota": 4}, "cpu": {"quota": 1000}}, "b": {"memory": {"limit": 10}}})
    s = compute_fair_shares(tree, {"gpu": 8, "cpu": 4000, "memory": 100},
                            {"a": {"gpu": 8, "cpu": 8000, "memory": 100}, "b": {"gpu": 8, "cpu": 8000, "memory": 100}})
    assert s == {"a": {"gpu": 6.0, "cpu": 2500.0, "memory": 90.0}, "b": {"gpu": 2.0, "cpu": 1500.0, "memory": 10.0}}


def test_input_errors():
    tree = QueueTree.from_specs({"a": {}})
    with pytest.raises(KeyError):
        compute_fair_shares(tree, {"gpu": 1}, {"zzz": {"gpu": 1}})
    with pytest.raises(ValueError):
        compute_fair_shares(tree, {"gpu": -1}, {})
    with pytest.raises(ValueError):
        compute_fair_shares(tree, {"gpu": 1}, {"a": {"gpu": -1}})
    with pytest.raises(ValueError):
        compute_fair_shares(tree, {"gpu": float("nan")}, {})
    with pytest.raises(ValidationFailed, match="cycle"):
        QueueTree([QueueNode("a", "b"), QueueNode("b", "a")])
    with pytest.raises(ValidationFailed, match="parent queue does not exist"):
        QueueTree([QueueNode("a", "zz")])


# --- properties ------------------------------------------------------------------------------

NUMS = st.one_of(st.integers(0, 20).map(float), st.sampled_from([0.5, 0.25, 1.5, 2.75, 0.1, 3.3]))


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 10))
    nodes = []
    for i in range(n):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1).map(lambda p: f"q{p}"))) if i else None
        res = {}
        for r in ("gpu", "cpu"):
            quota = draw(st.one_of(NUMS, st.just(-1.0))) if draw(st.integers(0, 9)) == 0 else draw(NUMS)
            limit = draw(st.one_of(st.just(-1.0), NUMS))
            if limit != -1 and (quota == -1 or quota > limit):
                quota = limit
            weight = draw(st.sampled_from([0.0, 1.0, 1.0, 2.0, 3.0, 0.5]))
            res[r] = ResourceSpec(quota=quota, over_quota_weight=weight, limit=limit)
        nodes.append(QueueNode(f"q{i}", parent, draw(st.sampled_from([100, 100, 50, 200])), res))
    tree = QueueTree(nodes)
    demand = {q: {"gpu": draw(NUMS), "cpu": draw(NUMS) * 10} for q in tree.leaves() if draw(st.booleans()) or True}
    capacity = {"gpu": draw(NUMS) * 2, "cpu": draw(NUMS) * 30}
    return tree, capacity, demand


def _levels(tree, capacity, r, exact):
    """(total, siblings) for every sibling set."""
    yield F(capacity[r]), tree.roots
    for p in tree.walk():
        if tree.children(p):
            yield exact[p][r], tree.children(p)


def _cap(tree, q, r, req):
    spec = tree[q].spec(r)
    return req[q] if spec.limit == -1 else min(F(spec.limit), req[q])


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_property_bounds(sc):
    tree, capacity, demand = sc
    exact = compute_fair_shares_exact(tree, capacity, demand)
    floats = compute_fair_shares(tree, capacity, demand)
    for r in capacity:
        req = aggregate_demand(tree, demand, r)
        for total, sibs in _levels(tree, capacity, r, exact):
            assert sum(exact[q][r] for q in sibs) <= total
            for q in sibs:
                assert 0 <= exact[q][r] <= _cap(tree, q, r, req)
                spec = tree[q].spec(r)
                if spec.limit != -1:
                    assert exact[q][r] <= F(spec.limit)
        assert math.fsum(floats[q][r] for q in tree.roots) <= capacity[r]
        for q in tree:
            assert F(floats[q][r]) <= exact[q][r] and exact[q][r] - F(floats[q][r]) <= abs(exact[q][r]) * F(1, 2**50)


@SETTINGS
@given(scenarios())
def test_property_quota_guaranteed_when_capacity_allows(sc):
    tree, capacity, demand = sc
    exact = compute_fair_shares_exact(tree, capacity, demand)
    for r in capacity:
        req = aggregate_demand(tree, demand, r)
        for total, sibs in _levels(tree, capacity, r, exact):
            deserved = {q: total if tree[q].spec(r).quota == -1 else F(tree[q].spec(r).quota) for q in sibs}
            phase1 = sum(min(deserved[q], _cap(tree, q, r, req)) for q in sibs)
            if phase1 <= total:
                for q in sibs:
                    if _cap(tree, q, r, req) >= deserved[q]:
                        assert exact[q][r] >= deserved[q]


@SETTINGS
@given(scenarios())
def test_property_weights_and_work_conservation(sc):
    tree, capacity, demand = sc
    exact = compute_fair_shares_exact(tree, capacity, demand)
    for r in capacity:
        req = aggregate_demand(tree, demand, r)
        for total, sibs in _levels(tree, capacity, r, exact):
            deserved = {q: total if tree[q].spec(r).quota == -1 else F(tree[q].spec(r).quota) for q in sibs}
            base = {q: min(deserved[q], _cap(tree, q, r, req)) for q in sibs}
            if sum(base.values()) > total:
                continue  # the scaled (oversubscribed) case has no over-quota phase
            hungry = [q for q in sibs if tree[q].spec(r).over_quota_weight > 0 and exact[q][r] < _cap(tree, q, r, req)]
            if hungry:
                # someone could still use more: nothing was left over
                assert sum(exact[q][r] for q in sibs) == total
                top = max(tree[q].priority for q in hungry)
                same = [q for q in hungry if tree[q].priority == top]
                ratios = {(exact[q][r] - base[q]) / F(tree[q].spec(r).over_quota_weight) for q in same}
                assert len(ratios) == 1  # over-quota shares proportional to weights
                for q in sibs:  # lower priority buckets got nothing above quota
                    if tree[q].priority < top:
                        assert exact[q][r] == base[q]


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_deterministic_and_order_independent(sc, rnd: random.Random):
    tree, capacity, demand = sc
    first = compute_fair_shares(tree, capacity, demand)
    assert compute_fair_shares(tree, capacity, demand) == first
    nodes = list(tree.nodes.values())
    rnd.shuffle(nodes)
    dem = list(demand.items())
    rnd.shuffle(dem)
    assert compute_fair_shares(QueueTree(nodes), dict(reversed(list(capacity.items()))), dict(dem)) == first


@SETTINGS
@given(scenarios())
def test_property_more_capacity_never_hurts_a_lone_priority_level(sc):
    """With one priority level and no quota oversubscription, growing capacity never shrinks a root share."""
    tree, capacity, demand = sc
    if len({tree[q].priority for q in tree.roots}) != 1:
        return
    a = compute_fair_shares_exact(tree, capacity, demand)
    b = compute_fair_shares_exact(tree, {r: v + 3 for r, v in capacity.items()}, demand)
    for r in capacity:
        req = aggregate_demand(tree, demand, r)
        if sum(min(F(capacity[r]) if tree[q].spec(r).quota == -1 else F(tree[q].spec(r).quota), _cap(tree, q, r, req)) for q in tree.roots) > capacity[r]:
            continue
        if any(tree[q].spec(r).quota == -1 for q in tree.roots):
            continue
        for q in tree.roots:
            assert b[q][r] >= a[q][r]


# --- mode="kai": KAI's own division, quirks included -----------------------------------------


def kai_shares(specs, capacity, demand):
    tree = QueueTree.from_specs(specs)
    out = compute_fair_shares(tree, {"gpu": capacity}, {k: {"gpu": v} for k, v in demand.items()}, mode="kai")
    return {q: r["gpu"] for q, r in out.items()}


def test_kai_mode_floors_and_hands_out_leftovers_by_unit():
    # 1 GPU among three equal queues: every give floors to 0; the leftover unit goes to the first
    # queue (equal leftovers, no creation times or UIDs: tree order).
    assert kai_shares({"a": {}, "b": {}, "c": {}}, 1, {"a": 5, "b": 5, "c": 5}) == {"a": 1.0, "b": 0.0, "c": 0.0}
    # example 1: floor(1.5) = 1 and floor(4.5) = 4, then the leftover unit by largest fraction (tie: a first)
    assert kai_shares({"a": {"gpu": {"quota": 2, "overQuotaWeight": 1}}, "b": {"gpu": {"quota": 2, "overQuotaWeight": 3}}},
                      10, {"a": 100, "b": 100}) == {"a": 4.0, "b": 6.0}
    # creation time breaks the tie
    specs = {"a": {"creationTimestamp": "2026-02-01T00:00:00Z"}, "b": {"creationTimestamp": "2026-01-01T00:00:00Z"}}
    assert kai_shares(specs, 1, {"a": 5, "b": 5}) == {"a": 0.0, "b": 1.0}


def test_kai_mode_quirks():
    # A priority bucket with a single queue receives everything that remains, whatever it requests.
    assert kai_shares({"a": {"priority": 200}, "b": {}}, 10, {"a": 1, "b": 3}) == {"a": 10.0, "b": 0.0}
    assert shares({"a": {"priority": 200}, "b": {}}, 10, {"a": 1, "b": 3}) == {"a": 1, "b": 3}
    # Deserved quotas are handed out even beyond the capacity.
    assert kai_shares({"a": {"gpu": {"quota": 6}}, "b": {"gpu": {"quota": 2}}}, 4, {"a": 10, "b": 10}) == {"a": 6.0, "b": 2.0}
    # Parents add their children's raw requests (limits below are ignored).
    specs = {"d": {}, "x": {"parent": "d", "gpu": {"limit": 1}}, "y": {"parent": "d", "gpu": {"limit": 1}}, "other": {}}
    assert kai_shares(specs, 20, {"x": 10, "y": 10, "other": 100})["d"] == 10.0


def test_kai_mode_versus_exact_worked_example():
    # docs/fairness.md example 12. Deserved 2 + 1 + 0, remaining 9, weights 1:1:2.
    specs = {"a": {"gpu": {"quota": 2}}, "b": {"gpu": {"quota": 1, "limit": 4}}, "c": {"gpu": {"overQuotaWeight": 2}}}
    demand = {"a": 3, "b": 10, "c": 10}
    # exact: round 1 gives 9/4, 9/4, 9/2; a needs 1 only; round 2 splits 5/4 as 1:2.
    assert shares(specs, 12, demand) == {"a": 3, "b": F(11, 3), "c": F(16, 3)}
    # KAI: round 1 a=+1 (satisfied), b=+floor(2.25)=2, c=+floor(4.5)=4; round 2 (2 left): b floor(2/3)=0,
    # c floor(4/3)=1; the last unit goes to the largest leftover fraction, b's 2/3.
    assert kai_shares(specs, 12, demand) == {"a": 3.0, "b": 4.0, "c": 5.0}
    # on whole-number divisions the two agree
    specs = {"a": {"gpu": {"quota": 1}}, "b": {}, "c": {"gpu": {"overQuotaWeight": 3}}}
    demand = {"a": 1, "b": 10, "c": 10}
    assert shares(specs, 9, demand) == {"a": 1, "b": 2, "c": 6}
    assert kai_shares(specs, 9, demand) == {"a": 1.0, "b": 2.0, "c": 6.0}


@SETTINGS
@given(scenarios())
def test_property_kai_mode_stays_within_capacity_when_quotas_fit(sc):
    tree, capacity, demand = sc
    out = compute_fair_shares(tree, capacity, demand, mode="kai")
    for r in capacity:
        req = aggregate_demand(tree, demand, r, cap_by_child_limits=False)
        levels = [(capacity[r], tree.roots)] + [(out[p][r], tree.children(p)) for p in tree.walk() if tree.children(p)]
        for total, sibs in levels:
            deserved = {q: total if tree[q].spec(r).quota == -1 else tree[q].spec(r).quota for q in sibs}
            capped = {q: float(req[q]) if tree[q].spec(r).limit == -1 else min(tree[q].spec(r).limit, float(req[q])) for q in sibs}
            if sum(min(deserved[q], capped[q]) for q in sibs) <= total:
                assert math.fsum(out[q][r] for q in sibs) <= total + 1e-9
            for q in sibs:
                assert out[q][r] >= 0


def test_mode_is_checked():
    with pytest.raises(ValueError, match="mode"):
        compute_fair_shares(QueueTree.from_specs({"a": {}}), {"gpu": 1}, {}, mode="fast")


# --- the integer fast path of compute_fair_shares versus the Fraction path --------------------

from gpuplane.scheduler.fairshare import _fast_fair_shares, _float_down  # noqa: E402

AMOUNTS = st.one_of(NUMS, st.integers(0, 50), st.fractions(min_value=0, max_value=40, max_denominator=15625))
K_VALUES = st.sampled_from([1, 1.0, 0, 0.5, 2, -1, -1.5, F(1, 3), 3.25])


@st.composite
def wide_scenarios(draw):
    """Deeper trees, int/Fraction/float amounts (memory MB has denominators like 15625), quotas that
    oversubscribe their parent, zero and fractional weights, several priorities, any k."""
    n = draw(st.integers(1, 12))
    nodes = []
    for i in range(n):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1).map(lambda p: f"q{p}"))) if i else None
        res = {}
        for r in ("gpu", "cpu", "memory"):
            quota = draw(st.one_of(NUMS, st.just(-1.0), st.integers(0, 30).map(float)))
            limit = draw(st.one_of(st.just(-1.0), NUMS, st.integers(0, 40).map(float)))
            weight = draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5, 0.1, 64.0, 16.0]))
            res[r] = ResourceSpec(quota=quota, over_quota_weight=weight, limit=limit)
        nodes.append(QueueNode(f"q{i}", parent, draw(st.sampled_from([100, 50, 200])), res,
                               creation_timestamp=draw(st.sampled_from(["", "2024-01-01T00:00:00Z"]))))
    tree = QueueTree(nodes)
    names = list(tree)
    demand = {q: {r: draw(AMOUNTS) for r in ("gpu", "cpu", "memory") if draw(st.integers(0, 5))}
              for q in draw(st.lists(st.sampled_from(names), unique=True))}
    capacity = {r: draw(AMOUNTS) * draw(st.sampled_from([1, 3, 10])) for r in ("gpu", "cpu", "memory")}
    return tree, capacity, demand, draw(K_VALUES)


def _reference(tree, capacity, demand, k):
    exact = compute_fair_shares_exact(tree, capacity, demand, None, k)
    return {q: {r: _float_down(v) for r, v in res.items()} for q, res in exact.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_scenarios())
def test_property_fast_path_equals_fraction_path(sc):
    tree, capacity, demand, k = sc
    fast = _fast_fair_shares(tree, capacity, demand, None, k)
    assert fast is not None  # plain inputs: the fast path applies (else this test would compare nothing)
    ref = _reference(tree, capacity, demand, k)
    assert fast == ref
    assert list(fast) == list(ref) and all(list(fast[q]) == list(ref[q]) for q in ref)
    assert compute_fair_shares(tree, capacity, demand, k_value=k) == ref


def test_fast_path_worked_examples_and_fallbacks():
    tree = QueueTree.from_specs({"a": {"gpu": {"quota": 2, "overQuotaWeight": 1}}, "b": {"gpu": {"quota": 2, "overQuotaWeight": 3}}})
    assert _fast_fair_shares(tree, {"gpu": 10}, {"a": {"gpu": 100}, "b": {"gpu": 100}}, None, 1) == {
        "a": {"gpu": 3.5}, "b": {"gpu": 6.5}}
    # a share that is no float: rounded down, as the Fraction path does
    tree3 = QueueTree.from_specs({"a": {}, "b": {}, "c": {}})
    got = _fast_fair_shares(tree3, {"gpu": 1}, {q: {"gpu": 1} for q in "abc"}, None, 1)
    assert got == _reference(tree3, {"gpu": 1}, {q: {"gpu": 1} for q in "abc"}, 1)
    assert got["a"]["gpu"] <= 1 / 3 and F(got["a"]["gpu"]) <= F(1, 3)
    # not for the fast path: usage, odd inputs (the Fraction path runs and raises as before)
    assert _fast_fair_shares(tree, {"gpu": 10}, {}, {"a": {"gpu": 0.5}}, 1) is None
    assert _fast_fair_shares(tree, {"gpu": True}, {}, None, 1) is None
    assert _fast_fair_shares(tree, {"gpu": float("nan")}, {}, None, 1) is None
    assert _fast_fair_shares(tree, {"gpu": 1}, {"zzz": {"gpu": 1}}, None, 1) is None
    assert _fast_fair_shares(tree, {"gpu": 1}, {"a": {"gpu": -1}}, None, 1) is None
    with pytest.raises(TypeError):
        compute_fair_shares(tree, {"gpu": True}, {})
    with pytest.raises(KeyError):
        compute_fair_shares(tree, {"gpu": 1}, {"zzz": {"gpu": 1}})

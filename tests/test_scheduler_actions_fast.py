"""The fast paths of the evicting actions give what the plain ones give (hypothesis, the clusters
of ``test_scheduler_actions_property``): consolidation's search with the chosen victims kept
released between simulations (``_search(move=True)``) returns the same victims and placements as
the search simulating each scenario from scratch, and leaves the cluster as it found it; a
victim's held GPUs (``_held_gpu_sum``) are ``_held_sum``'s; reclaim's search with the round's memo
(``known``, the sorted candidates included) and the bound that skips searches which cannot
succeed (``_room_with_all``) finds what it finds without either. Consolidation's fast search
also skips the simulations its GPU bound (``_MoveBound``) proves would fail; the plain one runs
them all."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import actions
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.snapshot import build_snapshot
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds

from test_scheduler_actions import running
from test_scheduler_actions_property import NOW, _prepare, clusters


@st.composite
def fragmented(draw):
    """Nodes partly filled with small running jobs (some preemptible) and bigger pending ones:
    idle GPUs spread over nodes, consolidation's case."""
    names = ["qa", "qb", "qc", "qd"][:draw(st.integers(2, 4))]  # (3+: reclaim orders victims' queues)
    objs = [m.queue(q, gpu_quota=draw(st.integers(2 if q == "qa" else 0, 8))) for q in names]
    n = 0
    for i in range(draw(st.integers(2, 4))):
        size = draw(st.integers(2, 4))
        objs.append(m.node(f"n{i}", gpus=size))
        free = list(range(size))
        for _ in range(draw(st.integers(0, size))):
            gpus = draw(st.integers(1, 2))
            if len(free) < gpus:
                break
            held, free = free[:gpus], free[gpus:]
            objs.append(running(f"r{n}", f"n{i}", draw(st.sampled_from(names)), gpus=gpus,
                                held=",".join(f"gpu-{k}" for k in held),
                                prio=draw(st.sampled_from(["train", "train", "inference"])),
                                created=f"2026-06-01T00:{n:02d}:00Z"))
            n += 1
    for j in range(draw(st.integers(1, 4))):
        objs.append(m.pod(f"p{j}", queue=draw(st.sampled_from(names)), gpus=draw(st.integers(1, 4)),
                          priority_class=draw(st.sampled_from(["train", "inference"])),
                          created=f"2026-06-01T02:{j:02d}:00Z"))
    return objs


@st.composite
def overdrawn(draw):
    """Queue qa under its quota with jobs waiting, while two or three other queues with small
    quotas hold the GPUs: reclaim's case, with victims from several queues to order. Sometimes
    in two departments (qa and qb in p1, the others in p2), sometimes with a reclaimMinRuntime
    that protects the jobs started in the last hour."""
    others = ["qb", "qc", "qd"][:draw(st.integers(2, 3))]
    quotas = {"qa": draw(st.integers(4, 10)), **{q: draw(st.integers(0, 2)) for q in others}}
    parents = {q: ("p1" if q in ("qa", "qb") else "p2") for q in quotas} if draw(st.booleans()) else {}
    objs = [m.queue(p, gpu_quota=sum(v for q, v in quotas.items() if parents[q] == p)) for p in sorted(set(parents.values()))]
    for q, quota in quotas.items():
        objs.append(m.queue(q, parent=parents.get(q), gpu_quota=quota))
        min_runtime = draw(st.sampled_from([None, None, "30m", "3h"]))
        if min_runtime:
            objs[-1]["spec"]["reclaimMinRuntime"] = min_runtime
    n = 0
    for i in range(draw(st.integers(2, 4))):
        objs.append(m.node(f"n{i}", gpus=4))
        free = list(range(4))
        while free and draw(st.integers(0, 4)):
            gpus = min(len(free), draw(st.integers(1, 2)))
            held, free = free[:gpus], free[gpus:]
            at = f"2026-06-01T{draw(st.sampled_from(['00', '10', '11']))}:{draw(st.integers(0, 59)):02d}:00Z"
            objs.append(running(f"r{n}", f"n{i}", draw(st.sampled_from(others + ["qa"])), gpus=gpus,
                                held=",".join(f"gpu-{k}" for k in held), prio="train", created=at, started=at))
            n += 1
    for j in range(draw(st.integers(1, 4))):  # (mostly qa; jobs of other queues share its memo)
        objs.append(m.pod(f"p{j}", queue=draw(st.sampled_from(["qa", "qa"] + others)), gpus=draw(st.integers(1, 4)),
                          priority_class="train",
                          created=f"2026-06-01T11:{50 + j:02d}:00Z"))
    return objs


@st.composite
def crowded(draw):
    """Many 1- and 2-GPU jobs spread over five to eight 4-GPU nodes with a GPU or two idle on
    each, and 3- or 4-GPU jobs waiting: consolidation's searches over more candidates than the
    other strategies give (they mostly succeed; the pod budget's early stop is tested apart)."""
    objs = [m.queue("qa", gpu_quota=draw(st.integers(4, 16))), m.queue("qb", gpu_quota=draw(st.integers(0, 16)))]
    n = 0
    for i in range(draw(st.integers(5, 8))):
        objs.append(m.node(f"n{i}", gpus=4))
        free = list(range(4))
        for gpus in draw(st.lists(st.integers(1, 2), min_size=1, max_size=3)):
            if len(free) <= gpus:
                break
            held, free = free[:gpus], free[gpus:]
            objs.append(running(f"r{n}", f"n{i}", draw(st.sampled_from(["qa", "qb"])), gpus=gpus,
                                held=",".join(f"gpu-{k}" for k in held), prio="train",
                                created=f"2026-06-01T0{draw(st.integers(0, 9))}:{n % 60:02d}:00Z"))
            n += 1
    for j in range(draw(st.integers(1, 3))):
        objs.append(m.pod(f"p{j}", queue=draw(st.sampled_from(["qa", "qb"])), gpus=draw(st.integers(3, 4)),
                          priority_class="train", created=f"2026-06-01T11:{50 + j:02d}:00Z"))
    return objs


SEEN = {"move": 0, "found": 0, "held": 0, "reclaim": 0, "reclaimed": 0}


def _state(c):
    return (sorted((k, repr(p)) for k, p in c.placements.items()),
            sorted((n, ns.gpu_free, repr(ns.gpu_used), ns.cpu, ns.memory, ns.pods) for n, ns in c.nodes.items()),
            sorted(c.released, key=repr))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_fast_paths_match(case):
    _check(_prepare(case))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragmented())
def test_fast_paths_match_fragmented(objs):
    _check(build_snapshot(m.schedule_objects(objs)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded())
def test_fast_paths_match_crowded(objs):
    _check(build_snapshot(m.schedule_objects(objs)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overdrawn())
def test_fast_paths_match_overdrawn(objs):
    _check(build_snapshot(m.schedule_objects(objs)))


def test_jobs_of_one_queue_whose_requests_fit_its_quota_differently():
    """qa (quota 4, 2 GPUs running) has a 3-GPU job (over its quota with it) and a 1-GPU job
    (within it): hopeful() reads that, so their queue units are memoised apart (found by
    hypothesis when the key lacked it)."""
    objs = [m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.queue("qc", gpu_quota=0)]
    held = [("n0", "qb", "gpu-0,gpu-1"), ("n0", "qb", "gpu-2,gpu-3"), ("n1", "qb", "gpu-0,gpu-1"),
            ("n1", "qc", "gpu-2,gpu-3"), ("n2", "qb", "gpu-0"), ("n2", "qc", "gpu-1"), ("n2", "qa", "gpu-2,gpu-3")]
    objs += [m.node(f"n{i}", gpus=4) for i in range(3)]
    objs += [running(f"r{i}", node, q, gpus=gpus.count(",") + 1, held=gpus, prio="train",
                     created="2026-06-01T00:00:00Z") for i, (node, q, gpus) in enumerate(held)]
    objs += [m.pod(f"p{j}", queue="qa", gpus=g, priority_class="train", created=f"2026-06-01T02:0{j}:00Z")
             for j, g in enumerate([3, 1])]
    _check(build_snapshot(m.schedule_objects(objs)))


def test_reclaim_memo_after_a_commit_in_departments():
    """Departments p1 (qa, qb) and p2 (qc, qd, quota 0). qa's 4-GPU job reclaims; the victims
    come back pending and reclaim in turn. A commit that takes from qc lowers what p2 holds, so
    the memoised units of qd (leveled victim queue p2 for a job of p1) must go too (found by
    hypothesis when only the units of the touched queue itself were dropped)."""
    quotas = {"qa": ("p1", 8), "qb": ("p1", 2), "qc": ("p2", 0), "qd": ("p2", 0)}
    objs = [m.queue("p1", gpu_quota=10), m.queue("p2", gpu_quota=0)]
    objs += [m.queue(q, parent=p, gpu_quota=v) for q, (p, v) in quotas.items()]
    objs += [m.node(f"n{i}", gpus=4) for i in range(4)]
    held = [("n0", "qb", "0"), ("n0", "qd", "1,2"), ("n0", "qb", "3"), ("n1", "qc", "0,1"), ("n1", "qb", "2"),
            ("n1", "qb", "3"), ("n2", "qb", "0,1"), ("n2", "qb", "2"), ("n2", "qb", "3"), ("n3", "qb", "0"),
            ("n3", "qc", "1")]
    at = "2026-06-01T00:00:00Z"
    objs += [running(f"r{i}", node, q, gpus=len(gpus.split(",")), held=",".join(f"gpu-{k}" for k in gpus.split(",")),
                     prio="train", created=at, started=at) for i, (node, q, gpus) in enumerate(held)]
    objs.append(m.pod("p0", queue="qa", gpus=4, priority_class="train", created="2026-06-01T11:50:00Z"))
    _check(build_snapshot(m.schedule_objects(objs)))


def _check(snap):
    search, held = actions._search, actions._held_gpu_sum
    seen = SEEN

    def checked_search(c, job, cands, accept=None, simulate=None, move=False):
        if not (move and simulate is None):
            return search(c, job, cands, accept, simulate, move)
        before = _state(c)
        count = [0]

        def small(cand):  # consolidation's accept, counted afresh for each search
            if count[0] + len(cand[1]) > actions.MAX_CONSOLIDATION_PREEMPTEES:
                return False
            count[0] += len(cand[1])
            return True
        plain = search(c, job, cands, small, lambda cl, j, v: actions._simulate(cl, j, v, move=True))
        assert _state(c) == before
        fast = search(c, job, cands, accept, None, True)
        assert _state(c) == before
        if plain is None:
            assert fast is None
        else:
            assert fast is not None
            assert [(g.key, [p.key for p in pods]) for g, pods in plain[0]] == \
                   [(g.key, [p.key for p in pods]) for g, pods in fast[0]]
            assert plain[1] == fast[1]
        seen["move"] += 1
        seen["found"] += fast is not None
        return fast

    def checked_held(c, pods):
        out = held(c, pods)
        want = actions._held_sum(c, pods)["gpu"]
        assert out == {"gpu": want} and type(out["gpu"]) is type(want)
        seen["held"] += 1
        return out

    plan_reclaim = actions.plan_reclaim

    room = actions._room_with_all

    def recording(sink, bound):
        def record(c, pending, need, cands, *rest):
            sink.append([(g.key, [p.key for p in pods]) for g, pods in cands])
            return bound(c, pending, need, cands, *rest)
        return record

    def checked_plan(c, job, explain=False, known=None):
        before = _state(c)
        plain_cands, fast_cands = [], []
        actions._room_with_all = recording(plain_cands, lambda *args: True)  # the plain search: every one run
        try:
            plain = plan_reclaim(c, job, explain, None)  # nothing memoised
            actions._room_with_all = recording(fast_cands, room)
            fast = plan_reclaim(c, job, explain, known)
        finally:
            actions._room_with_all = room
        assert plain_cands == fast_cands  # the same candidates, in the same order
        assert _state(c) == before
        assert (plain.victims is None) == (fast.victims is None)
        if plain.victims is not None:
            assert [(g.key, [p.key for p in pods]) for g, pods in plain.victims] == \
                   [(g.key, [p.key for p in pods]) for g, pods in fast.victims]
            assert plain.fit == fast.fit
        seen["reclaim"] += 1
        seen["reclaimed"] += fast.victims is not None
        return fast

    actions._search, actions._held_gpu_sum, actions.plan_reclaim = checked_search, checked_held, checked_plan
    try:
        for rounds in (1, 3):
            run_rounds(snap, rounds, SchedulerConfig(), NOW)
    finally:
        actions._search, actions._held_gpu_sum, actions.plan_reclaim = search, held, plan_reclaim


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.sampled_from(["", "2026-06-01T00:00:00Z", "2026-06-01T00:00:0",
                                                               "2026-06-01T10:00:00Z", "a", "ab"]),
                          st.sampled_from(["default", "team"]), st.sampled_from(["j", "j1", "j10", "k", ""])),
                max_size=30))
def test_sort_victims_is_victim_order(rows):
    """_sort_victims orders as sorting by _victim_order does, equal ones (the same job twice)
    kept in their order."""
    from gpuplane.scheduler.snapshot import GroupInfo

    units = [(GroupInfo(key=(ns, name), kind="PodGroup", min_member=1, queue="q", priority=prio,
                        preemptible=True, creation=created, pods=()), [i]) for i, (prio, created, ns, name) in enumerate(rows)]
    want = sorted(units, key=lambda v: actions._victim_order(v[0]))
    got = list(units)
    actions._sort_victims(got)
    assert [u[1] for u in got] == [u[1] for u in want]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 20), st.lists(st.integers(1, 5), max_size=30))
def test_pod_budget_full_means_nothing_more_is_taken(limit, sizes):
    """_growing stops at the first candidate a full _PodBudget refuses: that is exact because a
    full budget takes no candidate of one pod or more."""
    budget = actions._PodBudget(limit)
    for n in sizes:
        was_full = budget.full()
        took = budget(("job", [object()] * n))
        assert not (was_full and took)
        assert budget.count <= limit
    assert budget.full() == (budget.count >= limit)

"""SnapshotState: the snapshot kept between cycles equals ``build_snapshot(objects)`` after any change.

Differential: random sequences of creates, updates, bindings, status writes and deletes of Pods,
PodGroups, Queues, PriorityClasses, Nodes and DRA objects go through an ObjectStore; after each
step the incremental snapshot is compared field by field (dict order included) with a build
without cache, and invalid input must raise the same ValidationFailed. Identity: a pod whose
PodInfo did not change keeps the same PodInfo object."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Optional

from hypothesis import given, settings, strategies as st

from gpuplane.api.errors import ValidationFailed
from gpuplane.cluster import ObjectStore
from gpuplane.cluster.loop import SchedulerLoop
from gpuplane.cluster.store import StoreError
from gpuplane.scheduler import manifests as M
from gpuplane.scheduler.snapshot import USED_KINDS, Snapshot, build_snapshot
from gpuplane.scheduler.snapshot_state import SnapshotState

PODS = [f"p{i}" for i in range(4)]
GROUPS = ["g0", "g1"]
NAMESPACES = ["default", "default", "other"]
QUEUES = ["q1", "q2", "q3", "nope"]  # q3 exists only after a "queue" step; nope never
CLASSES = [None, None, None, "train", "inference", "custom", "missing"]  # custom: after a "pclass" step; missing: never


def _store() -> ObjectStore:
    t = [1_767_225_600.0]

    def clock() -> float:
        t[0] += 1
        return t[0]

    store = ObjectStore(clock=clock)
    for obj in M.schedule_objects([
        M.queue("dept", gpu_quota=8), M.queue("q1", parent="dept", gpu_quota=4), M.queue("q2", parent="dept", gpu_quota=4),
        M.node("n0", gpus=4, gpu_memory_mib=80000), M.node("n1", gpus=8),
        M.device_class(), M.gpu_slice("d0", 4), M.node("d0"), M.claim_template("one", count=1),
    ]):
        store.create(obj)
    return store


def _objects(store: ObjectStore, fresh: bool = False) -> list[dict[str, Any]]:
    """What SchedulerLoop.list_objects hands over (``fresh``: new dicts, as a real client's list)."""
    out: list[dict[str, Any]] = []
    for kind in USED_KINDS:
        out.extend(store.list(kind, copy=fresh)[0])
    return out


def _pod(name: str, ns: str, queue: str, group: Optional[str], gpus: int, pclass: Optional[str], cpu: int,
         claims: int, bad: bool, running: Optional[str]) -> dict[str, Any]:
    refs = None
    if claims == 1:
        refs = [{"name": "gpu", "resourceClaimTemplateName": "one"}]
    elif claims == 2:
        refs = [{"name": "c", "resourceClaimName": "c0"}]
    obj = M.pod(name, queue=queue, gpus=gpus, cpu=str(cpu), namespace=ns, group=group, priority_class=pclass,
                fraction="1.5" if bad else None, node_name=running, held="gpu-0" if running else None, claims=refs)
    return M.schedule_objects([obj])[0]


_pod_args = st.tuples(st.sampled_from(PODS), st.sampled_from(NAMESPACES), st.sampled_from(QUEUES),
                      st.sampled_from([None, *GROUPS, *GROUPS]), st.integers(0, 2), st.sampled_from(CLASSES),
                      st.integers(1, 2), st.sampled_from([0, 0, 1, 2]), st.just(False),
                      st.sampled_from([None, None, "n0", "n1"]))

_create = st.tuples(st.just("create_pod"), _pod_args)
_update = st.tuples(st.just("update_pod"), _pod_args)
_bind = st.tuples(st.just("bind"), st.sampled_from(PODS), st.sampled_from(NAMESPACES), st.sampled_from(["n0", "n1"]))
_delete = st.tuples(st.just("delete_pod"), st.sampled_from(PODS), st.sampled_from(NAMESPACES))
_podgroup = st.tuples(st.just("podgroup"), st.sampled_from(GROUPS), st.sampled_from(NAMESPACES), st.integers(1, 3),
                      st.sampled_from(QUEUES), st.sampled_from(CLASSES))
_STEP = st.one_of(  # Pods and PodGroups (the incremental path) more often than the rest
    _create, _create, _create, _update, _update, _bind, _bind, _delete, _delete, _podgroup, _podgroup, _podgroup,
    st.tuples(st.just("bad_pod"), _pod_args),
    st.tuples(st.just("phase"), st.sampled_from(PODS), st.sampled_from(NAMESPACES),
              st.sampled_from(["Running", "Succeeded", "Failed", "Pending"])),
    st.tuples(st.just("delete_podgroup"), st.sampled_from(GROUPS), st.sampled_from(NAMESPACES)),
    st.tuples(st.just("queue"), st.sampled_from(["q3", "q1"]), st.integers(0, 6), st.sampled_from(["dept", "dept", "gone"])),
    st.tuples(st.just("delete_queue"), st.sampled_from(["q3"])),
    st.tuples(st.just("queue_status"), st.sampled_from(["q1", "q2", "dept"]), st.integers(0, 4)),
    st.tuples(st.just("pclass"), st.integers(0, 2000)),
    st.tuples(st.just("delete_pclass")),
    st.tuples(st.just("node"), st.sampled_from(["n0", "n1", "n2"]), st.integers(0, 8)),
    st.tuples(st.just("delete_node"), st.sampled_from(["n1", "n2"])),
    st.tuples(st.just("claim"), st.integers(1, 2)),
    st.tuples(st.just("delete_claim")),
    st.tuples(st.just("template"), st.integers(1, 2)),
    st.tuples(st.just("delete_template")),
    st.tuples(st.just("nothing")),
)


def _upsert(store: ObjectStore, obj: dict[str, Any]) -> None:
    """Update ``obj``, or create it where the store has none."""
    try:
        store.update(obj)
    except StoreError:
        store.create(obj)


def _apply(store: ObjectStore, step: tuple) -> None:
    """One change through the store's API; requests the store refuses (absent objects) change nothing."""
    op = step[0]
    try:
        if op in ("create_pod", "bad_pod", "update_pod"):
            args = list(step[1])
            if op == "bad_pod":
                args[8] = True
            obj = _pod(*args)
            if op == "update_pod":
                obj.pop("status", None)
                store.update(obj)
            else:
                store.create(obj)
        elif op == "bind":
            store.bind(step[1], step[2], step[3], {"gpuplane.io/gpus": "gpu-1"})
        elif op == "phase":
            store.update_status({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": step[1], "namespace": step[2]},
                                 "status": {"phase": step[3]}})
        elif op == "delete_pod":
            store.delete("Pod", step[1], step[2])
        elif op == "podgroup":
            obj = M.schedule_objects([M.podgroup(step[1], step[3], step[4], namespace=step[2], priority_class=step[5])])[0]
            _upsert(store, obj)
        elif op == "delete_podgroup":
            store.delete("PodGroup", step[1], step[2])
        elif op == "queue":
            obj = M.schedule_objects([M.queue(step[1], parent=step[3], gpu_quota=step[2])])[0]
            _upsert(store, obj)
        elif op == "queue_status":
            store.update_status({"kind": "Queue", "apiVersion": "scheduling.run.ai/v2", "metadata": {"name": step[1]},
                                 "status": {"allocated": {"gpu": step[2]}}})
        elif op == "delete_queue":
            store.delete("Queue", step[1])
        elif op == "pclass":
            obj = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "custom"},
                   "value": step[1]}
            _upsert(store, obj)
        elif op == "delete_pclass":
            store.delete("PriorityClass", "custom")
        elif op == "node":
            obj = M.schedule_objects([M.node(step[1], gpus=step[2])])[0]
            try:
                store.update(obj)
                store.update_status({"kind": "Node", "apiVersion": "v1", "metadata": {"name": step[1]},
                                     "status": obj["status"]})
            except StoreError:
                store.create(obj)
        elif op == "delete_node":
            store.delete("Node", step[1])
        elif op == "claim":
            tmpl = M.claim_template("x", count=step[1])
            obj = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                   "metadata": {"name": "c0", "namespace": "default"}, "spec": tmpl["spec"]["spec"]}
            obj = M.schedule_objects([obj])[0]
            _upsert(store, obj)
        elif op == "delete_claim":
            store.delete("ResourceClaim", "c0", "default")
        elif op == "template":
            obj = M.schedule_objects([M.claim_template("one", count=step[1])])[0]
            _upsert(store, obj)
        elif op == "delete_template":
            store.delete("ResourceClaimTemplate", "one", "default")
    except StoreError:
        pass


def _same(a: Snapshot, b: Snapshot) -> None:
    """Equal field by field; dicts in the same order (QueueTree has no ``==``: its queues are compared)."""
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "tree":
            x, y = {q: x[q] for q in x}, {q: y[q] for q in y}
        assert x == y, f.name
        if isinstance(x, dict):
            assert list(x) == list(y), f"{f.name}: order"


def _check(state: SnapshotState, objects: list[dict[str, Any]], prev: Optional[Snapshot]) -> Optional[Snapshot]:
    """The state's snapshot of ``objects`` against a fresh build; returns it (None when invalid)."""
    try:
        want: Optional[Snapshot] = build_snapshot(objects)
        err: Optional[ValidationFailed] = None
    except ValidationFailed as e:
        want, err = None, e
    try:
        got: Optional[Snapshot] = state.build(objects)
        got_err: Optional[ValidationFailed] = None
    except ValidationFailed as e:
        got, got_err = None, e
    if err is not None:
        assert got_err is not None and got_err.errors == err.errors
        return None
    assert got_err is None and got is not None and want is not None
    _same(got, want)
    if prev is not None:
        for key, info in got.pods.items():
            old = prev.pods.get(key)
            if old is not None and old == info:
                assert info is old, f"{key}: an unchanged pod got a new PodInfo"
    return got


@settings(max_examples=250, deadline=None)
@given(st.lists(st.tuples(_STEP, st.booleans()), min_size=1, max_size=30))
def test_incremental_snapshot_equals_full_build(steps: list[tuple[tuple, bool]]) -> None:
    store = _store()
    state = SnapshotState()
    prev = _check(state, _objects(store), None)
    for step, fresh in steps:
        _apply(store, step)
        snap = _check(state, _objects(store, fresh=fresh), prev)
        prev = snap if snap is not None else prev
        if step[0] == "nothing" and snap is not None and not fresh:
            again = state.build(_objects(store))
            assert all(again.pods[k] is p for k, p in snap.pods.items())


_valid_pod = st.tuples(st.sampled_from(PODS[:3]), st.just("default"), st.sampled_from(["q1", "q2"]),
                       st.sampled_from([None, "g0", "g0", "g1"]), st.integers(0, 2), st.sampled_from([None, "train"]),
                       st.integers(1, 2), st.sampled_from([0, 0, 0, 1]), st.just(False), st.sampled_from([None, "n0"]))
_JOB_STEP = st.one_of(
    st.tuples(st.just("create_pod"), _valid_pod), st.tuples(st.just("update_pod"), _valid_pod),
    st.tuples(st.just("bind"), st.sampled_from(PODS[:3]), st.just("default"), st.just("n1")),
    st.tuples(st.just("delete_pod"), st.sampled_from(PODS[:3]), st.just("default")),
    st.tuples(st.just("podgroup"), st.sampled_from(["g0", "g1"]), st.just("default"), st.integers(1, 2),
              st.sampled_from(["q1", "q2"]), st.sampled_from([None, "inference"])),
    st.tuples(st.just("delete_podgroup"), st.sampled_from(["g0", "g1"]), st.just("default")),
    st.tuples(st.just("queue_status"), st.sampled_from(["q1", "dept"]), st.integers(0, 4)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_JOB_STEP, min_size=1, max_size=20))
def test_valid_pod_and_podgroup_sequences(steps: list[tuple]) -> None:
    """Only the kinds the incremental path follows, always valid: the equality above, where it counts most."""
    store = _store()
    state = SnapshotState()
    prev = _check(state, _objects(store), None)
    for step in steps:
        _apply(store, step)
        prev = _check(state, _objects(store), prev)


def test_pod_and_podgroup_changes_are_incremental() -> None:
    """A simulator's cycles: jobs come, get bound, finish; no full build after the first."""
    store = _store()
    state = SnapshotState()
    prev = _check(state, _objects(store), None)
    for i in range(6):
        _apply(store, ("podgroup", f"g{i % 3}", "default", 1 + i % 2, "q1", "train"))
        _apply(store, ("create_pod", (f"p{i}", "default", "q2", f"g{i % 3}", 1, None, 1, 0, False, None)))
        _apply(store, ("create_pod", (f"s{i}", "other", "q1", None, 2, "inference", 2, 0, False, None)))
        prev = _check(state, _objects(store), prev)
        _apply(store, ("bind", f"p{i}", "default", "n1"))
        _apply(store, ("phase", f"s{i}", "other", "Running"))
        if i >= 2:
            _apply(store, ("delete_pod", f"p{i - 2}", "default"))
            _apply(store, ("delete_podgroup", f"g{(i - 2) % 3}", "default"))
        prev = _check(state, _objects(store), prev)
        _apply(store, ("queue_status", "q1", i))  # as the loop's status writes do
    assert state.full_builds == 1 and state.incremental_builds == 12


def test_claims_are_followed_incrementally() -> None:
    """Pods with claims from a template and a named claim: created, their claims made and
    allocated (as the loop writes them), deleted with their claims; no full build after the first."""
    store = _store()
    state = SnapshotState()
    prev = _check(state, _objects(store), None)
    _apply(store, ("create_pod", ("p0", "default", "q1", None, 0, None, 1, 1, False, None)))
    _apply(store, ("create_pod", ("p1", "default", "q1", None, 0, None, 1, 2, False, None)))
    prev = _check(state, _objects(store), prev)
    assert prev is not None and ("default", "p0-gpu") in prev.generated_claims
    assert prev.pods[("default", "p1")].claims[0].claim is None
    _apply(store, ("claim", 1))
    prev = _check(state, _objects(store), prev)
    assert prev is not None and prev.pods[("default", "p1")].claims[0].claim == ("default", "c0")
    generated = dict(prev.claims[("default", "p0-gpu")])
    generated["metadata"] = dict(generated["metadata"], ownerReferences=[
        {"apiVersion": "v1", "kind": "Pod", "name": "p0", "uid": store.get("Pod", "p0")["metadata"]["uid"]}])
    store.create(generated)  # the loop creates a generated claim when it allocates it
    prev = _check(state, _objects(store), prev)
    assert prev is not None and ("default", "p0-gpu") not in prev.generated_claims
    _apply(store, ("delete_pod", "p0", "default"))  # its claim goes with it
    _apply(store, ("template", 2))
    prev = _check(state, _objects(store), prev)
    assert prev is not None and ("default", "p0-gpu") not in prev.claims
    assert state.full_builds == 1 and state.incremental_builds == 4


def test_unchanged_pods_keep_their_podinfo_when_a_podgroup_changes() -> None:
    store = _store()
    state = SnapshotState()
    _apply(store, ("podgroup", "g0", "default", 1, "q1", None))
    _apply(store, ("create_pod", ("p0", "default", "q2", "g0", 1, None, 1, 0, False, None)))
    _apply(store, ("create_pod", ("p1", "default", "q2", None, 1, None, 1, 0, False, None)))
    first = _check(state, _objects(store), None)
    assert first is not None
    _apply(store, ("podgroup", "g0", "default", 2, "q1", None))  # minMember only: the pods' queue stays q1
    second = _check(state, _objects(store), first)
    assert second is not None and second.groups[("default", "g0")].min_member == 2
    assert second.pods[("default", "p0")] is first.pods[("default", "p0")]
    _apply(store, ("podgroup", "g0", "default", 2, "q2", None))  # the queue moves: p0's PodInfo changes
    third = _check(state, _objects(store), second)
    assert third is not None and third.pods[("default", "p0")].queue == "q2"
    assert third.pods[("default", "p1")] is first.pods[("default", "p1")]
    assert state.full_builds == 1


def test_full_build_keeps_equal_podinfos() -> None:
    """A Node change rebuilds in full; the pods' PodInfos are still the same objects."""
    store = _store()
    state = SnapshotState()
    _apply(store, ("create_pod", ("p0", "default", "q1", None, 1, None, 1, 0, False, "n0")))
    first = _check(state, _objects(store), None)
    _apply(store, ("node", "n1", 2))
    second = _check(state, _objects(store), first)
    assert state.full_builds == 2
    assert first is not None and second is not None
    assert second.pods[("default", "p0")] is first.pods[("default", "p0")]


def test_new_objects_without_versions_are_built_in_full() -> None:
    """Without uid + resourceVersion only the same dict tells an object unchanged."""
    objs = M.schedule_objects([M.queue("q1", gpu_quota=4), M.node("n0", gpus=4), M.pod("p0", queue="q1", gpus=1)])
    state = SnapshotState()
    for _ in range(2):
        copies = copy.deepcopy(objs)
        _same(state.build(copies), build_snapshot(copies))
    assert state.full_builds == 2
    _same(state.build(copies), build_snapshot(copies))
    assert state.full_builds == 2 and state.incremental_builds == 1


def test_scheduler_loop_uses_the_state() -> None:
    store = _store()
    _apply(store, ("create_pod", ("p0", "default", "q1", None, 1, None, 1, 0, False, None)))
    loop = SchedulerLoop(store, write_status=False)
    out = loop.run_cycle("2026-01-01T00:00:00Z")
    assert out.bound == [("default", "p0")]
    _apply(store, ("create_pod", ("p1", "default", "q1", None, 1, None, 1, 0, False, None)))
    out = loop.run_cycle("2026-01-01T00:00:00Z")
    assert out.bound == [("default", "p1")]
    assert loop.state is not None and loop.state.full_builds == 1 and loop.state.incremental_builds == 1
    _same(loop.snapshot(loop.list_objects()), build_snapshot(_objects(store)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Pod", "Node", "Queue", None, 7]), max_size=12))
def test_grouping_by_kind_is_build_snapshots(kinds: list[Any]) -> None:
    """Runs of one kind are sliced out; any other order (or a kind that is no string) the slow way, same result."""
    from gpuplane.scheduler.snapshot_state import _by_kind

    objects = [{"kind": k, "i": i} if k is not None else {"i": i} for i, k in enumerate(kinds)]
    want: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        want.setdefault(str(obj.get("kind")), []).append(obj)
    got = _by_kind(objects)
    assert got == want and all(all(a is b for a, b in zip(got[k], want[k])) for k in want)


def test_two_objects_for_one_key_are_built_in_full() -> None:
    """A PodGroup (or Pod) in namespace "" and "default": the full build decides (the later PodGroup
    wins; two pods are an error), every time."""
    objs = M.schedule_objects([M.queue("q1", gpu_quota=4), M.node("n0", gpus=4),
                               M.podgroup("g", 1, "q1"), M.podgroup("g", 2, "q1"), M.pod("p0", queue="q1", group="g")])
    objs[2]["metadata"]["namespace"] = ""
    for i, obj in enumerate(objs):
        obj["metadata"].update(uid=f"u{i}", resourceVersion="1")
    state = SnapshotState()
    for _ in range(2):
        _same(state.build(objs), build_snapshot(objs))
    assert state.full_builds == 2
    dup = copy.deepcopy(objs[-1])
    dup["metadata"].update(namespace="", uid="u9")
    with_dup = objs + [dup]
    _check(state, with_dup, None)
    _check(state, with_dup, None)

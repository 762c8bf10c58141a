"""The embedded store keeps the API server's semantics the scheduler loop relies on."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.cluster import AlreadyExists, ClusterClient, Conflict, Expired, Invalid, NotFound, ObjectStore


def pod(name: str, ns: str = "default", **extra) -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
           "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}
    obj.update(extra)
    return obj


@pytest.fixture
def store() -> ObjectStore:
    t = [1000.0]
    s = ObjectStore(clock=lambda: t[0], seed=3)
    s.tick = t  # type: ignore[attr-defined]
    return s


def test_is_a_cluster_client(store):
    assert isinstance(store, ClusterClient)


def test_create_sets_server_fields(store):
    created = store.create(pod("a"))
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["generation"] == 1
    assert meta["creationTimestamp"] == "1970-01-01T00:16:40Z"  # the injected clock
    assert len(meta["uid"]) == 36 and meta["resourceVersion"] == "1"
    node = store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}})
    assert "namespace" not in node["metadata"]  # cluster-scoped


def test_uids_are_deterministic_under_a_seed():
    a, b = ObjectStore(seed=5), ObjectStore(seed=5)
    assert a.create(pod("x"))["metadata"]["uid"] == b.create(pod("x"))["metadata"]["uid"]


def test_create_existing_name_fails_naming_the_object(store):
    store.create(pod("a"))
    with pytest.raises(AlreadyExists, match="Pod default/a"):
        store.create(pod("a"))
    store.create(pod("a", ns="other"))  # another namespace is another object


def test_generate_name(store):
    obj = pod("")
    obj["metadata"] = {"generateName": "job-", "namespace": "default"}
    created = store.create(obj)
    assert created["metadata"]["name"].startswith("job-") and len(created["metadata"]["name"]) == 9


def test_missing_name_is_invalid(store):
    with pytest.raises(Invalid, match="metadata.name"):
        store.create({"kind": "Pod", "metadata": {}})
    with pytest.raises(Invalid, match="kind"):
        store.create({"metadata": {"name": "x"}})


def test_stale_update_conflicts(store):
    created = store.create(pod("a"))
    fresh = store.update({**created, "metadata": {**created["metadata"], "labels": {"x": "1"}}})
    assert int(fresh["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    with pytest.raises(Conflict, match="Pod default/a"):
        store.update({**created, "metadata": {**created["metadata"], "labels": {"x": "2"}}})
    with pytest.raises(Conflict):
        store.update_status({**created, "status": {"phase": "Running"}})
    with pytest.raises(Conflict):
        store.delete("Pod", "a", "default", resource_version=created["metadata"]["resourceVersion"])


def test_update_ignores_status_and_status_update_only_changes_status(store):
    created = store.create(pod("a"))
    upd = store.update({**created, "spec": {"containers": [{"name": "d"}]}, "status": {"phase": "Running"}})
    assert upd["status"] == {"phase": "Pending"}
    assert upd["spec"]["containers"][0]["name"] == "d" and upd["metadata"]["generation"] == 2
    st_ = store.update_status({**upd, "spec": {"containers": []}, "metadata": {**upd["metadata"], "labels": {"l": "v"}},
                               "status": {"phase": "Running"}})
    assert st_["status"] == {"phase": "Running"}
    assert st_["spec"]["containers"][0]["name"] == "d" and "labels" not in st_["metadata"]
    assert st_["metadata"]["generation"] == 2  # status writes never bump generation


def test_metadata_only_update_keeps_generation(store):
    created = store.create(pod("a"))
    upd = store.update({**created, "metadata": {**created["metadata"], "annotations": {"a": "b"}}})
    assert upd["metadata"]["generation"] == 1


def test_noop_write_keeps_resource_version(store):
    created = store.create(pod("a"))
    again = store.update_status(created)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_update_missing_is_not_found(store):
    with pytest.raises(NotFound, match="Pod default/ghost"):
        store.update(pod("ghost"))
    with pytest.raises(NotFound):
        store.get("Pod", "ghost")


def test_returned_objects_are_copies(store):
    created = store.create(pod("a"))
    created["spec"]["containers"].append({"name": "evil"})
    assert len(store.get("Pod", "a")["spec"]["containers"]) == 1


def test_bind_sets_node_once(store):
    store.create(pod("a"))
    bound = store.bind("a", "default", "node-1", {"gpuplane.io/gpus": "gpu-0"})
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["metadata"]["annotations"] == {"gpuplane.io/gpus": "gpu-0"}
    with pytest.raises(Conflict, match="already assigned"):
        store.bind("a", "default", "node-2")


def test_watch_replays_events_in_order(store):
    store.create(pod("a"))
    rv = store.resource_version
    b = store.create(pod("b"))
    store.update_status({**b, "status": {"phase": "Running"}})
    store.delete("Pod", "a")
    events = list(store.watch(rv))
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]
    assert [e.resource_version for e in events] == sorted(e.resource_version for e in events)
    assert list(store.watch(store.resource_version)) == []


def test_watch_too_old_is_expired():
    s = ObjectStore(history=2)
    for i in range(5):
        s.create(pod(f"p{i}"))
    with pytest.raises(Expired):
        list(s.watch(0))
    assert len(list(s.watch(3))) == 2


def test_cascading_delete_follows_owner_references(store):
    group = store.create({"apiVersion": "scheduling.run.ai/v2alpha2", "kind": "PodGroup", "metadata": {"name": "g"}, "spec": {}})
    ref = {"apiVersion": "scheduling.run.ai/v2alpha2", "kind": "PodGroup", "name": "g", "uid": group["metadata"]["uid"]}
    p = store.create(pod("p", metadata={"name": "p", "namespace": "default", "ownerReferences": [ref]}))
    pref = {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": p["metadata"]["uid"]}
    store.create({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                  "metadata": {"name": "c", "namespace": "default", "ownerReferences": [pref]}, "spec": {}})
    store.create(pod("bystander"))
    store.delete("PodGroup", "g")
    assert [o["metadata"]["name"] for o in store.list("Pod")[0]] == ["bystander"]
    assert store.list("ResourceClaim")[0] == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["create", "status", "delete"]), st.sampled_from("abc")), max_size=30))
def test_resource_versions_only_grow(ops):
    s = ObjectStore()
    last = 0
    for op, name in ops:
        try:
            if op == "create":
                obj = s.create(pod(name))
            elif op == "status":
                cur = s.get("Pod", name)
                obj = s.update_status({**cur, "status": {"phase": "Running", "n": last}})
            else:
                obj = s.delete("Pod", name)
                continue
        except (AlreadyExists, NotFound):
            continue
        rv = int(obj["metadata"]["resourceVersion"])
        assert rv > last
        last = rv
    assert int(s.resource_version) >= last


# --- copies, list order and watch: the default (copying) store against the no-copy opt-in -----

KINDS = ("Pod", "PodGroup", "Node")
NAMESPACES = ("default", "a", "a-b", "ab")  # "a-b" sorts between "a" and "a" + anything
_op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(KINDS), st.sampled_from(NAMESPACES), st.sampled_from("abcd"),
              st.sampled_from([None, "x", "y"]), st.sampled_from([None, "a", "b", "c", "d"])),
    st.tuples(st.just("status"), st.sampled_from(KINDS), st.sampled_from(NAMESPACES), st.sampled_from("abcd"),
              st.sampled_from([None, {"phase": "Running"}, {"phase": "Pending"}, {}]), st.booleans()),
    st.tuples(st.just("bind"), st.just("Pod"), st.sampled_from(NAMESPACES), st.sampled_from("abcd"),
              st.sampled_from(["n0", "n1"]), st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(KINDS), st.sampled_from(NAMESPACES), st.sampled_from("abcd"),
              st.none(), st.booleans()),
)


def _apply(s: ObjectStore, op: tuple, copy: bool, sent: list) -> dict:
    """One request, built fresh (a no-copy create hands its object over); ``sent`` gets it."""
    what, kind, ns, name, arg, flag = op
    if what == "create":
        meta: dict = {"name": name, "namespace": ns}
        if arg:
            meta["labels"] = {"team": arg}
        if flag:  # owned by PodGroup <flag> of this namespace, when it exists
            try:
                owner = s.get("PodGroup", flag, ns, copy=False)
                meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "PodGroup", "name": flag,
                                            "uid": owner["metadata"]["uid"]}]
            except NotFound:
                pass
        obj = {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": {"x": [1, {"y": 2}]}}
        if arg != "y":
            obj["status"] = {"phase": "Pending"} if arg else None
        sent.append(obj)
        return s.create(obj, copy=copy)
    if what == "status":
        cur = s.get(kind, name, ns, copy=copy)
        write = {"kind": kind, "metadata": {"name": name, "namespace": ns}}
        if flag:
            write["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        if arg is not None:
            write["status"] = dict(arg)
        sent.append(write)
        return s.update_status(write, copy=copy)
    if what == "bind":
        return s.bind(name, ns, arg, {"gpus": "gpu-0"} if flag else None, copy=copy)
    return s.delete(kind, name, ns, copy=copy)


def _spoil(obj: dict) -> None:
    """What a careless caller does to an object it got back."""
    obj.setdefault("metadata", {})["labels"] = {"spoiled": "yes"}
    obj["spec"] = {"spoiled": True}
    if isinstance(obj.get("status"), dict):
        obj["status"]["phase"] = "Spoiled"
    else:
        obj["status"] = {"phase": "Spoiled"}


@settings(max_examples=150, deadline=None)
@given(st.lists(_op, max_size=40), st.data())
def test_no_copy_opt_in_is_the_same_store_and_copies_protect_it(ops, data):
    copying, trusting = ObjectStore(seed=1), ObjectStore(seed=1)
    for op in ops:
        results, sent = [], []
        for s, copy in ((copying, True), (trusting, False)):
            try:
                results.append(_apply(s, op, copy, sent if copy else []))
            except Exception as err:  # noqa: BLE001 - the same failure on both
                results.append(type(err))
        assert results[0] == results[1], op
        if isinstance(results[0], dict):
            _spoil(results[0])  # the copying store hands out copies: this changes nothing stored
        for obj in sent:
            _spoil(obj)  # and keeps copies of what it is handed
        assert copying.resource_version == trusting.resource_version
        for kind in KINDS:
            got, _ = copying.list(kind)
            assert got == trusting.list(kind, copy=False)[0]
            # list order is the API server's (namespace, name), whatever the order of writes
            assert got == [obj for _, obj in sorted(copying._objects.get(kind, {}).items())]
            for ns in NAMESPACES + ("c", "a\0"):
                assert copying.list(kind, namespace=ns)[0] == [o for o in got if o["metadata"].get("namespace") == ns]
            assert copying.list(kind, label_selector={"team": "x"})[0] == \
                [o for o in got if (o["metadata"].get("labels") or {}).get("team") == "x"]
    full = list(copying.watch(0))
    assert full == list(trusting.watch(0, copy=False))
    since = data.draw(st.integers(0, int(copying.resource_version) + 1))
    assert list(copying.watch(since, {"Pod"})) == [e for e in full if e.resource_version > since and e.object["kind"] == "Pod"]
    for ev in full:
        _spoil(ev.object)  # watch hands out copies too
    assert list(copying.watch(0)) == list(trusting.watch(0, copy=False))


def test_no_copy_reads_are_the_stored_objects_and_default_reads_are_not(store):
    created = store.create(pod("a"), copy=False)
    assert store.get("Pod", "a", copy=False) is created and store.list("Pod", copy=False)[0][0] is created
    assert store.get("Pod", "a") is not created and store.get("Pod", "a") == created
    gone = store.delete("Pod", "a")
    gone["status"]["phase"] = "Spoiled"
    assert [e.object["status"]["phase"] for e in store.watch(0)] == ["Pending", "Pending"]


def test_a_failed_no_copy_create_leaves_the_object_alone(store):
    store.create(pod("a"))
    obj = pod("a")
    with pytest.raises(AlreadyExists):
        store.create(obj, copy=False)
    assert obj == pod("a")


def test_status_writes_that_change_nothing_keep_the_version(store):
    created = store.create({"kind": "Pod", "metadata": {"name": "a"}})  # no status at all
    rv = created["metadata"]["resourceVersion"]
    assert store.update_status({"kind": "Pod", "metadata": {"name": "a"}})["metadata"]["resourceVersion"] == rv
    with_status = store.update_status({"kind": "Pod", "metadata": {"name": "a"}, "status": {}})
    assert with_status["status"] == {} and with_status["metadata"]["resourceVersion"] != rv  # {} is a status
    again = store.update_status({"kind": "Pod", "metadata": {"name": "a"}, "status": {}}, copy=False)
    assert again["metadata"]["resourceVersion"] == with_status["metadata"]["resourceVersion"]
    cleared = store.update_status({"kind": "Pod", "metadata": {"name": "a"}, "status": None})
    assert "status" not in cleared and cleared["metadata"]["resourceVersion"] != with_status["metadata"]["resourceVersion"]
    store.create({"kind": "Pod", "metadata": {"name": "b"}, "status": None})  # a null status is dropped by a write
    before = store.get("Pod", "b")["metadata"]["resourceVersion"]
    assert "status" not in store.update_status({"kind": "Pod", "metadata": {"name": "b"}})
    assert store.get("Pod", "b")["metadata"]["resourceVersion"] != before


def test_watch_history_stays_bounded():
    s = ObjectStore(history=10)
    for i in range(100):
        s.create(pod(f"p{i}"))
        s.delete("Pod", f"p{i}")
    assert len(s._events) == 10
    assert [e.resource_version for e in s.watch(195)] == [196, 197, 198, 199, 200]
    with pytest.raises(Expired):
        list(s.watch(189))


def test_format_time_is_right_for_each_instant():
    from datetime import datetime, timezone

    from gpuplane.cluster.store import format_time

    for t in (0.0, 0.9, 86_400.5, 86_400.0, 0.2, 1_767_225_600.0, 1_767_225_600.7, 59.0):
        want = datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert format_time(t) == want


def test_every_default_call_copies_in_and_out(store):
    """What a caller hands in or gets back by default is never the store's own."""
    obj = pod("a")
    created = store.create(obj)
    write = {"kind": "Pod", "metadata": {"name": "a"}, "status": {"phase": "Running", "conditions": [{"type": "Ready"}]}}
    written = store.update_status(write)
    bound = store.bind("a", "default", "n0", {"gpus": "gpu-0"})
    got, listed = store.get("Pod", "a"), store.list("Pod")[0][0]
    events = list(store.watch(0))
    want = store.get("Pod", "a")
    for mine in (obj, created, write, written, bound, got, listed, *(e.object for e in events)):
        _spoil(mine)
        if isinstance(mine.get("status"), dict):
            mine["status"].setdefault("conditions", [{}])[0]["type"] = "Spoiled"
    assert store.get("Pod", "a") == want and store.get("Pod", "a")["status"]["conditions"] == [{"type": "Ready"}]
    assert [e.object["metadata"].get("labels") for e in store.watch(0)] == [None, None, None]
    gone = store.delete("Pod", "a")
    _spoil(gone)
    assert list(store.watch(0))[-1].object == want

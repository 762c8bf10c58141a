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

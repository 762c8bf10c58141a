"""Loading manifests: files, directories, multi-document YAML, JSON, Lists, and bad input."""

from __future__ import annotations

import json
import os

import pytest

from gpuplane.api.errors import FieldError, InputError, ValidationFailed
from gpuplane.api.loader import load_bytes, load_paths, load_text

CLAIM = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: claim-{n}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {{deviceClassName: gpu.example.com}}
"""

SLICE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: slice-{n}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {{name: node-a, generation: 1, resourceSliceCount: 1}}
"""


def names(objs):
    return [(o["kind"], o["metadata"].get("name")) for o in objs]


# --- errors.py -------------------------------------------------------------------------------


def test_field_error_str_namespaced():
    err = FieldError("ResourceClaim", "default", "my-claim", "spec.devices.requests[0].exactly.count", "Invalid value: 0: must be greater than zero")
    assert str(err) == "ResourceClaim/default/my-claim: spec.devices.requests[0].exactly.count: Invalid value: 0: must be greater than zero"


def test_field_error_str_cluster_scoped():
    err = FieldError("DeviceClass", "", "gpu.example.com", "spec.selectors", "Too many: 33: must have at most 32 items")
    assert str(err) == "DeviceClass/gpu.example.com: spec.selectors: Too many: 33: must have at most 32 items"


def test_validation_failed_lists_errors_one_per_line():
    errs = [FieldError("DeviceClass", "", "a", "p", "Required value"), FieldError("DeviceClass", "", "b", "q", "Required value")]
    exc = ValidationFailed(errs)
    assert isinstance(exc, InputError)
    assert exc.errors == errs
    assert str(exc) == "DeviceClass/a: p: Required value\nDeviceClass/b: q: Required value"


# --- text -------------------------------------------------------------------------------------


def test_multi_document_in_order_and_empty_documents_skipped():
    text = "---\n" + CLAIM.format(n=1) + "---\n---\n# only a comment\n---\n" + SLICE.format(n=2) + "...\n"
    objs = load_text(text, "x.yaml")
    assert names(objs) == [("ResourceClaim", "claim-1"), ("ResourceSlice", "slice-2")]


def test_namespace_defaulted_only_for_namespaced_kinds():
    objs = load_text(CLAIM.format(n=1) + "---\n" + SLICE.format(n=2), "x.yaml")
    assert objs[0]["metadata"]["namespace"] == "default"
    assert "namespace" not in objs[1]["metadata"]


@pytest.mark.parametrize("kind", ["Pod", "PodGroup", "ResourceClaim", "ResourceClaimTemplate"])
def test_namespace_default_for_each_namespaced_kind(kind):
    (obj,) = load_text(f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: x}}\n", "x")
    assert obj["metadata"]["namespace"] == "default"


def test_explicit_namespace_kept():
    (obj,) = load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: team-a}\n", "x")
    assert obj["metadata"]["namespace"] == "team-a"


def test_metadata_absent_or_null_becomes_empty_mapping():
    a, b = load_text("apiVersion: v1\nkind: Node\n---\napiVersion: v1\nkind: Node\nmetadata:\n", "x")
    assert a["metadata"] == {} and b["metadata"] == {}


def test_kind_list_expands_items_in_order():
    text = """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: n1}}
- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Node, metadata: {name: n2}}]}
- {apiVersion: v1, kind: Node, metadata: {name: n3}}
"""
    assert names(load_text(text, "x")) == [("Node", "n1"), ("Node", "n2"), ("Node", "n3")]


def test_typed_list_items_get_kind_and_api_version():
    text = """
apiVersion: resource.k8s.io/v1
kind: ResourceSliceList
metadata: {resourceVersion: "5"}
items:
- metadata: {name: s1}
- {apiVersion: resource.k8s.io/v1beta2, kind: ResourceSlice, metadata: {name: s2}}
"""
    objs = load_text(text, "x")
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("resource.k8s.io/v1", "ResourceSlice", "s1"),
        ("resource.k8s.io/v1beta2", "ResourceSlice", "s2"),
    ]


def test_empty_list():
    assert load_text("apiVersion: v1\nkind: List\nitems: []\n", "x") == []
    assert load_text("apiVersion: v1\nkind: List\n", "x") == []


def test_json_text():
    doc = {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}]}
    assert names(load_text(json.dumps(doc), "x.json")) == [("Node", "n1")]


def test_timestamps_stay_strings_and_yaml_types_are_plain():
    (obj,) = load_text(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n\n  creationTimestamp: 2026-05-01T10:00:00Z\n"
        "  annotations: {a: !!binary aGVsbG8=, d: 2026-01-01}\nspec: !!set {x, y}\n",
        "x",
    )
    assert obj["metadata"]["creationTimestamp"] == "2026-05-01T10:00:00Z"
    assert obj["metadata"]["annotations"] == {"a": "aGVsbG8=", "d": "2026-01-01"}
    assert obj["spec"] == {"x": None, "y": None}


# --- files and directories ------------------------------------------------------------------------


def test_load_paths_files_and_directory(tmp_path):
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "b.yaml").write_text(CLAIM.format(n="b"))
    (d / "a.yml").write_text(SLICE.format(n="a1") + "---\n" + SLICE.format(n="a2"))
    (d / "c.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "c"}}))
    (d / "README.md").write_text("not a manifest: [")
    (d / "notes.txt").write_text("kind: [")
    sub = d / "sub.yaml"  # a directory with a manifest name: not recursed into
    sub.mkdir()
    (sub / "x.yaml").write_text(CLAIM.format(n="nested"))
    extra = tmp_path / "extra.yaml"
    extra.write_text(CLAIM.format(n="extra"))
    objs = load_paths([str(extra), str(d)])
    assert names(objs) == [
        ("ResourceClaim", "claim-extra"),
        ("ResourceSlice", "slice-a1"),
        ("ResourceSlice", "slice-a2"),
        ("ResourceClaim", "claim-b"),
        ("Node", "c"),
    ]


def test_json_file_with_list(tmp_path):
    f = tmp_path / "objs.json"
    f.write_text(json.dumps({"kind": "List", "apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Node"}]}))
    (obj,) = load_paths([str(f)])
    assert obj == {"apiVersion": "v1", "kind": "Node", "metadata": {}}


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(InputError) as exc:
        load_paths([path])
    assert str(exc.value) == f"{path}: no such file or directory"


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: v1\nkind: Node\nmetadata:\n  name: [a, b\n  labels: {}\n")
    with pytest.raises(InputError) as exc:
        load_paths([str(f)])
    msg = str(exc.value)
    assert msg.startswith(f"{f}:5:"), msg
    assert "invalid YAML" in msg


def test_json_syntax_error_names_file_and_line(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{\n  "apiVersion": "v1",\n  "kind": "Node",,\n}\n')
    with pytest.raises(InputError) as exc:
        load_paths([str(f)])
    assert str(exc.value).startswith(f"{f}:3:"), str(exc.value)
    assert "invalid JSON" in str(exc.value)


def test_invalid_utf8(tmp_path):
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"apiVersion: v1\nkind: \xff\xfe\x00garbage\n")
    with pytest.raises(InputError) as exc:
        load_paths([str(f)])
    assert str(exc.value) == f"{f}:2:7: not valid UTF-8 text"


def test_binary_garbage_is_input_error():
    with pytest.raises(InputError):
        load_bytes(bytes(range(256)) * 4, "garbage.bin")


@pytest.mark.parametrize(
    "text,message",
    [
        ("- a\n- b\n", "x.yaml: document 1: expected a mapping with apiVersion and kind, got a list"),
        ("just a string\n", "x.yaml: document 1: expected a mapping with apiVersion and kind, got a string"),
        ("kind: Node\n", "x.yaml: document 1: apiVersion is missing"),
        ("apiVersion: v1\n", "x.yaml: document 1: kind is missing"),
        ("apiVersion: 1\nkind: Node\n", "x.yaml: document 1: apiVersion: expected a string, got a number"),
        ("apiVersion: v1\nkind: [Node]\n", "x.yaml: document 1: kind: expected a string, got a list"),
        ("apiVersion: v1\nkind: Node\nmetadata: [1]\n", "x.yaml: document 1: Node: metadata: expected a mapping, got a list"),
        ("apiVersion: v1\nkind: Node\n---\n42\n", "x.yaml: document 2: expected a mapping with apiVersion and kind, got a number"),
        ("apiVersion: v1\nkind: List\nitems: {a: 1}\n", "x.yaml: document 1: items: expected a list, got a mapping"),
        ("apiVersion: v1\nkind: List\nitems: [{kind: Node}]\n", "x.yaml: document 1, items[0]: apiVersion is missing"),
    ],
)
def test_bad_objects(text, message):
    with pytest.raises(InputError) as exc:
        load_text(text, "x.yaml")
    assert str(exc.value) == message


def test_undefined_alias():
    with pytest.raises(InputError) as exc:
        load_text("apiVersion: v1\nkind: Node\nmetadata: *nope\n", "x.yaml")
    assert str(exc.value).startswith("x.yaml:3:11: invalid YAML: found undefined alias")


def test_alias_bomb_rejected_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "apiVersion: v1\nkind: Node\nspec:\n" + "\n".join("  " + line for line in lines) + "\n"
    with pytest.raises(InputError) as exc:
        load_text(text, "bomb.yaml")
    assert "excessive aliasing" in str(exc.value)


def test_moderate_aliasing_is_fine():
    text = "apiVersion: v1\nkind: Node\nmetadata: &m {name: n, labels: &l {a: b}}\nspec: {x: *l, y: *l}\n"
    (obj,) = load_text(text, "x")
    assert obj["spec"] == {"x": {"a": "b"}, "y": {"a": "b"}}


def test_recursive_alias_rejected():
    with pytest.raises(InputError) as exc:
        load_text("apiVersion: v1\nkind: Node\nspec: &a {self: *a}\n", "rec.yaml")
    assert "refers to itself" in str(exc.value)


def test_deep_nesting_is_input_error():
    with pytest.raises(InputError):
        load_text("apiVersion: v1\nkind: Node\nspec: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    with pytest.raises(InputError):
        load_bytes(b'{"a": ' * 5000 + b"1" + b"}" * 5000, "deep.json", json=True)


def test_control_characters_are_input_error():
    with pytest.raises(InputError) as exc:
        load_text("apiVersion: v1\nkind: No\x01de\n", "ctl.yaml")
    assert str(exc.value).startswith("ctl.yaml:2:")


def test_huge_integer_is_input_error():
    with pytest.raises(InputError):
        load_text("apiVersion: v1\nkind: Node\nspec: {x: " + "9" * 5000 + "}\n", "x.yaml")
    with pytest.raises(InputError):
        load_bytes(b'{"apiVersion": "v1", "kind": "Node", "x": ' + b"9" * 5000 + b"}", "x.json", json=True)


def test_directory_listing_is_sorted_by_name(tmp_path):
    for name in ["10.yaml", "2.yaml", "1.yaml"]:
        (tmp_path / name).write_text(f"apiVersion: v1\nkind: Node\nmetadata: {{name: n{name[:-5]}}}\n")
    assert [o["metadata"]["name"] for o in load_paths([str(tmp_path)])] == ["n1", "n10", "n2"]


def test_utf16_with_bom(tmp_path):
    f = tmp_path / "u16.yaml"
    f.write_bytes("apiVersion: v1\nkind: Node\nmetadata: {name: ü}\n".encode("utf-16"))
    (obj,) = load_paths([str(f)])
    assert obj["metadata"]["name"] == "ü"


def test_unreadable_path_is_input_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can read anything")
    f = tmp_path / "secret.yaml"
    f.write_text("apiVersion: v1\nkind: Node\n")
    f.chmod(0)
    with pytest.raises(InputError) as exc:
        load_paths([str(f)])
    assert str(exc.value) == f"{f}: permission denied"

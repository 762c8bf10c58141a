"""Fuzzing: bad input of any shape must only ever raise InputError (never a traceback)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.api import models as m
from gpuplane.api.convert import to_v1
from gpuplane.api.errors import InputError
from gpuplane.api.loader import load_bytes, load_text
from gpuplane.api.validation import decode, decode_and_validate, validate

VALID = yaml.safe_load_all("""
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: s, labels: {a: b}}
spec:
  driver: gpu.example.com
  perDeviceNodeSelection: true
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    nodeName: node-a
    attributes:
      model: {string: H100}
      index: {int: 0}
      ok: {bool: true}
      v: {version: 1.2.3}
      l: {ints: [1, 2]}
    capacity:
      memory: {value: 80Gi}
    allowMultipleAllocations: true
    taints: [{key: k, value: v, effect: NoSchedule}]
    consumesCounters: [{counterSet: s, counters: {mem: {value: 1Gi}}}]
    bindingConditions: [a]
    bindingFailureConditions: [b]
  - name: gpu-1
    nodeSelector: {nodeSelectorTerms: [{matchExpressions: [{key: a, operator: In, values: [b]}]}]}
    capacity:
      memory:
        value: 80Gi
        requestPolicy: {default: 1Gi, validRange: {min: 1Gi, max: 8Gi, step: 1Gi}}
    allowMultipleAllocations: true
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceSlice
metadata: {name: s2}
spec:
  driver: gpu.example.com
  nodeName: node-a
  sharedCounters: [{name: s, counters: {mem: {value: 8Gi}}}]
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    basic:
      attributes: {model: {string: H100}}
      capacity: {memory: {value: 80Gi, requestPolicy: {default: 2Gi, validValues: [1Gi, 2Gi]}}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu.example.com
        selectors: [{cel: {expression: "true"}}]
        allocationMode: ExactCount
        count: 2
        tolerations: [{key: k, operator: Equal, value: v, effect: NoSchedule, tolerationSeconds: 5}]
        capacity: {requests: {memory: 1Gi}}
    - name: alt
      firstAvailable:
      - {name: a, deviceClassName: x, allocationMode: All}
      - {name: b, deviceClassName: y}
    constraints:
    - {requests: [gpu, alt/a], matchAttribute: a.b/c}
    config:
    - {requests: [alt], opaque: {driver: d.e, parameters: {x: [1, null]}}}
status:
  allocation:
    devices:
      results:
      - {request: gpu, driver: d.e, pool: p, device: x, shareID: 3f2c6b8e-1d2a-4c3b-9e8f-0a1b2c3d4e5f,
         consumedCapacity: {memory: 1Gi}, tolerations: [{operator: Exists}], bindingConditions: [a], bindingFailureConditions: [b]}
      config: [{source: FromClass, requests: [gpu], opaque: {driver: d.e, parameters: {}}}]
    nodeSelector: {nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [n]}]}]}
  reservedFor: [{resource: pods, name: p, uid: u}]
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaimTemplate
metadata: {name: t, namespace: default}
spec:
  metadata: {labels: {a: b}}
  spec:
    devices:
      requests:
      - {name: gpu, deviceClassName: gpu.example.com, count: 1}
      - {name: alt, firstAvailable: [{name: a, deviceClassName: x}]}
---
apiVersion: resource.k8s.io/v1beta2
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  selectors: [{cel: {expression: "true"}}]
  config: [{opaque: {driver: gpu.example.com, parameters: {a: 1}}}]
  extendedResourceName: example.com/gpu
---
apiVersion: v1
kind: Node
metadata: {name: n}
status: {allocatable: {cpu: "4"}}
""")
VALID = list(VALID)

FIELD_NAMES = sorted(
    {
        msgspec.structs.fields(t)[i].encode_name
        for t in vars(m).values()
        if isinstance(t, type) and issubclass(t, msgspec.Struct)
        for i in range(len(msgspec.structs.fields(t)))
    }
    | {"basic", "exactly", "firstAvailable", "apiVersion", "kind"}
)

INTERESTING = [
    "", "-", "a/b/c", "/", "a/", "1e999999", "-1", "NaN", "0.5m", "1Gi", "x" * 300, "é" * 40, "\x00",
    "All", "ExactCount", "Exists", "Equal", "NoSchedule", "FromClaim", "In", "metadata.name",
    "resource.k8s.io/v1beta1", "resource.k8s.io/v1", "ResourceSlice", "ResourceClaim", "gpu/x", "gpu",
    0, -1, 1, 2**63, -(2**63) - 1, 2**70, 1.5, float("nan"), float("inf"), True, False, None,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(INTERESTING),
    st.builds(list),
    st.builds(dict),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=4),
    ),
    max_leaves=12,
)


def containers(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                out.extend(containers(value, path + (key,)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                out.extend(containers(value, path + (i,)))
    return out


def get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated_objects(draw) -> Any:
    obj = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        paths = containers(obj)
        target = get(obj, draw(st.sampled_from(paths)))
        op = draw(st.sampled_from(["replace", "delete", "add", "append", "swap-type"]))
        if isinstance(target, dict):
            keys = list(target)
            if op in ("replace", "swap-type") and keys:
                key = draw(st.sampled_from(keys))
                target[key] = draw(json_values)
            elif op == "delete" and keys:
                del target[draw(st.sampled_from(keys))]
            else:
                target[draw(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)))] = draw(json_values)
        elif isinstance(target, list):
            if op == "delete" and target:
                target.pop(draw(st.integers(0, len(target) - 1)))
            elif op in ("replace", "swap-type") and target:
                target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
            else:
                target.append(draw(json_values))
    if draw(st.booleans()):
        return obj
    return draw(st.one_of(st.just(obj), json_values))


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.text(max_size=400))
def test_load_text_only_raises_input_error(text):
    try:
        objs = load_text(text, "fuzz.yaml")
    except InputError:
        return
    assert all(isinstance(o, dict) and isinstance(o["kind"], str) and isinstance(o["metadata"], dict) for o in objs)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([None, True]))
def test_load_bytes_only_raises_input_error(data, as_json):
    try:
        load_bytes(data, "fuzz.bin", json=as_json)
    except InputError:
        pass


@FUZZ
@given(st.lists(st.sampled_from(["{", "}", "[", "]", "&a ", "*a ", "- ", ": ", "\n", "  ", "a", "kind: List", "items:",
                                 "apiVersion: v1", "kind: Node", "---\n", "'", '"', "!!binary ", "!!set ", "? ", "<<: *a", "#"]),
                max_size=60))
def test_load_text_yaml_fragments(parts):
    try:
        load_text("".join(parts), "frag.yaml")
    except InputError:
        pass


@FUZZ
@given(mutated_objects())
def test_decode_and_validate_only_raises_input_error(obj):
    try:
        typed = decode_and_validate(obj)
    except InputError:
        return
    if typed is not None:
        assert isinstance(typed, msgspec.Struct)
        assert validate(typed, to_v1(obj)) == []


@FUZZ
@given(mutated_objects())
def test_decode_then_validate_only_raises_input_error(obj):
    try:
        typed = decode(obj)
    except InputError:
        return
    if typed is not None:
        for err in validate(typed, to_v1(obj)):
            assert str(err)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_objects())
def test_yaml_round_trip_of_mutated_objects(obj):
    try:
        text = yaml.dump(obj, Dumper=yaml.CSafeDumper)
    except yaml.YAMLError:
        return
    try:
        for loaded in load_text(text, "rt.yaml"):
            decode_and_validate(loaded)
    except InputError:
        pass

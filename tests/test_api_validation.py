"""kube-apiserver validation of DeviceClass, ResourceSlice, ResourceClaim(Template).

Each case mutates a valid object and asserts the exact list of errors (object, field path,
message) that decode_and_validate reports, as kube-apiserver would word them.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from gpuplane.api import models as m
from gpuplane.api.errors import InputError, ValidationFailed
from gpuplane.api.loader import load_text
from gpuplane.api.validation import decode, decode_and_validate, validate

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
C_ID_MSG = (
    "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric "
    "characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is "
    "'[A-Za-z_][A-Za-z0-9_]*')"
)
QNAME_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
QTY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
REF_MSG = "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"

SLICE = """
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: s}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      model: {string: H100}
      index: {int: 0}
      healthy: {bool: true}
      driverVersion: {version: 1.2.3-rc.1+build.5}
      gpu.example.com/uuid: {string: GPU-0}
    capacity:
      memory: {value: 80Gi}
  - name: gpu-1
    attributes:
      model: {string: H100}
    capacity:
      memory: {value: 80Gi}
"""

CLAIM = """
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu.example.com
        selectors: [{cel: {expression: "device.driver == 'gpu.example.com'"}}]
        count: 1
        tolerations: [{key: example.com/taint, operator: Equal, value: v, effect: NoSchedule}]
        capacity: {requests: {memory: 10Gi}}
    - name: alt
      firstAvailable:
      - {name: mig, deviceClassName: mig.example.com}
      - {name: full, deviceClassName: gpu.example.com, allocationMode: All}
    constraints:
    - {requests: [gpu, alt/mig], matchAttribute: gpu.example.com/parent}
    - {distinctAttribute: gpu.example.com/uuid}
    config:
    - requests: [alt]
      opaque: {driver: gpu.example.com, parameters: {kind: Config}}
"""

ALLOCATED_STATUS = {
    "allocation": {
        "devices": {
            "results": [
                {"request": "gpu", "driver": "gpu.example.com", "pool": "node-a", "device": "gpu-0"},
                {
                    "request": "alt/mig",
                    "driver": "gpu.example.com",
                    "pool": "node-a/sub",
                    "device": "mig-0",
                    "shareID": "3f2c6b8e-1d2a-4c3b-9e8f-0a1b2c3d4e5f",
                    "consumedCapacity": {"memory": "10Gi"},
                },
            ],
            "config": [{"source": "FromClass", "requests": [], "opaque": {"driver": "gpu.example.com", "parameters": {"a": 1}}}],
        },
        "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]}]},
    },
    "reservedFor": [{"resource": "pods", "name": "p", "uid": "u-1"}],
}

CLASS = """
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  selectors: [{cel: {expression: "device.driver == 'gpu.example.com'"}}]
  config: [{opaque: {driver: gpu.example.com, parameters: {apiVersion: v1, kind: Cfg}}}]
  extendedResourceName: example.com/gpu
"""

TEMPLATE = """
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: t}
spec:
  metadata: {labels: {app: demo}, annotations: {note: x}}
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.example.com}
"""

BASES = {"slice": SLICE, "claim": CLAIM, "class": CLASS, "template": TEMPLATE}
PREFIX = {
    "slice": "ResourceSlice/s: ",
    "claim": "ResourceClaim/default/c: ",
    "class": "DeviceClass/gpu.example.com: ",
    "template": "ResourceClaimTemplate/default/t: ",
}


def load(base: str) -> dict:
    (obj,) = load_text(BASES[base], base)
    return obj


def errors_of(obj: dict) -> list[str]:
    try:
        decode_and_validate(obj)
    except ValidationFailed as exc:
        return [str(e) for e in exc.errors]
    return []


def dev(obj: dict, i: int = 0) -> dict:
    return obj["spec"]["devices"][i]


def req(obj: dict, i: int = 0) -> dict:
    return obj["spec"]["devices"]["requests"][i]


def exact(obj: dict, i: int = 0) -> dict:
    return req(obj, i)["exactly"]


def sub(obj: dict, j: int = 0) -> dict:
    return req(obj, 1)["firstAvailable"][j]


def cap(obj: dict, i: int = 0, name: str = "memory") -> dict:
    return dev(obj, i)["capacity"][name]


def multi(obj: dict, policy: dict, value: str = "80Gi") -> None:
    dev(obj)["allowMultipleAllocations"] = True
    dev(obj)["capacity"]["memory"] = {"value": value, "requestPolicy": policy}


def allocated(obj: dict) -> dict:
    obj["status"] = copy.deepcopy(ALLOCATED_STATUS)
    return obj["status"]


def result(obj: dict, i: int = 0) -> dict:
    return obj["status"]["allocation"]["devices"]["results"][i]


def n_devices(obj: dict, n: int, taint: bool = False) -> None:
    devices = []
    for i in range(n):
        d: dict[str, Any] = {"name": f"d-{i}"}
        if taint:
            d["taints"] = [{"key": "k", "effect": "NoSchedule"}]
        devices.append(d)
    obj["spec"]["devices"] = devices


def counter_sets(obj: dict, n: int, counters: int = 1) -> None:
    del obj["spec"]["devices"]
    obj["spec"]["sharedCounters"] = [{"name": f"set-{i}", "counters": {f"c-{j}": {"value": "1"} for j in range(counters)}} for i in range(n)]


# (id, base, mutation, expected errors without the object prefix)
CASES: list[tuple[str, str, Callable[[dict], Any], list[str]]] = [
    # ---------------------------------------------------------------- metadata
    ("meta-name-invalid", "class", lambda o: o["metadata"].update(name="Bad_Name"), [
        f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}']),
    ("meta-name-required", "slice", lambda o: o["metadata"].pop("name"), [
        "metadata.name: Required value: name or generateName is required"]),
    ("meta-name-too-long", "claim", lambda o: o["metadata"].update(name="a" * 254), [
        'metadata.name: Invalid value: "' + "a" * 254 + '": must be no more than 253 characters']),
    ("meta-generate-name", "claim", lambda o: (o["metadata"].pop("name"), o["metadata"].update(generateName="pod-gpu-")), []),
    ("meta-generate-name-invalid", "claim", lambda o: o["metadata"].update(generateName="Pod-"), [
        f'metadata.generateName: Invalid value: "Pod-": {SUBDOMAIN_MSG}']),
    ("meta-namespace-invalid", "claim", lambda o: o["metadata"].update(namespace="Team.A"), [
        f'metadata.namespace: Invalid value: "Team.A": {LABEL_MSG}']),
    ("meta-label-key-invalid", "slice", lambda o: o["metadata"].update(labels={"bad key": "v"}), [
        f'metadata.labels: Invalid value: "bad key": {QNAME_NAME_MSG}']),
    ("meta-label-value-invalid", "slice", lambda o: o["metadata"].update(labels={"k": "-v"}), [
        f'metadata.labels: Invalid value: "-v": {LABEL_VALUE_MSG}']),
    ("meta-annotation-key-prefix", "slice", lambda o: o["metadata"].update(annotations={"/x": "v"}), [
        'metadata.annotations: Invalid value: "/x": prefix part must be non-empty']),
    ("meta-annotations-too-large", "slice", lambda o: o["metadata"].update(annotations={"k": "x" * (256 * 1024)}), [
        "metadata.annotations: Too long: may not be more than 262144 bytes"]),
    # ---------------------------------------------------------------- DeviceClass
    ("class-selectors-too-many", "class", lambda o: o["spec"].update(selectors=[{"cel": {"expression": "true"}}] * 33), [
        "spec.selectors: Too many: 33: must have at most 32 items"]),
    ("class-selector-cel-required", "class", lambda o: o["spec"].update(selectors=[{}]), [
        "spec.selectors[0].cel: Required value"]),
    ("class-expression-too-long", "class", lambda o: o["spec"].update(selectors=[{"cel": {"expression": "x" * 10241}}]), [
        "spec.selectors[0].cel.expression: Too long: may not be more than 10240 bytes"]),
    ("class-expression-max-length-ok", "class", lambda o: o["spec"].update(selectors=[{"cel": {"expression": "x" * 10240}}]), []),
    ("class-config-too-many", "class", lambda o: o["spec"].update(config=o["spec"]["config"] * 33), [
        "spec.config: Too many: 33: must have at most 32 items"]),
    ("class-config-opaque-required", "class", lambda o: o["spec"].update(config=[{}]), [
        "spec.config[0].opaque: Required value"]),
    ("class-opaque-driver-required", "class", lambda o: o["spec"]["config"][0]["opaque"].pop("driver"), [
        "spec.config[0].opaque.driver: Required value"]),
    ("class-opaque-driver-invalid", "class", lambda o: o["spec"]["config"][0]["opaque"].update(driver="-gpu"), [
        f'spec.config[0].opaque.driver: Invalid value: "-gpu": {SUBDOMAIN_MSG}']),
    ("class-opaque-driver-too-long", "class", lambda o: o["spec"]["config"][0]["opaque"].update(driver="a" * 64), [
        "spec.config[0].opaque.driver: Too long: may not be more than 63 bytes"]),
    ("class-opaque-driver-upper-ok", "class", lambda o: o["spec"]["config"][0]["opaque"].update(driver="GPU.Example.com"), []),
    ("class-opaque-parameters-required", "class", lambda o: o["spec"]["config"][0]["opaque"].pop("parameters"), [
        "spec.config[0].opaque.parameters: Required value"]),
    ("class-opaque-parameters-not-object", "class", lambda o: o["spec"]["config"][0]["opaque"].update(parameters=[1, 2]), [
        'spec.config[0].opaque.parameters: Invalid value: "<value omitted>": must be a valid JSON object']),
    ("class-opaque-parameters-too-long", "class", lambda o: o["spec"]["config"][0]["opaque"].update(parameters={"x": "y" * 10240}), [
        "spec.config[0].opaque.parameters: Too long: may not be more than 10240 bytes"]),
    ("class-extended-resource-name", "class", lambda o: o["spec"].update(extendedResourceName="gpu"), [
        'spec.extendedResourceName: Invalid value: "gpu": must be a valid extended resource name']),
    ("class-extended-resource-native", "class", lambda o: o["spec"].update(extendedResourceName="kubernetes.io/gpu"), [
        'spec.extendedResourceName: Invalid value: "kubernetes.io/gpu": must be a valid extended resource name']),
    # ---------------------------------------------------------------- ResourceClaim requests
    ("claim-requests-too-many", "claim", lambda o: o["spec"]["devices"].update(
        requests=[{"name": f"r{i}", "exactly": {"deviceClassName": "c"}} for i in range(33)], constraints=[], config=[]), [
        "spec.devices.requests: Too many: 33: must have at most 32 items"]),
    ("claim-request-name-invalid", "claim", lambda o: req(o).update(name="GPU"), [
        f'spec.devices.requests[0].name: Invalid value: "GPU": {LABEL_MSG}',
        f'spec.devices.constraints[0].requests[0]: Invalid value: "gpu": {REF_MSG}']),
    ("claim-request-name-duplicate", "claim", lambda o: req(o, 1).update(name="gpu", firstAvailable=None, exactly={"deviceClassName": "x"}), [
        'spec.devices.requests[1]: Duplicate value: "gpu"',
        f'spec.devices.constraints[0].requests[1]: Invalid value: "alt/mig": {REF_MSG}',
        f'spec.devices.config[0].requests[0]: Invalid value: "alt": {REF_MSG}']),
    ("claim-request-none-of", "claim", lambda o: req(o).pop("exactly"), [
        "spec.devices.requests[0]: Required value: exactly one of `exactly` or `firstAvailable` is required"]),
    ("claim-request-both", "claim", lambda o: req(o).update(firstAvailable=[{"name": "a", "deviceClassName": "b"}]), [
        "spec.devices.requests[0]: Invalid value: null: exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"]),
    ("claim-device-class-required", "claim", lambda o: exact(o).pop("deviceClassName"), [
        "spec.devices.requests[0].exactly.deviceClassName: Required value"]),
    ("claim-device-class-invalid", "claim", lambda o: exact(o).update(deviceClassName="GPU"), [
        f'spec.devices.requests[0].exactly.deviceClassName: Invalid value: "GPU": {SUBDOMAIN_MSG}']),
    ("claim-allocation-mode-unsupported", "claim", lambda o: exact(o).update(allocationMode="Some"), [
        'spec.devices.requests[0].exactly.allocationMode: Unsupported value: "Some": supported values: "All", "ExactCount"']),
    ("claim-count-not-positive", "claim", lambda o: exact(o).update(count=-1), [
        "spec.devices.requests[0].exactly.count: Invalid value: -1: must be greater than zero"]),
    ("claim-count-zero-defaults-to-one", "claim", lambda o: exact(o).update(count=0), []),
    ("claim-count-with-all", "claim", lambda o: exact(o).update(allocationMode="All", count=2), [
        "spec.devices.requests[0].exactly.count: Invalid value: 2: must not be specified when allocationMode is 'All'"]),
    ("claim-count-int64", "claim", lambda o: exact(o).update(count=2**63), [
        "spec.devices.requests[0].exactly.count: Invalid value: 9223372036854775808: must fit in a signed 64-bit integer"]),
    ("claim-selectors-too-many", "claim", lambda o: exact(o).update(selectors=[{"cel": {"expression": "true"}}] * 33), [
        "spec.devices.requests[0].exactly.selectors: Too many: 33: must have at most 32 items"]),
    ("claim-tolerations-too-many", "claim", lambda o: exact(o).update(tolerations=[{"operator": "Exists"}] * 17), [
        "spec.devices.requests[0].exactly.tolerations: Too many: 17: must have at most 16 items"]),
    ("claim-toleration-operator", "claim", lambda o: exact(o)["tolerations"][0].update(operator="In"), [
        'spec.devices.requests[0].exactly.tolerations[0].operator: Unsupported value: "In": supported values: "Equal", "Exists"']),
    ("claim-toleration-operator-default-equal", "claim", lambda o: exact(o)["tolerations"][0].pop("operator"), []),
    ("claim-toleration-effect", "claim", lambda o: exact(o)["tolerations"][0].update(effect="Evict"), [
        'spec.devices.requests[0].exactly.tolerations[0].effect: Unsupported value: "Evict": supported values: "NoExecute", "NoSchedule", "None"']),
    ("claim-toleration-effect-none-ok", "claim", lambda o: exact(o)["tolerations"][0].update(effect="None"), []),
    ("claim-toleration-effect-empty-ok", "claim", lambda o: exact(o)["tolerations"][0].pop("effect"), []),
    ("claim-toleration-exists-value", "claim", lambda o: exact(o)["tolerations"][0].update(operator="Exists"), [
        'spec.devices.requests[0].exactly.tolerations[0].value: Invalid value: "v": must be empty for operator `Exists`']),
    ("claim-toleration-equal-value", "claim", lambda o: exact(o)["tolerations"][0].update(value="a b"), [
        f'spec.devices.requests[0].exactly.tolerations[0].value: Invalid value: "a b": {LABEL_VALUE_MSG}']),
    ("claim-toleration-key", "claim", lambda o: exact(o)["tolerations"][0].update(key="a/b/c"), [
        "spec.devices.requests[0].exactly.tolerations[0].key: Invalid value: \"a/b/c\": a qualified name must consist of "
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
        "or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
        "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ("claim-capacity-quantity", "claim", lambda o: exact(o)["capacity"]["requests"].update(memory="lots"), [
        f'spec.devices.requests[0].exactly.capacity.requests[memory]: Invalid value: "lots": {QTY_MSG}']),
    ("claim-capacity-name", "claim", lambda o: exact(o)["capacity"]["requests"].update({"a.b/c.d": "1"}), [
        f'spec.devices.requests[0].exactly.capacity.requests: Invalid value: "c.d": {C_ID_MSG}']),
    ("claim-first-available-too-many", "claim", lambda o: req(o, 1).update(
        firstAvailable=[{"name": "mig"}] + [{"name": f"s{i}", "deviceClassName": "c"} for i in range(8)]), [
        "spec.devices.requests[1].firstAvailable: Too many: 9: must have at most 8 items"]),
    ("claim-subrequest-duplicate", "claim", lambda o: sub(o, 1).update(name="mig"), [
        'spec.devices.requests[1].firstAvailable[1]: Duplicate value: "mig"']),
    ("claim-subrequest-name", "claim", lambda o: sub(o, 1).update(name="Full"), [
        f'spec.devices.requests[1].firstAvailable[1].name: Invalid value: "Full": {LABEL_MSG}']),
    ("claim-subrequest-class-required", "claim", lambda o: sub(o, 0).pop("deviceClassName"), [
        "spec.devices.requests[1].firstAvailable[0].deviceClassName: Required value"]),
    ("claim-subrequest-count", "claim", lambda o: sub(o, 1).update(count=3), [
        "spec.devices.requests[1].firstAvailable[1].count: Invalid value: 3: must not be specified when allocationMode is 'All'"]),
    ("claim-subrequest-toleration", "claim", lambda o: sub(o, 0).update(tolerations=[{"operator": "Exists", "effect": "Bad"}]), [
        'spec.devices.requests[1].firstAvailable[0].tolerations[0].effect: Unsupported value: "Bad": supported values: "NoExecute", "NoSchedule", "None"']),
    # ---------------------------------------------------------------- constraints and config
    ("claim-constraints-too-many", "claim", lambda o: o["spec"]["devices"].update(
        constraints=[{"matchAttribute": "a.b/c"}] * 33), [
        "spec.devices.constraints: Too many: 33: must have at most 32 items"]),
    ("claim-constraint-none-of", "claim", lambda o: o["spec"]["devices"]["constraints"][1].pop("distinctAttribute"), [
        'spec.devices.constraints[1]: Required value: exactly one of "matchAttribute" or "distinctAttribute" is required, but multiple fields are set']),
    ("claim-constraint-both", "claim", lambda o: o["spec"]["devices"]["constraints"][1].update(matchAttribute="a.b/c"), [
        'spec.devices.constraints[1]: Invalid value: "{matchAttribute, distinctAttribute}": must specify exactly one of: `matchAttribute`, `distinctAttribute`']),
    ("claim-constraint-not-fully-qualified", "claim", lambda o: o["spec"]["devices"]["constraints"][0].update(matchAttribute="parent"), [
        'spec.devices.constraints[0].matchAttribute: Invalid value: "parent": a fully qualified name must be a domain and a name separated by a slash']),
    ("claim-constraint-empty-domain", "claim", lambda o: o["spec"]["devices"]["constraints"][1].update(distinctAttribute="/uuid"), [
        'spec.devices.constraints[1].distinctAttribute: Invalid value: "": the domain must not be empty']),
    ("claim-constraint-ref-unknown", "claim", lambda o: o["spec"]["devices"]["constraints"][0].update(requests=["nope"]), [
        f'spec.devices.constraints[0].requests[0]: Invalid value: "nope": {REF_MSG}']),
    ("claim-constraint-ref-subrequest-of-exact", "claim", lambda o: o["spec"]["devices"]["constraints"][0].update(requests=["gpu/x"]), [
        f'spec.devices.constraints[0].requests[0]: Invalid value: "gpu/x": {REF_MSG}']),
    ("claim-constraint-ref-two-slashes", "claim", lambda o: o["spec"]["devices"]["constraints"][0].update(requests=["alt/mig/x"]), [
        f'spec.devices.constraints[0].requests[0]: Invalid value: "alt/mig/x": {REF_MSG}']),
    ("claim-constraint-ref-parent-ok", "claim", lambda o: o["spec"]["devices"]["constraints"][0].update(requests=["alt", "alt/full"]), []),
    ("claim-constraint-ref-duplicate", "claim", lambda o: o["spec"]["devices"]["constraints"][0].update(requests=["gpu", "gpu"]), [
        'spec.devices.constraints[0].requests[1]: Duplicate value: "gpu"']),
    ("claim-config-too-many", "claim", lambda o: o["spec"]["devices"].update(config=o["spec"]["devices"]["config"] * 33), [
        "spec.devices.config: Too many: 33: must have at most 32 items"]),
    ("claim-config-ref-unknown", "claim", lambda o: o["spec"]["devices"]["config"][0].update(requests=["alt/nope"]), [
        f'spec.devices.config[0].requests[0]: Invalid value: "alt/nope": {REF_MSG}']),
    ("claim-config-opaque-required", "claim", lambda o: o["spec"]["devices"]["config"][0].pop("opaque"), [
        "spec.devices.config[0].opaque: Required value"]),
    ("claim-config-opaque-driver", "claim", lambda o: o["spec"]["devices"]["config"][0]["opaque"].update(driver="x_y"), [
        f'spec.devices.config[0].opaque.driver: Invalid value: "x_y": {SUBDOMAIN_MSG}']),
    # ---------------------------------------------------------------- ResourceClaim status
    ("status-allocated-ok", "claim", allocated, []),
    ("status-reserved-without-allocation", "claim", lambda o: allocated(o).pop("allocation"), [
        "status.reservedFor: Forbidden: may not be specified when `allocated` is not set"]),
    ("status-reserved-required-fields", "claim", lambda o: allocated(o).update(reservedFor=[{}]), [
        "status.reservedFor[0].resource: Required value",
        "status.reservedFor[0].name: Required value",
        "status.reservedFor[0].uid: Required value"]),
    ("status-reserved-duplicate-uid", "claim", lambda o: allocated(o).update(reservedFor=ALLOCATED_STATUS["reservedFor"] * 2), [
        'status.reservedFor[1]: Duplicate value: "u-1"']),
    ("status-reserved-too-many", "claim", lambda o: allocated(o).update(
        reservedFor=[{"resource": "pods", "name": "p", "uid": f"u{i}"} for i in range(257)]), [
        "status.reservedFor: Too many: 257: must have at most 256 items"]),
    ("status-results-too-many", "claim", lambda o: allocated(o)["allocation"]["devices"].update(
        results=ALLOCATED_STATUS["allocation"]["devices"]["results"][:1] * 33), [
        "status.allocation.devices.results: Too many: 33: must have at most 32 items"]),
    ("status-result-request-unknown", "claim", lambda o: (allocated(o), result(o).update(request="other")), [
        f'status.allocation.devices.results[0].request: Invalid value: "other": {REF_MSG}']),
    ("status-result-driver-required", "claim", lambda o: (allocated(o), result(o).update(driver="")), [
        "status.allocation.devices.results[0].driver: Required value"]),
    ("status-result-pool-required", "claim", lambda o: (allocated(o), result(o).update(pool="")), [
        "status.allocation.devices.results[0].pool: Required value"]),
    ("status-result-pool-invalid", "claim", lambda o: (allocated(o), result(o).update(pool="a//b")), [
        f'status.allocation.devices.results[0].pool: Invalid value: "": {SUBDOMAIN_MSG}']),
    ("status-result-device-invalid", "claim", lambda o: (allocated(o), result(o).update(device="gpu.0")), [
        f'status.allocation.devices.results[0].device: Invalid value: "gpu.0": {LABEL_MSG}']),
    ("status-result-share-id-length", "claim", lambda o: (allocated(o), result(o, 1).update(shareID="abc")), [
        'status.allocation.devices.results[1].shareID: Invalid value: "abc": error validating uid: invalid UUID length: 3']),
    ("status-result-share-id-upper", "claim", lambda o: (allocated(o), result(o, 1).update(shareID="3F2C6B8E-1D2A-4C3B-9E8F-0A1B2C3D4E5F")), [
        'status.allocation.devices.results[1].shareID: Invalid value: "3F2C6B8E-1D2A-4C3B-9E8F-0A1B2C3D4E5F": uid must be in RFC '
        "4122 normalized form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with lowercase hexadecimal characters"]),
    ("status-result-consumed-capacity", "claim", lambda o: (allocated(o), result(o, 1).update(consumedCapacity={"memory": "1 Gi"})), [
        f'status.allocation.devices.results[1].consumedCapacity[memory]: Invalid value: "1 Gi": {QTY_MSG}']),
    ("status-result-toleration", "claim", lambda o: (allocated(o), result(o).update(tolerations=[{"operator": "Foo"}])), [
        'status.allocation.devices.results[0].tolerations[0].operator: Unsupported value: "Foo": supported values: "Equal", "Exists"']),
    ("status-result-binding-conditions", "claim", lambda o: (allocated(o), result(o).update(bindingConditions=["Ready"])), [
        "status.allocation.devices.results[0].bindingFailureConditions: Invalid value: []: bindingFailureConditions are required to use bindingConditions"]),
    ("status-config-source-required", "claim", lambda o: allocated(o)["allocation"]["devices"]["config"][0].pop("source"), [
        "status.allocation.devices.config[0].source: Required value"]),
    ("status-config-source-unsupported", "claim", lambda o: allocated(o)["allocation"]["devices"]["config"][0].update(source="FromPod"), [
        'status.allocation.devices.config[0].source: Unsupported value: "FromPod": supported values: "FromClaim", "FromClass"']),
    ("status-config-too-many", "claim", lambda o: allocated(o)["allocation"]["devices"].update(
        config=ALLOCATED_STATUS["allocation"]["devices"]["config"] * 65), [
        "status.allocation.devices.config: Too many: 65: must have at most 64 items"]),
    ("status-config-ref", "claim", lambda o: allocated(o)["allocation"]["devices"]["config"][0].update(requests=["x"]), [
        f'status.allocation.devices.config[0].requests[0]: Invalid value: "x": {REF_MSG}']),
    ("status-node-selector-no-terms", "claim", lambda o: allocated(o)["allocation"].update(nodeSelector={}), [
        "status.allocation.nodeSelector.nodeSelectorTerms: Required value: must have at least one node selector term"]),
    ("status-node-selector-field-key", "claim", lambda o: allocated(o)["allocation"]["nodeSelector"]["nodeSelectorTerms"][0]["matchFields"][0].update(key="metadata.uid"), [
        'status.allocation.nodeSelector.nodeSelectorTerms[0].matchFields[0].key: Invalid value: "metadata.uid": not a valid field selector key']),
    ("status-node-selector-field-values", "claim", lambda o: allocated(o)["allocation"]["nodeSelector"]["nodeSelectorTerms"][0]["matchFields"][0].update(values=["a", "b"]), [
        "status.allocation.nodeSelector.nodeSelectorTerms[0].matchFields[0].values: Required value: must be only one value when `operator` is 'In' or 'NotIn' for node field selector"]),
    ("status-node-selector-expression-operator", "claim", lambda o: allocated(o)["allocation"]["nodeSelector"]["nodeSelectorTerms"][0].update(
        matchExpressions=[{"key": "zone", "operator": "Near", "values": ["a"]}]), [
        'status.allocation.nodeSelector.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator']),
    ("status-node-selector-exists-values", "claim", lambda o: allocated(o)["allocation"]["nodeSelector"]["nodeSelectorTerms"][0].update(
        matchExpressions=[{"key": "zone", "operator": "Exists", "values": ["a"]}]), [
        "status.allocation.nodeSelector.nodeSelectorTerms[0].matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]),
    # ---------------------------------------------------------------- ResourceClaimTemplate
    ("template-spec-metadata-name-forbidden", "template", lambda o: o["spec"]["metadata"].update(name="x", namespace="y"), [
        "spec.metadata.name: Forbidden: cannot be set",
        "spec.metadata.namespace: Forbidden: cannot be set"]),
    ("template-spec-metadata-label", "template", lambda o: o["spec"]["metadata"].update(labels={"a": "b c"}), [
        f'spec.metadata.labels: Invalid value: "b c": {LABEL_VALUE_MSG}']),
    ("template-request-count", "template", lambda o: o["spec"]["spec"]["devices"]["requests"][0]["exactly"].update(count=-2), [
        "spec.spec.devices.requests[0].exactly.count: Invalid value: -2: must be greater than zero"]),
    ("template-constraint-ref", "template", lambda o: o["spec"]["spec"]["devices"].update(constraints=[{"requests": ["x"], "matchAttribute": "a.b/c"}]), [
        f'spec.spec.devices.constraints[0].requests[0]: Invalid value: "x": {REF_MSG}']),
    # ---------------------------------------------------------------- ResourceSlice spec
    ("slice-driver-required", "slice", lambda o: o["spec"].pop("driver"), ["spec.driver: Required value"]),
    ("slice-driver-invalid", "slice", lambda o: o["spec"].update(driver="gpu_example"), [
        f'spec.driver: Invalid value: "gpu_example": {SUBDOMAIN_MSG}']),
    ("slice-driver-too-long", "slice", lambda o: o["spec"].update(driver="a" * 60 + ".com"), [
        "spec.driver: Too long: may not be more than 63 bytes"]),
    ("slice-pool-name-required", "slice", lambda o: o["spec"]["pool"].pop("name"), ["spec.pool.name: Required value"]),
    ("slice-pool-name-too-long", "slice", lambda o: o["spec"]["pool"].update(name="a" * 200 + "/" + "b" * 60), [
        "spec.pool.name: Too long: may not be more than 253 bytes"]),
    ("slice-pool-name-parts", "slice", lambda o: o["spec"]["pool"].update(name="node-a/Sub"), [
        f'spec.pool.name: Invalid value: "Sub": {SUBDOMAIN_MSG}']),
    ("slice-pool-generation-negative", "slice", lambda o: o["spec"]["pool"].update(generation=-1), [
        "spec.pool.generation: Invalid value: -1: must be greater than or equal to zero"]),
    ("slice-pool-count-zero", "slice", lambda o: o["spec"]["pool"].update(resourceSliceCount=0), [
        "spec.pool.resourceSliceCount: Invalid value: 0: must be greater than zero"]),
    ("slice-node-none-of", "slice", lambda o: o["spec"].pop("nodeName"), [
        "spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"]),
    ("slice-node-two-of", "slice", lambda o: o["spec"].update(allNodes=True), [
        'spec: Invalid value: "{`nodeName`, `allNodes`}": exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set']),
    ("slice-node-name-empty", "slice", lambda o: o["spec"].update(nodeName=""), [
        'spec.nodeName: Invalid value: "": must be either unset or set to a non-empty string',
        "spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"]),
    ("slice-node-name-invalid", "slice", lambda o: o["spec"].update(nodeName="Node_A"), [
        f'spec.nodeName: Invalid value: "Node_A": {SUBDOMAIN_MSG}']),
    ("slice-all-nodes-false", "slice", lambda o: (o["spec"].pop("nodeName"), o["spec"].update(allNodes=False)), [
        "spec.allNodes: Invalid value: false: must be either unset or set to true",
        "spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"]),
    ("slice-per-device-false", "slice", lambda o: o["spec"].update(perDeviceNodeSelection=False), [
        "spec.perDeviceNodeSelection: Invalid value: false: must be either unset or set to true"]),
    ("slice-node-selector-one-term", "slice", lambda o: (o["spec"].pop("nodeName"), o["spec"].update(nodeSelector={"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"matchExpressions": [{"key": "b", "operator": "Exists"}]}]})), [
        'spec.nodeSelector.nodeSelectorTerms: Invalid value: [{"matchExpressions":[{"key":"a","operator":"Exists"}]},'
        '{"matchExpressions":[{"key":"b","operator":"Exists"}]}]: must have exactly one node selector term']),
    ("slice-node-selector-ok", "slice", lambda o: (o["spec"].pop("nodeName"), o["spec"].update(nodeSelector={"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]})), []),
    ("slice-per-device-fields-forbidden", "slice", lambda o: dev(o).update(nodeName="node-a"), [
        "spec.devices[0]: Invalid value: null: `nodeName`, `nodeSelector` and `allNodes` can only be set if `perDeviceNodeSelection` is set to true in the ResourceSlice spec"]),
    ("slice-per-device-required", "slice", lambda o: (o["spec"].pop("nodeName"), o["spec"].update(perDeviceNodeSelection=True), dev(o, 1).update(allNodes=True)), [
        "spec.devices[0]: Required value: exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when `perDeviceNodeSelection` is set to true in the ResourceSlice spec"]),
    ("slice-per-device-two", "slice", lambda o: (o["spec"].pop("nodeName"), o["spec"].update(perDeviceNodeSelection=True),
                                                 dev(o).update(nodeName="n", allNodes=True), dev(o, 1).update(nodeName="n")), [
        'spec.devices[0]: Invalid value: "{`nodeName`, `allNodes`}": exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when `perDeviceNodeSelection` is set to true in the ResourceSlice spec']),
    ("slice-per-device-node-name-empty", "slice", lambda o: (o["spec"].pop("nodeName"), o["spec"].update(perDeviceNodeSelection=True),
                                                             dev(o).update(nodeName=""), dev(o, 1).update(nodeName="n")), [
        'spec.devices[0].nodeName: Invalid value: "": must not be empty',
        "spec.devices[0]: Required value: exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when `perDeviceNodeSelection` is set to true in the ResourceSlice spec"]),
    ("slice-devices-too-many", "slice", lambda o: n_devices(o, 129), ["spec.devices: Too many: 129: must have at most 128 items"]),
    ("slice-devices-128-ok", "slice", lambda o: n_devices(o, 128), []),
    ("slice-devices-too-many-with-taints", "slice", lambda o: n_devices(o, 65, taint=True), [
        "spec.devices: Too many: 65: must have at most 64 items"]),
    ("slice-device-name-duplicate", "slice", lambda o: dev(o, 1).update(name="gpu-0"), ['spec.devices[1]: Duplicate value: "gpu-0"']),
    ("slice-device-name-invalid", "slice", lambda o: dev(o).update(name="gpu_0"), [
        f'spec.devices[0].name: Invalid value: "gpu_0": {LABEL_MSG}']),
    ("slice-devices-and-counters", "slice", lambda o: o["spec"].update(sharedCounters=[{"name": "s", "counters": {"c": {"value": "1"}}}]), [
        'spec: Invalid value: "": only one of `sharedCounters` or `devices` is allowed']),
    # ---------------------------------------------------------------- attributes and capacity
    ("attr-total-too-many", "slice", lambda o: dev(o)["attributes"].update({f"a{i}": {"int": i} for i in range(27)}), [
        "spec.devices[0]: Invalid value: 33: the total number of attributes and capacities must not exceed 32"]),
    ("attr-name-not-c-identifier", "slice", lambda o: dev(o)["attributes"].update({"bad-name": {"int": 1}}), [
        f'spec.devices[0].attributes: Invalid value: "bad-name": {C_ID_MSG}']),
    ("attr-name-too-long", "slice", lambda o: dev(o)["attributes"].update({"a" * 33: {"int": 1}}), [
        "spec.devices[0].attributes: Too long: may not be more than 32 bytes"]),
    ("attr-domain-invalid", "slice", lambda o: dev(o)["attributes"].update({"Bad_Domain/x": {"int": 1}}), [
        f'spec.devices[0].attributes: Invalid value: "Bad_Domain": {SUBDOMAIN_MSG}']),
    ("attr-domain-too-long", "slice", lambda o: dev(o)["attributes"].update({"a" * 64 + "/x": {"int": 1}}), [
        "spec.devices[0].attributes: Too long: may not be more than 63 bytes"]),
    ("attr-name-two-slashes", "slice", lambda o: dev(o)["attributes"].update({"a.b/c/d": {"int": 1}}), [
        'spec.devices[0].attributes: Invalid value: "a.b/c/d": must not contain more than one slash']),
    ("attr-name-empty-id", "slice", lambda o: dev(o)["attributes"].update({"a.b/": {"int": 1}}), [
        'spec.devices[0].attributes: Invalid value: "": the name must not be empty']),
    ("attr-no-value", "slice", lambda o: dev(o)["attributes"].update(model={}), [
        'spec.devices[0].attributes[model]: Invalid value: "": exactly one value must be specified']),
    ("attr-two-values", "slice", lambda o: dev(o)["attributes"].update(model={"int": 1, "string": "x"}), [
        'spec.devices[0].attributes[model]: Invalid value: {"int":1,"string":"x"}: exactly one value must be specified']),
    ("attr-string-too-long", "slice", lambda o: dev(o)["attributes"].update(model={"string": "x" * 65}), [
        "spec.devices[0].attributes[model].string: Too long: may not be more than 64 bytes"]),
    ("attr-string-64-ok", "slice", lambda o: dev(o)["attributes"].update(model={"string": "x" * 64}), []),
    ("attr-string-bytes", "slice", lambda o: dev(o)["attributes"].update(model={"string": "é" * 33}), [
        "spec.devices[0].attributes[model].string: Too long: may not be more than 64 bytes"]),
    ("attr-version-invalid", "slice", lambda o: dev(o)["attributes"].update(driverVersion={"version": "1.2"}), [
        'spec.devices[0].attributes[driverVersion].version: Invalid value: "1.2": must be a string compatible with semver.org spec 2.0.0']),
    ("attr-version-leading-zero", "slice", lambda o: dev(o)["attributes"].update(driverVersion={"version": "01.2.3"}), [
        'spec.devices[0].attributes[driverVersion].version: Invalid value: "01.2.3": must be a string compatible with semver.org spec 2.0.0']),
    ("attr-version-too-long", "slice", lambda o: dev(o)["attributes"].update(driverVersion={"version": "1.2.3-" + "a" * 60}), [
        "spec.devices[0].attributes[driverVersion].version: Too long: may not be more than 64 bytes"]),
    ("attr-int-range", "slice", lambda o: dev(o)["attributes"].update(index={"int": -(2**63) - 1}), [
        "spec.devices[0].attributes[index].int: Invalid value: -9223372036854775809: must fit in a signed 64-bit integer"]),
    ("attr-list-empty", "slice", lambda o: dev(o)["attributes"].update(index={"ints": []}), [
        "spec.devices[0].attributes[index].ints: Invalid value: []: must not be empty if specified"]),
    ("attr-list-values-too-many", "slice", lambda o: dev(o)["attributes"].update(index={"ints": list(range(45))}), [
        "spec.devices[0]: Invalid value: 49: the total number of attribute values must not exceed 48"]),
    ("attr-list-version-invalid", "slice", lambda o: dev(o)["attributes"].update(v={"versions": ["1.0.0", "x"]}), [
        'spec.devices[0].attributes[v].versions[1]: Invalid value: "x": must be a string compatible with semver.org spec 2.0.0']),
    ("cap-quantity-invalid", "slice", lambda o: cap(o).update(value="80 Gi"), [
        f'spec.devices[0].capacity[memory].value: Invalid value: "80 Gi": {QTY_MSG}']),
    ("cap-quantity-number-ok", "slice", lambda o: cap(o).update(value=1024), []),
    ("cap-value-required", "slice", lambda o: cap(o).pop("value"), ["spec.devices[0].capacity[memory].value: Required value"]),
    ("cap-name-invalid", "slice", lambda o: dev(o)["capacity"].update({"mem-ory": {"value": "1"}}), [
        f'spec.devices[0].capacity: Invalid value: "mem-ory": {C_ID_MSG}']),
    ("cap-request-policy-forbidden", "slice", lambda o: cap(o).update(requestPolicy={"default": "1Gi"}), [
        "spec.devices[0].capacity[memory].requestPolicy: Forbidden: allowMultipleAllocations must be true"]),
    ("cap-request-policy-ok", "slice", lambda o: multi(o, {"default": "10Gi", "validValues": ["10Gi", "20Gi", "40Gi"]}), []),
    ("cap-valid-values-ascending", "slice", lambda o: multi(o, {"default": "2Gi", "validValues": ["2Gi", "1Gi"]}), [
        'spec.devices[0].capacity[memory].requestPolicy.validValues[1]: Invalid value: "1Gi": values must be sorted in ascending order']),
    ("cap-valid-values-too-many", "slice", lambda o: multi(o, {"default": "1Gi", "validValues": [f"{i}Gi" for i in range(1, 12)]}), [
        "spec.devices[0].capacity[memory].requestPolicy.validValues: Too many: 11: must have at most 10 items"]),
    ("cap-valid-values-default-required", "slice", lambda o: multi(o, {"validValues": ["1Gi"]}), [
        "spec.devices[0].capacity[memory].requestPolicy.default: Required value: required when validValues is defined"]),
    ("cap-valid-values-default-missing", "slice", lambda o: multi(o, {"default": "3Gi", "validValues": ["1Gi", "2Gi"]}), [
        'spec.devices[0].capacity[memory].requestPolicy.validValues: Invalid value: "3Gi": default value is not valid according to the requestPolicy']),
    ("cap-valid-values-above-capacity", "slice", lambda o: multi(o, {"default": "1Gi", "validValues": ["1Gi", "100Gi"]}), [
        'spec.devices[0].capacity[memory].requestPolicy.validValues[1]: Invalid value: "100Gi": option is larger than capacity value: 80Gi']),
    ("cap-valid-values-duplicate", "slice", lambda o: multi(o, {"default": "1Gi", "validValues": ["1Gi", "1024Mi"]}), [
        'spec.devices[0].capacity[memory].requestPolicy.validValues[1]: Duplicate value: "1Gi"']),
    ("cap-valid-range-min-required", "slice", lambda o: multi(o, {"default": "1Gi", "validRange": {"max": "2Gi"}}), [
        "spec.devices[0].capacity[memory].requestPolicy.validRange.min: Required value: required when validRange is defined"]),
    ("cap-valid-range-default-required", "slice", lambda o: multi(o, {"validRange": {"min": "1Gi"}}), [
        "spec.devices[0].capacity[memory].requestPolicy.default: Required value: required when validRange is defined"]),
    ("cap-values-and-range", "slice", lambda o: multi(o, {"default": "1Gi", "validValues": ["1Gi"], "validRange": {"min": "1Gi"}}), [
        'spec.devices[0].capacity[memory].requestPolicy: Forbidden: exactly one policy can be specified, cannot specify "validValues" and "validRange" at the same time']),
    ("cap-range-step", "slice", lambda o: multi(o, {"default": "3Gi", "validRange": {"min": "2Gi", "step": "2Gi"}}), [
        'spec.devices[0].capacity[memory].requestPolicy.validRange.step: Invalid value: "3Gi": value is not a multiple of a given step (2Gi) from (2Gi)']),
    ("cap-range-default-below-min", "slice", lambda o: multi(o, {"default": "1Gi", "validRange": {"min": "2Gi"}}), [
        'spec.devices[0].capacity[memory].requestPolicy.validRange.default: Invalid value: "1Gi": default is less than min: 2Gi']),
    ("cap-range-min-above-max", "slice", lambda o: multi(o, {"default": "4Gi", "validRange": {"min": "4Gi", "max": "2Gi"}}), [
        'spec.devices[0].capacity[memory].requestPolicy.validRange.max: Invalid value: "4Gi": min is larger than max: 2Gi',
        'spec.devices[0].capacity[memory].requestPolicy.validRange.default: Invalid value: "4Gi": default is more than max: 2Gi']),
    # ---------------------------------------------------------------- taints, counters, binding
    ("taints-too-many", "slice", lambda o: dev(o).update(taints=[{"key": "k", "effect": "NoSchedule"}] * 17), [
        "spec.devices[0].taints: Too many: 17: must have at most 16 items"]),
    ("taint-effect-required", "slice", lambda o: dev(o).update(taints=[{"key": "k"}]), ["spec.devices[0].taints[0].effect: Required value"]),
    ("taint-effect-unsupported", "slice", lambda o: dev(o).update(taints=[{"key": "k", "effect": "PreferNoSchedule"}]), [
        'spec.devices[0].taints[0].effect: Unsupported value: "PreferNoSchedule": supported values: "NoExecute", "NoSchedule", "None"']),
    ("taint-key-required", "slice", lambda o: dev(o).update(taints=[{"effect": "NoExecute"}]), [
        'spec.devices[0].taints[0].key: Invalid value: "": name part must be non-empty',
        f'spec.devices[0].taints[0].key: Invalid value: "": {QNAME_NAME_MSG}']),
    ("taint-value-invalid", "slice", lambda o: dev(o).update(taints=[{"key": "k", "value": "a b", "effect": "None"}]), [
        f'spec.devices[0].taints[0].value: Invalid value: "a b": {LABEL_VALUE_MSG}']),
    ("binding-conditions-too-many", "slice", lambda o: dev(o).update(bindingConditions=[f"c{i}" for i in range(5)], bindingFailureConditions=["f"]), [
        "spec.devices[0].bindingConditions: Too many: 5: must have at most 4 items"]),
    ("binding-failure-conditions-too-many", "slice", lambda o: dev(o).update(bindingConditions=["c"], bindingFailureConditions=[f"f{i}" for i in range(5)]), [
        "spec.devices[0].bindingFailureConditions: Too many: 5: must have at most 4 items"]),
    ("binding-conditions-overlap", "slice", lambda o: dev(o).update(bindingConditions=["a"], bindingFailureConditions=["a"]), [
        'spec.devices[0].bindingFailureConditions[0]: Invalid value: "a": bindingFailureConditions must not overlap with bindingConditions']),
    ("binding-failure-needs-conditions", "slice", lambda o: dev(o).update(bindingFailureConditions=["f"]), [
        "spec.devices[0].bindingConditions: Invalid value: []: bindingConditions are required to use bindingFailureConditions"]),
    ("consumes-counters-too-many", "slice", lambda o: dev(o).update(consumesCounters=[{"counterSet": f"s{i}", "counters": {"c": {"value": "1"}}} for i in range(3)]), [
        "spec.devices[0].consumesCounters: Too many: 3: must have at most 2 items"]),
    ("consumes-counters-duplicate", "slice", lambda o: dev(o).update(consumesCounters=[{"counterSet": "s", "counters": {"c": {"value": "1"}}}] * 2), [
        'spec.devices[0].consumesCounters[1]: Duplicate value: "s"']),
    ("consumes-counters-set-required", "slice", lambda o: dev(o).update(consumesCounters=[{"counters": {"c": {"value": "1"}}}]), [
        "spec.devices[0].consumesCounters[0].counterSet: Required value"]),
    ("consumes-counters-counters-required", "slice", lambda o: dev(o).update(consumesCounters=[{"counterSet": "s"}]), [
        "spec.devices[0].consumesCounters[0].counters: Required value"]),
    ("consumes-counters-per-entry", "slice", lambda o: dev(o).update(consumesCounters=[{"counterSet": "s", "counters": {f"c{i}": {"value": "1"} for i in range(33)}}]), [
        "spec.devices[0].consumesCounters[0].counters: Too many: 33: must have at most 32 items"]),
    ("counter-sets-too-many", "slice", lambda o: counter_sets(o, 9), ["spec.sharedCounters: Too many: 9: must have at most 8 items"]),
    ("counter-sets-ok", "slice", lambda o: counter_sets(o, 8, 32), []),
    ("counters-per-set-too-many", "slice", lambda o: counter_sets(o, 1, 33), [
        "spec.sharedCounters[0].counters: Too many: 33: must have at most 32 items"]),
    ("counter-set-name-required", "slice", lambda o: (counter_sets(o, 1), o["spec"]["sharedCounters"][0].pop("name")), [
        "spec.sharedCounters[0].name: Required value"]),
    ("counter-set-name-duplicate", "slice", lambda o: (counter_sets(o, 2), o["spec"]["sharedCounters"][1].update(name="set-0")), [
        'spec.sharedCounters[1]: Duplicate value: "set-0"']),
    ("counter-name-invalid", "slice", lambda o: (counter_sets(o, 1), o["spec"]["sharedCounters"][0].update(counters={"Mem": {"value": "1"}})), [
        f'spec.sharedCounters[0].counters: Invalid value: "Mem": {LABEL_MSG}']),
    ("counter-value-invalid", "slice", lambda o: (counter_sets(o, 1), o["spec"]["sharedCounters"][0].update(counters={"mem": {"value": "x"}})), [
        f'spec.sharedCounters[0].counters[mem].value: Invalid value: "x": {QTY_MSG}']),
    ("counter-value-required", "slice", lambda o: (counter_sets(o, 1), o["spec"]["sharedCounters"][0].update(counters={"mem": {}})), [
        "spec.sharedCounters[0].counters[mem].value: Required value"]),
    # ---------------------------------------------------------------- decoding
    ("decode-wrong-type", "slice", lambda o: o["spec"]["pool"].update(generation="one"), [
        'spec.pool.generation: Invalid value: "one": must be of type integer']),
    ("decode-wrong-type-in-map", "slice", lambda o: dev(o, 1)["attributes"].update(model={"int": "7"}), [
        'spec.devices[1].attributes[model].int: Invalid value: "7": must be of type integer']),
    ("decode-wrong-container", "claim", lambda o: o["spec"]["devices"].update(requests={"name": "x"}), [
        "spec.devices.requests: Invalid value: object: must be of type array"]),
    ("decode-quantity-bool", "slice", lambda o: cap(o).update(value=True), [
        "spec.devices[0].capacity[memory].value: Invalid value: true: must be of type integer or number or string"]),
    ("decode-unsupported-version", "class", lambda o: o.update(apiVersion="resource.k8s.io/v1alpha3"), [
        'apiVersion: Unsupported value: "resource.k8s.io/v1alpha3": supported values: "resource.k8s.io/v1", '
        '"resource.k8s.io/v1beta1", "resource.k8s.io/v1beta2"']),
]


@pytest.mark.parametrize("case_id,base,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_validation_rule(case_id, base, mutate, expected):
    obj = load(base)
    mutate(obj)
    prefix = PREFIX[base]
    if case_id.startswith("meta-name-required"):
        prefix = "ResourceSlice/: "
    elif case_id == "meta-name-invalid":
        prefix = "DeviceClass/Bad_Name: "
    elif case_id == "meta-name-too-long":
        prefix = f"ResourceClaim/default/{'a' * 254}: "
    elif case_id.startswith("meta-generate-name") and "name" not in obj["metadata"]:
        prefix = f"ResourceClaim/default/{obj['metadata']['generateName']}: "
    elif case_id == "meta-namespace-invalid":
        prefix = "ResourceClaim/Team.A/c: "
    assert errors_of(obj) == [prefix + e for e in expected]


@pytest.mark.parametrize("base", sorted(BASES))
def test_base_objects_are_valid(base):
    typed = decode_and_validate(load(base))
    assert type(typed) is m.TYPED_KINDS[typed.kind]


def test_all_errors_reported_at_once():
    obj = load("slice")
    obj["spec"]["driver"] = ""
    obj["spec"]["pool"]["generation"] = -5
    dev(obj)["name"] = "X"
    with pytest.raises(ValidationFailed) as exc:
        decode_and_validate(obj)
    assert [e.path for e in exc.value.errors] == ["spec.driver", "spec.pool.generation", "spec.devices[0].name"]
    assert all(e.kind == "ResourceSlice" and e.name == "s" and e.namespace == "" for e in exc.value.errors)
    assert str(exc.value).count("\n") == 2


def test_validate_returns_field_errors_for_typed_object():
    obj = load("claim")
    exact(obj)["count"] = -1
    typed = decode(obj)
    (err,) = validate(typed, obj)
    assert (err.kind, err.namespace, err.name, err.path) == ("ResourceClaim", "default", "c", "spec.devices.requests[0].exactly.count")
    assert err.message == "Invalid value: -1: must be greater than zero"
    assert validate(decode(load("claim")), load("claim")) == []


def test_validate_without_raw():
    typed = decode(load("slice"))
    assert validate(typed) == []


def test_other_kinds_return_none():
    assert decode_and_validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}) is None
    assert decode_and_validate({"apiVersion": "example.com/v1", "kind": "ResourceClaim", "metadata": {}}) is None
    assert decode({"apiVersion": "scheduling.run.ai/v2", "kind": "Queue"}) is None
    assert decode_and_validate({"apiVersion": "apps/v1", "kind": "Node"}) is None


def test_node_and_namespace_are_decoded():
    node = decode_and_validate({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"a": "b"}},
                                "status": {"allocatable": {"cpu": "4", "nvidia.com/gpu": 8}}})
    assert isinstance(node, m.Node) and node.status.allocatable["nvidia.com/gpu"] == 8
    assert isinstance(decode_and_validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}), m.Namespace)


def test_decode_error_is_validation_failed_with_path():
    obj = load("claim")
    obj["metadata"]["labels"] = {"a": 1}
    with pytest.raises(ValidationFailed) as exc:
        decode(obj)
    assert [str(e) for e in exc.value.errors] == ["ResourceClaim/default/c: metadata.labels[a]: Invalid value: 1: must be of type string"]


def test_non_mapping_is_input_error():
    with pytest.raises(InputError):
        decode_and_validate(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_huge_quantity_exponent_rejected_quickly():
    obj = load("slice")
    cap(obj)["value"] = "1e999999999"
    (err,) = errors_of(obj)
    assert err == 'ResourceSlice/s: spec.devices[0].capacity[memory].value: Invalid value: "1e999999999": quantity exponent must be within +/-1000'


def test_map_key_paths_are_truncated():
    obj = load("slice")
    key = "a" * 60 + "." + "b" * 60 + "/x"  # 123 bytes: paths show 96, cut in the middle
    dev(obj)["attributes"][key] = {}
    errs = errors_of(obj)
    assert "ResourceSlice/s: spec.devices[0].attributes: Too long: may not be more than 63 bytes" in errs
    assert (
        "ResourceSlice/s: spec.devices[0].attributes[" + "a" * 47 + "..." + "b" * 44 + "/x]: "
        'Invalid value: "": exactly one value must be specified'
    ) in errs, errs


def test_null_means_unset():
    obj = load("claim")
    exact(obj)["tolerations"] = None
    exact(obj)["selectors"] = None
    obj["spec"]["devices"]["constraints"] = None
    obj["metadata"]["labels"] = None
    typed = decode_and_validate(obj)
    assert typed.spec.devices.constraints == [] and typed.spec.devices.requests[0].exactly.tolerations == []
    assert obj["spec"]["devices"]["constraints"] is None  # the input is not modified


def test_null_keeps_opaque_parameters_as_written():
    obj = load("claim")
    obj["spec"]["devices"]["constraints"] = None
    obj["spec"]["devices"]["config"][0]["opaque"]["parameters"] = {"a": None, "b": [None]}
    typed = decode_and_validate(obj)
    assert typed.spec.devices.config[0].opaque.parameters == {"a": None, "b": [None]}


def test_validate_accepts_beta_raw():
    text = BASES["class"].replace("resource.k8s.io/v1\n", "resource.k8s.io/v1beta1\n")
    (raw,) = load_text(text, "x")
    assert validate(decode(raw), raw) == []

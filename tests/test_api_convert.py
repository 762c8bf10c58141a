"""v1beta1 / v1beta2 -> v1 conversion."""

from __future__ import annotations

import copy

import pytest

from gpuplane.api.convert import to_v1
from gpuplane.api.loader import load_text
from gpuplane.api.validation import decode, decode_and_validate

SLICE_V1 = """
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-a-gpu, labels: {a: b}}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: node-a, generation: 2, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      model: {string: H100}
      index: {int: 0}
      driverVersion: {version: 550.54.15}
    capacity:
      memory: {value: 80Gi}
    taints: [{key: example.com/unhealthy, effect: NoSchedule}]
  - name: gpu-1
    attributes:
      model: {string: H100}
    allowMultipleAllocations: true
    capacity:
      memory:
        value: 80Gi
        requestPolicy: {default: 10Gi, validRange: {min: 10Gi, step: 10Gi}}
"""

SLICE_V1BETA1 = """
apiVersion: resource.k8s.io/v1beta1
kind: ResourceSlice
metadata: {name: node-a-gpu, labels: {a: b}}
spec:
  driver: gpu.example.com
  nodeName: node-a
  allNodes: false
  pool: {name: node-a, generation: 2, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    basic:
      attributes:
        model: {string: H100}
        index: {int: 0}
        driverVersion: {version: 550.54.15}
      capacity:
        memory: {value: 80Gi}
      taints: [{key: example.com/unhealthy, effect: NoSchedule}]
  - name: gpu-1
    basic:
      attributes:
        model: {string: H100}
      allowMultipleAllocations: true
      capacity:
        memory:
          value: 80Gi
          requestPolicy: {default: 10Gi, validRange: {min: 10Gi, step: 10Gi}}
"""

CLAIM_V1 = """
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c, namespace: ns}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu.example.com
        selectors: [{cel: {expression: "device.attributes['gpu.example.com'].model == 'H100'"}}]
        allocationMode: ExactCount
        count: 2
        adminAccess: false
        tolerations: [{key: example.com/unhealthy, operator: Exists, effect: NoSchedule}]
        capacity: {requests: {memory: 10Gi}}
    - name: mig-or-gpu
      firstAvailable:
      - {name: mig, deviceClassName: mig.example.com, count: 1}
      - {name: gpu, deviceClassName: gpu.example.com, allocationMode: All}
    constraints:
    - {requests: [gpu, mig-or-gpu/mig], matchAttribute: gpu.example.com/parent}
    config:
    - requests: [gpu]
      opaque: {driver: gpu.example.com, parameters: {apiVersion: v1, kind: Cfg}}
status:
  allocation:
    devices:
      results:
      - {request: gpu, driver: gpu.example.com, pool: node-a, device: gpu-0}
      config:
      - {source: FromClaim, requests: [gpu], opaque: {driver: gpu.example.com, parameters: {a: 1}}}
    nodeSelector:
      nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [node-a]}]}]
  reservedFor: [{resource: pods, name: p, uid: 3f2c6b8e-1d2a-4c3b-9e8f-0a1b2c3d4e5f}]
"""

CLAIM_V1BETA1 = """
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaim
metadata: {name: c, namespace: ns}
spec:
  devices:
    requests:
    - name: gpu
      deviceClassName: gpu.example.com
      selectors: [{cel: {expression: "device.attributes['gpu.example.com'].model == 'H100'"}}]
      allocationMode: ExactCount
      count: 2
      adminAccess: false
      tolerations: [{key: example.com/unhealthy, operator: Exists, effect: NoSchedule}]
      capacity: {requests: {memory: 10Gi}}
    - name: mig-or-gpu
      firstAvailable:
      - {name: mig, deviceClassName: mig.example.com, count: 1}
      - {name: gpu, deviceClassName: gpu.example.com, allocationMode: All}
    constraints:
    - {requests: [gpu, mig-or-gpu/mig], matchAttribute: gpu.example.com/parent}
    config:
    - requests: [gpu]
      opaque: {driver: gpu.example.com, parameters: {apiVersion: v1, kind: Cfg}}
status:
  allocation:
    devices:
      results:
      - {request: gpu, driver: gpu.example.com, pool: node-a, device: gpu-0}
      config:
      - {source: FromClaim, requests: [gpu], opaque: {driver: gpu.example.com, parameters: {a: 1}}}
    nodeSelector:
      nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [node-a]}]}]
  reservedFor: [{resource: pods, name: p, uid: 3f2c6b8e-1d2a-4c3b-9e8f-0a1b2c3d4e5f}]
"""

TEMPLATE_V1 = """
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: t}
spec:
  metadata: {labels: {app: x}}
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.example.com}
"""

TEMPLATE_V1BETA1 = """
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaimTemplate
metadata: {name: t}
spec:
  metadata: {labels: {app: x}}
  spec:
    devices:
      requests:
      - name: gpu
        deviceClassName: gpu.example.com
"""

CLASS_V1 = """
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  selectors: [{cel: {expression: "device.driver == 'gpu.example.com'"}}]
  config: [{opaque: {driver: gpu.example.com, parameters: {a: 1}}}]
  extendedResourceName: example.com/gpu
"""


def one(text: str) -> dict:
    (obj,) = load_text(text, "test")
    return obj


def as_version(text: str, version: str) -> str:
    return text.replace("apiVersion: resource.k8s.io/v1\n", f"apiVersion: resource.k8s.io/{version}\n")


@pytest.mark.parametrize(
    "v1_text,v1beta1_text",
    [(SLICE_V1, SLICE_V1BETA1), (CLAIM_V1, CLAIM_V1BETA1), (TEMPLATE_V1, TEMPLATE_V1BETA1), (CLASS_V1, as_version(CLASS_V1, "v1beta1"))],
    ids=["ResourceSlice", "ResourceClaim", "ResourceClaimTemplate", "DeviceClass"],
)
def test_beta_versions_decode_to_the_same_v1_object(v1_text, v1beta1_text):
    v1 = decode_and_validate(one(v1_text))
    beta1 = decode_and_validate(one(v1beta1_text))
    beta2 = decode_and_validate(one(as_version(v1_text, "v1beta2")))
    assert v1 == beta1 == beta2
    assert beta1.api_version == "resource.k8s.io/v1"


@pytest.mark.parametrize(
    "v1_text,v1beta1_text",
    [(SLICE_V1, SLICE_V1BETA1), (CLAIM_V1, CLAIM_V1BETA1), (TEMPLATE_V1, TEMPLATE_V1BETA1)],
    ids=["ResourceSlice", "ResourceClaim", "ResourceClaimTemplate"],
)
def test_v1beta1_dict_converts_to_v1_dict(v1_text, v1beta1_text):
    assert to_v1(one(v1beta1_text)) == one(v1_text)


def test_v1beta2_only_changes_api_version():
    beta2 = one(as_version(CLAIM_V1, "v1beta2"))
    assert to_v1(beta2) == one(CLAIM_V1)


def test_input_not_modified_and_new_dict_returned():
    beta1 = one(SLICE_V1BETA1)
    before = copy.deepcopy(beta1)
    out = to_v1(beta1)
    assert beta1 == before
    assert out is not beta1 and out["spec"] is not beta1["spec"]


def test_v1_and_other_groups_returned_unchanged():
    v1 = one(SLICE_V1)
    assert to_v1(v1) is v1
    other = {"apiVersion": "example.com/v1beta1", "kind": "ResourceSlice", "spec": {"devices": [{"name": "x", "basic": {}}]}}
    assert to_v1(other) is other
    assert to_v1("not a dict") == "not a dict"


def test_unknown_fields_preserved():
    beta1 = one(SLICE_V1BETA1)
    beta1["status"] = {"x": 1}
    beta1["spec"]["futureField"] = {"y": 2}
    beta1["spec"]["devices"][0]["futureDeviceField"] = 3
    beta1["spec"]["devices"][0]["basic"]["futureBasicField"] = 4
    out = to_v1(beta1)
    assert out["status"] == {"x": 1}
    assert out["spec"]["futureField"] == {"y": 2}
    assert out["spec"]["devices"][0]["futureDeviceField"] == 3
    assert out["spec"]["devices"][0]["futureBasicField"] == 4
    assert "basic" not in out["spec"]["devices"][0]

    claim = one(CLAIM_V1BETA1)
    claim["spec"]["devices"]["requests"][0]["futureRequestField"] = 5
    out = to_v1(claim)
    req = out["spec"]["devices"]["requests"][0]
    assert req["futureRequestField"] == 5
    assert req["exactly"]["deviceClassName"] == "gpu.example.com"
    assert "deviceClassName" not in req


def test_slice_empty_node_name_and_false_all_nodes_dropped():
    beta1 = one(SLICE_V1BETA1)
    beta1["spec"]["nodeName"] = ""
    beta1["spec"]["allNodes"] = True
    out = to_v1(beta1)
    assert "nodeName" not in out["spec"] and out["spec"]["allNodes"] is True


def test_v1beta1_request_without_class_or_subrequests_becomes_empty_exactly():
    claim = one(CLAIM_V1BETA1)
    claim["spec"]["devices"]["requests"] = [{"name": "gpu"}]
    out = to_v1(claim)
    assert out["spec"]["devices"]["requests"] == [{"name": "gpu", "exactly": {}}]


def test_v1beta1_request_with_first_available_drops_exact_fields():
    claim = one(CLAIM_V1BETA1)
    claim["spec"]["devices"]["requests"] = [{"name": "r", "deviceClassName": "x", "count": 3, "firstAvailable": [{"name": "a", "deviceClassName": "b"}]}]
    out = to_v1(claim)
    assert out["spec"]["devices"]["requests"] == [{"name": "r", "firstAvailable": [{"name": "a", "deviceClassName": "b"}]}]


def test_v1beta1_error_paths_are_v1_paths():
    claim = one(CLAIM_V1BETA1)
    claim["spec"]["devices"]["requests"][0]["count"] = -3
    from gpuplane.api.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        decode_and_validate(claim)
    assert [str(e) for e in exc.value.errors] == [
        "ResourceClaim/ns/c: spec.devices.requests[0].exactly.count: Invalid value: -3: must be greater than zero"
    ]


def test_decode_applies_apiserver_defaults():
    claim = one(TEMPLATE_V1BETA1.replace("kind: ResourceClaimTemplate", "kind: ResourceClaimTemplate"))
    typed = decode(claim)
    exact = typed.spec.spec.devices.requests[0].exactly
    assert (exact.allocation_mode, exact.count) == ("ExactCount", 1)
    claim = decode(one(CLAIM_V1))
    sub_all = claim.spec.devices.requests[1].first_available[1]
    assert (sub_all.allocation_mode, sub_all.count) == ("All", 0)
    raw = one(CLAIM_V1)
    del raw["spec"]["devices"]["requests"][0]["exactly"]["tolerations"][0]["operator"]
    tol = decode(raw).spec.devices.requests[0].exactly.tolerations[0]
    assert tol.operator == "Equal"

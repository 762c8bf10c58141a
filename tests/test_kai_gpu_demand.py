"""Pods: decoding, effective requests, GPU demand (whole, fractional, memory, multi-device) and states."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from gpuplane.api.core import GpuDemand, decode_pod, gpu_demand, pod_requests, pod_state
from gpuplane.api.errors import ValidationFailed
from gpuplane.api.loader import load_text

POD_YAML = """
apiVersion: v1
kind: Pod
metadata:
  name: trainer-0
  namespace: research
  labels:
    kai.scheduler/queue: research-nlp
    kai.scheduler/preemptibility: non-preemptible
  annotations:
    pod-group-name: pg-llm-pretrain
  ownerReferences:
  - apiVersion: batch/v1
    kind: Job
    name: llm
    uid: "1234"
    controller: true
  deletionTimestamp: "2026-11-30T00:00:00Z"
spec:
  schedulerName: gpuplane
  priorityClassName: train
  priority: 50
  nodeName: node-7
  nodeSelector: {nvidia.com/gpu.product: H200}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: zone, operator: In, values: [a]}]
  tolerations:
  - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
  initContainers:
  - name: fetch
    resources: {requests: {cpu: "4", memory: 8Gi}}
  containers:
  - name: main
    resources:
      requests: {cpu: 2500m, memory: 16Gi}
      limits: {nvidia.com/gpu: 4, memory: 32Gi}
  - name: sidecar
    resources: {requests: {cpu: 500m, memory: 1Gi}}
  resourceClaims:
  - name: imex
    resourceClaimTemplateName: imex-channel
  - name: shared
    resourceClaimName: shared-gpu
status:
  phase: Running
  nominatedNodeName: node-9
  conditions:
  - {type: PodScheduled, status: "True"}
  resourceClaimStatuses:
  - {name: imex, resourceClaimName: trainer-0-imex-x7k2}
"""


def _pod(annotations=None, containers=None, init=None, **spec):
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "annotations": annotations or {}},
        "spec": {"containers": containers if containers is not None else [{"name": "c"}], **spec},
    }
    if init is not None:
        obj["spec"]["initContainers"] = init
    return decode_pod(obj)


def _c(name="c", requests=None, limits=None, restart=None):
    c = {"name": name, "resources": {"requests": requests or {}, "limits": limits or {}}}
    if restart:
        c["restartPolicy"] = restart
    return c


def test_decode_full_pod():
    pod = decode_pod(load_text(POD_YAML)[0])
    assert pod.metadata.deletion_timestamp == "2026-11-30T00:00:00Z"
    assert pod.metadata.owner_references[0].kind == "Job" and pod.metadata.owner_references[0].controller
    assert pod.spec.scheduler_name == "gpuplane" and pod.spec.priority == 50
    assert pod.spec.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert pod.spec.tolerations[0].operator == "Exists"
    assert [(c.name, c.resource_claim_name, c.resource_claim_template_name) for c in pod.spec.resource_claims] == [
        ("imex", None, "imex-channel"), ("shared", "shared-gpu", None)]
    assert pod.status.nominated_node_name == "node-9"
    assert pod.status.resource_claim_statuses[0].resource_claim_name == "trainer-0-imex-x7k2"
    assert pod_state(pod) == "Releasing"
    req = pod_requests(pod)
    assert req == {"cpu": F(4), "memory": F(17 * 2**30), "nvidia.com/gpu": F(4)}
    assert gpu_demand(pod) == GpuDemand(whole=4)


def test_decode_type_error_names_pod_and_field():
    with pytest.raises(ValidationFailed) as e:
        decode_pod({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
                    "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": [1]}}}]}})
    err = e.value.errors[0]
    assert (err.kind, err.namespace, err.name) == ("Pod", "ns", "p")
    assert err.path == "spec.containers[0].resources.limits[...]"


@pytest.mark.parametrize(
    "phase, node, deleted, state",
    [("", "", False, "Pending"), ("Pending", "", False, "Pending"), ("", "n", False, "Running"),
     ("Running", "n", False, "Running"), ("Running", "n", True, "Releasing"), ("Succeeded", "n", True, "Succeeded"),
     ("Failed", "n", False, "Failed")],
)
def test_pod_state(phase, node, deleted, state):
    obj = {"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z" if deleted else None},
           "spec": {"nodeName": node}, "status": {"phase": phase}}
    assert pod_state(decode_pod(obj)) == state


# --- effective requests ----------------------------------------------------------------------


def test_requests_sum_containers_max_init():
    pod = _pod(containers=[_c("a", {"cpu": "1", "memory": "1Gi"}), _c("b", {"cpu": "500m"})],
               init=[_c("i1", {"cpu": "2"}), _c("i2", {"memory": "4Gi"})])
    assert pod_requests(pod) == {"cpu": F(2), "memory": F(4 * 2**30)}


def test_limits_stand_in_for_absent_requests():
    pod = _pod(containers=[_c("a", limits={"nvidia.com/gpu": "2", "cpu": "1"}, requests={"cpu": "250m"})])
    assert pod_requests(pod) == {"nvidia.com/gpu": F(2), "cpu": F(1, 4)}


def test_sidecars_and_overhead():
    pod = _pod(containers=[_c("a", {"cpu": "1"})],
               init=[_c("sc", {"cpu": "1"}, restart="Always"), _c("i", {"cpu": "3"})],
               overhead={"cpu": "100m"})
    # init i runs beside the sidecar: 3 + 1 = 4 > containers + sidecar = 2
    assert pod_requests(pod) == {"cpu": F(41, 10)}


def test_bad_quantity_is_a_field_error():
    with pytest.raises(ValidationFailed) as e:
        pod_requests(_pod(containers=[_c("a", {"cpu": "lots"})]))
    assert str(e.value).startswith("Pod/ns/p: spec.containers[0].resources.requests[cpu]: Invalid value: 'lots'")


# --- GPU demand ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotations, containers, expected",
    [
        ({}, [_c()], GpuDemand()),
        ({}, [_c(limits={"nvidia.com/gpu": 2}), _c("b", limits={"nvidia.com/gpu": "1"})], GpuDemand(whole=3)),
        ({}, [_c(requests={"nvidia.com/gpu": "2"})], GpuDemand(whole=2)),
        ({}, [_c(limits={"nvidia.com/gpu": "0"})], GpuDemand()),
        ({}, [_c(limits={"nvidia.com/gpu": "2000m"})], GpuDemand(whole=2)),
        ({}, [_c(limits={"nvidia.com/gpu": "500m"})], GpuDemand(fraction=F(1, 2))),  # KAI's legacy fractional limit
        ({}, [_c(limits={"nvidia.com/gpu": "0.25"})], GpuDemand(fraction=F(1, 4))),
        ({"gpu-fraction": "0.5"}, [_c()], GpuDemand(fraction=F(1, 2))),
        ({"gpu-fraction": "0.999"}, [_c()], GpuDemand(fraction=F(999, 1000))),
        ({"gpu-fraction": "0.25", "gpu-fraction-num-devices": "4"}, [_c()], GpuDemand(fraction=F(1, 4), num_devices=4)),
        ({"gpu-memory": "20000"}, [_c()], GpuDemand(memory_mib=20000)),
        ({"gpu-memory": "1024", "gpu-fraction-num-devices": "2"}, [_c()], GpuDemand(memory_mib=1024, num_devices=2)),
        ({"gpu-fraction": "0.5", "gpu-fraction-container-name": "b"}, [_c("a"), _c("b")],
         GpuDemand(fraction=F(1, 2), container_index=1)),
        ({"gpu-fraction": "0.5", "mps": "true"}, [_c()], GpuDemand(fraction=F(1, 2))),
    ],
)
def test_gpu_demand(annotations, containers, expected):
    assert gpu_demand(_pod(annotations, containers)) == expected


def test_init_container_gpus_take_the_max():
    pod = _pod(containers=[_c(limits={"nvidia.com/gpu": 1})], init=[_c("i", limits={"nvidia.com/gpu": 2})])
    assert gpu_demand(pod) == GpuDemand(whole=2)


FRAC_MSG = "gpu-fraction annotation value must be a positive number smaller than 1.0"
MEM_MSG = "gpu-memory annotation value must be a positive integer greater than 0"
NUM_MSG = "fraction count annotation value must be a positive integer greater than 0"


@pytest.mark.parametrize(
    "annotations, containers, expected",
    [
        ({"gpu-fraction": "0"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: '0': {FRAC_MSG}"]),
        ({"gpu-fraction": "1"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: '1': {FRAC_MSG}"]),
        ({"gpu-fraction": "1.2"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: '1.2': {FRAC_MSG}"]),
        ({"gpu-fraction": "-1"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: '-1': {FRAC_MSG}"]),
        ({"gpu-fraction": "NaN"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: 'NaN': {FRAC_MSG}"]),
        ({"gpu-fraction": "half"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: 'half': {FRAC_MSG}"]),
        ({"gpu-fraction": " 0.5"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: ' 0.5': {FRAC_MSG}"]),
        ({"gpu-fraction": "5e-1x"}, None, [f"Pod/ns/p: metadata.annotations[gpu-fraction]: Invalid value: '5e-1x': {FRAC_MSG}"]),
        ({"gpu-memory": "0"}, None, [f"Pod/ns/p: metadata.annotations[gpu-memory]: Invalid value: '0': {MEM_MSG}"]),
        ({"gpu-memory": "-5"}, None, [f"Pod/ns/p: metadata.annotations[gpu-memory]: Invalid value: '-5': {MEM_MSG}"]),
        ({"gpu-memory": "2.5"}, None, [f"Pod/ns/p: metadata.annotations[gpu-memory]: Invalid value: '2.5': {MEM_MSG}"]),
        ({"gpu-memory": "2Gi"}, None, [f"Pod/ns/p: metadata.annotations[gpu-memory]: Invalid value: '2Gi': {MEM_MSG}"]),
        ({"gpu-fraction": "0.5", "gpu-fraction-num-devices": "0"}, None,
         [f"Pod/ns/p: metadata.annotations[gpu-fraction-num-devices]: Invalid value: '0': {NUM_MSG}"]),
        ({"gpu-fraction": "0.5", "gpu-fraction-num-devices": "two"}, None,
         [f"Pod/ns/p: metadata.annotations[gpu-fraction-num-devices]: Invalid value: 'two': {NUM_MSG}"]),
        ({"gpu-fraction-num-devices": "2"}, None,
         ["Pod/ns/p: metadata.annotations[gpu-fraction-num-devices]: Forbidden: cannot request multiple fractional "
          "devices without specifying fraction portion or gpu-memory"]),
        ({"gpu-fraction": "0.5", "gpu-memory": "100"}, None,
         ["Pod/ns/p: metadata.annotations[gpu-memory]: Forbidden: cannot request both GPU and GPU memory"]),
        ({"gpu-fraction": "0.5"}, [_c(limits={"nvidia.com/gpu": 1})],
         ["Pod/ns/p: metadata.annotations[gpu-fraction]: Forbidden: cannot have both GPU fraction request and whole GPU resource request/limit"]),
        ({"gpu-memory": "100"}, [_c(limits={"nvidia.com/gpu": 1})],
         ["Pod/ns/p: metadata.annotations[gpu-memory]: Forbidden: cannot request both GPU and GPU memory"]),
        ({"mps": "true"}, None, ["Pod/ns/p: metadata.annotations[mps]: Forbidden: MPS is only supported with GPU fraction request"]),
        ({"gpu-fraction": "0.5", "gpu-fraction-container-name": "nope"}, None,
         ["Pod/ns/p: metadata.annotations[gpu-fraction-container-name]: Invalid value: 'nope': no container with this name"]),
        ({}, [_c(limits={"nvidia.com/gpu": -1})],
         ["Pod/ns/p: spec.containers[0].resources.limits[nvidia.com/gpu]: Invalid value: -1: GPU resource limit cannot be negative"]),
        ({}, [_c(limits={"nvidia.com/gpu": "1.5"})],
         ["Pod/ns/p: spec.containers[0].resources.limits[nvidia.com/gpu]: Invalid value: '1.5': GPU resource limit annotation cannot be larger than 1"]),
        ({}, [_c(), _c("b", limits={"nvidia.com/gpu": "0.5"})],
         ["Pod/ns/p: spec.containers[1].resources.limits[nvidia.com/gpu]: Invalid value: '0.5': must be a whole number of GPUs"]),
        ({}, [_c(limits={"nvidia.com/gpu": "two"})],
         ["Pod/ns/p: spec.containers[0].resources.limits[nvidia.com/gpu]: Invalid value: 'two': quantities must match "
          "the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]),
    ],
)
def test_gpu_demand_errors(annotations, containers, expected):
    with pytest.raises(ValidationFailed) as e:
        gpu_demand(_pod(annotations, containers))
    assert [str(x) for x in e.value.errors] == expected


def test_gpu_demand_reports_every_problem():
    with pytest.raises(ValidationFailed) as e:
        gpu_demand(_pod({"gpu-fraction": "2", "gpu-memory": "x", "gpu-fraction-num-devices": "-1"}))
    assert [x.path for x in e.value.errors] == [
        "metadata.annotations[gpu-memory]", "metadata.annotations[gpu-fraction]",
        "metadata.annotations[gpu-memory]", "metadata.annotations[gpu-fraction-num-devices]"]


def test_gpu_units():
    assert GpuDemand(whole=3).gpus() == 3
    assert GpuDemand(fraction=F(1, 4), num_devices=4).gpus() == 1
    assert GpuDemand(memory_mib=20000, num_devices=2).gpus(gpu_memory_mib=80000) == F(1, 2)
    assert GpuDemand(memory_mib=100000).gpus(gpu_memory_mib=80000) == 1  # at most one device each
    assert GpuDemand().is_empty and GpuDemand(memory_mib=1).is_shared
    with pytest.raises(ValueError):
        GpuDemand(memory_mib=1).gpus()

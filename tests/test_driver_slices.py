"""gpuplane.driver.slices: inventory -> ResourceSlices as gpu.nvidia.com publishes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.api.validation import decode_and_validate
from gpuplane.driver import hardware as hw
from gpuplane.driver.slices import GpuSpec, MigSpec, build_slices, parse_nvml_probe, parse_placements, semver

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "h200"
if not FIXTURE.is_dir():
    FIXTURE = Path("/work/shared/fixtures/h200")


def _gpu(minor: int, profiles=hw.H200_MIG) -> GpuSpec:
    return GpuSpec(minor=minor, uuid=f"GPU-00000000-0000-0000-0000-00000000000{minor}", product_name="NVIDIA H200",
                   memory_mib=hw.H200_MEMORY_MIB, numa_node=minor // 4, mig_profiles=profiles)


def _valid(objs):
    for o in objs:
        decode_and_validate(o)  # raises ValidationFailed on any apiserver error


@pytest.mark.parametrize("raw,want", [("580.159.04", "580.159.4"), ("13.0", "13.0.0"), ("9.0", "9.0.0"), ("570.86.15", "570.86.15")])
def test_semver_normalises_nvml_versions(raw, want):
    assert semver(raw) == want


@pytest.mark.parametrize("bad", ["", "a.b", "1.2.3.4", "1..2"])
def test_semver_rejects_garbage(bad):
    with pytest.raises(ValueError, match="version"):
        semver(bad)


def test_full_gpu_slice_attributes():
    (sl,) = build_slices("n1", [_gpu(0), _gpu(1)])
    _valid([sl])
    assert sl["spec"]["driver"] == "gpu.nvidia.com" and sl["spec"]["pool"]["name"] == "n1"
    dev = sl["spec"]["devices"][0]
    assert dev["name"] == "gpu-0"
    a = dev["attributes"]
    assert a["type"] == {"string": "gpu"} and a["productName"] == {"string": "NVIDIA H200"}
    assert a["driverVersion"] == {"version": "580.159.4"} and a["cudaDriverVersion"] == {"version": "13.0.0"}
    assert a["cudaComputeCapability"] == {"version": "9.0.0"} and a["architecture"] == {"string": "Hopper"}
    assert set(a) >= {"uuid", "brand", "resource.kubernetes.io/pciBusID", "resource.kubernetes.io/pcieRoot", "resource.kubernetes.io/numaNode"}
    assert dev["capacity"] == {"memory": {"value": "143771Mi"}}


def test_dynamic_mig_layout_h200():
    objs = build_slices("n1", [_gpu(g) for g in range(8)], mode="mig")
    _valid(objs)
    assert len(objs) == 9 and objs[0]["spec"]["sharedCounters"][0]["name"] == "gpu-0-counter-set"
    assert all(o["spec"]["pool"]["resourceSliceCount"] == 9 for o in objs)
    devices = objs[1]["spec"]["devices"]
    assert len(devices) == 1 + 7 + 3 + 2 + 1
    names = {d["name"] for d in devices}
    assert {"gpu-0", "gpu-0-mig-1g18gb-19-0", "gpu-0-mig-3g71gb-9-4", "gpu-0-mig-7g141gb-0-0"} <= names
    m = next(d for d in devices if d["name"] == "gpu-0-mig-3g71gb-9-4")
    consumed = m["consumesCounters"][0]["counters"]
    assert [k for k in consumed if k.startswith("memory-slice-")] == [f"memory-slice-{i}" for i in range(4, 8)]
    assert m["attributes"]["parentUUID"] == devices[0]["attributes"]["uuid"]
    assert m["attributes"]["profile"] == {"string": "3g.71gb"}


def test_static_mig_devices_replace_their_parent():
    g0, g1 = _gpu(0), _gpu(1)
    p = hw.H200_MIG[0]
    (sl,) = build_slices("n1", [g0, g1], mode="mig-static", migs=[MigSpec(g0, p, 3, "MIG-1")])
    _valid([sl])
    names = [d["name"] for d in sl["spec"]["devices"]]
    assert names == ["gpu-1", "gpu-0-mig-1g18gb-19-3"]
    assert sl["spec"]["devices"][1]["capacity"]["memorySlice3"] == {"value": "1"}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown slice mode 'nope'"):
        build_slices("n1", [_gpu(0)], mode="nope")
    with pytest.raises(ValueError, match="node n1: duplicate GPU minor"):
        build_slices("n1", [_gpu(0), _gpu(0)])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.sampled_from(["gpu", "shared", "mig"]), st.integers(1, 5))
def test_any_gpu_count_and_mode_validates(count, mode, generation):
    objs = build_slices("node-x", [_gpu(g) for g in range(count)], mode=mode, generation=generation)
    _valid(objs)
    devs = [d["name"] for o in objs for d in o["spec"].get("devices", [])]
    assert len(devs) == len(set(devs))
    assert sum(1 for d in devs if "-mig-" not in d) == count


@pytest.mark.skipif(not (FIXTURE / "nvml.json").exists(), reason="shared/fixtures/h200 not present")
def test_h200_fixture_parses_to_the_packaged_table():
    probe = (FIXTURE / "nvml-probe2.txt").read_text()
    (gpu,) = parse_nvml_probe(json.loads((FIXTURE / "nvml.json").read_text()), probe)
    assert gpu.product_name == "NVIDIA H200" and gpu.memory_mib == hw.H200_MEMORY_MIB
    assert gpu.uuid == "GPU-03d9b97d-57e1-956e-f628-d975becf82f1"
    assert gpu.pci_bus_id == "0000:00:06.0" and gpu.numa_node is None
    assert gpu.architecture == "Hopper" and gpu.brand == "Nvidia" and gpu.cuda_driver_version == "13.0"
    assert sorted(gpu.mig_profiles, key=lambda p: p.profile_id) == sorted(hw.H200_MIG_ALL, key=lambda p: p.profile_id)
    assert parse_placements(probe)[9] == ((0, 4), 4)
    (sl,) = build_slices("h200", [gpu])
    _valid([sl])
    assert "resource.kubernetes.io/numaNode" not in sl["spec"]["devices"][0]["attributes"]

"""gpuplane.sim.profiles: hardware profiles -> Nodes (+ ResourceSlices) that validate and allocate."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuplane.api.validation import decode_and_validate
from gpuplane.dra.features import Features
from gpuplane.dra.session import allocate_objects
from gpuplane.sim import profiles as P

OPENB_NODES = Path("/work/shared/traces/openb/openb_node_list_gpu_node.csv")
for _cand in (Path(__file__).resolve().parents[2] / "shared", Path(__file__).resolve().parents[1] / "shared"):
    if (_cand / "traces/openb/openb_node_list_gpu_node.csv").exists():
        OPENB_NODES = _cand / "traces/openb/openb_node_list_gpu_node.csv"


def _claim(name: str, cls: str, selectors: list[str] | None = None, count: int = 1) -> dict:
    exact: dict = {"deviceClassName": cls, "allocationMode": "ExactCount", "count": count}
    if selectors:
        exact["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"devices": {"requests": [{"name": "r", "exactly": exact}]}}}


def test_required_profiles_exist():
    for key in ("hgx-h100", "hgx-h200", "gb200-nvl72", "a100-80gb", "l40s"):
        p = P.PROFILES[key]
        assert p.gpus > 0 and p.gpu_memory_mib > 0 and p.cpu_milli > 0 and p.memory_mib > 0 and p.gpu_product
    assert {k for k in P.PROFILES if k.startswith("openb-")} == {f"openb-{m.lower()}" for m in P.OPENB_SHAPES}
    with pytest.raises(ValueError, match="unknown node profile 'dgx-z9'"):
        P.get_profile("dgx-z9")


@pytest.mark.parametrize("key", sorted(P.PROFILES))
@pytest.mark.parametrize("mode", P.MODES)
def test_every_profile_and_mode_validates(key, mode):
    if mode == "dra-shared" and not P.PROFILES[key].gpu_memory_mib:
        with pytest.raises(ValueError, match=f"node {key}-0: profile {key} has no known GPU memory size"):
            P.node_objects(P.PROFILES[key], f"{key}-0", mode=mode)
        return
    objs = P.node_objects(P.PROFILES[key], f"{key}-0", mode=mode)
    for o in objs:
        decode_and_validate(o)
    node = objs[0]
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == P.PROFILES[key].gpu_product
    assert labels["nvidia.com/gpu.count"] == str(P.PROFILES[key].gpus)
    alloc = node["status"]["allocatable"]
    if mode == "device-plugin":
        assert alloc["nvidia.com/gpu"] == str(P.PROFILES[key].gpus) and len(objs) == 1
    else:
        assert "nvidia.com/gpu" not in alloc
        gpus = [d for s in objs[1:] for d in s["spec"].get("devices", []) if d["attributes"]["type"] == {"string": "gpu"}]
        assert len(gpus) == P.PROFILES[key].gpus


def test_h200_labels_match_gfd():
    labels = P.node_objects(P.PROFILES["hgx-h200"], "n")[0]["metadata"]["labels"]
    assert labels["nvidia.com/gpu.memory"] == "143771" and labels["nvidia.com/gpu.family"] == "hopper"
    assert labels["nvidia.com/mig.capable"] == "true" and P.CLIQUE_LABEL not in labels


def test_gb200_rack_shares_one_clique():
    objs = P.gb200_rack(3)
    assert len(objs) == 18
    cliques = {o["metadata"]["labels"][P.CLIQUE_LABEL] for o in objs}
    assert len(cliques) == 1
    uuid_part, _, clique_id = cliques.pop().rpartition(".")
    assert len(uuid_part) == 36 and clique_id == "3"
    assert sum(int(o["status"]["allocatable"]["nvidia.com/gpu"]) for o in objs) == 72
    assert P.gb200_rack(4)[0]["metadata"]["labels"][P.CLIQUE_LABEL] != objs[0]["metadata"]["labels"][P.CLIQUE_LABEL]


def test_bad_mode_and_clique_are_named():
    with pytest.raises(ValueError, match="node n: unknown mode 'nvlink'"):
        P.node_objects(P.PROFILES["l40s"], "n", mode="nvlink")
    with pytest.raises(ValueError, match="clique"):
        P.node_objects(P.PROFILES["l40s"], "n", clique="bad clique!")


def test_device_classes_validate():
    classes = P.device_classes()
    assert [c["metadata"]["name"] for c in classes] == ["gpu.nvidia.com", "mig.nvidia.com"]
    for c in classes:
        decode_and_validate(c)


@pytest.mark.parametrize("key,profile", [("hgx-h200", "1g.18gb"), ("a100-80gb", "3g.40gb"), ("hgx-h100", "2g.20gb")])
def test_mig_claim_lands_on_a_mig_device(key, profile):
    objs = P.node_objects(P.PROFILES[key], "n0", mode="dra") + P.device_classes()
    claim = _claim("c", "mig.nvidia.com", [f"device.attributes['gpu.nvidia.com'].profile == '{profile}'"])
    out = allocate_objects(objs + [claim], "n0", Features())
    assert out.status == "ok", out.error
    (res,) = out.allocations[0]["devices"]["results"]
    assert "-mig-" + profile.replace(".", "") in res["device"] and res["pool"] == "n0"


def test_whole_gpu_claims_fill_an_l40s_node_then_fail():
    objs = P.node_objects(P.PROFILES["l40s"], "n0", mode="dra") + P.device_classes()
    assert allocate_objects(objs + [_claim("c", "gpu.nvidia.com", count=4)], "n0", Features()).status == "ok"
    assert allocate_objects(objs + [_claim("c", "gpu.nvidia.com", count=5)], "n0", Features()).status == "unsat"
    assert allocate_objects(objs + [_claim("c", "mig.nvidia.com")], "n0", Features()).status == "unsat"


@pytest.mark.skipif(not OPENB_NODES.exists(), reason="shared/traces not present")
def test_openb_profiles_come_from_the_node_list():
    from_csv = P.openb_profiles(OPENB_NODES)
    assert from_csv == {k: v for k, v in P.PROFILES.items() if k.startswith("openb-")}
    assert from_csv["openb-g2"].gpus == 8 and from_csv["openb-t4"].gpus == 2


def test_mig_profile_names_lists_what_dra_nodes_offer():
    objs = P.node_objects(P.PROFILES["a100-80gb"], "a", mode="dra") + P.node_objects(P.PROFILES["hgx-h200"], "h")
    assert P.mig_profile_names(objs) == ["1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"]
    assert P.mig_profile_names(P.node_objects(P.PROFILES["l40s"], "l", mode="dra")) == []
    from gpuplane.sim.synthetic import DEFAULT_MIG_PROFILES
    assert set(DEFAULT_MIG_PROFILES) <= set(P.mig_profile_names(objs))

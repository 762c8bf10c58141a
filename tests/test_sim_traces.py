"""gpuplane.sim.traces against the real files in shared/traces (skipped when absent) and bad input."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from gpuplane.sim.traces import TraceError, gang_shape, openb_jobs, philly_jobs, philly_vcs
from _sim_helpers import shared_traces


TRACES = shared_traces()
PHILLY = TRACES / "philly" / "philly_sia_trace.csv"
VCS = TRACES / "philly" / "philly_vc_nodes_helios.csv"
OPENB_DEFAULT = TRACES / "openb" / "openb_pod_list_default.csv"
needs_traces = pytest.mark.skipif(not PHILLY.exists(), reason="shared/traces not present")


@needs_traces
def test_philly_vcs_match_readme():
    quotas = philly_vcs(VCS, 1.0)
    assert len(quotas) == 11 and sum(quotas.values()) == 2816
    assert sorted(quotas.values(), reverse=True)[:3] == [512, 512, 512]
    assert sum(philly_vcs(VCS, 0.25).values()) == 704


@needs_traces
def test_philly_every_row_with_all_vcs(tmp_path):
    with PHILLY.open() as fh:
        clusters = {row["cluster"] for row in csv.DictReader(fh)}
    assert len(clusters) == 15
    big = tmp_path / "vcs.csv"
    big.write_text("vc,node num\n" + "".join(f"{c},100\n" for c in sorted(clusters)))
    jobs, quotas = philly_jobs(PHILLY, big, 1.0)
    assert len(jobs) == 82_247 and len(quotas) == 15
    hist = Counter(int(j.gpus) for j in jobs)
    assert hist == {1: 76_627, 2: 1_818, 4: 1_870, 8: 1_643, 12: 7, 16: 199, 24: 7, 32: 67, 64: 6, 128: 3}
    durations = sorted(j.duration_s for j in jobs)
    assert durations[0] == 1 and durations[-1] == 4_628_226
    assert sum(durations) / len(durations) == pytest.approx(13_136, abs=1)
    assert sum(j.gpus * j.duration_s for j in jobs) / 3600 == pytest.approx(978_078, abs=1)
    assert min(j.submit_s for j in jobs) == 0
    assert max(j.submit_s for j in jobs) / 86400 == pytest.approx(109, abs=1)  # 2017-09-04 .. 2017-12-22


@needs_traces
def test_philly_reference_protocol_drops():
    jobs, quotas = philly_jobs(PHILLY, VCS, 0.25)
    assert len(jobs) == 82_229  # the 18 jobs of the 4 tiny VCs are gone; none too big at x0.25
    assert {j.queue for j in jobs} == set(quotas)
    assert len(philly_jobs(PHILLY, VCS, 0.125)[0]) == 82_168
    for j in jobs:
        assert j.pods * j.gpus_per_pod == j.gpus and j.gpus_per_pod <= 8 and j.gpus <= quotas[j.queue]


@pytest.mark.parametrize("gpus,shape", [(1, (1, 1)), (8, (1, 8)), (12, (2, 6)), (16, (2, 8)), (24, (3, 8)), (128, (16, 8)), (9, (3, 3))])
def test_gang_shape(gpus, shape):
    assert gang_shape(gpus) == shape


@needs_traces
def test_openb_default_with_departures():
    jobs = openb_jobs(OPENB_DEFAULT)
    assert len(jobs) == 8_152
    cpu_only = [j for j in jobs if not j.gpus_per_pod and j.gpu_fraction is None]
    sharing = [j for j in jobs if j.gpu_fraction is not None]
    whole1 = [j for j in jobs if j.gpus_per_pod == 1]
    multi = [j for j in jobs if j.gpus_per_pod > 1]
    assert (len(cpu_only), len(sharing), len(whole1), len(multi)) == (1_088, 3_078, 3_911, 75)
    assert sum(j.gpus for j in jobs) == pytest.approx(6_086.8)
    assert all(j.duration_s >= 0 for j in jobs)
    assert max(j.submit_s + j.duration_s for j in jobs) <= 12_902_960
    assert not any(j.node_selector for j in jobs)  # the default trace has no GPU-model constraints


@needs_traces
def test_openb_single_model_constraints_become_node_selectors():
    jobs = openb_jobs(TRACES / "openb" / "openb_pod_list_gpuspec33.csv")
    models = Counter(j.node_selector.get("nvidia.com/gpu.product") for j in jobs if j.node_selector)
    assert models == {"T4": 1_291, "G2": 331, "P100": 279, "G3": 86, "V100M32": 20, "V100M16": 3}


@needs_traces
def test_openb_multigpu_files_cannot_replay_departures():
    with pytest.raises(TraceError, match="no creation_time"):
        openb_jobs(TRACES / "openb" / "openb_pod_list_multigpu20.csv")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("trace,msg", [
    ("timestamp,duration,num_gpus\n", "missing column(s) cluster"),
    ("timestamp,duration,num_gpus,cluster\n2017-10-09 07:01:55,abc,1,vc1\n", "trace.csv:2: column 'duration': 'abc' is not a number"),
    ("timestamp,duration,num_gpus,cluster\n2017/10/09,5,1,vc1\n", "trace.csv:2: column 'timestamp'"),
    ("timestamp,duration,num_gpus,cluster\n2017-10-09 07:01:55,5,1.5,vc1\n", "trace.csv:2: column 'num_gpus': '1.5' is not an integer"),
    ("timestamp,duration,num_gpus,cluster\n2017-10-09 07:01:55,5,0,vc1\n", "trace.csv:2: column 'num_gpus': '0' must be > 0"),
    ("timestamp,duration,num_gpus,cluster\n2017-10-09 07:01:55,5,1\n", "trace.csv:2: expected 4 fields, got 3"),
    ("timestamp,duration,num_gpus,cluster\n", "no jobs"),
])
def test_bad_philly_rows_name_file_line_and_column(tmp_path, trace, msg):
    vcs = _write(tmp_path, "vcs.csv", "vc,node num\nvc1,4\n")
    with pytest.raises(TraceError) as err:
        philly_jobs(_write(tmp_path, "trace.csv", trace), vcs)
    assert msg in str(err.value)


@pytest.mark.parametrize("vcs,msg", [
    ("vc,nodes\nvc1,4\n", "missing column(s) node num"),
    ("vc,node num\nvc1,-4\n", "vcs.csv:2: column 'node num'"),
    ("vc,node num\nvc1,4\nvc1,8\n", "vcs.csv:3: duplicate vc 'vc1'"),
])
def test_bad_vc_rows(tmp_path, vcs, msg):
    with pytest.raises(TraceError) as err:
        philly_vcs(_write(tmp_path, "vcs.csv", vcs))
    assert msg in str(err.value)


def test_missing_file_is_a_trace_error(tmp_path):
    with pytest.raises(TraceError, match="cannot read"):
        philly_vcs(tmp_path / "absent.csv")


def test_small_philly_file_submit_relative_and_drops(tmp_path):
    trace = _write(tmp_path, "t.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n"
                   "2017-10-09 07:00:10,5.0,1,5.0,a\n2017-10-09 07:00:00,7.0,16,112.0,a\n"
                   "2017-10-09 07:00:05,3.0,2,6.0,b\n2017-10-09 06:59:59,1.0,1,1.0,zz\n")
    vcs = _write(tmp_path, "v.csv", "vc,node num\na,4\nb,8\n")
    jobs, quotas = philly_jobs(trace, vcs, 0.25)
    assert quotas == {"a": 8, "b": 16}
    assert [(j.name, j.queue, j.submit_s, j.gpus) for j in jobs] == [("philly-0", "a", 11.0, 1.0), ("philly-2", "b", 6.0, 2.0)]


@pytest.mark.parametrize("bad", ["2017-02-30 00:00:00", "2017-13-01 00:00:00", "2017-10-09 24:00:00", "2017-10-09T07:00:00"])
def test_impossible_timestamps_are_rejected(tmp_path, bad):
    trace = _write(tmp_path, "t.csv", f"timestamp,duration,num_gpus,cluster\n{bad},1,1,a\n")
    with pytest.raises(TraceError, match="t.csv:2: column 'timestamp'"):
        philly_jobs(trace, _write(tmp_path, "v.csv", "vc,node num\na,1\n"))


def test_openb_small_file_shapes_and_pending_pods_stay_to_the_end(tmp_path):
    pods = _write(tmp_path, "p.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
                  "a,1000,1024,1,500,T4,LS,Running,10,110,10\n"
                  "b,2000,2048,2,1000,T4|P100,BE,Succeeded,20,50,20\n"
                  "c,500,512,0,0,,BE,Pending,30,,\n")
    a, b, c = openb_jobs(pods)
    assert (a.gpu_fraction, a.submit_s, a.duration_s, a.node_selector, a.kind) == (0.5, 10, 100, {"nvidia.com/gpu.product": "T4"}, "inference")
    assert (b.gpus_per_pod, b.duration_s, b.node_selector) == (2, 30, {})
    assert (c.gpus, c.submit_s, c.duration_s) == (0, 30, 80)

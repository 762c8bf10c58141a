"""The report: both files written, metrics.json keeps the CLI contract, the HTML embeds 4 figures."""
from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from gpuplane.sim.log import OccupancyFrame, Sample, SimLog
from gpuplane.sim.metrics import integrate, summarize
from gpuplane.sim.report import fmt_duration, print_summary, write_report
from test_sim_report_factory import make_log

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def factory_log() -> SimLog:
    return make_log(seed=2, nodes=4, hours=6.0, period_s=120.0)


def empty_log() -> SimLog:
    return SimLog(scenario="empty", seed=0, gpus=16, nodes=2)


def check_contract(m: dict) -> None:
    """The keys and types shared/spec/cli-contracts.md promises for metrics.json."""
    for key, kind in [("scenario", str), ("seed", int), ("sim_seconds", float), ("wall_seconds", float),
                      ("gpus", int), ("gpu_allocation_mean", float), ("pods_submitted", int),
                      ("pods_completed", int), ("jain_fairness", float)]:
        assert isinstance(m[key], kind) and not isinstance(m[key], bool), (key, m[key])
    for key in ("mean", "p50", "p99"):
        assert isinstance(m["queueing_delay_s"][key], float), key
    assert isinstance(m["queues"], dict)
    for name, q in m["queues"].items():
        assert isinstance(name, str)
        assert isinstance(q["allocated_gpu_mean"], float) and isinstance(q["fair_share_gpu_mean"], float)


def images_in(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


@pytest.mark.parametrize("which", ["factory", "empty"])
def test_write_report_files(tmp_path: Path, factory_log: SimLog, which: str):
    log = factory_log if which == "factory" else empty_log()
    summary = summarize(log)
    paths = write_report(tmp_path / "out", log, summary)
    assert paths == {"report": tmp_path / "out" / "report.html", "metrics": tmp_path / "out" / "metrics.json"}
    metrics = json.loads(paths["metrics"].read_text())
    check_contract(metrics)
    assert metrics == json.loads(json.dumps(summary))
    html = paths["report"].read_text()
    images = images_in(html)
    assert len(images) == 4 and all(img.startswith(PNG_MAGIC) for img in images)
    assert "http://" not in html and "https://" not in html  # self-contained
    for title in ("GPU allocation timeline", "Per-queue allocation vs fair share", "Queueing delay CDF",
                  "Node / GPU occupancy map"):
        assert title in html


def test_report_numbers_match_metrics(tmp_path: Path, factory_log: SimLog):
    summary = summarize(factory_log)
    assert summary["pods_submitted"] > 0 and summary["queues"]
    html = write_report(tmp_path, factory_log, summary)["report"].read_text()
    for name in summary["queues"]:
        assert f"<td>{name}</td>" in html
    assert f"{summary['jain_fairness']:.3f}" in html


def test_html_escapes_names(tmp_path: Path):
    log = empty_log()
    log.scenario = "<script>alert(1)</script>"
    html = write_report(tmp_path, log, summarize(log))["report"].read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("which", ["factory", "empty"])
def test_print_summary(factory_log: SimLog, which: str):
    log = factory_log if which == "factory" else empty_log()
    buf = io.StringIO()
    print_summary(summarize(log), log, console=Console(file=buf, width=80, color_system=None))
    out = buf.getvalue()
    for heading in ("Run", "GPU allocation", "Queues", "Queueing delay and JCT", "Fairness and scheduler"):
        assert heading in out
    assert "Traceback" not in out
    if which == "factory":
        for name in summarize(log)["queues"]:
            assert name in out
    else:
        assert "(none)" in out


def test_ragged_and_large_occupancy_renders(tmp_path: Path):
    """Nodes with different GPU counts (grey cells) and many nodes still give a PNG."""
    from gpuplane.sim.figures import occupancy_map, pick_frames, png

    log = empty_log()
    nodes = [f"n{i}" for i in range(120)]
    log.occupancy = [OccupancyFrame(t=h * 3600.0, nodes=nodes, used=[[0.5] * (8 if i % 3 else 4) for i in range(120)])
                     for h in range(10)]
    assert [f.t / 3600 for f in pick_frames(log.occupancy)] == [0, 3, 6, 9]
    assert png(occupancy_map(log)).startswith(PNG_MAGIC)


def test_pick_frames_skips_idle_when_enough_busy():
    from gpuplane.sim.figures import pick_frames

    idle = [OccupancyFrame(t=0.0, nodes=["a"], used=[[0.0]]), OccupancyFrame(t=99.0, nodes=["a"], used=[[0.0]])]
    busy = [OccupancyFrame(t=float(t), nodes=["a"], used=[[1.0]]) for t in range(1, 9)]
    picked = pick_frames(idle + busy)
    assert len(picked) == 4 and all(f.used[0][0] == 1.0 for f in picked)
    assert pick_frames(idle) == idle


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=1e5), st.floats(min_value=0, max_value=100)),
                min_size=2, max_size=80),
       st.integers(min_value=2, max_value=20))
def test_step_series_bucketing_keeps_area(points, max_points):
    """Bucketed means are exact time-weighted means, so the plotted area equals the integral."""
    from gpuplane.sim.figures import HOUR, step_series

    samples = [Sample(t=t, gpus_allocated=v, queue_allocated={}, queue_fair_share={}, queue_requested={},
                      pending_pods=0, running_pods=0) for t, v in points]
    end = max(t for t, _ in points) + 10.0
    hours, values = step_series(samples, end, lambda s: s.gpus_allocated, max_points=max_points)
    area = sum((hours[i + 1] - hours[i]) * HOUR * values[i] for i in range(len(hours) - 1))
    assert area == pytest.approx(integrate(samples, end, lambda s: s.gpus_allocated), rel=1e-6, abs=1e-3)
    assert len(hours) <= max(max_points, len(points)) + 1


def test_fmt_duration():
    assert fmt_duration(0) == "0 s" and fmt_duration(4.25) == "4.2 s" and fmt_duration(42) == "42 s"
    assert fmt_duration(750) == "12.5 min" and fmt_duration(3 * 3600) == "3.0 h"
    assert fmt_duration(5 * 86400) == "5.0 d" and fmt_duration(None) == "-"


def test_matplotlib_loads_lazily():
    code = "import sys, gpuplane.sim.report, gpuplane.sim.metrics; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_report_is_reproducible(tmp_path: Path, factory_log: SimLog):
    """Same log, same bytes: no timestamps in the page or the PNGs."""
    summary = summarize(factory_log)
    first = write_report(tmp_path / "a", factory_log, summary)["report"].read_bytes()
    second = write_report(tmp_path / "b", factory_log, summary)["report"].read_bytes()
    assert first == second


def test_print_summary_names_unstarted_shapes():
    from test_sim_metrics import hand_log

    log = hand_log()
    buf = io.StringIO()
    print_summary(summarize(log), log, console=Console(file=buf, width=100, color_system=None))
    assert "1 job(s) never started by the end of the run (share 1)" in buf.getvalue()

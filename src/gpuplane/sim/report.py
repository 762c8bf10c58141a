"""What a simulation run shows: a rich terminal summary, ``report.html`` and ``metrics.json``.

``summary`` is ``gpuplane.sim.metrics.summarize(log)``; the log supplies the time series the
figures need. matplotlib is imported only inside ``write_report`` so ``gpuplane`` starts fast.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from gpuplane.sim.log import SimLog

# ---------------------------------------------------------------- formatting


def fmt_duration(seconds: Optional[float]) -> str:
    """Seconds as the most readable unit: 42 s, 12.5 min, 3.2 h, 4.1 d."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = float(seconds)
    if abs(s) < 120:
        return f"{s:.1f} s" if s and abs(s) < 10 else f"{s:.0f} s"
    if abs(s) < 2 * 3600:
        return f"{s / 60:.1f} min"
    if abs(s) < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def fmt_num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def fmt_pct(ratio: Optional[float]) -> str:
    return "-" if ratio is None else f"{100 * ratio:.1f}%"


# ---------------------------------------------------------------- terminal summary


def summary_tables(summary: dict) -> list[Table]:
    """The summary as rich tables: cluster, allocation, queues, delays/JCT, fairness, scheduler."""
    s = summary
    cluster = Table(title="Run", show_header=False, title_justify="left")
    cluster.add_column(style="bold")
    cluster.add_column(justify="right")
    for label, value in [
        ("scenario", str(s["scenario"])),
        ("policy / seed", f"{s.get('policy', '-')} / {s['seed']}"),
        ("nodes / GPUs", f"{fmt_num(s.get('nodes', 0))} / {fmt_num(s['gpus'])}"),
        ("simulated time", fmt_duration(s["sim_seconds"])),
        ("wall time", f"{s['wall_seconds']:.1f} s"),
        ("jobs submitted / completed", f"{fmt_num(s.get('jobs_submitted', 0))} / {fmt_num(s.get('jobs_completed', 0))}"),
        ("pods submitted / completed", f"{fmt_num(s['pods_submitted'])} / {fmt_num(s['pods_completed'])}"),
        ("jobs never started", fmt_num(s.get("jobs_never_started", 0))),
        ("evictions (jobs / pods)", f"{fmt_num(s.get('evictions', 0))} / {fmt_num(s.get('pods_evicted', 0))}"),
    ]:
        cluster.add_row(label, value)

    alloc = Table(title="GPU allocation", show_header=False, title_justify="left")
    alloc.add_column(style="bold")
    alloc.add_column(justify="right")
    for label, value in [
        ("mean allocated GPUs", f"{fmt_num(s['gpu_allocation_mean'])} ({fmt_pct(s.get('gpu_allocation_ratio_mean'))})"),
        ("peak allocated GPUs", fmt_num(s.get("gpu_allocation_max"))),
        ("utilization (busy window)", fmt_pct(s.get("utilization"))),
        ("offered load ρ", f"{s.get('offered_load', 0.0):.2f}"),
        ("utilization / min(1, ρ)", fmt_pct(s.get("utilization_over_load"))),
        ("mean fragmented idle GPUs", f"{fmt_num(s.get('fragmentation_gpu_mean'))} ({fmt_pct(s.get('fragmentation_ratio_mean'))})"),
        ("idle GPU-hours while pods pending", fmt_num(s.get("idle_gpu_hours_while_pending"))),
    ]:
        alloc.add_row(label, value)

    queues = Table(title="Queues: GPUs allocated vs fair share (time means)", title_justify="left", show_edge=False)
    qcols = ["queue", "jobs", "done", "GPUs", "fair", "got/fair", "wait", "p99 wait"]
    qrows = [[name, fmt_num(q["jobs_submitted"]), fmt_num(q["jobs_completed"]),
              fmt_num(q["allocated_gpu_mean"]), fmt_num(q["fair_share_gpu_mean"]),
              fmt_pct(q.get("share_ratio")), fmt_duration(q["queueing_delay_s"]["mean"]),
              fmt_duration(q["queueing_delay_s"]["p99"])] for name, q in s.get("queues", {}).items()]
    if not qrows:
        qrows = [["(none)", *["-"] * 7]]
    for i, col in enumerate(qcols):
        # Numbers are never cut: only the queue name gives way (with an ellipsis) on a narrow terminal.
        widest = max([len(col)] + [len(r[i]) for r in qrows])
        queues.add_column(col, justify="left" if i == 0 else "right", no_wrap=i != 0,
                          overflow="ellipsis" if i == 0 else "crop", max_width=24 if i == 0 else None,
                          min_width=min(widest, 10) if i == 0 else widest)
    for r in qrows:
        queues.add_row(*r)

    delays = Table(title="Queueing delay and JCT", title_justify="left")
    for col in ["", "jobs", "mean", "p50", "p95", "p99", "max"]:
        delays.add_column(col, justify="left" if not col else "right", no_wrap=True)
    for label, key, fmt in [("queueing delay", "queueing_delay_s", fmt_duration), ("JCT", "jct_s", fmt_duration),
                            ("bounded slowdown", "bounded_slowdown", lambda v: f"{v:.2f}")]:
        d = s.get(key) or {}
        delays.add_row(label, fmt_num(d.get("count", 0)),
                       *[fmt(d.get(k, 0.0)) for k in ("mean", "p50", "p95", "p99", "max")])

    fair = Table(title="Fairness and scheduler", show_header=False, title_justify="left")
    fair.add_column(style="bold")
    fair.add_column(justify="right")
    lat = s.get("decision_latency") or {}
    for label, value in [
        ("Jain's index (received/entitled)", f"{s['jain_fairness']:.3f} over {s.get('jain_queues', 0)} queues"),
        ("fair-share deviation", fmt_pct(s.get("fair_share_deviation"))),
        ("scheduling cycles", fmt_num(lat.get("cycles", 0))),
        ("cycle latency p50 / p99", f"{lat.get('p50_ms', 0.0):.1f} / {lat.get('p99_ms', 0.0):.1f} ms"),
        ("pods bound per scheduler second", fmt_num(lat.get("pods_bound_per_s", 0.0), 0)),
    ]:
        fair.add_row(label, value)
    return [cluster, alloc, queues, delays, fair]


def print_summary(summary: dict, log: SimLog, console: Optional[Console] = None) -> None:
    """Print the run's summary tables (to stdout unless a console is given)."""
    console = console or Console()
    tables = summary_tables(summary)
    from rich.columns import Columns

    console.print(Columns(tables[:2], padding=(0, 4)))
    for table in tables[2:4]:
        console.print(table)
    console.print(tables[4])
    if log.jobs and summary.get("jobs_never_started"):
        shapes = ", ".join(f"{shape} {v['never_started']}" for shape, v in summary.get("never_started_by_shape", {}).items()
                           if v["never_started"])
        console.print(f"[yellow]{summary['jobs_never_started']} job(s) never started by the end of the run"
                      f"{f' ({shapes})' if shapes else ''}[/yellow]")


# ---------------------------------------------------------------- files


def write_metrics(path: Path, summary: dict) -> Path:
    """metrics.json: the summary as strict JSON (no NaN)."""
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return path


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1150px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;margin-top:0} table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
td,th{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:right} th{background:#f6f6f6}
td:first-child,th:first-child{text-align:left} .cards{display:flex;flex-wrap:wrap;gap:.8rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.3rem} .card span{color:#666;font-size:.8rem}
figure{margin:1rem 0} figure img{max-width:100%;border:1px solid #eee} figcaption{color:#555;font-size:.85rem}
.note{color:#666;font-size:.85rem}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CAPTIONS = {
    "allocation": "Allocated GPUs (blue) against capacity (dashed); pending pods on the right axis.",
    "queues": "Each queue's allocated GPUs (solid), the fair share the scheduler computed (dashed) and its demand (dotted).",
    "delay_cdf": "Fraction of started jobs whose queueing delay (submit to first start of the whole gang) is at most x.",
    "occupancy": "Used share of every GPU of every node at a few instants spread over the run.",
}


def render_html(log: SimLog, summary: dict, images: dict[str, bytes]) -> str:
    """A self-contained page: headline numbers, tables and the figures as base64 PNG."""
    from gpuplane.sim.figures import FIGURES

    s = summary
    lat = s.get("decision_latency") or {}
    cards = [
        ("mean GPU allocation", f"{fmt_num(s['gpu_allocation_mean'])} / {s['gpus']} ({fmt_pct(s.get('gpu_allocation_ratio_mean'))})"),
        ("utilization", fmt_pct(s.get("utilization"))),
        ("queueing delay mean / p99", f"{fmt_duration(s['queueing_delay_s']['mean'])} / {fmt_duration(s['queueing_delay_s']['p99'])}"),
        ("JCT mean / p99", f"{fmt_duration(s['jct_s']['mean'])} / {fmt_duration(s['jct_s']['p99'])}"),
        ("Jain's fairness", f"{s['jain_fairness']:.3f}"),
        ("cycle latency p50 / p99", f"{lat.get('p50_ms', 0.0):.1f} / {lat.get('p99_ms', 0.0):.1f} ms"),
        ("pods completed", f"{fmt_num(s['pods_completed'])} of {fmt_num(s['pods_submitted'])}"),
    ]
    card_html = "".join(f'<div class="card"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>' for k, v in cards)
    queue_rows = [
        [name, fmt_num(q["jobs_submitted"]), fmt_num(q["jobs_completed"]), fmt_num(q["allocated_gpu_mean"]),
         fmt_num(q["fair_share_gpu_mean"]), fmt_num(q.get("requested_gpu_mean")), fmt_pct(q.get("share_ratio")),
         fmt_duration(q["queueing_delay_s"]["mean"]), fmt_duration(q["queueing_delay_s"]["p50"]),
         fmt_duration(q["queueing_delay_s"]["p99"]), fmt_duration(q["jct_s"]["mean"])]
        for name, q in s.get("queues", {}).items()
    ]
    dist_rows = []
    for label, key, fmt in [("queueing delay", "queueing_delay_s", fmt_duration), ("JCT", "jct_s", fmt_duration),
                            ("bounded slowdown", "bounded_slowdown", lambda v: f"{v:.2f}")]:
        d = s.get(key) or {}
        dist_rows.append([label, fmt_num(d.get("count", 0))] + [fmt(d.get(k, 0.0)) for k in ("mean", "p50", "p95", "p99", "max")])
    kind_rows = [[kind, fmt_num(k["jobs_submitted"]), fmt_duration(k["queueing_delay_s"]["mean"]),
                  fmt_duration(k["queueing_delay_s"]["p99"]), fmt_duration(k["jct_s"]["mean"])]
                 for kind, k in s.get("kinds", {}).items()]
    figures = "".join(
        f'<h2>{html.escape(title)}</h2><figure><img alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{base64.b64encode(images[key]).decode("ascii")}">'
        f"<figcaption>{html.escape(_CAPTIONS[key])}</figcaption></figure>"
        for key, (title, _) in FIGURES.items() if key in images
    )
    subtitle = (f"policy {s.get('policy', '-')}, seed {s['seed']}, {fmt_num(s.get('nodes', 0))} nodes, "
                f"{fmt_num(s['gpus'])} GPUs, {fmt_duration(s['sim_seconds'])} simulated in {s['wall_seconds']:.1f} s")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gpuplane sim: {html.escape(str(s['scenario']))}</title>
<style>{_CSS}</style></head><body>
<h1>gpuplane sim: {html.escape(str(s['scenario']))}</h1>
<p class="sub">{html.escape(subtitle)}</p>
<div class="cards">{card_html}</div>
{figures}
<h2>Queues</h2>
{_table(["queue", "jobs", "done", "alloc GPUs", "fair share", "requested", "received/entitled", "delay mean", "delay p50", "delay p99", "JCT mean"], queue_rows)}
<h2>Delays and job completion</h2>
{_table(["", "jobs", "mean", "p50", "p95", "p99", "max"], dist_rows)}
{_table(["job kind", "jobs", "delay mean", "delay p99", "JCT mean"], kind_rows)}
<h2>Definitions</h2>
<p class="note">Means over time are time-weighted (a sample holds until the next). Queueing delay = first start of the
whole gang − submit; JCT = finish − submit; percentiles are nearest-rank; bounded slowdown = max(1, JCT / max(run time, 10 s)).
Utilization = ∫ allocated GPUs dt / (GPUs × busy window), busy window = first submit to last finish.
Jain's index is over queues with x = received GPU-time / entitled GPU-time, the entitlement being the fair share the
scheduler computed; queues with no entitlement are left out. All numbers are in <code>metrics.json</code>.</p>
</body></html>
"""


def write_report(out_dir: Path, log: SimLog, summary: dict) -> dict[str, Path]:
    """Write ``report.html`` (figures embedded) and ``metrics.json`` into ``out_dir``; return their paths."""
    from gpuplane.sim.figures import render_all  # matplotlib (Agg canvas) loads here, not at startup

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = write_metrics(out_dir / "metrics.json", summary)
    report = out_dir / "report.html"
    report.write_text(render_html(log, summary, render_all(log)), encoding="utf-8")
    return {"report": report, "metrics": metrics}

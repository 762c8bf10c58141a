"""The four report figures of a ``SimLog``, as PNG bytes (matplotlib, Agg backend, no pyplot).

Imported only when a report is written, so ``gpuplane`` starts without loading matplotlib.
Times on axes are hours of simulated time; long runs are drawn from time-weighted bucket means
(``MAX_POINTS`` per line), which keeps areas exact and large runs fast.
"""
from __future__ import annotations

import io
import math
from typing import Callable, Optional, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gpuplane.sim.log import OccupancyFrame, Sample, SimLog
from gpuplane.sim.metrics import queue_names, queueing_delay, run_end

MAX_POINTS = 2000
MAX_QUEUE_PANELS = 12
MAX_OCCUPANCY_FRAMES = 4
DPI = 110
HOUR = 3600.0


def png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


class Series:
    """The log's samples in time order as arrays, built once and shared by the figures."""

    def __init__(self, log: SimLog):
        ordered = sorted(log.samples, key=lambda s: s.t)
        self.end = max([run_end(log), *(s.t for s in ordered[-1:])])
        self.t = np.array([s.t for s in ordered], dtype=float)
        self.allocated = np.array([s.gpus_allocated for s in ordered], dtype=float)
        self.pending = np.array([s.pending_pods for s in ordered], dtype=float)
        self.fragmentation = np.array([s.fragmentation for s in ordered], dtype=float)
        self.queues = queue_names(log)
        self.queue: dict[str, dict[str, np.ndarray]] = {}
        for q in self.queues:
            self.queue[q] = {
                "allocated": np.array([s.queue_allocated.get(q, 0.0) for s in ordered], dtype=float),
                "fair_share": np.array([s.queue_fair_share.get(q, 0.0) for s in ordered], dtype=float),
                "requested": np.array([s.queue_requested.get(q, 0.0) for s in ordered], dtype=float),
            }

    def steps(self, values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
        """(hours, values) for a post-step plot ending at the run's end; bucketed means past ``max_points``."""
        return step_arrays(self.t, values, self.end, max_points)


def step_arrays(t: np.ndarray, v: np.ndarray, end: float,
                max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """Samples (sorted times ``t``, values ``v``) as a post-step line; time-weighted bucket means if long."""
    if len(t) == 0:
        return [0.0, end / HOUR], [0.0, 0.0]
    end = max(end, float(t[-1]))
    if len(t) <= max_points or end <= t[0]:
        return (np.append(t, end) / HOUR).tolist(), np.append(v, v[-1]).tolist()
    edges_t = np.append(t, end)
    cumulative = np.concatenate(([0.0], np.cumsum(v * np.diff(edges_t))))  # ∫ value dt at each sample time
    edges = np.linspace(t[0], end, max_points + 1)
    means = np.diff(np.interp(edges, edges_t, cumulative)) / np.diff(edges)  # exact: the integral is piecewise linear
    return (edges / HOUR).tolist(), means.tolist() + [float(means[-1])]


def step_series(samples: Sequence[Sample], end: float, value: Callable[[Sample], float],
                max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """(hours, values) of one per-sample value as a post-step line (see ``step_arrays``)."""
    ordered = sorted(samples, key=lambda s: s.t)
    t = np.array([s.t for s in ordered], dtype=float)
    return step_arrays(t, np.array([float(value(s)) for s in ordered]), end, max_points)


def allocation_timeline(log: SimLog, series: Optional[Series] = None) -> Figure:
    """Allocated GPUs against capacity, with pending pods on a second axis."""
    series = series or Series(log)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax = fig.add_subplot()
    hours, alloc = series.steps(series.allocated)
    handles = [ax.step(hours, alloc, where="post", color="tab:blue", lw=1.4, label="allocated GPUs")[0]]
    ax.fill_between(hours, alloc, step="post", color="tab:blue", alpha=0.2)
    if series.fragmentation.any():
        _, frag = series.steps(series.fragmentation)
        handles.append(ax.step(hours, frag, where="post", color="tab:orange", lw=1.0,
                               label="fragmented idle GPUs")[0])
    handles.append(ax.axhline(log.gpus, color="black", ls="--", lw=1.0, label=f"capacity ({log.gpus} GPUs)"))
    ax.set_ylim(0, max(log.gpus, max(alloc, default=0)) * 1.08 or 1)
    ax.set_xlim(hours[0], hours[-1] if hours[-1] > hours[0] else hours[0] + 1)
    ax.set_xlabel("simulated time (hours)")
    ax.set_ylabel("GPUs")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    _, pending = series.steps(series.pending)
    handles.append(ax2.step(hours, pending, where="post", color="tab:red", lw=0.9, alpha=0.8,
                            label="pending pods (right axis)")[0])
    ax2.set_ylabel("pending pods")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylim(0, max(pending, default=0) * 1.1 or 1)
    ax.set_title("GPU allocation over time")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(handles), frameon=False)
    return fig


def _top_queues(series: Series, limit: int) -> list[str]:
    if len(series.queues) <= limit:
        return series.queues
    weight = {q: float(v["fair_share"].sum() + v["allocated"].sum()) for q, v in series.queue.items()}
    return sorted(sorted(series.queues, key=lambda q: -weight[q])[:limit])


def queue_shares(log: SimLog, series: Optional[Series] = None) -> Figure:
    """One panel per queue: allocated GPUs (solid), fair share (dashed), demand (dotted)."""
    series = series or Series(log)
    queues = _top_queues(series, MAX_QUEUE_PANELS)
    if not queues:
        return _placeholder("Per-queue allocation vs fair share", "no queues in this run")
    ncols = min(3, len(queues))
    nrows = math.ceil(len(queues) / ncols)
    fig = Figure(figsize=(11, 0.6 + 2.3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    handles = []
    for i, q in enumerate(queues):
        ax = axes[i // ncols][i % ncols]
        hours, alloc = series.steps(series.queue[q]["allocated"])
        _, fair = series.steps(series.queue[q]["fair_share"])
        _, want = series.steps(series.queue[q]["requested"])
        h1 = ax.step(hours, alloc, where="post", color="tab:blue", lw=1.3, label="allocated")[0]
        h2 = ax.step(hours, fair, where="post", color="black", ls="--", lw=1.1, label="fair share")[0]
        h3 = ax.step(hours, want, where="post", color="tab:gray", ls=":", lw=1.0, label="requested")[0]
        ax.fill_between(hours, alloc, step="post", color="tab:blue", alpha=0.15)
        handles = [h1, h2, h3]
        ax.set_title(q, fontsize=10)
        # scale to allocation and fair share (the comparison that matters); a far larger demand is clipped
        top = max(max(alloc, default=0.0), max(fair, default=0.0)) * 1.3 or 1.0
        peak = max(want, default=0.0)
        if peak > top * 1.5:
            ax.text(0.99, 0.96, f"requested peaks at {peak:,.0f} GPUs (clipped)", transform=ax.transAxes,
                    ha="right", va="top", fontsize=7.5, color="dimgray")
        else:
            top = max(top, peak * 1.1)
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel("GPUs")
        if i // ncols == nrows - 1 or i + ncols >= len(queues):
            ax.set_xlabel("simulated time (hours)")
            ax.tick_params(labelbottom=True)
    for j in range(len(queues), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    title = "Per-queue GPU allocation vs fair share"
    if len(queues) < len(series.queues):
        title += f" ({len(queues)} largest of {len(series.queues)} queues)"
    fig.suptitle(title)
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


def _cdf(values: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """Points of the empirical CDF; for long lists an evenly spaced subset of its steps (last kept)."""
    ordered = sorted(values)
    n = len(ordered)
    ranks = range(n) if n <= max_points else sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
    return [ordered[i] for i in ranks], [(i + 1) / n for i in ranks]


_TIME_TICKS = [(1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"),
               (86400, "1 d"), (7 * 86400, "1 wk"), (30 * 86400, "30 d"), (365 * 86400, "1 y")]


def _delay_unit(max_s: float) -> tuple[str, float]:
    if max_s < 120:
        return "s", 1.0
    if max_s < 2 * HOUR:
        return "minutes", 60.0
    return "hours", HOUR


def delay_cdf(log: SimLog, series: Optional[Series] = None) -> Figure:
    """CDF of queueing delay, all jobs and per queue; log time axis when delays span decades."""
    by_queue: dict[str, list[float]] = {}
    for job in log.jobs.values():
        d = queueing_delay(job)
        if d is not None:
            by_queue.setdefault(job.queue, []).append(max(0.0, d))
    every = [d for ds in by_queue.values() for d in ds]
    if not every:
        return _placeholder("Queueing delay CDF", "no job started in this run")
    positive = sorted(d for d in every if d > 0)
    floor = 1.0  # seconds: the log axis draws smaller delays (including 0) at this value
    use_log = bool(positive) and max(every) / max(positive[len(positive) // 2], floor) > 50
    unit, scale = ("s", 1.0) if use_log else _delay_unit(max(every))
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.add_subplot()

    def xs(values: list[float]) -> list[float]:
        return [(max(v, floor) if use_log else v) / scale for v in values]

    shown = sorted(by_queue, key=lambda q: -len(by_queue[q]))[:MAX_QUEUE_PANELS]
    palette = colormaps["tab10" if len(shown) <= 10 else "tab20"].colors
    for i, q in enumerate(sorted(shown)):
        x, y = _cdf(by_queue[q])
        ax.step(xs(x), y, where="post", lw=1.1, color=palette[i % len(palette)], alpha=0.85,
                label=f"{q} ({len(by_queue[q])} jobs)")
    x, y = _cdf(every)
    ax.step(xs(x), y, where="post", lw=2.4, color="black", label=f"all queues ({len(every)} jobs)")
    if use_log:
        ax.set_xscale("log")
        top = max(every)
        ticks = [(v, label) for v, label in _TIME_TICKS if v <= top * 1.5] or _TIME_TICKS[:1]
        ax.set_xticks([v for v, _ in ticks], labels=[label for _, label in ticks])
        ax.set_xlim(floor * 0.8, max(top * 1.3, floor * 10))
        ax.set_xlabel("queueing delay (log scale; delays under 1 s drawn at 1 s)")
    else:
        ax.set_xlabel(f"queueing delay ({unit})")
        ax.set_xlim(left=0)
    ax.set_ylabel("fraction of started jobs")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    title = "Queueing delay CDF (submit to first start)"
    if len(shown) < len(by_queue):
        title += f"; {len(shown)} largest of {len(by_queue)} queues"
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    return fig


def pick_frames(frames: Sequence[OccupancyFrame], count: int = MAX_OCCUPANCY_FRAMES) -> list[OccupancyFrame]:
    """Up to ``count`` frames spread evenly over the run (first and last included)."""
    ordered = sorted(frames, key=lambda f: f.t)
    busy = [f for f in ordered if any(u for row in f.used for u in row)]
    if len(busy) >= count:  # an empty cluster at t=0 or after the last job says nothing
        ordered = busy
    if len(ordered) <= count:
        return ordered
    idx = sorted({round(i * (len(ordered) - 1) / (count - 1)) for i in range(count)})
    return [ordered[i] for i in idx]


def occupancy_map(log: SimLog, series: Optional[Series] = None) -> Figure:
    """Heatmaps nodes x GPUs of the used share of each GPU at a few instants."""
    frames = pick_frames(log.occupancy)
    if not frames:
        return _placeholder("Node / GPU occupancy map", "no occupancy frames recorded in this run")
    nodes = max(len(f.nodes) for f in frames)
    width = max((len(row) for f in frames for row in f.used), default=1) or 1
    height = min(9.0, max(3.2, 1.4 + 0.16 * nodes))
    fig = Figure(figsize=(min(12.0, 2.0 + 2.6 * len(frames)), height), layout="constrained")
    axes = fig.subplots(1, len(frames), squeeze=False)[0]
    cmap = colormaps["viridis"].with_extremes(bad="#dddddd")
    image = None
    for k, (ax, frame) in enumerate(zip(axes, frames)):
        grid = np.full((max(1, len(frame.nodes)), width), np.nan)
        for i, row in enumerate(frame.used):
            grid[i, : len(row)] = row
        image = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap=cmap, vmin=0.0, vmax=1.0)
        used = float(np.nansum(grid))
        ax.set_title(f"t = {frame.t / HOUR:.1f} h\n{used:.0f} of {int(np.sum(~np.isnan(grid)))} GPUs used", fontsize=9)
        ax.set_xlabel("GPU index")
        if len(frame.nodes) <= 40 and width <= 16:  # cell borders keep small maps readable
            ax.set_xticks([g - 0.5 for g in range(1, width)], minor=True)
            ax.set_yticks([n - 0.5 for n in range(1, len(frame.nodes))], minor=True)
            ax.grid(which="minor", color="white", lw=0.6)
            ax.tick_params(which="minor", length=0)
        ax.set_xticks(range(width) if width <= 16 else range(0, width, max(1, width // 8)))
        if k == 0:
            if len(frame.nodes) <= 30:
                ax.set_yticks(range(len(frame.nodes)), labels=frame.nodes, fontsize=7)
                ax.set_ylabel("node")
            else:
                ax.set_ylabel(f"node (index of {len(frame.nodes)})")
        else:
            ax.set_yticks([])
    ragged = any(len(row) < width for f in frames for row in f.used)
    fig.suptitle("Node / GPU occupancy (share of each GPU in use" + ("; grey = node has no such GPU)" if ragged else ")"))
    fig.colorbar(image, ax=list(axes), shrink=0.9, label="used share of the GPU")
    return fig


def _placeholder(title: str, message: str) -> Figure:
    fig = Figure(figsize=(8, 2.2), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="dimgray", transform=ax.transAxes)
    return fig


FIGURES: dict[str, tuple[str, Callable[[SimLog, Optional[Series]], Figure]]] = {
    "allocation": ("GPU allocation timeline", allocation_timeline),
    "queues": ("Per-queue allocation vs fair share", queue_shares),
    "delay_cdf": ("Queueing delay CDF", delay_cdf),
    "occupancy": ("Node / GPU occupancy map", occupancy_map),
}


def render_all(log: SimLog, only: Optional[Sequence[str]] = None) -> dict[str, bytes]:
    """PNG bytes of every figure, keyed as in ``FIGURES``."""
    series = Series(log)
    return {key: png(make(log, series)) for key, (_, make) in FIGURES.items() if only is None or key in only}

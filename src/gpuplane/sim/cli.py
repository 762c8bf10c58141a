"""``gpuplane sim`` (registered in ``gpuplane.cli.main``; contract in shared/spec/cli-contracts.md).

    gpuplane sim [SCENARIO.yaml] [--out DIR] [--seed N] [--quiet]

Runs the scenario (the built-in default without one) with a progress bar, prints the summary
and writes ``DIR/report.html`` and ``DIR/metrics.json`` (DIR: ``./gpuplane-report``).
Exit codes: 0 done, 2 invalid scenario (the message names the field) or a run that cannot start.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import click

__all__ = ["sim_command"]


def _fail(message: str) -> Any:
    from ..cli.main import fail

    fail(message, 2)


@click.command("sim")
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="gpuplane-report", show_default=True, help="Where report.html and metrics.json go.")
@click.option("--seed", type=int, default=None, help="Workload seed (default: the scenario's).")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def sim_command(scenario_file: Optional[str], out_dir: str, seed: Optional[int], quiet: bool) -> None:
    """Simulate a GPU cluster: workload in, scheduler decisions, metrics and a report out."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .engine import SimulationError, simulate
    from .metrics import summarize
    from .report import print_summary, write_report
    from .scenario import ScenarioError, default_scenario, load_scenario

    try:
        scenario = load_scenario(scenario_file) if scenario_file else default_scenario()
    except ScenarioError as err:
        _fail(f"scenario {scenario_file or '(default)'}: {err}")
    run_seed = scenario.seed if seed is None else seed
    console = Console(stderr=False)
    try:
        if quiet:
            log = simulate(scenario, run_seed)
        else:
            with Progress(TextColumn("[bold]simulating[/] {task.fields[name]}"), BarColumn(),
                          TextColumn("{task.fields[clock]}"), TimeElapsedColumn(), console=Console(stderr=True),
                          transient=True) as bar:
                task = bar.add_task("sim", total=1.0, name=scenario.name, clock="")

                def progress(now: float, horizon: float) -> None:
                    done = min(1.0, now / horizon) if horizon > 0 else 1.0
                    bar.update(task, completed=done, clock=f"t={now / 3600:.2f} h")

                log = simulate(scenario, run_seed, progress)
    except (ScenarioError, SimulationError) as err:
        _fail(f"scenario {scenario_file or '(default)'}: {err}")
    summary = summarize(log)
    try:
        paths = write_report(Path(out_dir), log, summary)
    except OSError as err:
        _fail(f"--out {out_dir}: cannot write: {err.strerror}")
    if not quiet:
        print_summary(summary, log, console)
        for name, path in sorted(paths.items()):
            console.print(f"{name}: {path}")
    sys.stdout.flush()

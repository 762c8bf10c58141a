"""``gpuplane schedule`` and ``gpuplane explain`` (click commands; registered in ``gpuplane.cli.main``).

    gpuplane schedule -f FILE... [--rounds N] [--config FILE] [--scheduler-name NAME] [--now TIME] [-o yaml|json]
    gpuplane explain POD -f FILE... [--rounds N] [--config FILE] [--scheduler-name NAME] [--now TIME] [-o text|json]

Exit codes: ``schedule``: 0 (even with pods left pending), 2 invalid input. ``explain``: 0 when
the pod is pending and explained, 1 when it is not pending or not found (stderr says which), 2
invalid input.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Optional

import click


def fail(message: str, code: int = 2) -> Any:
    from ..cli.main import fail as _fail  # imported late: gpuplane.cli.main registers these commands

    _fail(message, code)


EXIT_NO_SOLUTION, EXIT_INVALID = 1, 2
__all__ = ["schedule_command", "explain_command"]

VALIDATED = ("Node", "Namespace", "DeviceClass", "ResourceSlice", "ResourceClaim", "ResourceClaimTemplate")


def _parse_now(now: Optional[str]) -> Optional[str]:
    if now is None:
        return None
    text = now.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        fail(f"--now: invalid RFC3339 time {now!r} (for example 2026-01-02T15:04:05Z)")
    if parsed.tzinfo is None or "T" not in text.upper():
        fail(f"--now: invalid RFC3339 time {now!r}: needs a date, a time and a time zone (for example 2026-01-02T15:04:05Z)")
    return text


def _run(files: tuple[str, ...], rounds: int, config_path: Optional[str], scheduler_name: str,
         now: Optional[str]) -> Any:
    from ..api.errors import InputError
    from ..cli.main import load_inputs, validate_objects
    from .config import ConfigError, load_config
    from .cycle import run_rounds
    from .snapshot import USED_KINDS, build_snapshot

    try:
        config = load_config(config_path)
    except ConfigError as err:
        fail(f"--config: {err}")
    now_text = _parse_now(now)
    objects = load_inputs(files)
    for kind in sorted({str(o.get("kind")) for o in objects if o.get("kind") not in USED_KINDS}):
        click.echo(f"warning: ignoring objects of kind {kind} (schedule uses {', '.join(USED_KINDS)})", err=True)
    try:
        validate_objects([o for o in objects if o.get("kind") in VALIDATED])
        snap = build_snapshot([o for o in objects if o.get("kind") in USED_KINDS], scheduler_name)
    except InputError as err:
        fail(str(err))
    return run_rounds(snap, rounds, config, now_text)


def _common(f: Any) -> Any:
    f = click.option("--now", default=None, help="The time, RFC3339 (default: the wall clock).")(f)
    f = click.option("--scheduler-name", default="gpuplane", show_default=True, help="Schedule pods with this spec.schedulerName.")(f)
    f = click.option("--config", "config_path", default=None, help="Scheduler configuration (SchedulingShard fields), YAML.")(f)
    f = click.option("--rounds", type=click.IntRange(min=0), default=1, show_default=True, help="Scheduling cycles to run.")(f)
    f = click.option("-f", "--filename", "files", multiple=True, required=True, help="YAML/JSON file or directory (repeatable).")(f)
    return f


@click.command("schedule")
@_common
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def schedule_command(files: tuple[str, ...], rounds: int, config_path: Optional[str], scheduler_name: str,
                     now: Optional[str], output: str) -> None:
    """What the scheduler would do with a cluster snapshot: every Pod, ResourceClaim, PodGroup and Queue after the last round."""
    from ..cli.main import dump_objects
    from .output import result_objects

    result = _run(files, rounds, config_path, scheduler_name, now)
    click.echo(dump_objects(result_objects(result), output), nl=False)


@click.command("explain")
@click.argument("pod")
@_common
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain_command(pod: str, files: tuple[str, ...], rounds: int, config_path: Optional[str], scheduler_name: str,
                    now: Optional[str], output: str) -> None:
    """Why POD (NAME or NAMESPACE/NAME) is pending: queue limits and quotas, gang shortfall, node filters."""
    from .explain import ExplainError, explain_pod, format_explanation

    result = _run(files, rounds, config_path, scheduler_name, now)
    try:
        ex = explain_pod(result, pod)
    except ExplainError as err:
        fail(str(err), EXIT_INVALID if err.code == 2 else EXIT_NO_SOLUTION)
    if output == "json":
        click.echo(json.dumps(ex, indent=2))
    else:
        click.echo(format_explanation(ex), nl=False)

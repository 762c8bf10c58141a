"""The ``gpuplane`` command line (contracts in shared/spec/cli-contracts.md).

Exit codes: 0 success, 1 no solution (reason on stderr), 2 invalid input or evaluation
error (stderr names the object, the field and the problem). Bad input never shows a
Python traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn, Optional

import click
import yaml

from gpuplane import __version__

EXIT_OK, EXIT_NO_SOLUTION, EXIT_INVALID = 0, 1, 2


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class _Dumper(yaml.CSafeDumper):  # type: ignore[misc]
    """Block-style YAML with multi-line strings kept readable."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_objects(objects: list[dict[str, Any]], output: str) -> str:
    """YAML documents separated by ``---``, or one JSON v1 List."""
    if output == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n"
    if not objects:
        return ""
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True, width=1 << 16)


def validate_objects(objects: list[dict[str, Any]], consumable_capacity: bool = True) -> None:
    """Validate every object as the API server would (CEL selectors included); report all problems."""
    from gpuplane.api.errors import ValidationFailed
    from gpuplane.api.validation import decode_and_validate
    from gpuplane.cel.validation import selector_errors

    errors = []
    for obj in objects:
        try:
            typed = decode_and_validate(obj)
        except ValidationFailed as err:
            errors.extend(err.errors)
            continue
        errors.extend(selector_errors(typed, consumable_capacity))
    if errors:
        raise ValidationFailed(errors)


def load_inputs(files: tuple[str, ...]) -> list[dict[str, Any]]:
    """Load, convert to v1 and default every object; exit 2 on any problem."""
    from gpuplane.api.convert import to_v1
    from gpuplane.api.defaults import apply_defaults
    from gpuplane.api.errors import InputError
    from gpuplane.api.loader import load_paths

    try:
        objects = load_paths(list(files))
        return [apply_defaults(to_v1(obj)) for obj in objects]
    except InputError as err:
        fail(str(err))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpuplane")
def cli() -> None:
    """gpuplane: DRA allocation, AI scheduling and a simulated GPU cluster."""


@cli.command()
@click.option("--node", "node_name", required=True, help="Node to allocate on.")
@click.option("-f", "--filename", "files", multiple=True, required=True, help="YAML/JSON file or directory (repeatable).")
@click.option("--feature-gates", default=None, help="Kubernetes DRA gates, NAME=BOOL,... (defaults: Kubernetes 1.37).")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Give up after this many seconds (0: never).")
def allocate(node_name: str, files: tuple[str, ...], feature_gates: Optional[str], output: str, timeout: float) -> None:
    """Allocate one pod's ResourceClaims on one node, as kube-scheduler would."""
    from gpuplane.api.errors import InputError
    from gpuplane.dra.explain import explain_unsatisfiable
    from gpuplane.dra.features import FeatureGateError, Features, parse_feature_gates
    from gpuplane.dra.session import USED_KINDS, build_input, run_allocation

    try:
        features = Features.from_gates(parse_feature_gates(feature_gates))
    except FeatureGateError as err:
        fail(f"--feature-gates: {err}")
    if features.list_type_attributes:
        fail("--feature-gates: DRAListTypeAttributes (alpha) is not supported by gpuplane yet")
    if features.upstream_variant == "stable":
        click.echo(
            "warning: with DRAConsumableCapacity and DRADeviceBindingConditions/DRAResourceClaimDeviceStatus off, "
            "kube-scheduler 1.37 uses its older 'stable' allocator (pool order not deterministic, no distinctAttribute); "
            "gpuplane applies the 1.37 allocator with these gates off",
            err=True,
        )
    objects = load_inputs(files)
    used = [o for o in objects if o.get("kind") in USED_KINDS]
    try:
        validate_objects(used, features.consumable_capacity)
        inp = build_input(used, node_name)
    except InputError as err:
        fail(str(err))
    for kind in sorted({str(o.get("kind")) for o in objects if o.get("kind") not in USED_KINDS}):
        click.echo(f"warning: ignoring objects of kind {kind} (allocate uses {', '.join(USED_KINDS)})", err=True)
    if not inp.node_found:
        click.echo(f"warning: Node {node_name} is not in the input; using a node with that name and no labels", err=True)
    if not inp.pending:
        click.echo("warning: no ResourceClaim without status.allocation: nothing to allocate", err=True)
    outcome = run_allocation(inp, features, timeout or None)
    if outcome.status == "error":
        fail(outcome.error)
    if outcome.status == "unsat":
        reason = explain_unsatisfiable(inp, features)
        if outcome.error:
            reason = f"{outcome.error}\n{reason}"
        fail(f"no allocation on node {node_name}: {reason}", EXIT_NO_SOLUTION)
    click.echo(dump_objects(outcome.claims, output), nl=False)


@cli.group()
def bench() -> None:
    """Benchmarks with published reference figures."""


def _register_commands() -> None:
    from gpuplane.scheduler.cli import explain_command, schedule_command
    from gpuplane.sim.cli import sim_command
    from gpuplane.sim.openb.cli import openb_command
    from gpuplane.sim.philly import philly_command

    cli.add_command(schedule_command)
    cli.add_command(explain_command)
    bench.add_command(openb_command)
    bench.add_command(philly_command)
    cli.add_command(sim_command)


_register_commands()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

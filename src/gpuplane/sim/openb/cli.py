"""``gpuplane bench openb``: the GPU-sharing fragmentation benchmark (contract in
shared/spec/cli-contracts.md). The click command object is :data:`openb_command`; the main CLI
registers it under ``bench``."""

from __future__ import annotations

import json
import sys
from typing import NoReturn, Optional

import click

from gpuplane.sim.openb.engine import ALLOC_LEVELS, FRAG_LEVELS, POLICIES, Result, run
from gpuplane.sim.openb.trace import TraceError, load_nodes, load_pods

EXIT_INVALID = 2


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_INVALID)


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:6.2f}%"


def render_table(r: Result) -> str:
    lines = [
        f"OpenB fragmentation benchmark: policy {r.policy}, seed {r.seed}, tune {r.tune}",
        f"cluster: {r.nodes} nodes, {r.gpus} GPUs; pods arrived {r.pods_arrived}, failed {r.pods_failed}; "
        f"arrived GPU demand {r.arrived_gpu_pct:.2f}% of capacity; {r.seconds:.2f} s",
        "",
        f"{'arrived demand':>16}  {'GPU allocation':>14}  {'fragmented GPU':>14}",
    ]
    for lv in sorted(set(ALLOC_LEVELS) | set(FRAG_LEVELS)):
        a = r.allocation_ratio.get(str(lv)) if lv in ALLOC_LEVELS else None
        f = r.fragmentation_amount.get(str(lv)) if lv in FRAG_LEVELS else None
        lines.append(f"{lv:>15}%  {_fmt(a):>14}  {_fmt(f):>14}")
    lines.append("")
    lines.append("GPU allocation / fragmented GPU: % of cluster GPU capacity when the arrived GPU demand "
                 "first reaches the level (FGD fragmentation measure).")
    return "\n".join(lines) + "\n"


@click.command("openb", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--nodes", "nodes_csv", required=True, metavar="NODE_CSV",
              help="Node list, e.g. shared/traces/openb/openb_node_list_gpu_node.csv.")
@click.option("--pods", "pods_csv", required=True, metavar="POD_CSV",
              help="Pod list, e.g. shared/traces/openb/openb_pod_list_default.csv.")
@click.option("--policy", type=click.Choice(POLICIES), default="default", show_default=True,
              help="Scoring policy (`default` runs the gpuplane scheduler's own GPU scoring, strategy fgd).")
@click.option("--seed", type=int, default=42, show_default=True, help="Shuffle/sampling/tie-break seed.")
@click.option("--tune", type=float, default=1.3, show_default=True,
              help="Arrived GPU demand at the end, as a multiple of cluster GPU capacity.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def openb_command(nodes_csv: str, pods_csv: str, policy: str, seed: int, tune: float, output: str) -> None:
    """Replay the OpenB trace under a placement policy and report GPU allocation and
    fragmentation at 90/100/110/130 % arrived GPU demand (FGD, Weng et al. ATC'23)."""
    if not (tune > 0) or tune > 100:
        _fail(f"--tune: {tune} must be > 0 (and at most 100)")
    try:
        nodes = load_nodes(nodes_csv)
        pods = load_pods(pods_csv)
    except TraceError as err:
        _fail(str(err))
    if not any(n.gpu for n in nodes):
        _fail(f"{nodes_csv}: no node has GPUs; the benchmark needs GPU nodes")
    if not any(p.num_gpu for p in pods):
        _fail(f"{pods_csv}: no pod requests GPUs; the benchmark needs GPU pods")
    result = run(nodes, pods, policy=policy, seed=seed, tune=tune)
    if output == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(render_table(result), nl=False)


if __name__ == "__main__":  # pragma: no cover
    openb_command()

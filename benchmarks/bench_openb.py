"""OpenB / FGD fragmentation benchmark: all policies, seeds 42-51, beside the published means.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_openb.py [--trace openb_pod_list_default]
        [--seeds 42-51] [--policies fgd,bestfit,...] [--tune 1.3] [--json OUT] [--check]

Published figures: shared/traces/fgd-expected/fgd_summary_tables.txt (means over seeds 42-51 of
the authors' artifact). ``--check`` exits 1 when FGD or BestFit allocation at 100% arrival is
more than 0.5 points from the published mean.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gpuplane.sim.openb import load_nodes, load_pods, run  # noqa: E402
from gpuplane.sim.openb.published import find_shared, published  # noqa: E402

ORDER = ("random", "dotprod", "clustering", "packing", "bestfit", "fgd")
ALLOC = (90, 100, 110, 130)
FRAG = (90, 100, 130)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="openb_pod_list_default")
    ap.add_argument("--nodes", default="openb_node_list_gpu_node")
    ap.add_argument("--seeds", default="42-51")
    ap.add_argument("--policies", default=",".join(ORDER))
    ap.add_argument("--tune", type=float, default=1.3)
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    shared = find_shared(Path(__file__).resolve().parent)
    if shared is None:
        print("shared/traces/openb not found (set GPUPLANE_SHARED)", file=sys.stderr)
        return 2
    nodes = load_nodes(shared / "traces" / "openb" / f"{args.nodes}.csv")
    pods = load_pods(shared / "traces" / "openb" / f"{args.trace}.csv")
    pub = published(shared, args.trace)
    seeds = _seeds(args.seeds)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]

    print(f"OpenB {args.trace}: {len(nodes)} nodes, {sum(n.gpu for n in nodes)} GPUs, {len(pods)} pods; "
          f"tune {args.tune}; seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    print("ours = mean over seeds (sd); pub = artifact mean over seeds 42-51; values in % of GPU capacity\n")
    head = f"{'policy':<11}" + "".join(f"{'alloc@' + str(a):>20}" for a in ALLOC) + "".join(
        f"{'frag@' + str(a):>20}" for a in FRAG) + f"{'s/seed':>8}"
    print(head)
    print("-" * len(head))
    report = {}
    bad = []
    for pol in policies:
        t0 = time.perf_counter()
        runs = [run(nodes, pods, pol, seed=s, tune=args.tune) for s in seeds]
        per_seed = (time.perf_counter() - t0) / len(seeds)
        row = {"seconds_per_seed": per_seed, "allocation_ratio": {}, "fragmentation_amount": {}}
        cells = []
        for block, levels in (("allocation_ratio", ALLOC), ("fragmentation_amount", FRAG)):
            for lv in levels:
                vals = [getattr(r, block)[str(lv)] for r in runs]
                vals = [v for v in vals if v is not None]
                mean = statistics.mean(vals) if vals else float("nan")
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                ref = pub.get(pol, {}).get(block, {}).get(lv)
                row[block][str(lv)] = {"mean": mean, "sd": sd, "published": ref, "per_seed": vals}
                cells.append(f"{mean:6.2f}({sd:.2f}) {('%6.2f' % ref) if ref is not None else '   n/a':>6}")
                if args.check and pol in ("fgd", "bestfit") and block == "allocation_ratio" and lv == 100:
                    if ref is None or abs(mean - ref) > 0.5:
                        bad.append(f"{pol} alloc@100 {mean:.2f} vs published {ref}")
        report[pol] = row
        print(f"{pol:<11}" + "".join(f"{c:>20}" for c in cells) + f"{per_seed:8.2f}", flush=True)
    print("\n(each cell: ours(sd) published)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"trace": args.trace, "seeds": seeds, "tune": args.tune,
                                                   "policies": report}, indent=2))
    if bad:
        print("CHECK FAILED: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

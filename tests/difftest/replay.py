"""Replay one differential-test seed: print the case and both outcomes.

    python -m tests.difftest.replay SEED [--json] [--objects-only]

Prints the case as YAML (node, gates, objects), the oracle's answer, gpuplane's
outcome and the comparison result. ``--json`` prints the oracle case as one JSON
line instead of YAML (feed it to ``.cache/oracle/oracle`` directly).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
for p in (REPO_ROOT, REPO_ROOT / "src"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import yaml  # noqa: E402

from tests.difftest.compare import compare, describe, normalize, run_gpuplane  # noqa: E402
from tests.difftest.generator import case_tags, make_case  # noqa: E402
from tests.difftest.oracle_client import Oracle  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("seed", type=int)
    ap.add_argument("--json", action="store_true", help="print the case as one JSON line")
    ap.add_argument("--objects-only", action="store_true", help="print only the case, do not run anything")
    args = ap.parse_args(argv)

    case = make_case(args.seed)
    if args.json:
        print(json.dumps(case, separators=(",", ":")))
    else:
        print(f"# seed {args.seed}: node {case['node']}")
        off = sorted(g for g, on in case["features"].items() if not on)
        print(f"# gates off: {', '.join(off)}")
        print(f"# tags: {', '.join(sorted(case_tags(case)))}")
        print(yaml.safe_dump_all(case["objects"], sort_keys=False, width=200), end="")
    if args.objects_only:
        return 0

    with Oracle() as oracle:
        answer = oracle.run([case])[0]
    outcome = run_gpuplane(case)
    print("---\n# oracle:")
    print(json.dumps(answer, indent=1))
    print("# gpuplane:")
    if isinstance(outcome, BaseException):
        import traceback

        print("".join(traceback.format_exception(outcome)))
    else:
        print(json.dumps({"status": outcome.status, "error": outcome.error, "allocations": outcome.allocations}, indent=1, default=str))
    mismatch = compare(answer, outcome)
    print("# comparison:", "equal" if mismatch is None else "")
    if mismatch is not None:
        print(describe(mismatch))
    else:
        print(json.dumps(normalize(answer))[:300])
    return 0 if mismatch is None else 1


if __name__ == "__main__":
    sys.exit(main())

"""Published per-policy means of the FGD artifact (``shared/traces/fgd-expected/``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

# our policy name -> the artifact's policy label
ARTIFACT_POLICY = {
    "random": "01-Random",
    "dotprod": "02-DotProd",
    "clustering": "03-GpuClustering",
    "packing": "04-GpuPacking",
    "bestfit": "05-BestFit",
    "fgd": "06-FGD",
}

# block order in fgd_summary_tables.txt
BLOCKS = ("allocation_ratio", "fragmentation_amount", "fragmentation_ratio")


def find_shared(start: Optional[Path] = None) -> Optional[Path]:
    """The project's ``shared/`` folder: $GPUPLANE_SHARED, or a ``shared`` folder holding
    ``traces/openb`` next to the working directory, this file, or any of their parents."""
    env = os.environ.get("GPUPLANE_SHARED")
    if env and (Path(env) / "traces" / "openb").is_dir():
        return Path(env)
    seen = set()
    for base in (start or Path.cwd(), Path(__file__).resolve()):
        for d in (base, *base.parents):
            if d in seen:
                continue
            seen.add(d)
            cand = d / "shared"
            if (cand / "traces" / "openb").is_dir():
                return cand
    return None


def load_summary(path: Path) -> dict[tuple[str, str, str], dict[int, float]]:
    """{(block, workload, artifact policy): {arrived %: value}} from fgd_summary_tables.txt."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    block = -1
    cols: list[int] = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("=="):
            block += 1
            continue
        if line.startswith("workload,"):
            cols = [int(c) for c in line.split(",")[2:]]
            continue
        if block < 0 or block >= len(BLOCKS) or not cols:
            continue
        parts = line.split(",")
        if len(parts) != len(cols) + 2:
            continue
        out[(BLOCKS[block], parts[0], parts[1])] = {c: float(v) for c, v in zip(cols, parts[2:])}
    return out


def published(shared: Optional[Path] = None, workload: str = "openb_pod_list_default") -> dict[str, dict[str, dict[int, float]]]:
    """{policy: {block: {arrived %: value}}} for one trace, or {} when the files are absent."""
    shared = shared or find_shared()
    if shared is None:
        return {}
    path = shared / "traces" / "fgd-expected" / "fgd_summary_tables.txt"
    if not path.is_file():
        return {}
    table = load_summary(path)
    res: dict[str, dict[str, dict[int, float]]] = {}
    for ours, theirs in ARTIFACT_POLICY.items():
        res[ours] = {b: table[(b, workload, theirs)] for b in BLOCKS if (b, workload, theirs) in table}
    return res

"""Decode + validate throughput for ResourceSlices (JSON and YAML input).

Run: ``PYTHONPATH=src python benchmarks/bench_decode.py [--n 10000] [--yaml-n N] [--repeat 3]``

Generates N ResourceSlice objects (8 devices x 12 attributes + 2 capacities each, metadata
with an ownerReference; about 5 KB of JSON each, the shape of shared/reference/
python-libraries.md A6) and measures objects/s for

  (a) JSON bytes -> msgspec.json.decode -> decode_and_validate
  (b) YAML text (one multi-document stream) -> load_text -> decode_and_validate

with the cyclic GC on (objects are kept, as a real run keeps them) and off, plus the parts:
JSON -> dict, dict -> typed (msgspec.convert, i.e. decode()), and validate() alone.

A full run takes a few minutes, most of it generating and parsing 60 MB of YAML;
``--yaml-n 2000`` gives the same YAML rate in a fraction of the time.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import msgspec  # noqa: E402
import yaml  # noqa: E402

from gpuplane.api.loader import load_text  # noqa: E402
from gpuplane.api.validation import decode, decode_and_validate, validate  # noqa: E402

ANCHOR = "msgspec decode 31,508 obj/s GC off; 8,643 GC on (shared/reference/python-libraries.md A6)"


def make_slice(i: int) -> dict:
    node = f"node-{i // 4:05d}"
    devices = []
    for d in range(8):
        attributes = {
            "index": {"int": d},
            "minor": {"int": d},
            "uuid": {"string": f"GPU-{i:08x}-{d:04x}-4c2e-9a1b-7f3e2d1c0b{d:02d}"},
            "productName": {"string": "NVIDIA H100 80GB HBM3"},
            "brand": {"string": "Nvidia"},
            "architecture": {"string": "Hopper"},
            "cudaComputeCapability": {"version": "9.0.0"},
            "driverVersion": {"version": "550.54.15"},
            "cudaDriverVersion": {"version": "12.4.0"},
            "pcieBusID": {"string": f"0000:{d:02x}:00.0"},
            "type": {"string": "gpu"},
            "resource.kubernetes.io/pcieRoot": {"string": f"pci0000:{d // 2:02x}"},
        }
        capacity = {
            "memory": {"value": "80Gi"},
            "multiprocessors": {"value": "132"},
        }
        devices.append({"name": f"gpu-{d}", "attributes": attributes, "capacity": capacity})
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {
            "name": f"{node}-gpu.nvidia.com-{i % 4}",
            "uid": f"6a0e8a2c-{i:04x}-4f7e-9d0b-{i:012x}",
            "resourceVersion": str(100000 + i),
            "generation": 1,
            "creationTimestamp": "2026-05-01T10:00:00Z",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": node, "uid": f"0c1d2e3f-{i:04x}-4a5b-8c7d-{i:012x}", "controller": True}
            ],
        },
        "spec": {
            "driver": "gpu.nvidia.com",
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>9,.0f} obj/s"


def timed(fn, gc_on: bool, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        if gc_on:
            gc.enable()
        else:
            gc.disable()
        try:
            t0 = time.perf_counter()
            kept = fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
        del kept
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="ResourceSlices for the JSON run")
    parser.add_argument("--yaml-n", type=int, default=None, help="ResourceSlices for the YAML run (default: --n)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    n = args.n
    yaml_n = args.yaml_n if args.yaml_n is not None else n

    objs = [make_slice(i) for i in range(n)]
    blobs = [msgspec.json.encode(o) for o in objs]
    avg = sum(map(len, blobs)) / len(blobs)
    yaml_text = yaml.dump_all(objs[:yaml_n], Dumper=yaml.CSafeDumper, sort_keys=False)
    # Sanity: everything decodes and validates.
    for o in objs[:50]:
        decode_and_validate(o)

    def json_to_dict():
        return [msgspec.json.decode(b) for b in blobs]

    def dict_to_typed():
        return [decode(o) for o in objs]

    typed = [decode(o) for o in objs]

    def validate_only():
        out = []
        for t, o in zip(typed, objs):
            out.append(validate(t, o))
        return out

    def json_full():
        return [decode_and_validate(msgspec.json.decode(b)) for b in blobs]

    def yaml_full():
        return [decode_and_validate(o) for o in load_text(yaml_text, "bench.yaml")]

    def typed_json_decoder():
        # Reference point only: msgspec straight to the Struct, as in A6 (no validation).
        from gpuplane.api.models import ResourceSlice

        dec = msgspec.json.Decoder(ResourceSlice)
        return [dec.decode(b) for b in blobs]

    print(f"ResourceSlice: 8 devices x 12 attributes + 2 capacities, {avg:,.0f} JSON bytes each; {n:,} objects")
    print(f"anchor: {ANCHOR}")
    print(f"Python {sys.version.split()[0]}, msgspec {msgspec.__version__}, PyYAML {yaml.__version__} (libyaml {yaml.__with_libyaml__})")
    print()
    print(f"{'':56} {'GC on':>15} {'GC off':>15}")
    rows = [
        ("msgspec.json.Decoder(ResourceSlice) (A6 method)", typed_json_decoder, n),
        ("JSON bytes -> dict (msgspec.json.decode)", json_to_dict, n),
        ("dict -> typed (decode: msgspec.convert + defaults)", dict_to_typed, n),
        ("validate(typed, dict) only", validate_only, n),
        ("(a) JSON bytes -> decode_and_validate", json_full, n),
        (f"(b) YAML text -> load_text -> decode_and_validate [{yaml_n:,}]", yaml_full, yaml_n),
    ]
    for label, fn, count in rows:
        on = timed(fn, True, args.repeat if count == n else 1)
        off = timed(fn, False, args.repeat if count == n else 1)
        print(f"{label:56} {rate(count, on):>15} {rate(count, off):>15}")


if __name__ == "__main__":
    main()

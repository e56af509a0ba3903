"""Sweep speed: seconds per ResNet-18 design point, and a whole ResNet-18 sweep on the local pool.

    .venv/bin/python benchmarks/sweep_speed.py [--points 1000] [--workers 2]

1. Per point, one process, the model already imported (as in a pool worker): compile + run of
   ResNet-18 (batch 1, 1.8 GMACs) on the fast backend for a few array shapes and dataflows.
2. ``tpu.sweep.run`` of a ``--points``-point ResNet-18 spec (array shape × dataflow × unified
   buffer × DRAM bandwidth) into a fresh SQLite file on ``--workers`` processes: wall time, and
   the resident memory of the sweep process and its workers sampled as points finish (it
   should not grow with the number of points).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

import tpu
import tpu.sweep as sweep
from tpu.compiler import compile as compile_graph
from tpu.compiler import zoo

ROOT = Path(__file__).resolve().parent.parent

SHAPES = [(8, 8, "ws"), (16, 16, "os"), (32, 32, "ws"), (64, 64, "is"), (128, 128, "ws")]
AXES = {
    "array.rows": [8, 16, 32, 64, 128],
    "array.cols": [8, 16, 32, 64, 128],
    "array.dataflow": ["ws", "os"],
    "memory.unified_buffer_bytes": [262144, 1048576, 2097152, 4194304],
    "memory.dram_bytes_per_cycle": [4, 8, 16, 32, 64],
}


def per_point() -> list[tuple[str, float]]:
    graph = zoo.resnet18()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    base = tpu.load_config("edge-32")
    out = []
    for rows, cols, df in SHAPES:
        cfg = base.replace(rows=rows, cols=cols, dataflow=df)
        compile_graph(graph, cfg).run(x)  # warm caches (tech tables, imports)
        row = [f"{rows}x{cols} {df}"]
        for values in (True, False):  # a full run, and timing only (what a sweep point runs)
            times = []
            for _ in range(3):
                t, c = time.perf_counter(), time.process_time()
                compile_graph(graph, cfg).run(x, values=values)
                times.append((time.process_time() - c, time.perf_counter() - t))
            row += min(times)
        out.append(tuple(row))
    return out


def peer() -> None:
    """SCALE-Sim 3.0.0 on ResNet-18's GEMMs (as our compiler lowers them; SCALE-Sim's GEMM rows
    name,M,N,K) on a 32×32 ws array, beside our timing-only point on the same machine."""
    sys.path.insert(0, str(ROOT))
    from tests import scalesim_peer

    cfg_text = (ROOT / "tests/data/scalesim/scale3.cfg").read_text()
    cfg_text = cfg_text.replace("ArrayHeight:    8", "ArrayHeight:    32").replace(
        "ArrayWidth:     8", "ArrayWidth:     32")
    graph = zoo.resnet18()
    base = tpu.load_config("edge-32")
    layers = [ly for ly in compile_graph(graph, base).program(1).layers if ly.kind == "matmul"]
    topo = "Layer,M,N,K,\n" + "".join(f"{ly.name},{ly.m},{ly.n},{ly.k},\n" for ly in layers)
    t = time.perf_counter()
    rows = scalesim_peer.run(cfg_text, topo, gemm=True)
    peer_s = time.perf_counter() - t
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    t = time.perf_counter()
    compile_graph(graph, base).run(x, values=False)
    ours_s = time.perf_counter() - t
    print(f"\nResNet-18 on 32x32 ws, same run: SCALE-Sim 3.0.0 {peer_s:.1f} s "
          f"({len(rows)} GEMM layers, {sum(int(r['Total Cycles']) for r in rows):,} cycles); "
          f"tpu timing-only point {ours_s:.3f} s; load average {os.getloadavg()[0]:.1f}")


def spec_text() -> str:
    lines = ["[sweep]", 'workload = "resnet18"', 'base = "edge-32"', "", "[axes]"]
    lines += [f'"{key}" = {values!r}'.replace("'", '"') for key, values in AXES.items()]
    return "\n".join(lines) + "\n"


class Enough(Exception):
    """Stop a sweep after --points points (the spec has 1,000)."""


def rss_mib() -> float:
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--peer", action="store_true",
                    help="also time the real SCALE-Sim 3.0.0 (dev extra) on the same ResNet-18 point")
    args = ap.parse_args()

    print(f"ResNet-18 (batch 1) per design point, one process, model imported once "
          f"(best of 3), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}:")
    figures = per_point()
    print(f"  {'':<12} {'full run (values)':>24}   {'timing only (sweeps)':>24}")
    for name, cpu, wall, tcpu, twall in figures:
        print(f"  {name:<12} {cpu:7.3f} CPU s {wall:7.3f} wall s   {tcpu:7.3f} CPU s {twall:7.3f} wall s")
    print(f"  mean {statistics.mean(f[1] for f in figures):.3f} CPU s per point (full run), "
          f"{statistics.mean(f[3] for f in figures):.3f} (timing only)")
    if args.peer:
        peer()
    if args.points < 1:
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "resnet18.toml"
        spec_path.write_text(spec_text())
        spec = sweep.load_spec(spec_path)
        keep = min(args.points, spec.size)
        marks = {m for m in (10, 100, 300, keep) if m <= keep}
        samples = {}

        def progress(done, _total):
            if done in marks and done not in samples:
                samples[done] = rss_mib()
            if done >= keep:
                raise Enough

        outcome = sweep.Outcome()
        start = time.perf_counter()
        with contextlib.suppress(Enough):
            sweep.run(spec, Path(tmp) / "r.sqlite", workers=args.workers, progress=progress,
                      outcome=outcome)
        wall = time.perf_counter() - start
        print(f"\ntpu sweep of {keep:,} ResNet-18 points on {args.workers} worker processes: "
              f"{wall:.0f} s wall ({wall / keep:.3f} s per point, "
              f"{wall * args.workers / keep:.3f} core-seconds per point, worker start-up "
              f"included), {outcome.errors} error rows; load average {os.getloadavg()[0]:.1f}")
        print("  resident memory of the sweep and its workers after N points: "
              + ", ".join(f"{n:,}: {mib:,.0f} MiB" for n, mib in sorted(samples.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

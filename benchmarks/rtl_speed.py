"""Simulation speed of the whole machine, free-running: simulated cycles per second of the
Verilator and Icarus builds beside the cycle-level Python machine, and the Verilator build time.

Usage: python benchmarks/rtl_speed.py [SIZE ...]   (default 8 32; ws, int8, edge-32 memories)

The workload is one 3×3 convolution, 64 → 64 channels on 32×32 images (K = 576), its batch
chosen so the run takes about ``TARGET`` cycles: long MATMULs with the DMA, the matrix unit and
the activation unit all busy (Icarus: 16 → 16 channels on an 8×8 image). A simulator's
figure is the design's cycle count over the wall time of its run loop (reported by the
testbench: loading memories and process start-up excluded); the build time is measured on
the cache folder given (cold when it is empty). Icarus is measured only where ``iverilog`` is
installed, on a shorter run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import numpy as np

import tpu
from tpu.compiler import compile as compile_graph
from tpu.compiler.zoo import _Builder
from tpu.machine import MachineParams, assemble
from tpu.machine.model import Machine

TARGET = {"verilator": 1_000_000, "python": 20_000}


def workload(channels: int = 64, image: int = 32):
    g = _Builder(np.random.default_rng(0), (1, channels, image, image))
    return g.graph("conv", g.conv("x_q", channels, 3, 1))


def segment(config, batch: int, graph=None):
    program = compile_graph(graph or workload(), config).program(batch)
    image = assemble(program)
    seg = next(s for s in image.steps if hasattr(s, "streams"))
    return seg.words(), image.dram


def cycles_per_image(config) -> int:
    words, dram = segment(config, 1)
    return Machine(MachineParams.from_config(config)).run(words, dram.copy()).cycles


def measure(size: int, cache: str) -> dict:
    from tpu.machine.rtl import RtlMachine

    config = tpu.load_config().replace(rows=size, cols=size)
    params = MachineParams.from_config(config)
    per_image = cycles_per_image(config)
    row = {"size": size, "cycles_per_image": per_image}
    words, dram = segment(config, max(1, TARGET["python"] // per_image))
    t = time.perf_counter()
    stats = Machine(params).run(words, dram.copy())
    row["python"] = stats.cycles / (time.perf_counter() - t)
    os.environ["TPU_SIM_CACHE"] = cache
    t = time.perf_counter()
    sim = RtlMachine(params, simulator="verilator")
    row["build_s"] = time.perf_counter() - t
    words, dram = segment(config, max(1, TARGET["verilator"] // per_image))
    out = sim.run(words, dram.copy())
    row["verilator"] = out.cycles / out.wall_s
    row["verilator_cycles"] = out.cycles
    if shutil.which("iverilog"):
        ic = RtlMachine(params, simulator="icarus")
        words, dram = segment(config, 1, workload(16, 8))  # Icarus: a short run
        t = time.perf_counter()
        out = ic.run(words, dram.copy())
        row["icarus"] = out.cycles / (time.perf_counter() - t)  # its run includes start-up
    else:
        row["icarus"] = float("nan")
    return row


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [8, 32]
    cache = os.environ.get("TPU_SIM_CACHE") or tempfile.mkdtemp(prefix="tpu-speed-cache-")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'array':>7} {'cycles':>9} {'python':>9} {'verilator':>10} {'icarus':>8}  "
          f"{'build (s)':>9}   cycles/s; Verilator build cache: {cache}")
    for s in sizes:
        r = measure(s, cache)
        icarus = "absent" if r["icarus"] != r["icarus"] else f"{r['icarus']:,.0f}"
        print(f"{s:>3}×{s:<3} {r['verilator_cycles']:>9,} {r['python']:>9,.0f} "
              f"{r['verilator']:>10,.0f} {icarus:>8}  {r['build_s']:>9.0f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

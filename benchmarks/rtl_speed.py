"""RTL simulation speed (cycles per second): Verilator and Icarus beside the Python cycle model.

Usage: python benchmarks/rtl_speed.py [SIZE ...]   (default 8 16 32; ws dataflow, int8)

The workload is GEMMs of M=4·S, K=2·S, N=2·S on an S×S array, back to back: about 30,000
cycles for Verilator and the Python model, 1,500 for Icarus (which is two orders slower). The
accumulator is sized to the workload (two halves of 4·S rows) so the simulated memory is what
the work needs. Simulator figures exclude the build (cached in build/sim/) and the simulator's
start-up, measured with a 1-row GEMM on the same build and subtracted.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

import tpu
from sim.cases import concat, gemm_stimulus, operands
from tpu.array.cycle import make_core
from tpu.rtl import run_rtl


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


CYCLES = {"python": 30_000, "verilator": 30_000, "icarus": 1_500}


def measure(size: int) -> dict:
    base = tpu.load_config().replace(rows=size, cols=size, dataflow="ws")
    config = dataclasses.replace(base, memory=dataclasses.replace(
        base.memory, accumulator_bytes=2 * 4 * size * size * 4))
    rng = np.random.default_rng(0)
    one = gemm_stimulus(config, *operands(config, 4 * size, 2 * size, 2 * size, rng))

    def work(target):
        return concat([one] * max(1, -(-target // one.cycles)))

    tiny = gemm_stimulus(config, *operands(config, 1, 1, 1, rng))
    stim = work(CYCLES["python"])
    row = {"size": size, "cycles": stim.cycles,
           "python": stim.cycles / _timed(lambda: make_core(config.array).run(stim))}
    for sim in ("verilator", "icarus"):
        stim = work(CYCLES[sim])
        cycles = stim.cycles
        build = _timed(lambda sim=sim: run_rtl(config, tiny, simulator=sim))  # build + warm
        startup = _timed(lambda sim=sim: run_rtl(config, tiny, simulator=sim))
        total = _timed(lambda sim=sim, stim=stim: run_rtl(config, stim, simulator=sim))
        # below ~0.5 s the difference is start-up noise: no figure rather than a wrong one
        row[sim] = (cycles - tiny.cycles) / (total - startup) if total - startup > 0.5 else float("nan")
        row[f"{sim}_startup_s"] = startup
        row[f"{sim}_first_run_s"] = build
    return row


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [8, 16, 32]
    print(f"{'array':>7} {'cycles':>7} {'python':>10} {'verilator':>10} {'icarus':>10}   "
          "(cycles/s; startup s: verilator, icarus; first run incl. build s)")
    for s in sizes:
        r = measure(s)
        print(f"{s:>3}×{s:<3} {r['cycles']:>7} {r['python']:>10,.0f} {r['verilator']:>10,.0f} "
              f"{r['icarus']:>10,.0f}   {r['verilator_startup_s']:.1f}, {r['icarus_startup_s']:.1f};"
              f" {r['verilator_first_run_s']:.0f}, {r['icarus_first_run_s']:.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Mutation check of the RTL machine: plant each fault of ``hdl.machine.FAULTS`` in turn, run a
short program on the faulty design and show that comparing it with the Python machine catches
it — in the outputs, the cycle count or the instruction log.

Usage: python -m sim.mutations [verilator|icarus]   (default: Icarus where installed, since it
builds in seconds; else Verilator). Exit status 1 if a fault goes unnoticed.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np

from hdl.machine import FAULTS
from tpu.machine import MachineParams, run


def workload():
    """A two-layer network on a 3×3 machine with four accumulator rows per half: a padded 3×3
    conv (several k-tiles, both weight banks, both accumulator halves) and a Gemm. Scales are
    chosen so requantization multiplies by 1: an accumulator off by one shows in the output."""
    import dataclasses

    import tpu
    from tpu.compiler import compile as compile_graph
    from tpu.compiler import ir

    rng = np.random.default_rng(0)
    config = tpu.load_config().replace(rows=3, cols=3)
    config = dataclasses.replace(config, memory=dataclasses.replace(
        config.memory, accumulator_bytes=2 * 4 * 3 * 4, dram_bytes_per_cycle=4))

    def q(zero_point, n=None, axis=None, signed=False):
        shape = () if n is None else (n,)
        return ir.QParams(np.ones(shape, np.float32), np.full(shape, zero_point, np.int64), 8,
                          signed, axis)
    qx, q1, q2 = q(0), q(128), q(128)
    nodes = (
        ir.Quantize("quant", ("x",), "xq", q=qx),
        ir.Conv("conv", ("xq",), "c", weight=rng.integers(-2, 3, (5, 2, 3, 3)),
                bias=rng.integers(-20, 20, 5), pads=(1, 1, 1, 1), x_q=qx,
                w_q=q(0, 5, 0, True), out_q=q1),
        ir.Reshape("flat", ("c",), "f", flatten_axis=1),
        ir.Gemm("fc", ("f",), "y", weight=rng.integers(-1, 2, (5 * 4 * 4, 4)),
                bias=rng.integers(-20, 20, 4), x_q=q1, w_q=q(0, 4, 1, True), out_q=q2),
        ir.Dequantize("dequant", ("y",), "out", q=q2),
    )
    shapes = {"x": (1, 2, 4, 4), "xq": (1, 2, 4, 4), "c": (1, 5, 4, 4), "f": (1, 80),
              "y": (1, 4), "out": (1, 4)}
    graph = ir.Graph("mutant", nodes, ("x",), ("out",), shapes, quantized=True)
    x = rng.integers(0, 4, (2, 2, 4, 4)).astype(np.float32)
    return compile_graph(graph, config).program(2), x, MachineParams.from_config(config)


def check(simulator: str | None = None) -> list[dict]:
    """One row per fault: what the comparison with the Python machine noticed."""
    from tpu.machine.rtl import RtlMachine

    simulator = simulator or ("icarus" if shutil.which("iverilog") else "verilator")
    program, x, params = workload()
    ref = run(program, x, params=params)
    rows = []
    for fault in ("none", *FAULTS):
        sim = RtlMachine(params, simulator=simulator,
                         faults=frozenset() if fault == "none" else {fault})
        try:
            got = run(program, x, backend="rtl", simulator=sim, params=params)
        except Exception as exc:  # a hang (no HALT) or a crash counts as caught
            rows.append({"fault": fault, "caught_by": [f"error: {exc}"]})
            continue
        caught = []
        if not all(np.array_equal(a, b) for a, b in zip(got.outputs, ref.outputs, strict=True)):
            caught.append("outputs")
        if got.cycles != ref.cycles:
            caught.append(f"cycles {got.cycles} vs {ref.cycles}")
        if got.log != ref.log:
            caught.append("log")
        rows.append({"fault": fault, "caught_by": caught})
    return rows


def main(argv: list[str]) -> int:
    rows = check(argv[0] if argv else None)
    missed = [r["fault"] for r in rows if r["fault"] != "none" and not r["caught_by"]]
    clean = next(r for r in rows if r["fault"] == "none")
    for r in rows:
        print(f"{r['fault']:<20} {', '.join(r['caught_by']) or '-'}")
    if clean["caught_by"]:
        print("the fault-free design disagrees with the Python machine")
        return 1
    if missed:
        print(f"not caught: {', '.join(missed)}")
        return 1
    print(f"all {len(FAULTS)} planted faults caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

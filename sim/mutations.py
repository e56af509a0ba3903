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
    """A small network on a 3×3 machine with four accumulator rows per half: padded and strided
    convs over several k-tiles, both weight banks and accumulator halves, a Gemm, host steps."""
    import dataclasses

    import tpu
    from tpu.compiler import compile as compile_graph
    from tpu.compiler.zoo import _Builder

    config = tpu.load_config().replace(rows=3, cols=3)
    config = dataclasses.replace(config, memory=dataclasses.replace(
        config.memory, accumulator_bytes=2 * 4 * 3 * 4, dram_bytes_per_cycle=4))
    g = _Builder(np.random.default_rng(0), (1, 4, 6, 6))
    y = g.conv(g.conv("x_q", 5, 3, 1), 4, 3, 2)
    graph = g.graph("mutant", g.fc(g.flatten(g.gap(y)), 3))
    x = np.random.default_rng(1).normal(0, 1, (1, 4, 6, 6)).astype(np.float32)
    return compile_graph(graph, config).program(1), x, MachineParams.from_config(config)


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
            rows.append({"fault": fault, "caught_by": [f"error: {type(exc).__name__}"]})
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

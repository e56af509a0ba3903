"""Replay a stimulus through Amaranth's own simulator (fast unit tests, no C++ build)."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Value
from amaranth.sim import Simulator

from sim.ports import packed_inputs, port_widths, unpack


def replay(component, stimulus, outputs: dict[str, tuple[int, int, bool]]) -> dict[str, np.ndarray]:
    """Drive every stimulus field into the port of the same name, one cycle per clock edge, and
    record ``outputs`` (``{port: (lanes, bits, signed)}``) after each edge: row t of a result
    is what was latched at the end of cycle t."""
    inputs = packed_inputs(stimulus, port_widths(component))
    cycles = len(next(iter(inputs.values())))
    words = {name: [0] * cycles for name in outputs}

    async def bench(ctx):
        for t in range(cycles):
            for name, values in inputs.items():
                ctx.set(Value.cast(getattr(component, name)), values[t])
            await ctx.tick()
            for name in outputs:
                words[name][t] = ctx.get(Value.cast(getattr(component, name)))

    sim = Simulator(component)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return {name: unpack(words[name], lanes, bits, sgn) for name, (lanes, bits, sgn) in outputs.items()}

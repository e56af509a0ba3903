"""cocotb testbench: replay per-cycle port values from a JSON file, record outputs.

The file named by ``TPU_SIM_IO`` holds ``{"inputs": {port: [int per cycle]}, "groups":
[[strobe port or null, [port, ...]], ...]}``; the testbench writes ``{port: [int per cycle]}``
to ``TPU_SIM_RESULT``. Inputs are set just after a falling edge, so the rising edge of cycle t
latches them; outputs are read at the next falling edge, i.e. what was latched at the end of
cycle t. A group's ports are read only on cycles where its strobe is 1 (reading wide buses
every cycle slows the simulators down); elsewhere they are recorded as 0.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

RESET_CYCLES = 2


@cocotb.test()
async def replay(dut):
    with open(os.environ["TPU_SIM_IO"]) as f:
        io = json.load(f)
    inputs = {name: (getattr(dut, name), values) for name, values in io["inputs"].items()}
    cycles = len(next(iter(io["inputs"].values())))
    groups = [(getattr(dut, strobe) if strobe else None, strobe,
               [(name, getattr(dut, name)) for name in ports]) for strobe, ports in io["groups"]]
    result = {name: [0] * cycles for strobe, ports in io["groups"]
              for name in ([strobe] if strobe else []) + ports}

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for handle, _ in inputs.values():
        handle.value = 0
    for _ in range(RESET_CYCLES):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    last = dict.fromkeys(inputs, 0)
    falling = FallingEdge(dut.clk)
    for t in range(cycles):
        for name, (handle, values) in inputs.items():
            v = values[t]
            if v != last[name]:  # writes are the costly part: skip unchanged ports
                handle.value = v
                last[name] = v
        await falling
        for strobe_handle, strobe, ports in groups:
            if strobe_handle is not None:
                fired = int(strobe_handle.value)
                result[strobe][t] = fired
                if not fired:
                    continue
            for name, handle in ports:
                result[name][t] = int(handle.value)

    with open(os.environ["TPU_SIM_RESULT"], "w") as f:
        json.dump(result, f)

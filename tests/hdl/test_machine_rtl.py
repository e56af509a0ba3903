"""The RTL machine, free-running in Verilator and Icarus, against the Python machine: the same
outputs (equal to the reference), the same cycle count, the DUT's own counter equal to it,
and the same cycle-stamped log of every instruction's start and end.

Two designs are built once each (cached) and several programs run through them: the default
memories with a small accumulator, and a narrow DRAM (3 bytes/cycle, latency 3) with a unified
buffer so small that layers stream their patches from host-made matrices."""

import numpy as np
import pytest

from sim import runner
from tests.compiler.random_graphs import residual_graph
from tests.machine.test_machine import machine_config
from tpu.compiler import compile as compile_graph
from tpu.compiler import reference
from tpu.machine import MachineParams, run

SIMULATORS = [
    pytest.param(s, marks=[pytest.mark.xdist_group(s)] + ([pytest.mark.icarus] if s == "icarus" else []))
    for s in runner.SIMULATORS
]


def design(name):
    if name == "wide":
        config = machine_config(4, 3, acc=2 * 5 * 3 * 4)
        return config, MachineParams.from_config(config)
    config = machine_config(3, 4, ub=600, bpc=3)
    return config, MachineParams.from_config(config, dram_latency=3)


def check(config, params, seed, simulator, batch=2):
    """Odd seeds requantize in fixed point, even ones in float32 (both in the RTL)."""
    rng = np.random.default_rng(seed)
    requant = "fixed" if seed % 2 else "float"
    graph = residual_graph(rng, act_signed=bool(seed % 2), hw=5 + seed % 3)
    x = rng.normal(0, 1, (batch, 2, *graph.shapes["x"][2:])).astype(np.float32)
    program = compile_graph(graph, config).program(batch)
    py = run(program, x, params=params, requant=requant)
    rtl = run(program, x, backend="rtl", simulator=simulator, params=params, requant=requant)
    np.testing.assert_array_equal(rtl.outputs[0], reference.evaluate(graph, x, requant=requant)[0])
    np.testing.assert_array_equal(rtl.outputs[0], py.outputs[0])
    assert rtl.cycles == py.cycles == rtl.rtl["dut_cycles"]
    assert rtl.log == py.log  # every instruction starts and ends on the same cycle
    assert rtl.overflows == py.overflows
    return rtl


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl_machine_equals_python_machine(simulator):
    config, params = design("wide")
    for seed in (1, 2, 3):
        r = check(config, params, seed, simulator)
    assert r.rtl["simulator"] == simulator and r.rtl["build_wall_s"] >= 0


@pytest.mark.parametrize("simulator", [pytest.param("icarus", marks=pytest.mark.icarus),
                                       pytest.param("verilator", marks=pytest.mark.slow)])
def test_rtl_machine_narrow_dram_and_streamed_layers(simulator):
    config, params = design("narrow")
    for seed in (4, 5):
        r = check(config, params, seed, simulator, batch=1)
    assert r.segments >= 2


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl_machine_packed_depthwise_and_unsigned_activations(simulator):
    """Block-diagonal depthwise packs and u8 activations that the multi-precision config declares
    unsigned (the machine runs them on its native s8 operands) agree with the Python machine."""
    from tests.machine.test_machine import depthwise_graph

    config, params = design("wide")
    assert config.array.multi_precision
    rng = np.random.default_rng(8)
    graph = depthwise_graph(rng, act_signed=False)
    x = rng.normal(0, 1, (2, 5, 5, 5)).astype(np.float32)
    program = compile_graph(graph, config, depthwise="packed").program(2)
    assert len(program.layers[1].packs) == 2 and not program.layers[1].precision.act_signed
    py = run(program, x, params=params)
    rtl = run(program, x, backend="rtl", simulator=simulator, params=params)
    np.testing.assert_array_equal(rtl.outputs[0], reference.evaluate(graph, x)[0])
    np.testing.assert_array_equal(rtl.outputs[0], py.outputs[0])
    assert rtl.cycles == py.cycles == rtl.rtl["dut_cycles"] and rtl.log == py.log


@pytest.mark.xdist_group("verilator")
def test_run_program_rtl_backend_reports_the_dut(tmp_path):
    """`backend="rtl"` through the compiler: totals.cycles is the DUT's counter, and the report
    carries the simulator figures and the host steps."""
    rng = np.random.default_rng(9)
    graph = residual_graph(rng, act_signed=False)
    config, _ = design("wide")
    x = rng.normal(0, 1, (1, 2, 6, 6)).astype(np.float32)
    compiled = compile_graph(graph, config)
    rtl = compiled.run(x, backend="rtl")
    machine = compiled.run(x, backend="machine")
    rep = rtl.report()
    assert rep["totals"]["cycles"] == rep["rtl"]["dut_cycles"] == machine.totals["cycles"]
    assert set(rep["rtl"]) == {"simulator", "dut_cycles", "sim_wall_s", "build_wall_s"}
    assert {h["op"] for h in rep["machine"]["host_steps"]} >= {"Add", "MaxPool"}
    np.testing.assert_array_equal(rtl.outputs[0], machine.outputs[0])
    np.testing.assert_array_equal(rtl.outputs[0], reference.evaluate(graph, x)[0])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_waves_are_written(simulator, tmp_path):
    """FST from Icarus (and Verilator where lz4 is installed), else Verilator's VCD."""
    from tpu.machine.rtl import trace_format

    config, params = design("wide")
    rng = np.random.default_rng(2)
    graph = residual_graph(rng, act_signed=False, hw=5)
    x = rng.normal(0, 1, (1, 2, 5, 5)).astype(np.float32)
    program = compile_graph(graph, config).program(1)
    run(program, x, backend="rtl", simulator=simulator, params=params, waves=tmp_path / "w")
    files = sorted((tmp_path / "w").iterdir())
    fmt = "fst" if simulator == "icarus" else trace_format()
    assert len(files) >= 2 and all(f.suffix == f".{fmt}" and f.stat().st_size > 0 for f in files)
    assert (files[0].read_bytes()[:1] == b"$") == (fmt == "vcd")  # a VCD starts with "$date"

"""The cycle-level Python machine runs compiled programs bit-exactly (fixed-point requant), its
trace respects every wait, and its cycle count stays within the documented bound of the
compiler's analytic scoreboard."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tpu
from tests.compiler.random_graphs import residual_graph
from tpu.compiler import compile as compile_graph
from tpu.compiler import reference, zoo
from tpu.machine import AssemblyError, assemble, isa, run

LOWER = 0.8  # machine cycles ≥ LOWER × fast-path cycles (it may overlap layers the scoreboard
# runs one after another)


def upper_slack(result, program, config) -> int:
    """What the machine may spend beyond the scoreboard: the DMA beats it moves beyond the
    program's (host round trips of tensors, activation constants), a pipeline fill per MATMUL
    (the scoreboard fills once per layer) and a few cycles of latency per instruction (DRAM
    latency, the accumulator write, the activation unit's two stages and its write)."""
    a, bpc = config.array, config.memory.dram_bytes_per_cycle
    compiler_beats = sum(-(-i.nbytes // bpc) for i in program.instrs if i.unit == "dma")
    machine_beats = sum(-(-r["nbytes"] // bpc) for r in result.instrs if r["unit"] == "dma")
    matmuls = sum(r["op"] == "MATMUL" for r in result.instrs)
    return max(0, machine_beats - compiler_beats) + matmuls * (a.rows + a.cols) + \
        len(result.instrs) * 4


def machine_config(rows, cols, *, ub=262144, acc=131072, bpc=16, act_signed=True):
    cfg = tpu.load_config().replace(rows=rows, cols=cols, act_signed=act_signed)
    return dataclasses.replace(cfg, memory=dataclasses.replace(
        cfg.memory, unified_buffer_bytes=ub, accumulator_bytes=acc, dram_bytes_per_cycle=bpc))


def check_trace(result, image):
    """Every instruction starts after what it waits for has ended; each unit runs in order."""
    ends = {}
    for r in result.instrs:
        ends[(r["segment"], r["unit"], r["index"])] = r["end"]
    segments = [i for i, s in enumerate(image.steps) if hasattr(s, "streams")]
    for r in result.instrs:
        ins = image.steps[r["segment"]].streams[r["unit"]][r["index"]]
        for u, n in zip(isa.UNITS, ins.waits, strict=True):
            if n:
                assert r["start"] >= ends[(r["segment"], u, n - 1)], (r, u, n)
        if r["index"]:
            prev = [x for x in result.instrs if (x["segment"], x["unit"], x["index"])
                    == (r["segment"], r["unit"], r["index"] - 1)][0]
            assert r["start"] > prev["start"]
    assert segments


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), rows=st.integers(2, 8), cols=st.integers(2, 8),
       batch=st.integers(1, 3), hw=st.integers(4, 8), act_signed=st.booleans(),
       array_signed=st.booleans(), ub=st.sampled_from([64, 600, 262144]),
       acc_rows=st.sampled_from([2, 5, 4096]), bpc=st.sampled_from([1, 3, 16]),
       requant=st.sampled_from(["float", "fixed"]))
def test_machine_equals_reference_and_bounds_the_fast_path(seed, rows, cols, batch, hw, act_signed,
                                                           array_signed, ub, acc_rows, bpc, requant):
    rng = np.random.default_rng(seed)
    graph = residual_graph(rng, act_signed=act_signed, weight_zp=False, hw=hw)
    config = machine_config(rows, cols, ub=ub, acc=2 * acc_rows * cols * 4, bpc=bpc,
                            act_signed=array_signed)
    x = rng.normal(0, 1, (batch, 2, hw, hw)).astype(np.float32)
    compiled = compile_graph(graph, config)
    program = compiled.program(batch)
    result = run(program, x, requant=requant)
    ref = reference.evaluate(graph, x, requant=requant, all_tensors=True)
    np.testing.assert_array_equal(result.outputs[0], ref["out"])
    for name in ("c2", "c3", "s", "y"):
        if name in result.tensors:
            np.testing.assert_array_equal(result.tensors[name], ref[name], err_msg=name)
    check_trace(result, assemble(program))
    fast = compiled.run(x, requant=requant).totals["cycles"]
    assert LOWER * fast <= result.cycles <= fast + upper_slack(result, program, config), \
        (result.cycles, fast)


def test_streamed_layer_and_host_steps_are_counted():
    """A unified buffer too small for a layer: its patches come from a host im2col, chunk by
    chunk; every op without RTL is listed as a host step."""
    rng = np.random.default_rng(4)
    graph = residual_graph(rng, act_signed=False, hw=8)
    config = machine_config(4, 4, ub=200)
    x = rng.normal(0, 1, (2, 2, 8, 8)).astype(np.float32)
    result = run(compile_graph(graph, config).program(2), x, requant="fixed")
    np.testing.assert_array_equal(result.outputs[0], reference.evaluate(graph, x, requant="fixed")[0])
    kinds = [h["op"] for h in result.host]
    assert "im2col" in kinds
    assert {"Quantize", "Add", "MaxPool", "AvgPool", "Dequantize"} <= set(kinds)
    assert result.segments >= 2
    assert sum(h["elements"] for h in result.host if h["op"] == "im2col") > 0


def test_quarter_width_resnet18_on_a_small_image():
    """ResNet-18's topology at quarter width (16…128 channels) on a 32×32 image: strided
    convs, downsample branches, residual adds on the host, the first conv streamed."""
    graph = _quarter_resnet(image=32)
    config = machine_config(8, 8, ub=16384)
    x = np.random.default_rng(0).normal(0, 1, (1, 3, 32, 32)).astype(np.float32)
    result = run(compile_graph(graph, config).program(1), x)
    np.testing.assert_array_equal(result.outputs[0], reference.evaluate(graph, x)[0])
    assert sum(h["op"] == "Add" for h in result.host) == 8


def _quarter_resnet(image: int):
    """zoo.resnet18's graph with every channel count divided by 4 (random int8 weights)."""
    import tpu.compiler.zoo as z

    real = z._Builder.conv

    def conv(self, x, out_ch, *a, **kw):
        return real(self, x, max(1, out_ch // 4), *a, **kw)
    z._Builder.conv = conv
    try:
        return zoo.resnet18(image=image, classes=10)
    finally:
        z._Builder.conv = real


def test_weight_zero_points_are_refused_with_the_reason():
    rng = np.random.default_rng(1)
    graph = residual_graph(rng, act_signed=False, weight_zp=True)
    program = compile_graph(graph, machine_config(4, 4)).program(1)
    with pytest.raises(AssemblyError, match="zero points"):
        assemble(program)


def test_other_dataflows_and_wide_operands_are_refused():
    rng = np.random.default_rng(1)
    graph = residual_graph(rng)
    for cfg in (machine_config(4, 4).replace(dataflow="os"),
                machine_config(4, 4).replace(act_bits=9)):
        with pytest.raises(tpu.errors.ConfigError, match="machine"):
            assemble(compile_graph(graph, cfg).program(1))

"""A whole quantized network through the RTL matrix unit: `tpu run --backend rtl` semantics."""

import numpy as np
import pytest

from tests.compiler.random_graphs import residual_graph
from tests.hdl.test_rtl_cocotb import WS8
from tpu.compiler import compile as compile_graph


@pytest.mark.xdist_group("verilator")
def test_network_on_rtl_equals_cycle_model():
    rng = np.random.default_rng(11)
    graph = residual_graph(rng, act_signed=False, weight_zp=True)  # Σx column exercised too
    x = rng.normal(0, 1, (1, 2, 6, 6)).astype(np.float32)
    compiled = compile_graph(graph, WS8)
    cycle, rtl = compiled.run(x, backend="cycle"), compiled.run(x, backend="rtl")
    np.testing.assert_array_equal(rtl.outputs[0], cycle.outputs[0])
    assert [s.cycles for s in rtl.layers] == [s.cycles for s in cycle.layers]
    assert rtl.totals == cycle.totals


@pytest.mark.xdist_group("verilator")
def test_network_with_the_rtl_activation_unit():
    """With fixed-point requantization the ACTIVATE work runs on the RTL activation unit too."""
    rng = np.random.default_rng(12)
    graph = residual_graph(rng, act_signed=False, weight_zp=False)  # u8 activations, s8 array
    x = rng.normal(0, 1, (1, 2, 6, 6)).astype(np.float32)
    compiled = compile_graph(graph, WS8)
    cycle = compiled.run(x, backend="cycle", requant="fixed")
    rtl = compiled.run(x, backend="rtl", requant="fixed")
    for name in ("c1", "c2", "c3", "y"):
        np.testing.assert_array_equal(rtl.tensors[name], cycle.tensors[name], err_msg=name)
    np.testing.assert_array_equal(rtl.outputs[0], cycle.outputs[0])

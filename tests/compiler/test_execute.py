"""The program on the array reproduces the reference semantics bit for bit, on every backend."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tests.compiler.random_graphs import residual_graph
from tpu.compiler import compile as compile_graph
from tpu.compiler import reference
from tpu.cost import leakage_mw


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31), rows=st.integers(1, 9), cols=st.integers(1, 9),
    dataflow=st.sampled_from(["ws", "os", "is"]), array_act_signed=st.booleans(),
    act_signed=st.booleans(), weight_zp=st.booleans(), weight_signed=st.booleans(),
    requant=st.sampled_from(["float", "fixed"]),
)
def test_fast_backend_equals_reference(seed, rows, cols, dataflow, array_act_signed, act_signed,
                                       weight_zp, weight_signed, requant):
    """Any operand encoding maps exactly onto any array signedness (offsets folded into bias)."""
    rng = np.random.default_rng(seed)
    graph = residual_graph(rng, act_signed=act_signed, weight_zp=weight_zp,
                           weight_signed=weight_signed)
    config = tpu.load_config().replace(rows=rows, cols=cols, dataflow=dataflow,
                                       act_signed=array_act_signed, act_bits=9, weight_bits=9)
    x = rng.normal(0, 1, (3, 2, 6, 6)).astype(np.float32)
    ref = reference.evaluate(graph, x, requant=requant, all_tensors=True)
    res = compile_graph(graph, config).run(x, requant=requant)
    for name in ("c1", "c2", "c3", "s", "y"):
        np.testing.assert_array_equal(res.tensors[name], ref[name], err_msg=name)
    np.testing.assert_array_equal(res.outputs[0], ref["out"])
    lean = compile_graph(graph, config).run(x, requant=requant, tensors=False)
    np.testing.assert_array_equal(lean.outputs[0], ref["out"])  # the residual's "s" read twice
    assert lean.tensors == {} and lean.totals == res.totals


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_cycle_backend_equals_fast_values_and_cycles(dataflow):
    rng = np.random.default_rng(7)
    graph = residual_graph(rng, weight_zp=True)
    config = tpu.load_config().replace(rows=4, cols=3, dataflow=dataflow, act_bits=9)
    x = rng.normal(0, 1, (2, 2, 6, 6)).astype(np.float32)
    compiled = compile_graph(graph, config)
    fast, cycle = compiled.run(x), compiled.run(x, backend="cycle")
    np.testing.assert_array_equal(fast.outputs[0], cycle.outputs[0])
    assert [s.cycles for s in fast.layers] == [s.cycles for s in cycle.layers]
    assert fast.totals == cycle.totals


def test_u8_activations_on_an_s8_array_need_no_wider_operands():
    """u8 activations shift by −128 onto a signed 8-bit array; s8 weights fit as they are."""
    rng = np.random.default_rng(3)
    graph = residual_graph(rng, act_signed=False, weight_zp=False)
    x = rng.normal(0, 1, (2, 2, 6, 6)).astype(np.float32)
    res = compile_graph(graph, tpu.load_config()).run(x)
    np.testing.assert_array_equal(res.outputs[0], reference.evaluate(graph, x)[0])


def test_report_fields_and_totals():
    rng = np.random.default_rng(5)
    graph = residual_graph(rng, act_signed=False, weight_zp=False)
    config = tpu.load_config()
    res = compile_graph(graph, config).run(rng.normal(0, 1, (4, 2, 6, 6)).astype(np.float32))
    rep = res.report()
    for layer in rep["layers"]:
        assert {"name", "op", "macs", "cycles", "stall_cycles", "utilization", "sram_bytes",
                "dram_bytes", "energy_pj"} <= set(layer)
        assert layer["stall_cycles"] <= layer["cycles"]
        e = layer["energy_pj"]
        assert e["total"] == pytest.approx(e["mac"] + e["register"] + e["sram"] + e["dram"] + e["vector"]
                                           + e["leakage"])
        # each layer's leakage is the machine's static power for that layer's cycles
        assert e["leakage"] == pytest.approx(leakage_mw(config) * layer["cycles"] / config.clock.hz * 1e9)
    t = rep["totals"]
    assert t["cycles"] == sum(layer["cycles"] for layer in rep["layers"])
    assert t["macs"] == sum(layer["macs"] for layer in rep["layers"]) > 0
    # the input is read from DRAM once, the logits written once: 2·6·6 and 5 bytes per image
    assert t["dram_bytes"]["inputs"] == 4 * 2 * 6 * 6
    assert t["dram_bytes"]["outputs"] == 4 * 5
    assert "MATMUL" in res.program.asm() and "READ_WEIGHTS" in res.program.asm()

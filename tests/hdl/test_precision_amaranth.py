"""The multi-precision PEs (slices, packed lanes, binary fields, sign modes) in Amaranth's
simulator against the Python cycle model: every output of every cycle, and the accumulator
rows of a sliced GEMM against an exact matmul."""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from hdl import ArrayParams, MatrixUnit
from sim.amaranth_sim import replay
from sim.cases import concat
from tests.array.cases import mixed_case, random_operands
from tests.hdl.test_array_amaranth import _array_outputs
from tpu.array.cycle import make_core
from tpu.array.numerics import exact_matmul, wrap
from tpu.array.precision import Precision
from tpu.array.schedule import plan_gemm, plan_gemms
from tpu.array.stimulus import build_stimulus, build_stimulus_many
from tpu.errors import ConfigError


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mixed_case(max_dim=6, max_array=3))
def test_modes_match_cycle_model(case):
    config, precision, a, b = case
    try:
        plan = plan_gemms([a.shape + (b.shape[1],), (2, 3, 2)], config,
                          [precision, Precision.native(config.array)])
    except ConfigError:
        return  # an os slice order the PEs cannot shift through (refused by every model)
    other = random_operands(config, 2, 3, 2, seed=0)
    stimulus = build_stimulus_many(plan, [(a, b), other])
    ref = make_core(config.array).run(stimulus)
    valid, data = _array_outputs(config, stimulus)
    assert np.array_equal(valid, ref.valid)
    assert np.array_equal(data, ref.data)


@pytest.mark.parametrize("dataflow", ["ws", "is"])
@pytest.mark.parametrize("widths", [(16, 16), (16, 4), (4, 16)])
def test_accumulators_add_shifted_passes(dataflow, widths):
    """The RTL accumulators shift each pass's rows: the final rows are C = A·B (wrapped)."""
    from tests.hdl.test_rtl_cocotb import design

    config = design(3, 2, dataflow, acc_bits=32, half_rows=4)
    precision = Precision(*widths)
    a, b = random_operands(config, 5, 7, 3, seed=3, precision=precision)
    plan = plan_gemm(5, 7, 3, config, precision)
    stimulus = concat([build_stimulus(plan, a, b)], gap=1)
    p = ArrayParams.from_config(config, acc_rows=plan.chunk_rows)
    out = replay(MatrixUnit(p), stimulus, {"acc_valid": (1, 1, False), "acc_data": (p.cols, 32, True)})
    expect = wrap(exact_matmul(a, b), 32)
    expect = expect if dataflow == "ws" else expect.T
    events = iter(np.flatnonzero(out["acc_valid"][:, 0]))
    checked = 0
    for tile in plan.tiles:
        for _ in range(tile.x_slices):
            rows = [next(events) for _ in range(tile.rows)]
        if tile.last:
            for r, t in enumerate(rows):
                got = out["acc_data"][t, : tile.cols]
                assert np.array_equal(got, expect[tile.r0 + r, tile.c0 : tile.c0 + tile.cols])
                checked += 1
    assert checked == expect.shape[0] * -(-expect.shape[1] // p.cols)


def test_plain_pe_has_no_mode_logic():
    """multi_precision = false builds the array's own multiplier only (what the area model
    charges a plain array for)."""
    from tests.hdl.test_rtl_cocotb import design

    config = design(2, 2, "ws")
    mp = ArrayParams.from_config(config)
    plain = ArrayParams.from_config(config.replace(multi_precision=False, packing=False))
    assert mp.lanes == (1, 2, 4, 8) and mp.flips
    assert plain.lanes == (1,) and not plain.flips


@pytest.mark.parametrize("dataflow", ["ws", "is", "os"])
def test_binary_lanes_skip_padding(dataflow):
    """Binary × binary packed 8 to a PE with a reduction (13) that fills neither the last word
    nor the last tile: the padding lanes and rows must add nothing."""
    from tests.hdl.test_rtl_cocotb import design

    config = design(3, 2, dataflow, acc_bits=16)
    precision = Precision(1, 1)
    a, b = random_operands(config, 4, 13, 3, seed=5, precision=precision)
    plan = plan_gemm(4, 13, 3, config, precision)
    assert plan.modes[0].lanes == 8
    stimulus = build_stimulus(plan, a, b)
    ref = make_core(config.array).run(stimulus)
    valid, data = _array_outputs(config, stimulus)
    assert np.array_equal(valid, ref.valid) and np.array_equal(data, ref.data)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("widths", [(1, 1), (8, 1)])
@pytest.mark.parametrize("multi", [True, False])
def test_binary_pe_arrays(dataflow, widths, multi):
    """Arrays built with 1-bit PEs (XNOR; or 8-bit activations × binary weights: a conditional
    negation), with and without the multi-precision logic, against the cycle model."""
    from tests.hdl.test_rtl_cocotb import design

    base = design(3, 2, dataflow, act=(widths[0], True), weight=(widths[1], True), acc_bits=16)
    config = base.replace(multi_precision=multi, packing=multi)
    a, b = random_operands(config, 4, 5, 3, seed=6)
    stimulus = build_stimulus(plan_gemm(4, 5, 3, config), a, b)
    ref = make_core(config.array).run(stimulus)
    valid, data = _array_outputs(config, stimulus)
    assert np.array_equal(valid, ref.valid) and np.array_equal(data, ref.data)

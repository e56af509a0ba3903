"""The Amaranth design against the Python cycle model, in Amaranth's own simulator (no C++).

Every output of every cycle must agree — valid bit and data row, even on cycles where the
row is not valid, since both are the same registers."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tpu
from hdl import ArrayParams, MatrixUnit, OutputStationaryArray, StationaryArray
from sim.amaranth_sim import replay
from sim.cases import concat, gemm_stimulus, operands, random_stimulus
from tpu.array.cycle import make_core
from tpu.array.numerics import exact_matmul, wrap
from tpu.array.schedule import plan_gemm
from tpu.array.stimulus import build_stimulus
from tpu.config import product_bits

WIDTHS = st.sampled_from([4, 8, 16])


def _array_outputs(config, stimulus):
    p = ArrayParams.from_config(config)
    if p.stationary:
        comp = StationaryArray(p)
        arrays = {f.name: getattr(stimulus, f.name) for f in dataclasses.fields(stimulus)
                  if f.name not in ("x_addr", "x_acc", "x_shift")}
        stimulus = dataclasses.make_dataclass("S", list(arrays))(**arrays)
    else:
        comp = OutputStationaryArray(p)
    out = replay(comp, stimulus, {"out_valid": (1, 1, False), "out_data": (p.cols, p.acc_bits, True)})
    return out["out_valid"][:, 0].astype(bool), out["out_data"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), dataflow=st.sampled_from(["ws", "is", "os"]),
       act_bits=WIDTHS, weight_bits=WIDTHS, act_signed=st.booleans(), weight_signed=st.booleans(),
       extra_acc=st.sampled_from([0, 3, 16]), seed=st.integers(0, 2**32 - 1),
       extreme=st.booleans())
def test_array_matches_cycle_model(rows, cols, dataflow, act_bits, weight_bits, act_signed,
                                   weight_signed, extra_acc, seed, extreme):
    config = tpu.load_config().replace(
        rows=rows, cols=cols, dataflow=dataflow, act_bits=act_bits, weight_bits=weight_bits,
        act_signed=act_signed, weight_signed=weight_signed,
        acc_bits=min(48, product_bits(act_bits, act_signed, weight_bits, weight_signed) + extra_acc))
    # extra_acc=0: accumulators that wrap on the second product
    rng = np.random.default_rng(seed)
    stimulus = random_stimulus(config, rng, 2, max_dim=6, extreme_every=2 if extreme else 0)
    ref = make_core(config.array).run(stimulus)
    valid, data = _array_outputs(config, stimulus)
    assert valid.sum() >= 2 and np.array_equal(valid, ref.valid)
    assert np.array_equal(data, ref.data)


def test_wraparound_is_exercised():
    """Most negative × most negative on narrow accumulators really wraps, and still agrees."""
    config = tpu.load_config().replace(rows=2, cols=2, act_bits=8, weight_bits=8, acc_bits=16)
    a, b = operands(config, 3, 5, 2, np.random.default_rng(0), extreme=True)
    stimulus = gemm_stimulus(config, a, b)
    ref = make_core(config.array).run(stimulus)
    valid, data = _array_outputs(config, stimulus)
    assert np.array_equal(valid, ref.valid) and np.array_equal(data, ref.data)
    # -128·-128 = 16384; two of them already leave int16
    assert data[valid].min() < 0


@pytest.mark.parametrize("dataflow", ["ws", "is"])
def test_matrix_unit_accumulators_hold_the_product(dataflow):
    """The accumulator rows written by the RTL are C = A·B (wrapped), over chunks, k-tiles and
    both accumulator halves; checked against an exact matmul, not against our collector."""
    config = tpu.load_config().replace(rows=3, cols=2, dataflow=dataflow)
    config = dataclasses.replace(config, memory=dataclasses.replace(
        config.memory, accumulator_bytes=2 * 2 * 4 * 4))  # 4 rows per half
    rng = np.random.default_rng(7)
    a, b = operands(config, 7, 8, 5, rng)
    plan = plan_gemm(7, 8, 5, config)
    stimulus = concat([build_stimulus(plan, a, b)], gap=1)  # the last write is a cycle later
    p = ArrayParams.from_config(config, acc_rows=plan.chunk_rows)
    out = replay(MatrixUnit(p), stimulus, {
        "acc_valid": (1, 1, False), "acc_addr": (1, 16, False), "acc_data": (p.cols, 32, True)})
    events = np.flatnonzero(out["acc_valid"][:, 0])
    expect = wrap(exact_matmul(a, b), 32)
    expect = expect if dataflow == "ws" else expect.T
    it = iter(events)
    checked = 0
    for tile in plan.tiles:
        for r in range(tile.rows):
            t = next(it)
            assert out["acc_addr"][t, 0] == tile.addr + r
            if tile.last:
                got = out["acc_data"][t, : tile.cols]
                assert np.array_equal(got, expect[tile.r0 + r, tile.c0 : tile.c0 + tile.cols])
                checked += 1
    assert checked == expect.shape[0] * -(-expect.shape[1] // p.cols)
    assert next(it, None) is None

"""The multi-precision Verilog (cocotb on Verilator and Icarus) against the Python cycle model:
slices, packed lanes, binary fields and sign modes in one stream per design, every result row
on the same cycle with the same value; and the accumulators' shifted adds."""

import numpy as np
import pytest

from sim.cases import concat
from tests.array.cases import random_operands
from tests.hdl.test_rtl_cocotb import OS4, SIMULATORS, WS8, check_against_cycle_model
from tpu.array import gemm
from tpu.array.numerics import exact_matmul, wrap
from tpu.array.precision import Precision
from tpu.array.schedule import plan_gemm
from tpu.array.stimulus import build_stimulus
from tpu.rtl import simulate_matrix_unit

# (act bits, weight bits, act signed, weight signed): slices, lanes, binary, the other signedness
WS_MODES = [(16, 16, True, True), (8, 16, False, True), (4, 4, True, True), (2, 2, True, False),
            (1, 1, True, True), (8, 1, True, True), (8, 8, False, False)]
OS_MODES = [(16, 16, True, True), (2, 2, False, True), (1, 1, True, True), (4, 8, True, False)]


def _stream(config, modes, rng, k=9):
    stimuli = []
    for ab, wb, sa, sw in modes:
        p = Precision(ab, wb, sa, sw)
        m, n = (int(v) for v in rng.integers(1, 6, 2))
        a, b = random_operands(config, m, k, n, seed=int(rng.integers(1 << 30)), precision=p)
        stimuli.append(build_stimulus(plan_gemm(m, k, n, config, p), a, b))
    return concat(stimuli)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_stationary_modes(simulator):
    stim = _stream(WS8, WS_MODES, np.random.default_rng(11))
    check_against_cycle_model(WS8, stim, simulator)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_output_stationary_modes(simulator):
    """os on 4-bit PEs: 16-bit operands in 4×4 passes (Horner shifts in the PEs), binary and
    2-bit lanes, 8-bit weights sliced in two."""
    stim = _stream(OS4, OS_MODES, np.random.default_rng(12))
    check_against_cycle_model(OS4, stim, simulator)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_accumulators_shift_sliced_passes(simulator, monkeypatch):
    """16×16 on the 8-bit array: the RTL's own accumulator rows hold C = A·B (wrapped to 32
    bits), and the rtl backend returns the cycle backend's values and cycles."""
    monkeypatch.setenv("TPU_RTL_SIMULATOR", simulator)
    p = Precision(16, 16)
    a, b = random_operands(WS8, 5, 7, 4, seed=13, precision=p)
    plan = plan_gemm(5, 7, 4, WS8, p)
    out = simulate_matrix_unit(WS8, concat([build_stimulus(plan, a, b)], gap=1),
                               simulator=simulator, accumulators=True)
    expect = wrap(exact_matmul(a, b), 32)
    last = {int(out["acc_addr"][t]): out["acc_data"][t] for t in np.flatnonzero(out["acc_valid"])}
    for tile in plan.tiles:  # two column blocks, one per accumulator half
        if tile.last:
            for r in range(tile.rows):
                got = last[tile.addr + r][: tile.cols]
                np.testing.assert_array_equal(got, expect[tile.r0 + r, tile.c0 : tile.c0 + tile.cols])
    rtl, cyc = gemm(a, b, WS8, precision=p, backend="rtl"), gemm(a, b, WS8, precision=p, backend="cycle")
    np.testing.assert_array_equal(rtl.output, cyc.output)
    assert rtl.cycles == cyc.cycles and rtl.overflows == cyc.overflows

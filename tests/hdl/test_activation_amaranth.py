"""The activation unit against tpu.quant.requant_fixed (gemmlowp), in Amaranth's simulator."""

import dataclasses

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hdl import ActivationUnit
from hdl.params import operand_shape
from sim.amaranth_sim import replay
from tpu.config import int_range
from tpu.quant.requant import quantize_multiplier, requant_fixed, wrap_int32

FIELDS = ["in_valid", "in_data", "bias", "qm", "shift", "zp", "act_min", "act_max", "relu", "fp"]


def run_unit(acc, bias, qm, shift, zp, lo, hi, relu, out_bits, out_signed, fp=0):
    n, cols = acc.shape
    T = n + 2

    def rows(v):
        return np.tile(np.asarray(v, np.int64), (T, 1))

    stim = dataclasses.make_dataclass("S", FIELDS)(
        np.r_[np.ones(n, bool), np.zeros(2, bool)], np.vstack([acc, np.zeros((2, cols), np.int64)]),
        rows(bias), rows(qm), rows(shift), np.full(T, zp), np.full(T, lo), np.full(T, hi),
        np.full(T, int(relu)), np.full(T, fp))
    unit = ActivationUnit(cols=cols, out_shape=operand_shape(out_bits, out_signed))
    out = replay(unit, stim, {"out_valid": (1, 1, False), "out_data": (cols, out_bits, out_signed)})
    valid = out["out_valid"][:, 0].astype(bool)
    # two register stages: a row entering on cycle t is latched at the end of cycle t+1
    assert np.array_equal(valid, np.r_[False, np.ones(n, bool), False])
    return out["out_data"][valid]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cols=st.integers(1, 4), out_bits=st.sampled_from([4, 8, 16, 32]), out_signed=st.booleans(),
       log_scale=st.floats(-30, 3), relu=st.booleans(), seed=st.integers(0, 2**32 - 1),
       acc_mag=st.sampled_from([10, 1000, 2**20, 2**31]))
def test_activation_matches_requant_fixed(cols, out_bits, out_signed, log_scale, relu, seed,
                                          acc_mag):
    assume(out_bits < 32 or out_signed)  # the clamp bounds are int32 ports
    rng = np.random.default_rng(seed)
    acc = rng.integers(-acc_mag, acc_mag, (6, cols)).clip(-2**31, 2**31 - 1)
    acc[0, 0] = -2**31  # the corner cases of SRDHM and the wrap of acc + bias
    bias = rng.integers(-2**16, 2**16, cols)
    real = 2.0 ** rng.uniform(log_scale - 1, log_scale + 1, cols)  # per-channel multipliers
    qm, shift = quantize_multiplier(real)
    lo, hi = int_range(out_bits, out_signed)
    zp = int(rng.integers(lo, hi + 1))
    got = run_unit(acc, bias, qm, shift, zp, lo, hi, relu, out_bits, out_signed)
    ref = requant_fixed(wrap_int32(acc + bias), qm, shift, zp, max(lo, zp) if relu else lo, hi,
                        axis=-1)
    assert np.array_equal(got, ref)


def test_rounding_ties_follow_gemmlowp():
    """x·0.5 for 3, -3, 5, -5 gives 2, -1, 3, -2 (docs/numerics.md, "Requantization"), not round-half-even."""
    qm, shift = quantize_multiplier(np.full(4, 0.5))
    got = run_unit(np.array([[3, -3, 5, -5]]), np.zeros(4), qm, shift, 0, -128, 127, False, 8, True)
    assert got.tolist() == [[2, -1, 3, -2]]


def test_saturating_doubling_high_mul_corner():
    """INT32_MIN · INT32_MIN saturates to INT32_MAX inside SRDHM, then clamps to act_max."""
    got = run_unit(np.array([[-2**31]]), [0], [-2**31], [0], 0, -2**15, 2**15 - 1, False, 16, True)
    assert got.tolist() == [[2**15 - 1]]

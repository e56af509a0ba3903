"""The activation unit's float32 requantization against tpu.quant.requant_float (onnxruntime
MLAS: fp32(acc)·M rounded to nearest even), in Amaranth's simulator."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hdl.test_activation_amaranth import run_unit
from tpu.config import int_range
from tpu.quant.requant import requant_float, wrap_int32


def run_float(acc, bias, m, zp, lo, hi, relu, out_bits=8, out_signed=True):
    bits = np.asarray(m, np.float32).view(np.int32).astype(np.int64)
    return run_unit(acc, bias, bits, np.zeros(len(bits), np.int64), zp, lo, hi, relu, out_bits,
                    out_signed, fp=1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cols=st.integers(1, 4), log_m=st.floats(-24, 6), relu=st.booleans(),
       seed=st.integers(0, 2**32 - 1), acc_mag=st.sampled_from([3, 1000, 2**20, 2**31]),
       out_bits=st.sampled_from([8, 16]), out_signed=st.booleans())
def test_float_requant_matches_mlas(cols, log_m, relu, seed, acc_mag, out_bits, out_signed):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-acc_mag, acc_mag, (6, cols)).clip(-2**31, 2**31 - 1)
    acc[0, 0] = -2**31
    bias = rng.integers(-2**16, 2**16, cols)
    m = (2.0 ** rng.uniform(log_m - 1, log_m + 1, cols)).astype(np.float32)
    lo, hi = int_range(out_bits, out_signed)
    zp = int(rng.integers(lo, hi + 1))
    got = run_float(acc, bias, m, zp, lo, hi, relu, out_bits, out_signed)
    ref = requant_float(wrap_int32(acc + bias), m, zp, max(lo, zp) if relu else lo, hi, axis=-1)
    assert np.array_equal(got, ref)


def test_ties_round_to_even_twice():
    """Ties go to even: 2.5 → 2, 3.5 → 4, -2.5 → -2 (the fixed-point path gives 3, 4, -2)."""
    got = run_float(np.array([[5, 7, -5]]), np.zeros(3), np.full(3, 0.5, np.float32), 0,
                    -2**15, 2**15 - 1, False, 16, True)
    assert got.tolist() == [[2, 4, -2]]

"""fp16 / bf16 arrays with fp32 accumulation: the fast path and the cycle model against a
scalar spec of the order the dataflow adds in, bit for bit."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tpu.array import gemm, gemm_cycles
from tpu.errors import ConfigError, ShapeError

DTYPES = {"fp16": np.float16, "bf16": ml_dtypes.bfloat16}
F32 = np.float32


def float_config(fmt, **array):
    return tpu.load_config().replace(format=fmt, act_bits=16, weight_bits=16, acc_bits=32, **array)


def spec(a, b, dataflow, rows):
    """One output at a time in Python scalars: the product rounded to fp32, then fp32 adds —
    down a PE column per tile of ``rows`` and across tiles in the accumulator (ws, is), or
    along the whole reduction in one PE (os)."""
    x, s = (b.T, a.T) if dataflow == "is" else (a, b)
    out = np.zeros((x.shape[0], s.shape[1]), F32)
    k = x.shape[1]
    with np.errstate(all="ignore"):
        for i in range(x.shape[0]):
            for j in range(s.shape[1]):
                if dataflow == "os":
                    acc = F32(0)
                    for t in range(k):
                        acc = F32(acc + F32(F32(x[i, t]) * F32(s[t, j])))
                else:
                    acc = None
                    for k0 in range(0, k, rows):
                        psum = F32(0)
                        for t in range(k0, min(k0 + rows, k)):
                            psum = F32(psum + F32(F32(x[i, t]) * F32(s[t, j])))
                        acc = psum if acc is None else F32(acc + psum)
                out[i, j] = acc
    return out if dataflow != "is" else out.T


@st.composite
def float_case(draw):
    fmt = draw(st.sampled_from(sorted(DTYPES)))
    config = float_config(fmt, rows=draw(st.integers(1, 5)), cols=draw(st.integers(1, 5)),
                          dataflow=draw(st.sampled_from(["ws", "os", "is"])))
    m, k, n = (draw(st.integers(1, 9)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # bf16 products that leave fp32's range (under- and overflow); fp16 subnormals and its top
    scales = {"bf16": [1.0, 1e-20, 1e-30, 1e19], "fp16": [1.0, 1e-6, 2e4]}
    scale = draw(st.sampled_from(scales[fmt]))

    def operand(shape):
        limit = float(ml_dtypes.finfo(DTYPES[fmt]).max)
        v = np.clip(rng.standard_normal(shape) * scale, -limit, limit)
        v[rng.random(shape) < 0.1] = -0.0  # signed zeros
        return v.astype(np.float32).astype(DTYPES[fmt]).astype(np.float64)

    return config, operand((m, k)), operand((k, n))


def bits(x):
    return np.asarray(x, F32).view(np.uint32)


@settings(max_examples=80, deadline=None)
@given(case=float_case())
def test_float_models_match_the_spec_bit_for_bit(case):
    config, a, b = case
    want = spec(a, b, config.array.dataflow, config.array.rows)
    fast = gemm(a, b, config)
    cycle = gemm(a, b, config, backend="cycle")
    assert fast.output.dtype == F32
    nan = np.isnan(want)
    for got in (fast.output, cycle.output):
        assert np.array_equal(np.isnan(got), nan)
        assert np.array_equal(bits(got)[~nan], bits(want)[~nan])
    assert fast.overflows == cycle.overflows
    assert fast.cycles == cycle.cycles == gemm_cycles(*a.shape, b.shape[1], config)
    if np.isinf(want).any() and np.isfinite(a).all() and np.isfinite(b).all():
        assert fast.overflows > 0


def test_order_matters_and_is_the_dataflows():
    """1 + 2^-24 + 2^-24 …: added to 1 one at a time each tiny term is lost; summed down a
    column first they survive. ws on 4 rows, os and an fp64 reference all differ — each is
    exactly what its adders do."""
    k = 8
    a = np.ones((1, k))
    b = np.array([[1.0]] + [[2.0**-24]] * (k - 1))
    ws = gemm(a, b, float_config("fp16", rows=4, cols=1)).output[0, 0]
    os_ = gemm(a, b, float_config("fp16", rows=4, cols=1, dataflow="os")).output[0, 0]
    assert os_ == F32(1.0)  # every 2^-24 rounds away against 1
    assert ws == F32(1.0) + F32(4 * 2.0**-24)  # the second tile's four sum first
    assert ws != os_


def test_bf16_products_round_to_fp32():
    """bf16 × bf16 leaves fp32's range at the extremes: 2^-100 · 2^-100 underflows to 0 and
    2^100 · 2^100 overflows (counted); no fused multiply-add."""
    config = float_config("bf16", rows=2, cols=2)
    r = gemm(np.array([[2.0**-100, 2.0**100]]), np.array([[2.0**-100], [2.0**100]]), config,
             backend="cycle")
    assert np.isinf(r.output[0, 0]) and r.overflows == 1
    tiny = gemm(np.array([[2.0**-100]]), np.array([[2.0**-100]]), config)
    assert tiny.output[0, 0] == 0.0


def test_float_operands_are_checked():
    config = float_config("fp16", rows=2, cols=2)
    with pytest.raises(ShapeError, match="not a fp16 value"):
        gemm(np.array([[0.1]]), np.array([[1.0]]), config)
    with pytest.raises(ShapeError, match="NaN or infinity"):
        gemm(np.array([[np.inf]]), np.array([[1.0]]), config)
    with pytest.raises(ShapeError, match="integer widths"):
        from tpu.array.precision import Precision

        gemm(np.ones((1, 1)), np.ones((1, 1)), config, precision=Precision(8, 8))
    with pytest.raises(ShapeError, match="rtl backend has integer PEs only"):
        gemm(np.ones((1, 1)), np.ones((1, 1)), config, backend="rtl")
    with pytest.raises(ConfigError, match="16-bit signed operands"):
        tpu.load_config().replace(format="fp16")

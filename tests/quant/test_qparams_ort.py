"""qparams(convention="onnxruntime") against onnxruntime's own compute_scale_zp (installed)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tpu.quant import QuantError, qparams, quantize

try:
    from onnx import TensorProto
    from onnxruntime.quantization import quant_utils
except ImportError as exc:  # pragma: no cover - the dev install has onnxruntime
    raise RuntimeError("tests need onnxruntime: pip install -e '.[dev]'") from exc

QTYPES = {(8, True): TensorProto.INT8, (8, False): TensorProto.UINT8,
          (16, True): TensorProto.INT16, (16, False): TensorProto.UINT16,
          (4, True): TensorProto.INT4, (4, False): TensorProto.UINT4}


def ort_qparams(x, bits, signed, symmetric, reduce_range, axis):
    qmin, qmax = quant_utils.get_qmin_qmax_for_qType(QTYPES[bits, signed], reduce_range,
                                                     symmetric)
    qmin = np.array(int(qmin), np.int64)
    qmax = np.array(int(qmax), np.int64)
    if axis is None:
        zp, s = quant_utils.compute_scale_zp(np.array(x.min(), np.float32),
                                             np.array(x.max(), np.float32), qmin, qmax,
                                             symmetric)
        return np.float32(s), np.int64(zp)
    pairs = [quant_utils.compute_scale_zp(np.array(v.min(), np.float32),
                                          np.array(v.max(), np.float32), qmin, qmax, symmetric)
             for v in np.moveaxis(x, axis, 0)]
    return (np.array([p[1] for p in pairs], np.float32),
            np.array([int(p[0]) for p in pairs], np.int64))


floats = st.floats(-1e6, 1e6, width=32, allow_subnormal=True)
special = st.sampled_from([0.0, -0.0, 1.1920929e-07, -1.1920929e-07, 1e-38, -3.0, 1e-30])
arrays = hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5),
                    elements=st.one_of(floats, special))


@settings(max_examples=300, deadline=None)
@given(x=arrays, bits=st.sampled_from([4, 8, 16]), signed=st.booleans(),
       symmetric=st.booleans(), reduce_range=st.booleans(),
       axis=st.sampled_from([None, 0, 1]))
def test_matches_onnxruntime(x, bits, signed, symmetric, reduce_range, axis):
    s, z = qparams(x, bits=bits, signed=signed, symmetric=symmetric, axis=axis,
                   reduce_range=reduce_range)
    rs, rz = ort_qparams(x, bits, signed, symmetric, reduce_range, axis)
    np.testing.assert_array_equal(s, rs)
    np.testing.assert_array_equal(z, rz)


@pytest.mark.parametrize("x", [np.zeros(5), -np.arange(1, 6), np.array([7.5]),
                               np.full(3, 1e-45), np.array([1e-7, 2e-7])])
@pytest.mark.parametrize("signed,symmetric", [(True, True), (False, False), (True, False)])
def test_degenerate_inputs_match(x, signed, symmetric):
    x = np.asarray(x, np.float32).reshape(1, -1)
    s, z = qparams(x, bits=8, signed=signed, symmetric=symmetric)
    rs, rz = ort_qparams(x, 8, signed, symmetric, False, None)
    assert (s, z) == (rs, rz)


def test_quantize_matches_onnxruntime_quantize_nparray():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(1000) * 4).astype(np.float32)
    x[:4] = [0.5, 1.5, -2.5, 1e9]  # ties go to even, huge values clamp
    s, z = qparams(x[4:], bits=8, signed=False, symmetric=False)
    ours = quantize(x, s, z, bits=8, signed=False)
    ref = quant_utils.quantize_nparray(TensorProto.UINT8, x, s, np.uint8(z))
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_is_an_error(bad):
    with pytest.raises(QuantError, match="NaN or Inf"):
        qparams(np.array([1.0, bad], np.float32), bits=8, signed=True, symmetric=True)


def test_bits_out_of_range():
    with pytest.raises(QuantError, match="bits"):
        qparams(np.ones(3), bits=17, signed=True, symmetric=True)


def test_ternary_and_binary():
    x = np.array([-2.0, -0.4, 0.1, 1.0], np.float32)
    s, z = qparams(x, bits=2, signed=True, symmetric=True)
    assert z == 0 and s == np.float32(2.0)
    np.testing.assert_array_equal(quantize(x, s, z, bits=2, signed=True), [-1, 0, 0, 0])
    s1, _ = qparams(x, bits=1, signed=True, symmetric=True)
    assert s1 == np.float32(np.mean(np.abs(x.astype(np.float64))))
    np.testing.assert_array_equal(quantize(x, s1, 0, bits=1, signed=True), [-1, -1, 1, 1])

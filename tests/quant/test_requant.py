"""Requantization: float32 scheme vs onnxruntime's integer kernels; gemmlowp fixed point vs a
line-by-line transliteration of its C rules (Python ints, no numpy)."""

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tpu.quant import (
    bias_int32,
    float_multiplier,
    qparams,
    quantize,
    quantize_multiplier,
    requant_fixed,
    requant_float,
)
from tpu.quant.kernels import conv_acc, matmul_acc

NP = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8, TensorProto.INT32: np.int32,
      TensorProto.FLOAT: np.float32}


def run_single(op, a_name, a, inits, out_type, out_shape, **attrs):
    inputs = [i[0] for i in inits]
    inputs.insert(0, a_name)
    tensors = [numpy_helper.from_array(np.asarray(v, NP[t]), n) for n, v, t in inits]
    a_type = TensorProto.UINT8 if a.dtype == np.uint8 else TensorProto.INT8
    g = helper.make_graph([helper.make_node(op, inputs, ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info(a_name, a_type, list(a.shape))],
                          [helper.make_tensor_value_info("y", out_type, out_shape)], tensors)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {a_name: a})[0]


def setup_q(rng, a_signed, w_range, shape_x, shape_w, w_axis):
    x = rng.standard_normal(shape_x).astype(np.float32) * 2 + 0.3
    w = rng.standard_normal(shape_w).astype(np.float32)
    sx, zx = qparams(x, bits=8, signed=a_signed, symmetric=False)
    sw, zw = qparams(w, bits=8, signed=True, symmetric=True, axis=w_axis,
                     reduce_range=w_range == "reduced")
    xq = quantize(x, sx, zx, bits=8, signed=a_signed)
    wq = quantize(w, sw, zw, bits=8, signed=True, axis=w_axis)
    return x, w, sx, zx, sw, zw, xq, wq


# onnxruntime's x86 AVX2 u8s8 kernels pair products with vpmaddubsw, which saturates at int16:
# exact only when |w| <= 64 (ORT's reduce_range). VNNI machines are exact for every weight.
@pytest.mark.parametrize("a_signed", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinearmatmul_equals_onnxruntime(a_signed, per_channel):
    rng = np.random.default_rng(10 + a_signed + 2 * per_channel)
    x, w, sx, zx, sw, zw, xq, wq = setup_q(rng, a_signed, "reduced", (64, 48), (48, 24),
                                           1 if per_channel else None)
    sy, zy = qparams(x @ w, bits=8, signed=a_signed, symmetric=False)
    acc = matmul_acc(xq, zx, wq, zw, w_axis=1 if per_channel else None)
    lo, hi = (-128, 127) if a_signed else (0, 255)
    ours = requant_float(acc, float_multiplier(sx, sw, sy), zy, lo, hi,
                         axis=1 if per_channel else None)
    at = TensorProto.INT8 if a_signed else TensorProto.UINT8
    ref = run_single("QLinearMatMul", "a", xq.astype(NP[at]), [
        ("as", sx, TensorProto.FLOAT), ("az", zx, at), ("b", wq, TensorProto.INT8),
        ("bs", sw, TensorProto.FLOAT), ("bz", zw, TensorProto.INT8),
        ("ys", sy, TensorProto.FLOAT), ("yz", zy, at)], at, [64, 24])
    assert np.mean(ref == ours) == 1.0


@pytest.mark.parametrize("kind", ["per_tensor", "per_channel", "depthwise"])
@pytest.mark.parametrize("a_signed", [False, True])
def test_qlinearconv_equals_onnxruntime(kind, a_signed):
    rng = np.random.default_rng(hash((kind, a_signed)) % 1000)
    c, o = (6, 6) if kind == "depthwise" else (5, 7)
    group = c if kind == "depthwise" else 1
    axis = None if kind == "per_tensor" else 0
    x, w, sx, zx, sw, zw, xq, wq = setup_q(rng, a_signed, "reduced", (2, c, 9, 9),
                                           (o, c // group, 3, 3), axis)
    b = rng.standard_normal(o).astype(np.float32)
    bq = bias_int32(b, sx, np.atleast_1d(sw))
    acc = conv_acc(xq, zx, wq, zw, bq, stride=(2, 1), pads=(1, 1, 1, 1), group=group)
    y_float = acc.astype(np.float64) * np.float64(sx) * np.asarray(np.atleast_1d(sw),
                                                                   np.float64)[:, None, None]
    sy, zy = qparams(y_float.astype(np.float32), bits=8, signed=a_signed, symmetric=False)
    lo, hi = (-128, 127) if a_signed else (0, 255)
    ours = requant_float(acc, float_multiplier(sx, sw, sy), zy, lo, hi, axis=None if axis is None else 1)
    at = TensorProto.INT8 if a_signed else TensorProto.UINT8
    ref = run_single("QLinearConv", "x", xq.astype(NP[at]), [
        ("xs", sx, TensorProto.FLOAT), ("xz", zx, at), ("w", wq, TensorProto.INT8),
        ("ws", sw, TensorProto.FLOAT), ("wz", zw, TensorProto.INT8),
        ("ys", sy, TensorProto.FLOAT), ("yz", zy, at), ("b", bq, TensorProto.INT32)],
        at, list(acc.shape), strides=[2, 1], pads=[1, 1, 1, 1], group=group,
        kernel_shape=[3, 3])
    assert ref.shape == ours.shape
    assert np.mean(ref == ours) == 1.0


# --- gemmlowp transliteration (Python ints, C semantics written out) -------------------------

def c_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def ref_srdhm(a, b):
    if a == b == -(2 ** 31):
        return 2 ** 31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def ref_rdbpot(x, e):
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def ref_requant(acc, qm, shift, zp, lo, hi):
    left, right = max(shift, 0), max(-shift, 0)
    x = acc * (1 << left)
    x = (x + 2 ** 31) % 2 ** 32 - 2 ** 31  # int32 wrap
    return min(max(ref_rdbpot(ref_srdhm(x, qm), right) + zp, lo), hi)


def test_design_doc_ties():
    qm, sh = quantize_multiplier(np.array([0.5]))
    out = requant_fixed(np.array([3, -3, 5, -5]), qm, sh, 0, -128, 127)
    np.testing.assert_array_equal(out, [2, -1, 3, -2])
    f = requant_float(np.array([3, -3, 5, -5]), np.float32(0.5), 0, -128, 127)
    np.testing.assert_array_equal(f, [2, -2, 2, -2])


i32 = st.integers(-(2 ** 31), 2 ** 31 - 1)


@settings(max_examples=400, deadline=None)
@given(acc=st.lists(i32, min_size=1, max_size=8),
       real=st.floats(1e-12, 1.9, allow_subnormal=False), zp=st.integers(-128, 127))
def test_requant_fixed_matches_transliteration(acc, real, zp):
    qm, sh = quantize_multiplier(np.array([real]))
    ours = requant_fixed(np.array(acc), qm, sh, zp, -128, 127)
    ref = [ref_requant(a, int(qm[0]), int(sh[0]), zp, -128, 127) for a in acc]
    np.testing.assert_array_equal(ours, ref)


@settings(max_examples=300, deadline=None)
@given(a=i32, b=i32, e=st.integers(0, 31))
def test_srdhm_and_rdbpot(a, b, e):
    from tpu.quant.requant import rdbpot, srdhm

    assert int(srdhm(a, b)) == ref_srdhm(a, b)
    assert int(rdbpot(a, e)) == ref_rdbpot(a, e)


def test_srdhm_saturates():
    from tpu.quant.requant import srdhm

    assert int(srdhm(-(2 ** 31), -(2 ** 31))) == 2 ** 31 - 1


@given(real=st.floats(1e-15, 1e3, allow_subnormal=False))
def test_quantize_multiplier_represents_real(real):
    qm, sh = quantize_multiplier(np.array([real]))
    if qm[0]:
        assert 2 ** 30 <= int(qm[0]) < 2 ** 31
        assert abs(int(qm[0]) * 2.0 ** (int(sh[0]) - 31) - real) <= real * 2 ** -30


def test_bias_int32_rounds_half_even_like_onnxruntime():
    s_in, s_w = np.float32(0.5), np.array([1.0, 1.0], np.float32)
    np.testing.assert_array_equal(bias_int32([0.25, 0.75], s_in, s_w), [0, 2])
    assert bias_int32([1e12], np.float32(1e-3), np.array([1e-3], np.float32))[0] == 2 ** 31 - 1

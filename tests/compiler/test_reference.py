"""The integer reference semantics: accumulators against a naive loop, requantization modes,
ORT's rounding quirks that the reference must keep."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tpu.compiler import ir
from tpu.compiler import reference as R


def _q(scale, zp, signed=False, axis=None):
    return ir.QParams(np.asarray(scale, np.float32), np.asarray(zp, np.int64), 8, signed, axis)


def _naive_conv(x, w, zx, zw, bias, stride, pads, dil, group):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=zx)
    ho = (h + pads[0] + pads[2] - dil * (kh - 1) - 1) // stride + 1
    wo = (wd + pads[1] + pads[3] - dil * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, ho, wo), np.int64)
    og = o // group
    for b in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(ho):
                for j in range(wo):
                    s = 0
                    for ci in range(cg):
                        for a in range(kh):
                            for e in range(kw):
                                xv = xp[b, g * cg + ci, i * stride + a * dil, j * stride + e * dil]
                                s += (int(xv) - zx) * (int(w[oc, ci, a, e]) - int(zw[oc]))
                    out[b, oc, i, j] = s + bias[oc]
    return out


@settings(max_examples=25, deadline=None)
@given(group=st.sampled_from([1, 2]), k=st.integers(1, 3), stride=st.integers(1, 2),
       pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), dil=st.integers(1, 2),
       zx=st.integers(0, 255), seed=st.integers(0, 10_000))
def test_conv_accumulate_matches_naive_loop(group, k, stride, pads, dil, zx, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (1, 2 * group, 6, 6))
    w = rng.integers(-127, 128, (2 * group, 2, k, k))
    zw = rng.integers(-3, 4, 2 * group)
    bias = rng.integers(-1000, 1000, 2 * group)
    node = ir.Conv("c", ("x",), "y", weight=w, bias=bias, strides=(stride, stride),
                   pads=tuple(pads), dilations=(dil, dil), group=group, x_q=_q(0.1, zx),
                   w_q=_q(np.full(2 * group, 0.01), zw, True, 0), out_q=_q(0.2, 10))
    acc = R.conv_accumulate(x, node)
    assert acc.shape[1] == 2 * group  # (N, O, Ho, Wo)
    np.testing.assert_array_equal(acc, _naive_conv(x, w, zx, zw, bias, stride, pads, dil, group))


def test_accumulator_wraps_like_int32():
    node = ir.Gemm("g", ("x",), "y", weight=np.full((4, 1), -128), x_q=_q(1.0, 0),
                   w_q=_q(1.0, 0, True), out_q=_q(1.0, 0))
    x = np.full((1, 4), 255)
    big = ir.Gemm("g", ("x",), "y", weight=np.full((4, 1), -128), bias=np.array([-(2**31) + 1]),
                  x_q=node.x_q, w_q=node.w_q, out_q=node.out_q)
    exact = -(2**31) + 1 - 4 * 255 * 128
    assert R.gemm_accumulate(x, big, acc_bits=None)[0, 0] == exact
    assert R.gemm_accumulate(x, big)[0, 0] == exact + 2**32


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), sy=st.floats(1e-3, 1.0))
def test_fixed_and_float_requant_agree_within_one(seed, sy):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(2**20), 2**20, (3, 4))
    node = ir.Gemm("g", ("x",), "y", weight=np.zeros((2, 4), np.int64), x_q=_q(0.02, 0),
                   w_q=_q(rng.uniform(1e-3, 1e-2, 4), np.zeros(4), True, 1), out_q=_q(sy, 7))
    a, b = R.requantize(acc, node, "float"), R.requantize(acc, node, "fixed")
    assert np.abs(a - b).max() <= 1
    assert a.min() >= 0 and a.max() <= 255


def test_relu_fused_clamps_at_zero_point():
    node = ir.Gemm("g", ("x",), "y", weight=np.eye(2, dtype=np.int64), relu=True, x_q=_q(1.0, 0),
                   w_q=_q(1.0, 0, True), out_q=_q(1.0, 100))
    np.testing.assert_array_equal(R.gemm(np.array([[0, 50]]), node), [[100, 150]])


def test_qlinear_avgpool_adds_zero_point_before_rounding():
    # mean 2.5 with zp 3: ORT computes rint(2.5 + 3) = 6, not rint(2.5) + 3 = 5
    node = ir.AvgPool("p", ("x",), "y", kernel=(1, 2), strides=(1, 2), x_q=_q(1.0, 0),
                      out_q=_q(1.0, 3))
    x = np.array([[[[2, 3, 0, 0]]]])  # 1×1×1×4, so not the global fallback
    np.testing.assert_array_equal(R.avgpool(x, node), [[[[6, 3]]]])


def test_global_fallback_and_integer_maxpool():
    x = np.arange(16).reshape(1, 1, 4, 4)
    node = ir.AvgPool("p", ("x",), "y", kernel=(4, 4), strides=(1, 1), x_q=_q(1.0, 0),
                      out_q=_q(1.0, 0))
    assert R.avgpool(x, node).item() == 8  # 7.5 → half to even through requant_float
    mp = ir.MaxPool("m", ("x",), "y", kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), q=_q(1, 0))
    np.testing.assert_array_equal(R.maxpool(x, mp)[0, 0], [[5, 7], [13, 15]])


def test_pair_saturation_only_changes_u8s8_overflowing_pairs():
    node = ir.Gemm("g", ("x",), "y", weight=np.array([[127], [127], [1], [1]]), x_q=_q(1.0, 0),
                   w_q=_q(1.0, 0, True), out_q=_q(1.0, 0))
    x = np.array([[255, 255, 3, 4]])
    assert R.gemm_accumulate(x, node)[0, 0] == 2 * 255 * 127 + 7
    assert R.gemm_accumulate(x, node, saturate_pairs=True)[0, 0] == 32767 + 7

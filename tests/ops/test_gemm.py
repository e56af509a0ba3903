"""Gemm's integer semantics: int32 wrap, the two requantization modes, fused ReLU, and
onnxruntime's AVX2 pair saturation."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tpu.ops import Gemm, Numerics, QParams


def _q(scale, zp, signed=False, axis=None):
    return QParams(np.asarray(scale, np.float32), np.asarray(zp, np.int64), 8, signed, axis)


def test_accumulator_wraps_like_int32():
    node = Gemm("g", ("x",), "y", weight=np.full((4, 1), -128), x_q=_q(1.0, 0),
                   w_q=_q(1.0, 0, True), out_q=_q(1.0, 0))
    x = np.full((1, 4), 255)
    big = Gemm("g", ("x",), "y", weight=np.full((4, 1), -128), bias=np.array([-(2**31) + 1]),
                  x_q=node.x_q, w_q=node.w_q, out_q=node.out_q)
    exact = -(2**31) + 1 - 4 * 255 * 128
    assert big.accumulate([x], Numerics(acc_bits=None))[0, 0] == exact
    assert big.accumulate([x], Numerics())[0, 0] == exact + 2**32


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), sy=st.floats(1e-3, 1.0))
def test_fixed_and_float_requant_agree_within_one(seed, sy):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(2**20), 2**20, (3, 4))
    node = Gemm("g", ("x",), "y", weight=np.zeros((2, 4), np.int64), x_q=_q(0.02, 0),
                   w_q=_q(rng.uniform(1e-3, 1e-2, 4), np.zeros(4), True, 1), out_q=_q(sy, 7))
    a, b = node.requantize(acc, "float"), node.requantize(acc, "fixed")
    assert np.abs(a - b).max() <= 1
    assert a.min() >= 0 and a.max() <= 255


def test_relu_fused_clamps_at_zero_point():
    node = Gemm("g", ("x",), "y", weight=np.eye(2, dtype=np.int64), relu=True, x_q=_q(1.0, 0),
                   w_q=_q(1.0, 0, True), out_q=_q(1.0, 100))
    np.testing.assert_array_equal(node.run([np.array([[0, 50]])], Numerics()), [[100, 150]])


def test_pair_saturation_only_changes_u8s8_overflowing_pairs():
    node = Gemm("g", ("x",), "y", weight=np.array([[127], [127], [1], [1]]), x_q=_q(1.0, 0),
                   w_q=_q(1.0, 0, True), out_q=_q(1.0, 0))
    x = np.array([[255, 255, 3, 4]])
    assert node.accumulate([x], Numerics())[0, 0] == 2 * 255 * 127 + 7
    assert node.accumulate([x], Numerics(saturate_pairs=True))[0, 0] == 32767 + 7

"""Pooling's integer semantics: onnxruntime's QLinearAveragePool rounding, the global fallback,
integer MaxPool."""

import numpy as np

from tpu.ops import AvgPool, MaxPool, Numerics, QParams


def _q(scale, zp, signed=False, axis=None):
    return QParams(np.asarray(scale, np.float32), np.asarray(zp, np.int64), 8, signed, axis)


def test_qlinear_avgpool_adds_zero_point_before_rounding():
    # mean 2.5 with zp 3: ORT computes rint(2.5 + 3) = 6, not rint(2.5) + 3 = 5
    node = AvgPool("p", ("x",), "y", kernel=(1, 2), strides=(1, 2), x_q=_q(1.0, 0),
                      out_q=_q(1.0, 3))
    x = np.array([[[[2, 3, 0, 0]]]])  # 1×1×1×4, so not the global fallback
    np.testing.assert_array_equal(node.run([x], Numerics()), [[[[6, 3]]]])


def test_global_fallback_and_integer_maxpool():
    x = np.arange(16).reshape(1, 1, 4, 4)
    node = AvgPool("p", ("x",), "y", kernel=(4, 4), strides=(1, 1), x_q=_q(1.0, 0),
                      out_q=_q(1.0, 0))
    assert node.run([x], Numerics()).item() == 8  # 7.5 → half to even through requant_float
    mp = MaxPool("m", ("x",), "y", kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), q=_q(1, 0))
    np.testing.assert_array_equal(mp.run([x], Numerics())[0, 0], [[5, 7], [13, 15]])

"""Conv's integer semantics: the accumulator against a naive loop (any group, stride, padding,
dilation, zero points)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tpu.ops import Conv, Numerics, QParams


def _q(scale, zp, signed=False, axis=None):
    return QParams(np.asarray(scale, np.float32), np.asarray(zp, np.int64), 8, signed, axis)

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
    node = Conv("c", ("x",), "y", weight=w, bias=bias, strides=(stride, stride),
                   pads=tuple(pads), dilations=(dil, dil), group=group, x_q=_q(0.1, zx),
                   w_q=_q(np.full(2 * group, 0.01), zw, True, 0), out_q=_q(0.2, 10))
    n, o, ho, wo = node.infer([x.shape], [])
    acc = node.accumulate([x], Numerics()).reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    assert acc.shape[1] == 2 * group
    np.testing.assert_array_equal(acc, _naive_conv(x, w, zx, zw, bias, stride, pads, dil, group))

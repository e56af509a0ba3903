"""Reference integer kernels: exact accumulators of quantized MatMul and Conv (int64 numpy).

``acc = sum((x - zx) * (w - zw[c])) + bias_int32[c]``, wrapped to ``acc_bits`` two's complement
as the hardware's accumulators do (pass ``acc_bits=None`` to keep the exact sum).
"""

from __future__ import annotations

import numpy as np

from tpu.errors import ShapeError
from tpu.nn.functional import im2col
from tpu.quant.schemes import expand


def wrap(acc: np.ndarray, acc_bits: int | None) -> np.ndarray:
    if acc_bits is None or acc_bits >= 64:
        return acc
    lo = -(1 << (acc_bits - 1))
    return ((acc - lo) & ((1 << acc_bits) - 1)) + lo


def matmul_acc(xq, zx, wq, zw, bias=None, *, w_axis: int | None = None,
               acc_bits: int | None = 32) -> np.ndarray:
    """(M, K) x (K, N) integer matmul; ``zw`` per column when ``w_axis=1``."""
    x = np.asarray(xq, np.int64) - np.int64(zx)
    w = np.asarray(wq, np.int64) - expand(np.asarray(zw, np.int64), 2, w_axis)
    acc = x @ w
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return wrap(acc, acc_bits)


def conv_acc(xq, zx, wq, zw, bias=None, *, stride=(1, 1), pads=(0, 0, 0, 0), group: int = 1,
             acc_bits: int | None = 32) -> np.ndarray:
    """NCHW integer convolution with OIHW weights; padding is the value ``zx``; zw per O."""
    xq = np.asarray(xq, np.int64)
    wq = np.asarray(wq, np.int64)
    n, c, _, _ = xq.shape
    o, cg, kh, kw = wq.shape
    if c != cg * group or o % group:
        raise ShapeError(f"conv: input channels {c}, weight {wq.shape}, group {group} disagree")
    cols = im2col(xq, kh, kw, tuple(stride), tuple(pads), pad_value=int(zx)) - np.int64(zx)
    w = wq - expand(np.asarray(zw, np.int64), 4, 0)
    og = o // group
    outs = []
    for g in range(group):
        xg = cols[:, :, :, g * cg:(g + 1) * cg].reshape(*cols.shape[:3], -1)
        wg = w[g * og:(g + 1) * og].reshape(og, -1)
        outs.append(np.einsum("nhwk,ok->nohw", xg, wg))
    acc = np.concatenate(outs, axis=1)
    if bias is not None:
        acc = acc + expand(np.asarray(bias, np.int64), 4, 1)
    return wrap(acc, acc_bits)

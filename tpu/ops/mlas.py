"""Float32 functions as onnxruntime's MLAS computes them — its own polynomial approximations
and table constructions, not libm — so lookup tables and float islands match onnxruntime.
Each was checked element by element against onnxruntime 1.32 (x86-64; see docs/numerics.md).
"""

from __future__ import annotations

import math

import numpy as np

from tpu.ops.fp import fma32

F = np.float32

# MlasComputeLogistic's rational approximation (logistic.cpp): p(x²)·x / q(x²) + 0.5 on [-18, 18]
_LOGISTIC_P = (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
               8.51377133304701e-03, 2.48287947061529e-01)
_LOGISTIC_Q = (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06,
               1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01)


def _horner(x2: np.ndarray, coeffs) -> np.ndarray:
    acc = fma32(x2, F(coeffs[0]), F(coeffs[1]))
    for c in coeffs[2:]:
        acc = fma32(x2, acc, F(c))
    return acc


def logistic(x) -> np.ndarray:
    """MlasComputeLogistic (the FMA3 kernel x86 CPUs with AVX2 run, AVX-512 ones too): clamp to
    [-18, 18], x·p(x²)/q(x²) + 0.5 with fused multiply-adds, then max(0, ·)."""
    x = np.clip(np.asarray(x, F), F(-18.0), F(18.0)).astype(F)
    x2 = (x * x).astype(F)
    p = (x * _horner(x2, _LOGISTIC_P)).astype(F)
    r = ((p / _horner(x2, _LOGISTIC_Q)).astype(F) + F(0.5)).astype(F)
    return np.maximum(r, F(0.0))


def tanh(x) -> np.ndarray:
    return np.tanh(np.asarray(x, F)).astype(F)


def erf(x) -> np.ndarray:
    from scipy.special import erf as _erf

    return _erf(np.asarray(x, F)).astype(F)


def softmax_table(x_scale, reduce_len: int) -> np.ndarray:
    """QLinearSoftmax's exp table, indexed by (x − row max + 255): onnxruntime 1.32 builds it in
    double with the C library's log/exp, shifted so a row of ``reduce_len`` maxima cannot
    overflow float32: ``A = fp32(log(FLT_MAX / fp32(D)) − 5)``, ``t[i] = fp32(exp((i − 255)·sx + A))``."""
    shift = float(F(math.log(float(F(np.finfo(F).max) / F(reduce_len))) - 5.0))
    xs = float(F(x_scale))
    return np.array([math.exp((i - 255) * xs + shift) for i in range(256)], F)


def qlinear_softmax_rows(rows: np.ndarray, x_q, out_q) -> np.ndarray:
    """QLinearSoftmax over the last axis of ``rows`` (N, D) of 8-bit integers: table values summed
    sequentially in float32, ``q = rint(double(t)·floor(1/sy) / double(Σt)) + zy``, saturated."""
    n, d = rows.shape
    table = softmax_table(x_q.scale, d)
    xi = np.asarray(rows, np.int64)
    vt = table[255 - xi.max(axis=1, keepdims=True) + xi]  # the row maximum reads entry 255
    total = np.zeros(n, F)
    for j in range(d):  # the C loop's order, float32 each step
        total = (total + vt[:, j]).astype(F)
    c = float(math.floor(F(1.0) / F(out_q.scale)))
    q = np.rint(vt.astype(np.float64) * c / total[:, None].astype(np.float64)) + int(out_q.zero_point)
    return np.clip(q, out_q.qmin, out_q.qmax).astype(np.int64)


def qlinear_softmax(x: np.ndarray, axis: int, x_q, out_q) -> np.ndarray:
    moved = np.moveaxis(np.asarray(x, np.int64), axis, -1)
    y = qlinear_softmax_rows(moved.reshape(-1, moved.shape[-1]), x_q, out_q).reshape(moved.shape)
    return np.moveaxis(y, -1, axis)

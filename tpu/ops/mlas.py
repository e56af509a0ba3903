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


# MlasComputeTanh (tanh.cpp): x·p(x²)/q(x²) on [-9, 9]
_TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
           1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
_TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


def tanh(x) -> np.ndarray:
    """MlasComputeTanh (FMA3 kernel): clamp to [-9, 9], x·p(x²)/q(x²) with fused multiply-adds."""
    x = np.clip(np.asarray(x, F), F(-9.0), F(9.0)).astype(F)
    x2 = (x * x).astype(F)
    return ((x * _horner(x2, _TANH_P)).astype(F) / _horner(x2, _TANH_Q)).astype(F)


# MlasErf (erf.cpp): an odd polynomial up to 0.921875, 1 − exp(−poly) above, MLAS's own exp
_ERF_SMALL = (-5.99104969e-4, 4.99339588e-3, -2.67667342e-2, 1.12818025e-1, -3.76124859e-1, 1.28379151e-1)
_ERF_BIG = (1.72948930e-5, -3.83208680e-4, 3.88393435e-3, -2.42545605e-2, 1.06777847e-1, 6.34846687e-1,
            1.28717512e-1)
_EXP_P = (1.38319808e-3, 8.37550033e-3, 4.16689515e-2, 1.66664466e-1, 4.99999851e-1, 1.0, 1.0)


def _horner_at(coeffs, x: np.ndarray) -> np.ndarray:
    """c0·x^n + … + cn with fused multiply-adds, the coefficient first (as the erf kernel)."""
    acc = fma32(F(coeffs[0]), x, F(coeffs[1]))
    for c in coeffs[2:]:
        acc = fma32(acc, x, F(c))
    return acc


def erf(x) -> np.ndarray:
    """MlasErf (FMA3 kernel): |x| clamped to 3.925; below 0.921875 an odd polynomial, above
    1 − exp(−p(|x|)) with MLAS's exp (2^m put in the exponent bits); the sign restored."""
    x = np.asarray(x, F)
    sign = x.view(np.uint32) & np.uint32(0x80000000)
    a = np.minimum(np.abs(x), F(3.925))
    big = a > F(0.921875)
    small = np.where(big, F(0), fma32(_horner_at(_ERF_SMALL, (a * a).astype(F)), a, a)).astype(F)
    ab = np.where(big, a, F(0)).astype(F)
    r = np.maximum(F(-88.3762626647949), -fma32(_horner_at(_ERF_BIG, ab), ab, ab)).astype(F)
    m = (fma32(F(1.44269504088896341), r, F(1.25829120e+7)) - F(1.25829120e+7)).astype(F)
    f = fma32(m, F(-1.42860677e-6), fma32(m, F(-6.93145752e-1), r))
    pow2 = ((((m.astype(np.int32) + 127).astype(np.int64) << 23) & 0xFFFFFFFF).astype(np.uint32)).view(F)
    y = (F(1.0) - (_horner_at(_EXP_P, f) * pow2).astype(F)).astype(F)
    return (small.view(np.uint32) | y.view(np.uint32) | sign).view(F).reshape(x.shape)


def gelu(x, approximate: str = "none") -> np.ndarray:
    """onnxruntime's Gelu kernel: ``(0.5·x)·(erf(x·√½) + 1)``, or with ``approximate="tanh"``
    ``(0.5·x)·(tanh(x·(C·x·x + B)) + 1)``, on the MLAS erf/tanh above."""
    x = np.asarray(x, F)
    if approximate == "tanh":
        cubic = ((F(0.035677408136300125) * x).astype(F) * x + F(0.7978845608028654)).astype(F)
        inner = (x * cubic).astype(F)
        t = tanh(inner)
    else:
        t = erf((x * F(0.7071067811865476)).astype(F))
    return ((F(0.5) * x).astype(F) * (t + F(1.0)).astype(F)).astype(F)


def layer_norm(x: np.ndarray, scale, bias, epsilon: float) -> np.ndarray:
    """LayerNormalization over the last axis as onnxruntime 1.32 computes it on x86 (read off
    its binary): rows of n ≥ 8 take the AVX2 kernel — mean in double (4 lanes), variance in
    float32 (8 lanes with fma, a block of 4 without, then fma), ``y = fma((x − mean)·inv, γ, β)``
    with ``inv = 1/sqrtf(var/n + ε)``; shorter rows a float32 Welford pass in input order."""
    x = np.asarray(x, F)
    shape, n = x.shape, x.shape[-1]
    x = x.reshape(-1, n)
    g = np.asarray(scale, F).reshape(-1)
    b = None if bias is None else np.asarray(bias, F).reshape(-1)
    eps = F(epsilon)
    if n < 8:
        mean = np.zeros(len(x), F)
        m2 = np.zeros(len(x), F)
        for k in range(n):
            delta = (x[:, k] - mean).astype(F)
            mean = (mean + (delta / F(k + 1)).astype(F)).astype(F)
            m2 = (m2 + ((x[:, k] - mean).astype(F) * delta).astype(F)).astype(F)
        std = np.sqrt(((m2 / F(n)).astype(F) + eps).astype(F)).astype(F)
        y = ((((x - mean[:, None]).astype(F) / std[:, None]).astype(F)) * g).astype(F)
        return (y if b is None else (y + b).astype(F)).reshape(shape)
    xd = x.astype(np.float64)
    quads = n // 4 * 4
    lanes = xd[:, :quads].reshape(len(x), -1, 4).sum(axis=1) if quads else np.zeros((len(x), 4))
    total = (lanes[:, 0] + lanes[:, 2]) + (lanes[:, 1] + lanes[:, 3])
    for j in range(quads, n):
        total = total + xd[:, j]
    mean = (total / n).astype(F)
    acc = np.zeros((len(x), 8), F)
    i = 0
    while i + 8 <= n:
        d = (x[:, i:i + 8] - mean[:, None]).astype(F)
        acc = fma32(d, d, acc)
        i += 8
    r = (acc[:, :4] + acc[:, 4:]).astype(F)
    var = ((r[:, 0] + r[:, 2]).astype(F) + (r[:, 1] + r[:, 3]).astype(F)).astype(F)
    if n - i >= 4:  # the compiler's vectorised tail: one block of 4, multiply then add
        sq = ((x[:, i:i + 4] - mean[:, None]).astype(F) ** 2).astype(F)
        for k in range(4):
            var = (var + sq[:, k]).astype(F)
        i += 4
    for j in range(i, n):
        d = (x[:, j] - mean).astype(F)
        var = fma32(d, d, var)
    inv = (F(1) / np.sqrt(((var / F(n)).astype(F) + eps).astype(F)).astype(F)).astype(F)
    y = ((x - mean[:, None]).astype(F) * inv[:, None]).astype(F)
    y = fma32(y, g, b) if b is not None else (y * g).astype(F)
    return y.reshape(shape)


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

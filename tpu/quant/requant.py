"""Requantization of int32 accumulators, both ways the peers do it (docs/numerics.md, "Requantization").

* ``requant_float``: the float32 scheme of onnxruntime MLAS, PyTorch fbgemm and TFLite-XNNPACK.
* ``quantize_multiplier`` + ``requant_fixed``: gemmlowp/TFLite reference fixed point (int32
  multiplier and shift, SaturatingRoundingDoublingHighMul then RoundingDivideByPOT); exact integer
  arithmetic in int64 numpy, no floats. This is what the activation unit implements.
"""

from __future__ import annotations

import math

import numpy as np

from tpu.quant.schemes import QuantError, expand

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def wrap_int32(x) -> np.ndarray:
    """Two's-complement wrap of integers to int32 range (returned as int64)."""
    x = np.asarray(x, np.int64)
    return ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def float_multiplier(s_in, s_w, s_out) -> np.ndarray:
    """``M = fp32(fp32(s_in * s_w) / s_out)``, the order onnxruntime evaluates it in float32."""
    s_in = np.float32(s_in)
    s_w = np.asarray(s_w, np.float32)
    return ((s_in * s_w) / np.float32(s_out)).astype(np.float32)


def requant_float(acc, multiplier_f32, zero_point, qmin: int, qmax: int,
                  axis: int | None = None) -> np.ndarray:
    """``clamp(fp32(acc) * M, qmin - zy, qmax - zy)``, round half to even, ``+ zy`` (int64)."""
    acc = np.asarray(acc)
    if not np.issubdtype(acc.dtype, np.integer):
        raise QuantError(f"accumulator must be an integer array, got {acc.dtype}")
    m = expand(np.asarray(multiplier_f32, np.float32), acc.ndim, axis)
    zy = expand(np.asarray(zero_point, np.int64), acc.ndim, axis)
    with np.errstate(over="ignore"):  # a huge M gives ±inf, clamped below, as in MLAS
        v = acc.astype(np.float32) * m  # int -> fp32 rounds to nearest even, like the C cast
    v = np.clip(v, (qmin - zy).astype(np.float32), (qmax - zy).astype(np.float32))
    return np.round(v).astype(np.int64) + zy


def quantize_multiplier(real_multiplier) -> tuple[np.ndarray, np.ndarray]:
    """TFLite QuantizeMultiplier: ``real = qm * 2^(shift - 31)`` with qm in [2^30, 2^31)."""
    real = np.asarray(real_multiplier, np.float64)
    if not np.all(np.isfinite(real)) or np.any(real < 0):
        raise QuantError("real multipliers must be finite and non-negative")
    qm = np.zeros(real.shape, np.int64)
    shift = np.zeros(real.shape, np.int64)
    for idx, r in np.ndenumerate(real):
        if r == 0.0:
            continue
        q, e = math.frexp(float(r))  # q in [0.5, 1)
        q_fixed = _round_half_away(q * (1 << 31))  # TfLiteRound is std::round
        if q_fixed == 1 << 31:
            q_fixed //= 2
            e += 1
        if e < -31:
            q_fixed, e = 0, 0
        if q_fixed > INT32_MAX:
            raise QuantError(f"multiplier {r!r} does not fit an int32 fixed-point value")
        qm[idx], shift[idx] = q_fixed, e
    return qm.astype(np.int32), shift


def _round_half_away(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def _trunc_div(n: np.ndarray, d: int) -> np.ndarray:
    """C integer division (truncates toward zero)."""
    return np.where(n >= 0, n // d, -((-n) // d))


def srdhm(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _trunc_div(ab + nudge, 1 << 31)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, high)


def rdbpot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: divide by 2^exponent, ties away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    if np.any((e < 0) | (e > 31)):
        raise QuantError("RoundingDivideByPOT exponent must be in 0..31")
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, qm, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier; the left shift wraps like the int32 hardware."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(np.asarray(x, np.int64) << left)
    return rdbpot(srdhm(shifted, qm), right)


def requant_fixed(acc, qm, shift, zero_point, qmin: int, qmax: int,
                  axis: int | None = None) -> np.ndarray:
    """gemmlowp fixed-point requantization: ``clamp(MBQM(acc, qm, shift) + zy, qmin, qmax)``."""
    acc = np.asarray(acc)
    if not np.issubdtype(acc.dtype, np.integer):
        raise QuantError(f"accumulator must be an integer array, got {acc.dtype}")
    acc = acc.astype(np.int64)
    if np.any((acc < INT32_MIN) | (acc > INT32_MAX)):
        raise QuantError("accumulator values must fit int32 (wrap them first with wrap_int32)")
    m = expand(np.asarray(qm, np.int64), acc.ndim, axis)
    s = expand(np.asarray(shift, np.int64), acc.ndim, axis)
    zy = expand(np.asarray(zero_point, np.int64), acc.ndim, axis)
    out = multiply_by_quantized_multiplier(acc, m, s) + zy
    return np.clip(out, qmin, qmax)


def bias_int32(bias_f, s_in, s_w) -> np.ndarray:
    """onnxruntime's bias quantization: ``round_half_even(f64(b) / f64(fp32(s_in * s_w)))``.

    The bias scale is the float32 product (as ``input_scale * weight_scale`` on float32 arrays),
    the division is float64, the result is clipped to int32.
    """
    b = np.asarray(bias_f, np.float32)
    if not np.all(np.isfinite(b)):
        raise QuantError("bias contains NaN or Inf")
    bs = np.float32(s_in) * np.asarray(s_w, np.float32)
    if np.any(bs <= 0):
        raise QuantError("bias scale s_in*s_w must be positive")
    q = np.round(b.astype(np.float64) / bs.astype(np.float64))
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)

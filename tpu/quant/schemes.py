"""Integer ranges, scale/zero-point (``qparams``), QuantizeLinear and DequantizeLinear.

Two conventions are reproduced bit for bit (see docs/numerics.md, "Scale and zero point"):

* ``"onnxruntime"``: ``onnxruntime.quantization.quant_utils.compute_scale_zp`` with the ranges of
  ``get_qmin_qmax_for_qType`` (float64 scale stored as float32, tiny scales replaced by 1/0).
* ``"pytorch"``: ``MinMaxObserver`` / ``PerChannelMinMaxObserver._calculate_qparams`` (float32
  throughout, ``eps`` floor, symmetric divides by ``(qmax-qmin)/2``).

Bit widths other than the peers' native ones follow the same rules with the nearest sensible
range: signed symmetric is the restricted range ``[-(2^(b-1)-1), 2^(b-1)-1]`` (so 2 bits is
ternary {-1, 0, 1}). One signed bit is the binary sign scheme {-1, +1}: ``scale = mean|x|``
(XNOR-Net's L2-optimal scale), ``zero_point = 0``, ``q = +1 if x >= 0 else -1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.errors import TpuError

CONVENTIONS = ("onnxruntime", "pytorch")
_TORCH_EPS = np.float32(np.finfo(np.float32).eps)  # torch.finfo(torch.float32).eps


class QuantError(TpuError):
    """Invalid quantization request (bit width, axis, non-finite data, ...)."""


@dataclass(frozen=True)
class QRange:
    """The integer interval a tensor is quantized into."""

    qmin: int
    qmax: int
    binary: bool = False  # 1-bit sign scheme: values are {-1, +1}, 0 is not representable

    def __post_init__(self) -> None:
        if self.qmin > 0 or self.qmax < 0 or self.qmin >= self.qmax:
            raise QuantError(f"integer range [{self.qmin}, {self.qmax}] must contain 0 and be non-empty")


def _check_bits(bits: int) -> None:
    if not isinstance(bits, int | np.integer) or not 1 <= bits <= 16:
        raise QuantError(f"bits must be an integer in 1..16, got {bits!r}")


def qrange(bits: int, signed: bool, *, symmetric: bool = False, reduce_range: bool = False,
           convention: str = "onnxruntime") -> QRange:
    """The integer range a (bits, signed) type uses under a convention's rules."""
    _check_bits(bits)
    if convention not in CONVENTIONS:
        raise QuantError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if bits == 1:
        return QRange(-1, 1, binary=True) if signed else QRange(0, 1)
    if convention == "pytorch":
        if symmetric and reduce_range and not signed and bits <= 8:
            # MinMaxObserver raises NotImplementedError for this combination
            raise QuantError("pytorch convention: reduce_range is not available for unsigned "
                             "symmetric quantization")
        return _torch_range(bits, signed, reduce_range)
    return _ort_range(bits, signed, symmetric, reduce_range)


def _ort_range(bits: int, signed: bool, symmetric: bool, reduce_range: bool) -> QRange:
    # get_qmin_qmax_for_qType: reduce_range wins over symmetric; the symmetric table only has
    # INT8 and INT16, so INT4 symmetric keeps [-8, 7]; reduced INT4 is [-4, 3].
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if reduce_range:
        if not signed:
            return QRange(0, (1 << (bits - 1)) - 1)
        if bits == 4:
            return QRange(-4, 3)
        return QRange(-(1 << (bits - 2)), 1 << (bits - 2))
    if symmetric and signed and bits != 4:
        return QRange(lo + 1, hi)
    return QRange(lo, hi)


def _torch_range(bits: int, signed: bool, reduce_range: bool) -> QRange:
    # calculate_qmin_qmax: 8 and 16 bits are native dtypes (reduce_range only for 8 bits);
    # other widths are a customised quant_min/quant_max, halved with // when reduce_range.
    if bits == 8 and not reduce_range:
        return QRange(-128, 127) if signed else QRange(0, 255)
    if bits == 8:
        return QRange(-64, 63) if signed else QRange(0, 127)
    if bits == 16:
        return QRange(-(1 << 15), (1 << 15) - 1) if signed else QRange(0, (1 << 16) - 1)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if reduce_range:
        lo, hi = lo // 2, hi // 2
    return QRange(lo, hi)


def _finite(x: np.ndarray, what: str = "input") -> np.ndarray:
    x = np.asarray(x)
    if x.size == 0:
        raise QuantError(f"{what} is empty")
    if not np.issubdtype(x.dtype, np.number):
        raise QuantError(f"{what} must be numeric, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise QuantError(f"{what} contains NaN or Inf; quantization needs finite values")
    return x


def _norm_axis(axis: int | None, ndim: int) -> int | None:
    if axis is None:
        return None
    if not -ndim <= axis < ndim:
        raise QuantError(f"axis {axis} out of range for a {ndim}-d tensor")
    return axis % ndim


def minmax(x: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """float32 min and max of x, over everything (axis=None) or per slice along ``axis``."""
    x = _finite(x).astype(np.float32, copy=False)
    ax = _norm_axis(axis, x.ndim)
    if ax is None:
        return np.float32(x.min()), np.float32(x.max())
    other = tuple(i for i in range(x.ndim) if i != ax)
    return x.min(axis=other), x.max(axis=other)


def qparams(x, *, bits: int, signed: bool, symmetric: bool, axis: int | None = None,
            reduce_range: bool = False, convention: str = "onnxruntime"
            ) -> tuple[np.ndarray, np.ndarray]:
    """Scale (float32) and zero point (int64) for x under the named convention.

    Per-tensor when ``axis`` is None (0-d arrays), else one pair per index along ``axis``.
    """
    x = _finite(x)
    rng = qrange(bits, signed, symmetric=symmetric, reduce_range=reduce_range,
                 convention=convention)
    if rng.binary:
        ax = _norm_axis(axis, x.ndim)
        other = None if ax is None else tuple(i for i in range(x.ndim) if i != ax)
        scale = np.abs(x.astype(np.float64)).mean(axis=other).astype(np.float32)
        scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
        return scale, np.zeros(scale.shape, np.int64)
    rmin, rmax = minmax(x, axis)
    return qparams_from_range(rmin, rmax, rng, symmetric=symmetric, convention=convention,
                              unsigned=not signed, custom=bits not in (8, 16))


def qparams_from_range(rmin, rmax, rng: QRange, *, symmetric: bool,
                       convention: str = "onnxruntime", unsigned: bool | None = None,
                       custom: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point from a calibrated float range [rmin, rmax] (float32 values).

    ``unsigned``/``custom`` only matter for the PyTorch symmetric zero point (128 for quint8,
    the down-rounded midpoint for a customised unsigned range, 2^15 for uint16).
    """
    rmin = np.asarray(rmin, np.float32)
    rmax = np.asarray(rmax, np.float32)
    if not (np.all(np.isfinite(rmin)) and np.all(np.isfinite(rmax))):
        raise QuantError("calibrated range contains NaN or Inf")
    if np.any(rmin > rmax):
        raise QuantError("calibrated range has min > max")
    if unsigned is None:
        unsigned = rng.qmin == 0
    if convention == "onnxruntime":
        return _ort_qparams(rmin, rmax, rng.qmin, rng.qmax, symmetric)
    if convention == "pytorch":
        return _torch_qparams(rmin, rmax, rng.qmin, rng.qmax, symmetric, unsigned, custom)
    raise QuantError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def _ort_qparams(rmin, rmax, qmin: int, qmax: int, symmetric: bool):
    rmin = np.minimum(rmin, np.float32(0))
    rmax = np.maximum(rmax, np.float32(0))
    if symmetric:
        absmax = np.maximum(np.abs(rmin), np.abs(rmax))
        rmin, rmax = -absmax, absmax
    scale = (rmax.astype(np.float64) - rmin.astype(np.float64)) / (float(qmax) - float(qmin))
    tiny = scale < np.finfo(np.float32).tiny
    if symmetric:
        zp = np.full(scale.shape, np.round((qmin + qmax) / 2.0), np.float64)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            zp = np.round(qmin - rmin.astype(np.float64) / np.where(tiny, 1.0, scale))
    scale = np.where(tiny, 1.0, scale).astype(np.float32)
    zp = np.where(tiny, 0, zp).astype(np.int64)
    return scale, zp


def _torch_qparams(rmin, rmax, qmin: int, qmax: int, symmetric: bool, unsigned: bool,
                   custom: bool):
    min_neg = np.minimum(rmin, np.float32(0))
    max_pos = np.maximum(rmax, np.float32(0))
    if symmetric:
        max_pos = np.maximum(-min_neg, max_pos)
        scale = np.maximum(max_pos / np.float32((qmax - qmin) / 2), _TORCH_EPS)
        if unsigned and qmax == (1 << 16) - 1 and not custom:
            mid = 1 << 15
        elif unsigned:
            mid = (qmin + qmax) // 2 if custom else 128
        else:
            mid = 0
        zp = np.full(scale.shape, mid, np.int64)
    else:
        scale = np.maximum((max_pos - min_neg) / np.float32(qmax - qmin), _TORCH_EPS)
        zp = qmin - np.round(min_neg / scale).astype(np.int64)
        zp = np.clip(zp, qmin, qmax)
    return scale.astype(np.float32), zp.astype(np.int64)


def expand(param, ndim: int, axis: int | None) -> np.ndarray:
    """Reshape a per-channel parameter so it broadcasts along ``axis`` of an ndim tensor."""
    param = np.asarray(param)
    if axis is None or param.ndim == 0:
        if param.size != 1:
            raise QuantError(f"per-tensor parameter must be a scalar, got shape {param.shape}")
        return param.reshape(())
    ax = _norm_axis(axis, ndim)
    shape = [1] * ndim
    shape[ax] = param.size
    return param.reshape(shape)


def quantize(x, scale, zero_point, *, bits: int, signed: bool, axis: int | None = None,
             qmin: int | None = None, qmax: int | None = None) -> np.ndarray:
    """QuantizeLinear: ``clamp(round_half_even(fp32(x / scale)) + zp)`` as int64.

    The clamp range defaults to the full (bits, signed) range; pass qmin/qmax for a
    restricted one. One signed bit is the sign function (+1 for x >= 0).
    """
    _check_bits(bits)
    x = _finite(x).astype(np.float32, copy=False)
    if bits == 1 and signed:
        return np.where(x >= 0, 1, -1).astype(np.int64)
    s = expand(np.asarray(scale, np.float32), x.ndim, axis)
    z = expand(np.asarray(zero_point, np.int64), x.ndim, axis)
    if np.any(s <= 0):
        raise QuantError("scale must be positive")
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    lo = lo if qmin is None else qmin
    hi = hi if qmax is None else qmax
    # float32 true division, round half to even; clamp in float so huge ratios cannot overflow
    q = np.clip(np.round(x / s) + z.astype(np.float64), lo, hi)
    return q.astype(np.int64)


def dequantize(q, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """DequantizeLinear: ``fp32((q - zp)) * scale`` in float32."""
    q = np.asarray(q)
    s = expand(np.asarray(scale, np.float32), q.ndim, axis)
    z = expand(np.asarray(zero_point, np.int64), q.ndim, axis)
    return (q.astype(np.int64) - z).astype(np.float32) * s

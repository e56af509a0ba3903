"""Mapping a quantized layer's integers onto the array's operand encoding, exactly.

The array multiplies raw operands in its configured width and signedness. A model's
activations (say u8 with zero point 130) and weights (s8, per-channel zero points) are moved
into that range by a constant offset (x' = x + dx, w' = w + dw), and the zero points are
handled outside the array:

    Σ(x − zx)(w − zw) = Σ x'w' − zw*·Σx' − zx*·Σw' + K·zx*·zw*,   zx* = zx+dx, zw* = zw+dw

The last two terms are per output column: folded into the bias at compile time. The row sum
Σx' is needed only if some zw* ≠ 0; the array computes it as one extra weight column of ones.
All arithmetic wraps to the accumulator width, as the activation unit's adders do.

On a multi-precision array (tpu.array.precision) the GEMM declares the layer's own widths and
signedness instead, which the PEs read as they are: the offsets are then zero, and narrower
layers pack, wider ones slice (:func:`layer_precision`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.array.numerics import wrap
from tpu.array.precision import Precision, mode_for
from tpu.config import ArrayConfig, int_range
from tpu.errors import ShapeError
from tpu.ops.core import narrow


def layer_precision(x_q, w_q, array: ArrayConfig, layer: str) -> Precision:
    """The operand widths a layer's GEMMs declare: the layer's own (activations ``x_q``,
    weights ``w_q``) on a multi-precision integer array, else the array's; an error naming the
    layer when the array cannot run them."""
    if not array.multi_precision or array.format != "int":
        return Precision.native(array)
    p = Precision(x_q.bits, w_q.bits, x_q.signed, w_q.signed)
    try:
        mode_for(array, p)
    except ShapeError as exc:
        raise ShapeError(f"layer {layer!r}: {exc}") from None
    return p


def choose_offset(lo: int, hi: int, bits: int, signed: bool, what: str, layer: str) -> int:
    """The offset that moves integers in [lo, hi] into the array's range, or an error."""
    alo, ahi = int_range(bits, signed)
    for d in (0, -(1 << (bits - 1)), 1 << (bits - 1)):
        if alo <= lo + d and hi + d <= ahi:
            return d
    kind = "signed" if signed else "unsigned"
    raise ShapeError(
        f"layer {layer!r}: {what} span [{lo}, {hi}], which no offset fits into the array's "
        f"{bits}-bit {kind} operands; raise [array] {what[:-1] if what.endswith('s') else what}"
        f"_bits or quantize the model to fewer bits"
    )


@dataclass(frozen=True, eq=False)
class MappedWeights:
    """One GEMM's weights as the array holds them, and the constants that restore Σ(x−zx)(w−zw)."""

    w: np.ndarray  # (K, N') in the array's range (narrowest signed type); N' = N + 1 with the ones column
    dx: int  # offset added to every activation
    zx_star: int
    zw_star: np.ndarray  # (N,)
    bias: np.ndarray  # (N,) int64: bias − zx*·Σw' + K·zx*·zw*
    rowsum: bool  # the last column of w is ones (Σx' needed)
    acc_bits: int

    @property
    def n(self) -> int:
        return len(self.bias)

    def accumulators(self, out: np.ndarray) -> np.ndarray:
        """The true int32-style accumulators (bias included) from the array's output rows."""
        acc = out[:, : self.n] + self.bias
        if self.rowsum:
            acc = acc - self.zw_star * out[:, self.n : self.n + 1]
        return wrap(acc, self.acc_bits)


def map_weights(w: np.ndarray, zw: np.ndarray, bias: np.ndarray | None, zx: int,
                x_range: tuple[int, int], array: ArrayConfig, layer: str,
                w_range: tuple[int, int] | None = None,
                precision: Precision | None = None) -> MappedWeights:
    """Prepare an integer weight matrix ``w`` (K×N) with zero points ``zw`` (N,) for the array,
    whose GEMMs declare ``precision`` (default: the array's widths). ``w_range`` is the span the
    offset must cover (default: the values' own span; a second activation loaded at run time
    uses its type's range)."""
    K, N = w.shape
    p = precision or Precision.native(array)
    dx = choose_offset(*x_range, p.act_bits, p.act_signed, "activations", layer)
    lo, hi = w_range if w_range is not None else (int(w.min()), int(w.max()))
    dw = choose_offset(lo, hi, p.weight_bits, p.weight_signed, "weights", layer)
    wp = w.astype(np.int64) + dw
    zx_star = int(zx) + dx
    zw_star = np.broadcast_to(np.asarray(zw, np.int64), (N,)) + dw
    b = np.zeros(N, np.int64) if bias is None else np.asarray(bias, np.int64)
    folded = b - zx_star * wp.sum(axis=0) + K * zx_star * zw_star
    rowsum = bool(np.any(zw_star != 0))
    if rowsum:
        wp = np.concatenate([wp, np.ones((K, 1), np.int64)], axis=1)
    return MappedWeights(narrow(wp), dx, zx_star, zw_star, wrap(folded, array.acc_bits), rowsum,
                         array.acc_bits)


"""Integer arithmetic of the array: operand checks, two's-complement wrap, exact matmul."""

from __future__ import annotations

import numpy as np

from tpu.config import int_range
from tpu.errors import ShapeError

# float64 represents every integer below 2**53 exactly, so a float64 BLAS matmul is exact
# whenever the largest possible |partial sum| stays below it.
_FLOAT64_EXACT = 1 << 53
_FLOAT32_EXACT = 1 << 24


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` (what an accumulator register does)."""
    half = np.int64(1 << (bits - 1))
    return ((x + half) & np.int64((1 << bits) - 1)) - half


def as_matrix(x, name: str) -> np.ndarray:
    """``x`` as a non-empty 2-D numpy array of integers (or integer-valued floats), not copied."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise ShapeError(f"{name} is not a rectangular matrix of numbers ({exc})") from None
    if x.ndim != 2:
        raise ShapeError(f"{name} must be a 2-D matrix, got shape {x.shape}")
    if x.size == 0:
        raise ShapeError(f"{name} is empty (shape {x.shape})")
    if x.dtype.kind not in "iub":
        integral = x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x))
        if not integral:  # integer-valued floats are accepted (e.g. saved from a float pipeline)
            raise ShapeError(f"{name} must hold integers, got dtype {x.dtype}")
    return x


def check_operand(x, name: str, bits: int, signed: bool) -> np.ndarray:
    """Return ``x`` as int64 if every element fits ``bits``/``signed``; raise otherwise."""
    x = as_matrix(x, name)
    lo, hi = int_range(bits, signed)
    xmin, xmax = x.min(), x.max()
    if xmin < lo or xmax > hi:
        kind = "signed" if signed else "unsigned"
        raise ShapeError(
            f"{name} holds values in [{xmin}, {xmax}] but the array takes {bits}-bit {kind} "
            f"operands [{lo}, {hi}]; quantize the input or change the config's bit widths"
        )
    return x.astype(np.int64, copy=False)


def max_abs(x: np.ndarray) -> int:
    """max |x| without a temporary the size of ``x``."""
    return max(-int(x.min()), int(x.max()))


def exact_matmul(a: np.ndarray, b: np.ndarray, step: int | None = None) -> np.ndarray:
    """Exact int64 product of int64 matrices, by the fastest BLAS that is provably exact:
    float32 over slices of K short enough that no partial sum reaches 2**24 (every integer
    below it is a float32, in any summation order, fused or not), else float64 below 2**53,
    else int64. ``step`` bounds one product |a·b| (computed when not given)."""
    step = max_abs(a) * max_abs(b) if step is None else step
    if step == 0:
        return np.zeros((a.shape[0], b.shape[1]), np.int64)
    k = a.shape[1]
    k_slice = (_FLOAT32_EXACT - 1) // step
    if k_slice >= min(k, 64):  # 8-bit operands: slices of ~1000
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        out = (a32[:, :k_slice] @ b32[:k_slice]).astype(np.int64)
        for k0 in range(k_slice, k, k_slice):
            out += (a32[:, k0:k0 + k_slice] @ b32[k0:k0 + k_slice]).astype(np.int64)
        return out
    if step * k < _FLOAT64_EXACT:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b  # int64 matmul: exact while the true sum fits in int64 (|x| < 2**16, K < 2**31)


def count_wraps(partials: list[np.ndarray], bits: int) -> int:
    """Overflows of a running sum taken in the given order, each step wrapped to ``bits``.

    ``partials[0]`` starts the sum (no add); every later term is one add that overflows when the
    true sum of the wrapped running value and the term leaves the ``bits`` range.
    """
    lo, hi = int_range(bits, True)
    run = wrap(partials[0], bits)
    overflows = 0
    for term in partials[1:]:
        total = run + term
        overflows += int(np.count_nonzero((total < lo) | (total > hi)))
        run = wrap(total, bits)
    return overflows

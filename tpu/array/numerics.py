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
            f"operands [{lo}, {hi}]; quantize the input, declare wider operands (precision=, "
            f"tpu gemm --act-bits/--weight-bits) or change the config's bit widths"
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


def check_binary(x: np.ndarray, name: str) -> None:
    """Binary operands are ±1: a zero has no encoding."""
    if np.any(x == 0):
        raise ShapeError(f"{name} is a binary (1-bit) operand but holds 0; binary values are -1 "
                         f"and +1")


class IntArithmetic:
    """Integer PEs and accumulators: exact products (lane sums of slice fields), ``acc_bits``
    two's-complement sums, an overflow counted for every add whose true result leaves the
    range (the wrapped value is what the register holds)."""

    dtype = np.int64

    def __init__(self, acc_bits: int, roles):
        self.bits, self.roles = acc_bits, roles
        self.lo, self.hi = int_range(acc_bits, True)

    def add(self, base: np.ndarray, term: np.ndarray, counted=True) -> tuple[np.ndarray, int]:
        """``base + term``, wrapped; overflows counted where ``counted`` (the adds that belong
        to a result: not those of PEs or columns a partial tile leaves idle)."""
        total = base + term
        over = (total < self.lo) | (total > self.hi)
        return wrap(total, self.bits), int(np.count_nonzero(over & counted))

    def shift_add(self, base: np.ndarray, term: np.ndarray, shift, counted=True) -> tuple[np.ndarray, int]:
        """``base + term · 2^shift`` (one add; ``shift`` ≥ 0, per element or scalar)."""
        shift = np.asarray(shift, np.int64)
        if not np.any(shift):
            return self.add(base, term, counted)
        term = np.asarray(term, np.int64)
        # |term·2^shift| ≥ 2^62 overflows any accumulator (≤ 48 bits) whatever base is; below
        # that the sum fits int64 exactly
        big = np.abs(term) >= np.left_shift(np.int64(1), 62 - shift)
        total = base + (np.where(big, 0, term) << shift)
        over = big | (total < self.lo) | (total > self.hi)
        shifted = (term.astype(np.uint64) << shift.astype(np.uint64)).astype(np.int64)  # mod 2^64
        return wrap(base + shifted, self.bits), int(np.count_nonzero(over & counted))

    def term(self, x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, int]:
        """Fast path: the exact sum of one reduction word's lane products, x (M, L) · s (L, N)."""
        return x @ s, 0

    def mac(self, base, x, s, tags, shift=0, counted=True) -> tuple[np.ndarray, int]:
        """One PE step: the product of its two words (read per tag) added to ``base · 2^shift``."""
        from tpu.array.precision import pe_product

        return self.shift_add(pe_product(x, s, tags, self.roles), base, shift, counted)


class FloatArithmetic:
    """fp16 / bf16 PEs with fp32 accumulation: the product of two 16-bit floats rounded to fp32
    (exact for fp16; for bf16 exact unless it leaves fp32's normal range), then an fp32 add
    rounded to nearest even — two roundings, not a fused multiply-add. Subnormals are kept (no
    flush to zero). A product or sum that becomes infinite from finite inputs counts as an
    overflow. Rows tagged to skip add nothing (see ``Roles.skips_padding``)."""

    dtype = np.float32

    def __init__(self, fmt: str):
        self.format = fmt

    @staticmethod
    def _new_infs(result, *inputs) -> np.ndarray:
        finite = np.ones(np.shape(result), bool)
        for v in inputs:
            finite &= np.isfinite(v)
        return np.isinf(result) & finite

    def add(self, base, term, counted=True) -> tuple[np.ndarray, int]:
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.asarray(base, np.float32) + np.asarray(term, np.float32)
        return total, int(np.count_nonzero(self._new_infs(total, base, term) & counted))

    def shift_add(self, base, term, shift, counted=True) -> tuple[np.ndarray, int]:
        if np.any(shift):
            raise ValueError("float arrays have no slices to shift")
        return self.add(base, term, counted)

    def term(self, x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, int]:
        """Fast path: one reduction step's products, x (M, 1) · s (1, N), rounded to fp32."""
        with np.errstate(over="ignore", invalid="ignore"):
            p = x.astype(np.float32) * s.astype(np.float32)  # lanes = 1: (M, 1) · (1, N)
        return p, int(np.count_nonzero(np.isinf(p)))

    def mac(self, base, x, s, tags, shift=0, counted=True) -> tuple[np.ndarray, int]:
        with np.errstate(over="ignore", invalid="ignore"):
            p = np.asarray(x, np.float32) * np.asarray(s, np.float32)
        total, _ = self.add(base, p)
        adds = np.broadcast_to((np.asarray(tags) >> 3) & 31 == 0, np.shape(total))  # Op.skip
        over = adds & counted & (np.isinf(p) | self._new_infs(total, base, p))
        return np.where(adds, total, base).astype(np.float32), int(np.count_nonzero(over))


def arithmetic(array, roles=None):
    """The PE and accumulator arithmetic of an array config."""
    if array.format != "int":
        return FloatArithmetic(array.format)
    from tpu.array.precision import Roles

    return IntArithmetic(array.acc_bits, roles or Roles.of(array))


FLOAT_DTYPES = {"fp16": np.float16}


def float_dtype(fmt: str):
    if fmt == "bf16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return FLOAT_DTYPES[fmt]


def check_float_operand(x, name: str, fmt: str) -> np.ndarray:
    """``x`` as float64 if every element is a finite ``fmt`` value; raise otherwise."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ShapeError(f"{name} must be a 2-D matrix, got shape {x.shape}")
    if x.size == 0:
        raise ShapeError(f"{name} is empty (shape {x.shape})")
    if x.dtype.kind not in "iuf" and x.dtype != float_dtype(fmt):
        raise ShapeError(f"{name} must hold numbers for the {fmt} array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ShapeError(f"{name} holds NaN or infinity; the {fmt} array takes finite values")
    rounded = x.astype(np.float32).astype(float_dtype(fmt)).astype(np.float64)
    bad = np.flatnonzero(rounded != x)
    if bad.size:
        v = x.flat[bad[0]]
        raise ShapeError(f"{name} holds {v!r}, which is not a {fmt} value (it rounds to "
                         f"{rounded.flat[bad[0]]!r}); round the operands to {fmt} first")
    return x

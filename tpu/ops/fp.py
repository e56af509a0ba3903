"""float32 arithmetic exactly as C compilers and SIMD units round it (for bit-exact kernels).

numpy has no fused multiply-add; :func:`fma32` computes ``a·b + c`` rounded once to float32, as
``_mm256_fmadd_ps`` and ``std::fma`` do, from float64 arithmetic plus an error term.
"""

from __future__ import annotations

import numpy as np


def fma32(a, b, c) -> np.ndarray:
    """``round_to_float32(a·b + c)`` with one rounding (round half to even)."""
    a, b, c = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
    p = a * b  # exact: 24 + 24 significant bits fit float64's 53
    s = p + c  # rounded once to float64
    bb = s - p
    err = (p - (s - bb)) + (c - bb)  # TwoSum: s + err == p + c exactly
    r = s.astype(np.float32)
    # s rounds to float32 correctly unless it sits exactly on a float32 midpoint while the exact
    # sum lies off it (err != 0): then round towards err instead of to even.
    r64 = r.astype(np.float64)
    toward = np.where(s > r64, np.float32(np.inf), np.float32(-np.inf))
    other = np.nextafter(r, toward.astype(np.float32))
    tie = (s != r64) & (s == (r64 + other.astype(np.float64)) / 2) & (err != 0)
    fix = np.where(err > 0, np.maximum(r, other), np.minimum(r, other))
    return np.where(tie, fix, r).astype(np.float32)

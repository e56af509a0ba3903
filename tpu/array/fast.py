"""The tile-level fast path: a GEMM's values and overflow count without cycling.

Integer values are the exact product wrapped to ``acc_bits`` (wrapping commutes with every add,
so order does not matter). Overflow counts and float sums do depend on the order of the adds,
so they are replayed in the order the dataflow makes them — down a PE column within a tile and
then across tiles in the accumulator (ws/is), or along the whole reduction inside one PE (os),
pass by pass for sliced operands — vectorised over the outputs, one reduction word at a time.
"""

from __future__ import annotations

import numpy as np

from tpu.array.numerics import IntArithmetic, exact_matmul, max_abs, wrap
from tpu.array.precision import Mode
from tpu.array.schedule import os_passes, stationary_operands, stationary_slices


def fast_values(a: np.ndarray, b: np.ndarray, mode: Mode, dataflow: str, rows: int, arith):
    """(C, overflows) exactly as the array computes them (C wrapped, or in fp32)."""
    if isinstance(arith, IntArithmetic):
        out = wrap(exact_matmul(a, b), arith.bits)
        if _bound(a, b, mode) <= arith.hi:
            return out, 0  # no partial sum can leave the range, whatever the order
        return out, replay(a, b, mode, dataflow, rows, arith)[1]
    return replay(a, b, mode, dataflow, rows, arith)


def _bound(a, b, mode: Mode) -> int:
    """Largest |partial sum| any order of the passes' adds can reach."""
    def size(x, slices):
        return sum(max_abs(sl.take(x)) << sl.shift for sl in slices)

    return size(a, mode.act) * size(b, mode.weight) * a.shape[1]


def replay(a, b, mode: Mode, dataflow: str, rows: int, arith):
    """Every add of the array in its order: (C, overflows)."""
    if dataflow == "os":
        x, s, x_sl, s_sl = a, b, mode.act, mode.weight
    else:
        (x, s), (x_sl, s_sl) = stationary_operands(a, b, dataflow), stationary_slices(mode, dataflow)
    if isinstance(arith, IntArithmetic):
        xs, ss = [sl.take(x) for sl in x_sl], [sl.take(s) for sl in s_sl]
    else:
        xs, ss = [x], [s]
    lanes, words = mode.lanes, mode.packed(x.shape[1])
    zero = np.zeros((x.shape[0], s.shape[1]), arith.dtype)
    over = 0

    def term(i: int, j: int, w: int) -> np.ndarray:
        nonlocal over
        lo, hi = w * lanes, (w + 1) * lanes
        t, o = arith.term(xs[i][:, lo:hi], ss[j][lo:hi, :])
        over += o
        return t

    def add(f, *args):
        nonlocal over
        value, o = f(*args)
        over += o
        return value

    if dataflow == "os":  # one PE's running sum; Horner's shift at each pass that steps down
        widths = (0, mode.act_field * lanes, mode.weight_field * lanes)
        acc = None
        for i, j, code in os_passes(mode):
            for w in range(words):
                t = term(i, j, w)
                if acc is None:
                    acc = add(arith.add, zero, t)
                else:
                    acc = add(arith.shift_add, t, acc, widths[code] if w == 0 else 0)
        return acc, over
    acc = None
    for w0 in range(0, words, rows):  # one tile's reduction block, its passes in plan order
        for j in range(len(ss)):
            for i in range(len(xs)):
                psum = zero
                for w in range(w0, min(w0 + rows, words)):
                    psum = add(arith.add, psum, term(i, j, w))
                shift = x_sl[i].shift + s_sl[j].shift
                # the first pass overwrites the accumulator row, later ones add (shifted)
                acc = psum if acc is None else add(arith.shift_add, acc, psum, shift)
    return (acc if dataflow == "ws" else acc.T), over

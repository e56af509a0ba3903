"""What every matrix-unit op shares: the integer accumulate, its wrap, and requantization.

A matrix op (Conv, Gemm, MatMul) is, per group, ``acc = Σ (x - zx)(w - zw[n]) + bias[n]`` over a
patch matrix A (M × K) and a weight matrix B (K × N), wrapped to the accumulator width, then
requantized per output column. The op says how to build A and B (:meth:`MatrixOp.patches`,
:meth:`MatrixOp.weights`) and how the (M, N) result becomes its output tensor
(:meth:`MatrixOp.to_output`); everything else — the reference semantics, the lowering onto the
array and the program's values — goes through the methods here, so the array and the reference
compute the same integers by construction of A and B only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tpu.errors import ShapeError
from tpu.ops.core import Clamped, Numerics, QParams, Work, narrow
from tpu.quant import float_multiplier, quantize_multiplier, requant_fixed, requant_float
from tpu.quant.requant import wrap_int32


def zero_point(q: QParams | None) -> np.ndarray:
    return np.zeros((), np.int64) if q is None else np.asarray(q.zero_point, np.int64)


def wrap(acc: np.ndarray, acc_bits: int | None) -> np.ndarray:
    if acc_bits is None:
        return acc
    if acc_bits == 32:
        return wrap_int32(acc)
    lo = -(1 << (acc_bits - 1))
    return ((acc - lo) & ((1 << acc_bits) - 1)) + lo


def pairs_acc(x: np.ndarray, w: np.ndarray, zx: int) -> np.ndarray:
    """MLAS U8S8 on AVX2 without VNNI (vpmaddubsw): raw u8·s8 products of K-neighbours
    (2j, 2j+1) are summed and saturated to int16 before the int32 accumulation; the zero point
    is removed after, ``acc = Σ sat16(pair) - zx·Σw``. x (M, K) u8, w (K, N) s8 with zero point 0."""
    m, k = x.shape
    if k % 2:
        x = np.concatenate([x, np.zeros((m, 1), np.int64)], axis=1)
        w = np.concatenate([w, np.zeros((1, w.shape[1]), np.int64)], axis=0)
    pairs = x[:, 0::2, None] * w[None, 0::2] + x[:, 1::2, None] * w[None, 1::2]  # (M, K/2, N)
    return np.clip(pairs, -32768, 32767).sum(axis=1) - zx * w.sum(axis=0)


@dataclass(frozen=True, eq=False)
class MatrixOp(Clamped):
    """Fields shared by the matrix ops. Quantized: integer ``weight`` with ``w_q`` (per tensor or
    per output column), ``bias`` int32 at scale s_x·s_w, ``x_q``/``out_q`` activation params.
    Float: float32 ``weight``/``bias``, q fields None. ``relu``/``clip``: a fused clamp.
    Integer operands without ``out_q`` give the raw accumulators (see :attr:`raw`)."""

    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    x_q: QParams | None = None
    w_q: QParams | None = None
    out_q: QParams | None = None

    unit: ClassVar[str] = "matrix"
    w_axis: ClassVar[int] = 1  # the weight's output-channel axis

    def __post_init__(self):
        if self.weight is not None and np.asarray(self.weight).dtype.kind in "iu":
            object.__setattr__(self, "weight", narrow(self.weight))  # readers widen it

    # --- what each op defines --------------------------------------------------------------
    def dims(self, shapes: list[tuple[int, ...]]) -> tuple[int, int, int, int]:
        """(groups, M, K, N) of the GEMMs this op is, for these input shapes."""
        raise NotImplementedError

    def patches(self, args: list[np.ndarray], pad_value, mlas_order: bool = False) -> list[np.ndarray]:
        """Per group, the M × K left operand (integers, or float32 for a float op). K runs in
        the op's natural order, or with ``mlas_order`` in the order MLAS's kernels add it (it
        matters only where pairs of products saturate)."""
        raise NotImplementedError

    def weights(self, args: list[np.ndarray], mlas_order: bool = False) -> list[np.ndarray]:
        """Per group, the K × N right operand (the constant weight, or a second activation),
        K in the same order as :meth:`patches`."""
        raise NotImplementedError

    def to_output(self, y: np.ndarray, shapes: list[tuple[int, ...]]) -> np.ndarray:
        """The (M, groups·N) result as the op's output tensor."""
        raise NotImplementedError

    # --- shared semantics ------------------------------------------------------------------
    @property
    def const_weights(self) -> bool:
        return self.weight is not None

    def weight_zero_points(self, n_total: int) -> np.ndarray:
        return np.broadcast_to(zero_point(self.w_q), (n_total,))

    def work(self, shapes, out) -> Work:
        return Work()

    def macs(self, shapes) -> int:
        g, m, k, n = self.dims(shapes)
        return g * m * k * n

    def accumulate(self, args: list[np.ndarray], nx: Numerics) -> np.ndarray:
        """Exact ``Σ (x - zx)(w - zw[n]) + bias[n]`` as (M, groups·N) int64, wrapped."""
        zx = int(zero_point(self.x_q))
        pairs = nx.saturate_pairs and self.u8s8()
        args = [np.asarray(a, np.int64) for a in args]
        a_list = self.patches(args, zx, mlas_order=pairs)
        b_list = self.weights(args, mlas_order=pairs)
        n = b_list[0].shape[1]
        zw = self.weight_zero_points(n * len(b_list))
        outs = []
        for g, (a, b) in enumerate(zip(a_list, b_list, strict=True)):
            b = np.asarray(b, np.int64)
            if pairs:
                outs.append(pairs_acc(a, b, zx))
            else:
                outs.append((a - zx) @ (b - zw[g * n : (g + 1) * n]))
        acc = np.concatenate(outs, axis=1)
        if self.bias is not None:
            acc = acc + np.asarray(self.bias, np.int64).reshape(-1)
        return wrap(acc, nx.acc_bits)

    def u8s8(self) -> bool:
        """u8 activations × s8 weights with zero weight zero points: MLAS's U8S8 GEMM kernel
        (the one whose int16 pair sums saturate on AVX2 without VNNI)."""
        return (self.const_weights and self.x_q.bits == 8 and not self.x_q.signed
                and self.w_q.bits == 8 and self.w_q.signed
                and not np.any(self.w_q.zero_point))

    def output_range(self) -> tuple[int, int]:
        """Integer clamp of the output (a fused ReLU raises the floor to the zero point)."""
        return self.clamp_range(self.out_q)

    def multiplier_float(self) -> np.ndarray:
        """MLAS's per-channel float32 multiplier ``fp32(fp32(sx·sw[c]) / sy)``."""
        return float_multiplier(self.x_q.scale, self.w_q.scale, self.out_q.scale)

    def multiplier_fixed(self) -> tuple[np.ndarray, np.ndarray]:
        """gemmlowp (int32 multiplier, shift) of ``double(sx)·double(sw[c]) / double(sy)``."""
        real = (np.float64(self.x_q.scale) * np.asarray(self.w_q.scale, np.float64)
                / np.float64(self.out_q.scale))
        return quantize_multiplier(real)

    @property
    def raw(self) -> bool:
        """Integer operands and no output parameters: the output is the wrapped accumulator
        itself (``tpu gemm``'s C), written back at the accumulator's width."""
        return self.x_q is not None and self.out_q is None

    def requantize(self, acc: np.ndarray, mode: str = "float") -> np.ndarray:
        """(M, channels) int32 accumulators → output integers (int64); a raw op keeps them."""
        if self.raw:
            return acc
        lo, hi = self.output_range()
        axis = 1 if np.ndim(self.w_q.scale) else None
        zy = self.out_q.zero_point
        if mode == "fixed":
            qm, shift = self.multiplier_fixed()
            return requant_fixed(acc, qm, shift, zy, lo, hi, axis=axis)
        return requant_float(acc, self.multiplier_float(), zy, lo, hi, axis=axis)

    def float_result(self, args: list[np.ndarray]) -> np.ndarray:
        args = [np.asarray(a, np.float32) for a in args]
        a_list = self.patches(args, 0.0)
        b_list = self.weights(args)
        y = np.concatenate([a @ np.asarray(b, np.float32) for a, b in zip(a_list, b_list, strict=True)],
                           axis=1)
        if self.bias is not None:
            y = y + np.asarray(self.bias, np.float32).reshape(-1)
        return self.clamp_float(y)

    def run(self, args, nx: Numerics) -> np.ndarray:
        shapes = [np.shape(a) for a in args]
        self.check(shapes)
        if self.x_q is None:
            return self.to_output(self.float_result(args), shapes)
        return self.to_output(self.requantize(self.accumulate(args, nx), nx.requant), shapes)

    def check(self, shapes) -> None:
        try:
            self.dims(shapes)
        except (ValueError, IndexError) as exc:
            raise ShapeError(f"node {self.name!r}: input shapes {shapes} do not fit ({exc})") from None

    def quantize_weights(self, qc, x_q: QParams) -> dict:
        """Integer weight, its params and the int32 bias for input params ``x_q`` (static PTQ)."""
        w, w_q = qc.weight(np.asarray(self.weight, np.float32), self.w_axis)
        bias = None if self.bias is None else qc.bias(self.bias, x_q, w_q)
        return dict(weight=w, w_q=w_q, bias=bias)


"""Gemm and MatMul (ONNX Gemm, MatMul, QLinearMatMul, com.microsoft QGemm, their QDQ groups).

* :class:`Gemm`: ``y = x·W + b`` with a constant ``weight`` (K × N). ``x`` may have any rank:
  its leading dimensions are rows (M = their product), as MatMul broadcasts them.
* :class:`MatMul`: the product of two activations, ``A (…, M, K) @ B (…, K, N)`` with
  broadcast batch dimensions (attention's Q·Kᵀ and P·V). On the matrix unit the second
  activation is the stationary operand, loaded from the unified buffer at run time; each
  broadcast batch element is one group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.ops.core import replace, size
from tpu.ops.matrix import MatrixOp, zero_point
from tpu.ops.registry import onnx_op
from tpu.ops.shape import Transpose


@dataclass(frozen=True, eq=False)
class Gemm(MatrixOp):
    def dims(self, shapes):
        x = shapes[0]
        k, n = self.weight.shape
        if not x or x[-1] != k:
            raise ValueError(f"input's last dimension must be {k}")
        return 1, size(x[:-1]), k, n

    def infer(self, shapes, values):
        self.dims(shapes)
        return (*shapes[0][:-1], self.weight.shape[1])

    def patches(self, args, pad_value, mlas_order=False):
        return [args[0].reshape(-1, self.weight.shape[0])]

    def weights(self, args, mlas_order=False):
        return [self.weight]

    def to_output(self, y, shapes):
        return y.reshape(*shapes[0][:-1], self.weight.shape[1])

    def quantize(self, qc):
        x, x_q = qc.int_input(self.inputs[0])
        return replace(self, inputs=(x,), x_q=x_q, out_q=qc.act_q(self.output),
                       **self.quantize_weights(qc, x_q))


@dataclass(frozen=True, eq=False)
class MatMul(MatrixOp):
    """``A @ B`` of two activations; ``w_q`` holds B's parameters (per tensor)."""

    def _batch(self, shapes):
        a, b = shapes
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise ValueError(f"A {a} and B {b} do not multiply")
        return tuple(np.broadcast_shapes(a[:-2], b[:-2]))

    def dims(self, shapes):
        batch = self._batch(shapes)
        return size(batch), shapes[0][-2], shapes[0][-1], shapes[1][-1]

    def infer(self, shapes, values):
        return (*self._batch(shapes), shapes[0][-2], shapes[1][-1])

    def patches(self, args, pad_value, mlas_order=False):
        a, b = args
        batch = self._batch([a.shape, b.shape])
        a = np.broadcast_to(a, (*batch, *a.shape[-2:]))
        return list(a.reshape(-1, *a.shape[-2:]))

    def weights(self, args, mlas_order=False):
        a, b = args
        batch = self._batch([a.shape, b.shape])
        b = np.broadcast_to(b, (*batch, *b.shape[-2:]))
        return list(b.reshape(-1, *b.shape[-2:]))

    def to_output(self, y, shapes):
        g, m, _, n = self.dims(shapes)
        # y is (M, groups·N): group g's block of N columns holds batch element g
        return y.reshape(m, g, n).transpose(1, 0, 2).reshape(*self._batch(shapes), m, n)

    def weight_zero_points(self, n_total):
        return np.broadcast_to(zero_point(self.w_q), (n_total,))

    def quantize(self, qc):
        a, a_q = qc.int_input(self.inputs[0])
        b, b_q = qc.int_input(self.inputs[1])
        return replace(self, inputs=(a, b), x_q=a_q, w_q=b_q, out_q=qc.act_q(self.output))

    def describe(self):
        return "activation x activation"


def _x_input(ctx, node, group, trans_a: bool) -> tuple[str, object]:
    """The activation operand (transposed by a Transpose node when transA=1)."""
    if group is not None:
        x, x_q = group.inputs[0]
    else:
        x, x_q = ctx.float_input(node.input[0]), None
    if trans_a:
        t = f"{x}_T"
        ctx.emit(Transpose(f"{ctx.name(node)}_transA", (x,), t, perm=(1, 0)))
        x = t
    return x, x_q


@onnx_op("Gemm", qdq="fuse", act_inputs=(0,))
def import_gemm(ctx, node, group):
    a = ctx.attrs(node)
    w, wq = ctx.weight(node, node.input[1])
    trans_b = bool(a.get("transB", 0))
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    c_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if group is not None:
        x_q = group.inputs[0][1]
        bias_in = group.inputs[2] if c_name is not None else None
        if wq is None or alpha != 1.0 or beta != 1.0 or not ctx.fusable_activation(x_q) \
                or not ctx.fusable_bias(bias_in, x_q, wq):
            return False
        x, x_q = _x_input(ctx, node, group, bool(a.get("transA", 0)))
        bias = None if c_name is None else np.asarray(group.inputs[2][0]).reshape(-1)
        ctx.emit(Gemm(ctx.name(node), (x,), group.output, weight=w.T if trans_b else w, bias=bias,
                      x_q=x_q, w_q=ctx.channel_axis(wq, 1), out_q=group.out_q))
        return True
    w = ctx.dequantized(w, wq)
    wt = (w.T if trans_b else w) * np.float32(alpha)
    bias = None
    if c_name is not None:
        c = ctx.float_const(node, c_name) * np.float32(beta)
        if c.size not in (1, wt.shape[1]):
            raise ctx.err(node, f"bias C of shape {c.shape} is not per output column")
        bias = np.broadcast_to(c.reshape(-1), (wt.shape[1],)).astype(np.float32)
    x, _ = _x_input(ctx, node, None, bool(a.get("transA", 0)))
    ctx.emit(Gemm(ctx.name(node), (x,), node.output[0], weight=np.ascontiguousarray(wt, np.float32),
                  bias=bias))


@onnx_op("MatMul", qdq="fuse")
def import_matmul(ctx, node, group):
    if not ctx.is_constant(node.input[1]):
        return _import_dynamic_matmul(ctx, node, group)
    w, wq = ctx.weight(node, node.input[1])
    if w.ndim != 2:
        raise ctx.err(node, f"a constant second MatMul operand must be 2-D, got shape {w.shape}")
    if group is not None:
        x, x_q = group.inputs[0]
        if wq is None or not ctx.fusable_activation(x_q):
            return False
        ctx.emit(Gemm(ctx.name(node), (x,), group.output, weight=w, x_q=x_q,
                      w_q=ctx.channel_axis(wq, 1), out_q=group.out_q))
        return True
    w = ctx.dequantized(w, wq)
    out, bias = node.output[0], None
    add = ctx.single_consumer(out, "Add")
    if add is not None:  # MatMul + constant Add is a Gemm with bias
        other = [i for i in add.input if i != out]
        c = ctx.maybe_const(other[0]) if len(other) == 1 else None
        if c is not None and c.size == w.shape[1] and c.ndim <= 2:
            bias, out = np.asarray(c, np.float32).reshape(-1), add.output[0]
            ctx.skip(add)
    ctx.emit(Gemm(ctx.name(node), (ctx.float_input(node.input[0]),), out,
                  weight=np.asarray(w, np.float32), bias=bias))


def _import_dynamic_matmul(ctx, node, group):
    if group is not None:
        (a, a_q), (b, b_q) = group.inputs
        if not isinstance(a, str) or not isinstance(b, str) or not ctx.fusable_activation(a_q):
            return False
        ctx.emit(MatMul(ctx.name(node), (a, b), group.output, x_q=a_q, w_q=b_q, out_q=group.out_q))
        return True
    ctx.emit(MatMul(ctx.name(node), (ctx.float_input(node.input[0]), ctx.float_input(node.input[1])),
                    node.output[0]))


@onnx_op("QLinearMatMul")
def import_qlinear_matmul(ctx, node, group):
    x, xq = ctx.int_input(node, 0)
    if not ctx.is_constant(node.input[3]):
        b, bq = ctx.int_input(node, 3)
        oq = ctx.out_q(node, 6)
        ctx.emit(MatMul(ctx.name(node), (x, b), node.output[0], x_q=xq, w_q=bq, out_q=oq))
        return
    w = ctx.int8_const(node, node.input[3], "weight")
    if w.ndim != 2:
        raise ctx.err(node, f"a constant second operand must be 2-D, got shape {w.shape}")
    wq = ctx.qparams(node, node.input[4], node.input[5], 1)
    oq = ctx.out_q(node, 6)
    ctx.emit(Gemm(ctx.name(node), (x,), node.output[0], weight=w, x_q=xq, w_q=wq,
                  out_q=oq))


@onnx_op("QGemm")
def import_qgemm(ctx, node, group):
    a = ctx.attrs(node)
    if float(a.get("alpha", 1.0)) != 1.0:
        raise ctx.err(node, "only alpha=1 is supported")
    if len(node.input) < 8 or not node.input[7]:
        raise ctx.err(node, "QGemm with a float output (no y_scale) is unsupported")
    x, xq = ctx.int_input(node, 0)
    if a.get("transA", 0):
        ctx.emit(Transpose(f"{ctx.name(node)}_transA", (x,), f"{x}_T", perm=(1, 0)))
        x = f"{x}_T"
    w = ctx.int8_const(node, node.input[3], "weight")
    wq = ctx.qparams(node, node.input[4], node.input[5], 1)
    bias = None
    if node.input[6]:
        bias = np.asarray(ctx.const(node, node.input[6], "bias"), np.int64).reshape(-1)
    oq = ctx.out_q(node, 7)
    wt = w.T if a.get("transB", 0) else w
    ctx.emit(Gemm(ctx.name(node), (x,), node.output[0], weight=np.ascontiguousarray(wt),
                  bias=bias, x_q=xq, w_q=wq, out_q=oq))

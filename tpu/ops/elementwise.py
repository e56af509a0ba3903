"""Binary elementwise ops with numpy broadcasting: Add, Sub, Mul, Div, and their quantized forms.

Quantized Add and Mul are onnxruntime's com.microsoft QLinearAdd / QLinearMul, computed as its
MLAS kernels compute them (float32, fused multiply-adds where the kernel fuses; see
docs/numerics.md). Sub and Div stay float (onnxruntime has no integer kernel for them: in a QDQ
model they are float islands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tpu.ops.core import Clamped, Node, QParams, Work, replace, size
from tpu.ops.fp import fma32
from tpu.ops.registry import onnx_op

F = np.float32


def a_is_broadcast_scalar(shape_a, shape_b) -> bool:
    """Whether onnxruntime's broadcaster runs QLinearAdd with input A as the per-span scalar
    (it then calls the kernel with the operands swapped). It decides on the innermost aligned
    axis whose extent exceeds 1 (or the last common one): A is the scalar there if its extent
    is 1."""
    a, b = list(shape_a), list(shape_b)
    if not a or not b:
        return not a or a[-1] <= 1
    n = min(len(a), len(b))
    for i in range(1, n + 1):
        da, db = a[-i], b[-i]
        if (0 if min(da, db) == 0 else max(da, db)) <= 1 and i < n:
            continue
        return not da > 1
    return False


def qlinear_add(a, b, qa: QParams, qb: QParams, qc: QParams, lo: int) -> np.ndarray:
    """QLinearAdd as MLAS's AVX2/FMA kernel computes it (AVX-512 CPUs run the same one):
    ``ra = sa/sc``, ``rb = sb/sc``, ``k = zc − fma(ra, za, rb·zb)``, ``v = fma(a, ra, fma(b, rb, k))``
    in float32, round half to even, saturate to [lo, qmax]. When A is the broadcast scalar the
    kernel gets the operands swapped. (Separate multiplies and adds differ at exact ties.)"""
    a, b = np.asarray(a), np.asarray(b)
    if a_is_broadcast_scalar(a.shape, b.shape):
        a, b, qa, qb = b, a, qb, qa
    ra, rb = F(F(qa.scale) / F(qc.scale)), F(F(qb.scale) / F(qc.scale))
    k = F(F(qc.zero_point) - fma32(ra, F(qa.zero_point), F(rb * F(qb.zero_point))))
    a, b = np.broadcast_arrays(a.astype(F), b.astype(F))
    v = fma32(a, ra, fma32(b, rb, k))
    return np.clip(np.rint(v), lo, qc.qmax).astype(np.int64)


def qlinear_mul(a, b, qa: QParams, qb: QParams, qc: QParams, lo: int) -> np.ndarray:
    """QLinearMul as MLAS's SSE2 kernel computes it on every x86 CPU: ``p = (a − za)(b − zb)``
    exact, ``m = fp32(fp32(sa·sb)/sc)``, ``v = fp32(p)·m + zc`` (two roundings, no fma), round
    half to even, saturate."""
    m = F(F(F(qa.scale) * F(qb.scale)) / F(qc.scale))
    p = (np.asarray(a, np.int64) - np.int64(qa.zero_point)) * \
        (np.asarray(b, np.int64) - np.int64(qb.zero_point))
    v = (p.astype(F) * m).astype(F) + F(qc.zero_point)
    return np.clip(np.rint(v), lo, qc.qmax).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Binary(Clamped):
    """``a ∘ b`` with broadcasting; quantized when ``out_q`` is set; ``relu``/``clip`` fused."""

    a_q: QParams | None = None
    b_q: QParams | None = None
    out_q: QParams | None = None

    fn: ClassVar = None  # the float32 function
    integer: ClassVar = None  # the quantized kernel, or None: float only (an island)

    def infer(self, shapes, values):
        return tuple(np.broadcast_shapes(*shapes))

    def run(self, args, nx):
        if self.out_q is None:
            y = type(self).fn(np.asarray(args[0], F), np.asarray(args[1], F)).astype(F)
            return self.clamp_float(y)
        lo, hi = self.clamp_range(self.out_q)
        return np.minimum(type(self).integer(args[0], args[1], self.a_q, self.b_q, self.out_q, lo), hi)

    def work(self, shapes, out):
        n = size(out)
        if self.out_q is None:
            return Work(fp=n)
        return Work(fp=2 * n, alu=n)  # two float32 fused multiply-adds, round and saturate

    def quantize(self, qc):
        if type(self).integer is None:
            return qc.float_island(self)
        (a, aq), (b, bq) = (qc.int_input(t) for t in self.inputs)
        return replace(self, inputs=(a, b), a_q=aq, b_q=bq, out_q=qc.act_q(self.output))


class Add(Binary):
    fn = np.add
    integer = staticmethod(qlinear_add)


class Mul(Binary):
    fn = np.multiply
    integer = staticmethod(qlinear_mul)

    def work(self, shapes, out):
        n = size(out)
        return Work(fp=n) if self.out_q is None else Work(fp=2 * n, mul=n, alu=n)


class Sub(Binary):
    fn = np.subtract


class Div(Binary):
    fn = np.divide


class Pow(Binary):
    fn = np.power

    def work(self, shapes, out):
        return Work(fp=4 * size(out))


@dataclass(frozen=True, eq=False)
class Where(Node):
    """``cond ? a : b`` (float, or integers of one set of parameters ``q``)."""

    q: QParams | None = None

    def infer(self, shapes, values):
        return tuple(np.broadcast_shapes(*shapes))

    def run(self, args, nx):
        c, a, b = args
        dtype = np.int64 if self.q is not None else F
        return np.where(np.asarray(c, bool), np.asarray(a, dtype), np.asarray(b, dtype))

    def quantize(self, qc):
        return qc.float_island(self)


_BINARY = {"Add": Add, "Mul": Mul, "Sub": Sub, "Div": Div, "Pow": Pow}


def _operand(ctx, name):
    """A float operand: a tensor, or a constant emitted as a Constant node."""
    t = ctx.tensor(name)
    return ctx.constant_input(t) if ctx.is_constant(t) else ctx.float_input(t)


@onnx_op("Add", "Mul", qdq="fuse")
@onnx_op("Sub", "Div", "Pow")
def import_binary(ctx, node, group):
    cls = _BINARY[node.op_type]
    if group is not None:
        qs = [q for _, q in group.inputs] + [group.out_q]
        if any(q is None or q.signed != qs[0].signed or q.bits != qs[0].bits for q in qs):
            return False  # onnxruntime fuses only when both inputs and the output share a type
        (a, aq), (b, bq) = (ctx.int_operand(t, q) for t, q in group.inputs)
        ctx.emit(cls(ctx.name(node), (a, b), group.output, a_q=aq, b_q=bq, out_q=group.out_q))
        return True
    ctx.emit(cls(ctx.name(node), tuple(_operand(ctx, i) for i in node.input), node.output[0]))


@onnx_op("QLinearAdd", "QLinearMul")
def import_qlinear_binary(ctx, node, group):
    cls = Add if node.op_type == "QLinearAdd" else Mul
    ops = []
    for i in (0, 3):
        t = ctx.tensor(node.input[i])
        if ctx.is_constant(t):
            q = ctx.qparams(node, node.input[i + 1], node.input[i + 2] if len(node.input) > i + 2 else None)
            ops.append((ctx.constant(ctx.int8_const(node, t, "input").astype(np.int64), q), q))
        else:
            ops.append(ctx.int_input(node, i))
    oq = ctx.out_q(node, 6)
    ctx.emit(cls(ctx.name(node), (ops[0][0], ops[1][0]), node.output[0], a_q=ops[0][1], b_q=ops[1][1],
                 out_q=oq))


@onnx_op("Where")
def import_where(ctx, node, group):
    c, a, b = node.input
    ins = (ctx.host_or_float(c), _operand(ctx, a), _operand(ctx, b))
    ctx.emit(Where(ctx.name(node), ins, node.output[0]))

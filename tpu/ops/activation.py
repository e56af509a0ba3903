"""Unary elementwise ops: Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Erf,
Gelu, Sqrt, Exp, Neg, Abs, Reciprocal.

Three integer forms, as onnxruntime has them:

* Relu and Clip work on the integers with the input's parameters (a clamp);
* Sigmoid and LeakyRelu become a 256-entry lookup table (com.microsoft QLinearSigmoid /
  QLinearLeakyRelu): ``table[q] = quantize(f(dequantize(q)))`` with the float function as
  MLAS evaluates it when it builds the table (:mod:`tpu.ops.mlas`), one table read per element;
* the rest stay float: in a quantized graph they are float islands (DQ → op → Q).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tpu.ops import mlas
from tpu.ops.core import Node, QParams, Work, replace, size
from tpu.ops.quant import dequantize_array, quantize_array
from tpu.ops.registry import onnx_op

F = np.float32


@dataclass(frozen=True, eq=False)
class Unary(Node):
    """``f(x)`` elementwise. Quantized: ``x_q``/``out_q`` set (a table, or a clamp on integers)."""

    alpha: float = 0.0
    beta: float = 0.0
    x_q: QParams | None = None
    out_q: QParams | None = None

    integer: ClassVar[str | None] = None  # "clamp", "lut" or None (float only)
    fp_ops: ClassVar[int] = 1  # float32 operations per element in a float island

    def f(self, x: np.ndarray) -> np.ndarray:
        """The float32 function (a float island and the float model compute this)."""
        raise NotImplementedError

    def f_table(self, x: np.ndarray) -> np.ndarray:
        """The function as the integer kernel's table is built from it (default: :meth:`f`)."""
        return self.f(x)

    def table(self) -> np.ndarray:
        """``table[q − qmin] = Q_out(f(DQ_in(q)))``, as QLinearSigmoid/LeakyRelu build theirs."""
        q = np.arange(self.x_q.qmin, self.x_q.qmax + 1)
        return quantize_array(self.f_table(dequantize_array(q, self.x_q)), self.out_q)

    def run(self, args, nx):
        x = np.asarray(args[0])
        if self.out_q is None:
            return self.f(x.astype(F)).astype(F)
        if self.integer == "clamp":
            return self.clamp(x.astype(np.int64))
        return self.table()[x.astype(np.int64) - self.x_q.qmin]

    def clamp(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def work(self, shapes, out):
        n = size(out)
        if self.out_q is None:
            return Work(fp=self.fp_ops * n)
        return Work(alu=n) if self.integer == "clamp" else Work(lut=n)

    def quantize(self, qc):
        if self.integer is None:
            return qc.float_island(self)
        x, x_q = qc.int_input(self.inputs[0])
        out_q = x_q if self.integer == "clamp" else qc.act_q(self.output)
        return replace(self, inputs=(x,), x_q=x_q, out_q=out_q)


class Relu(Unary):
    integer = "clamp"

    def f(self, x):
        return np.maximum(x, F(0))

    def clamp(self, x):
        return np.maximum(x, int(self.x_q.zero_point))


@dataclass(frozen=True, eq=False)
class Clip(Unary):
    lo: float = -np.inf
    hi: float = np.inf

    integer = "clamp"

    def f(self, x):
        return np.clip(x, F(self.lo), F(self.hi))

    def bounds(self) -> tuple[int, int]:
        """Integer bounds: lo/hi quantized with the tensor's own parameters."""
        q = self.x_q
        lo = q.qmin if self.lo == -np.inf else int(quantize_array(F(self.lo), q))
        hi = q.qmax if self.hi == np.inf else int(quantize_array(F(self.hi), q))
        return lo, hi

    def clamp(self, x):
        return np.clip(x, *self.bounds())


class LeakyRelu(Unary):
    integer = "lut"

    def f(self, x):
        return np.where(x >= 0, x, x * F(self.alpha)).astype(F)


class Sigmoid(Unary):
    integer = "lut"
    fp_ops = 4

    def f(self, x):
        return mlas.logistic(x)


class HardSigmoid(Unary):
    fp_ops = 3

    def f(self, x):
        return np.clip(x * F(self.alpha) + F(self.beta), F(0), F(1)).astype(F)


class HardSwish(Unary):
    fp_ops = 4

    def f(self, x):
        return (x * np.clip(x * F(1 / 6) + F(0.5), F(0), F(1))).astype(F)


class Tanh(Unary):
    fp_ops = 4

    def f(self, x):
        return mlas.tanh(x)


class Erf(Unary):
    fp_ops = 4

    def f(self, x):
        return mlas.erf(x)


@dataclass(frozen=True, eq=False)
class Gelu(Unary):
    approximate: str = "none"

    fp_ops = 6

    def f(self, x):
        if self.approximate == "tanh":
            inner = F(np.sqrt(2 / np.pi)) * (x + F(0.044715) * x * x * x)
            return (F(0.5) * x * (F(1) + mlas.tanh(inner.astype(F)))).astype(F)
        return (F(0.5) * x * (F(1) + mlas.erf((x * F(1 / np.sqrt(2))).astype(F)))).astype(F)


class Sqrt(Unary):
    def f(self, x):
        return np.sqrt(x)


class Exp(Unary):
    fp_ops = 4

    def f(self, x):
        return np.exp(x)


class Neg(Unary):
    def f(self, x):
        return -x


class Abs(Unary):
    def f(self, x):
        return np.abs(x)


class Reciprocal(Unary):
    def f(self, x):
        return F(1) / x


_UNARY = {"Relu": Relu, "LeakyRelu": LeakyRelu, "Sigmoid": Sigmoid, "HardSigmoid": HardSigmoid,
          "HardSwish": HardSwish, "Tanh": Tanh, "Erf": Erf, "Gelu": Gelu, "Sqrt": Sqrt, "Exp": Exp,
          "Neg": Neg, "Abs": Abs, "Reciprocal": Reciprocal}
_DEFAULTS = {"LeakyRelu": {"alpha": 0.01}, "HardSigmoid": {"alpha": 0.2, "beta": 0.5}}


def _attrs(ctx, node) -> dict:
    a = dict(_DEFAULTS.get(node.op_type, {}))
    for k, v in ctx.attrs(node).items():
        if k in ("alpha", "beta"):
            a[k] = float(v)
        elif k == "approximate":
            a[k] = v.decode() if isinstance(v, bytes) else v
    return a


@onnx_op("Relu", qdq="drop", act_inputs=(0,))
@onnx_op("Sigmoid", "LeakyRelu", qdq="fuse", act_inputs=(0,))
@onnx_op("HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "Sqrt", "Exp", "Neg", "Abs", "Reciprocal")
def import_unary(ctx, node, group):
    cls, kw = _UNARY[node.op_type], _attrs(ctx, node)
    name = ctx.name(node)
    if group is not None:
        x, q = group.inputs[0]
        if cls.integer == "clamp" and not q.same(group.out_q):
            return False
        ctx.emit(cls(name, (x,), group.output, x_q=q, out_q=group.out_q, **kw))
        return True
    x = ctx.tensor(node.input[0])
    if ctx.is_int(x) and cls.integer == "clamp":  # QOperator: integers in, same params out
        ctx.emit(cls(name, (x,), node.output[0], x_q=ctx.q_of(x), out_q=ctx.q_of(x), **kw))
        return True
    ctx.emit(cls(name, (ctx.float_input(x),), node.output[0], **kw))


@onnx_op("Clip", qdq="drop", act_inputs=(0,))
def import_clip(ctx, node, group):
    a = ctx.attrs(node)
    lo, hi = float(a.get("min", -np.inf)), float(a.get("max", np.inf))  # opset < 11 attributes
    if len(node.input) > 1 and node.input[1]:
        lo = float(ctx.const(node, node.input[1], "min"))
    if len(node.input) > 2 and node.input[2]:
        hi = float(ctx.const(node, node.input[2], "max"))
    name = ctx.name(node)
    if group is not None:
        x, q = group.inputs[0]
        if not q.same(group.out_q):
            return False
        ctx.emit(Clip(name, (x,), group.output, lo=lo, hi=hi, x_q=q, out_q=q))
        return True
    x = ctx.tensor(node.input[0])
    if ctx.is_int(x):
        ctx.emit(Clip(name, (x,), node.output[0], lo=lo, hi=hi, x_q=ctx.q_of(x), out_q=ctx.q_of(x)))
        return True
    ctx.emit(Clip(name, (ctx.float_input(x),), node.output[0], lo=lo, hi=hi))


@onnx_op("QLinearSigmoid", "QLinearLeakyRelu")
def import_qlinear_unary(ctx, node, group):
    cls = Sigmoid if node.op_type == "QLinearSigmoid" else LeakyRelu
    x, xq = ctx.int_input(node, 0)
    oq = ctx.out_q(node, 3)
    ctx.emit(cls(ctx.name(node), (x,), node.output[0], x_q=xq, out_q=oq, **_attrs(ctx, node)))


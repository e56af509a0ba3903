"""Reductions and normalisation: ReduceMean, ReduceSum, ReduceMax, Softmax (and
com.microsoft QLinearSoftmax), LayerNormalization.

In a model onnxruntime quantized statically these are float islands (DQ → op → Q) except
Softmax where onnxruntime fuses it into QLinearSoftmax (see docs/numerics.md); they run on the
vector unit's float32 lanes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tpu.ops import mlas
from tpu.ops.core import Node, QParams, Work, replace, size
from tpu.ops.registry import onnx_op

F = np.float32


def _norm_axes(axes, ndim: int) -> tuple[int, ...]:
    return tuple(sorted(int(a) % ndim for a in np.asarray(axes).reshape(-1)))


@dataclass(frozen=True, eq=False)
class Reduce(Node):
    """Reduce over ``axes`` (None: the second input, or every axis unless ``noop_empty``)."""

    axes: tuple[int, ...] | None = None
    keepdims: bool = True
    noop_empty: bool = False

    fn: ClassVar = None
    params: ClassVar[tuple[int, ...]] = (1,)

    def _axes(self, ndim, values) -> tuple[int, ...] | None:
        if self.axes is not None:
            return _norm_axes(self.axes, ndim)
        if len(values) > 1 and values[1] is not None and np.size(values[1]):
            return _norm_axes(values[1], ndim)
        return None if self.noop_empty else tuple(range(ndim))

    def infer(self, shapes, values):
        axes = self._axes(len(shapes[0]), values)
        if axes is None:
            return tuple(shapes[0])
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shapes[0]))
        return tuple(d for i, d in enumerate(shapes[0]) if i not in axes)

    def run(self, args, nx):
        x = np.asarray(args[0], F)
        axes = self._axes(x.ndim, args)
        if axes is None:
            return x
        return type(self).fn(x, axis=axes, keepdims=self.keepdims).astype(F)

    def work(self, shapes, out):
        return Work(fp=size(shapes[0]))


class ReduceMean(Reduce):
    fn = staticmethod(lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims, dtype=F))


class ReduceSum(Reduce):
    fn = staticmethod(lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims, dtype=F))


class ReduceMax(Reduce):
    fn = staticmethod(np.max)


@dataclass(frozen=True, eq=False)
class Softmax(Node):
    """Softmax over ``axis``; ``coerce_2d`` is the opset < 13 rule (flatten from ``axis`` on)."""

    axis: int = -1
    coerce_2d: bool = False
    x_q: QParams | None = None
    out_q: QParams | None = None

    def _shaped(self, x):
        if not self.coerce_2d:
            return x, self.axis
        a = self.axis % x.ndim
        return x.reshape(int(np.prod(x.shape[:a])), -1), 1

    def run(self, args, nx):
        x = np.asarray(args[0])
        if self.out_q is not None:
            y, axis = self._shaped(x.astype(np.int64))
            return mlas.qlinear_softmax(y, axis, self.x_q, self.out_q).reshape(x.shape)
        y, axis = self._shaped(x.astype(F))
        e = np.exp(y - y.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True, dtype=F)).astype(F).reshape(x.shape)

    def work(self, shapes, out):
        n = size(out)
        if self.out_q is not None:
            return Work(lut=n, alu=2 * n, fp=n)  # exp table, max and sum, one scale per element
        return Work(fp=5 * n)  # max, subtract, exp, sum, divide

    def quantize(self, qc):
        x, x_q = qc.int_input(self.inputs[0])
        return replace(self, inputs=(x,), x_q=x_q, out_q=qc.act_q(self.output))


@dataclass(frozen=True, eq=False)
class LayerNorm(Node):
    """LayerNormalization over the axes from ``axis`` on: ``(x − mean) / sqrt(var + ε) · γ + β``."""

    axis: int = -1
    epsilon: float = 1e-5
    scale: np.ndarray | None = None
    bias: np.ndarray | None = None

    def run(self, args, nx):
        x = np.asarray(args[0], F)
        axes = tuple(range(self.axis % x.ndim, x.ndim))
        mean = x.mean(axis=axes, keepdims=True, dtype=F)
        d = x - mean
        var = (d * d).mean(axis=axes, keepdims=True, dtype=F)
        y = d / np.sqrt(var + F(self.epsilon))
        if self.scale is not None:
            y = y * np.asarray(self.scale, F)
        if self.bias is not None:
            y = y + np.asarray(self.bias, F)
        return y.astype(F)

    def work(self, shapes, out):
        return Work(fp=8 * size(out))  # mean, centre, square, mean, normalise, scale, shift


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """Inference BatchNormalization on its own (after a Conv it is folded into the Conv's
    weights at import): ``(x − mean[c]) / sqrt(var[c] + ε) · γ[c] + β[c]``, channel axis 1."""

    scale: np.ndarray = None  # γ / sqrt(var + ε), float32
    shift: np.ndarray = None  # β − mean · γ / sqrt(var + ε)

    def run(self, args, nx):
        x = np.asarray(args[0], F)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x * self.scale.reshape(shape) + self.shift.reshape(shape)).astype(F)

    def work(self, shapes, out):
        return Work(fp=2 * size(out))


@onnx_op("BatchNormalization")
def import_batchnorm(ctx, node, group):
    a = ctx.attrs(node)
    if a.get("training_mode", 0):
        raise ctx.err(node, "training_mode BatchNormalization is unsupported")
    gamma, beta, mean, var = (np.asarray(ctx.float_const(node, n), np.float64) for n in node.input[1:5])
    scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    ctx.emit(BatchNorm(ctx.name(node), (ctx.float_input(node.input[0]),), node.output[0],
                       scale=scale.astype(F), shift=(beta - mean * scale).astype(F)))


@onnx_op("ReduceMean", "ReduceSum", "ReduceMax")
def import_reduce(ctx, node, group):
    cls = {"ReduceMean": ReduceMean, "ReduceSum": ReduceSum, "ReduceMax": ReduceMax}[node.op_type]
    a = ctx.attrs(node)
    axes = tuple(a["axes"]) if "axes" in a else None
    params = (ctx.host_input(node.input[1]),) if len(node.input) > 1 and node.input[1] else ()
    ctx.emit(cls(ctx.name(node), (ctx.float_input(node.input[0]), *params), node.output[0], axes=axes,
                 keepdims=bool(a.get("keepdims", 1)), noop_empty=bool(a.get("noop_with_empty_axes", 0))))


@onnx_op("Softmax", qdq="fuse", act_inputs=(0,))
def import_softmax(ctx, node, group):
    coerce = ctx.opset < 13
    axis = int(ctx.attrs(node).get("axis", 1 if coerce else -1))
    name = ctx.name(node)
    if group is not None:
        x, q = group.inputs[0]
        ctx.emit(Softmax(name, (x,), group.output, axis=axis, coerce_2d=coerce, x_q=q, out_q=group.out_q))
        return True
    ctx.emit(Softmax(name, (ctx.float_input(node.input[0]),), node.output[0], axis=axis, coerce_2d=coerce))


@onnx_op("QLinearSoftmax")
def import_qlinear_softmax(ctx, node, group):
    a = ctx.attrs(node)
    opset = int(a.get("opset", 13))
    x, xq = ctx.int_input(node, 0)
    oq = ctx.out_q(node, 3)
    ctx.emit(Softmax(ctx.name(node), (x,), node.output[0], axis=int(a.get("axis", -1 if opset >= 13 else 1)),
                     coerce_2d=opset < 13, x_q=xq, out_q=oq))


@onnx_op("LayerNormalization")
def import_layernorm(ctx, node, group):
    a = ctx.attrs(node)
    if len([o for o in node.output[1:] if o and ctx.has_consumers(o)]):
        raise ctx.err(node, "the Mean / InvStdDev outputs are unsupported")
    scale = ctx.float_const(node, node.input[1])
    bias = ctx.float_const(node, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    ctx.emit(LayerNorm(ctx.name(node), (ctx.float_input(node.input[0]),), node.output[0],
                       axis=int(a.get("axis", -1)), epsilon=float(a.get("epsilon", 1e-5)), scale=scale,
                       bias=bias))

"""Pooling: MaxPool, GlobalMaxPool, AveragePool, GlobalAveragePool (and QLinear forms).

* MaxPool works on the integers (padding never wins).
* QLinearAveragePool dequantizes to float32, sums each window in row-major order, divides by
  the element count and quantizes with ``rint(y / sy + zy)``; a window covering the whole
  unpadded plane is QLinearGlobalAveragePool, which is integer:
  ``requant_float(Σx - zx·n, fp32(sx / fp32(sy · n)))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.ops.core import Node, QParams, Work, replace, size
from tpu.ops.registry import onnx_op
from tpu.ops.window import im2col, out_hw
from tpu.quant import requant_float

F = np.float32


@dataclass(frozen=True, eq=False)
class Pool(Node):
    kernel: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    global_: bool = False

    def window(self, shape) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
        if len(shape) != 4:
            raise ValueError("pooling needs an NCHW input")
        if self.global_:
            return tuple(shape[2:]), (1, 1), (0, 0, 0, 0)
        return self.kernel, self.strides, self.pads

    def infer(self, shapes, values):
        k, s, p = self.window(shapes[0])
        return (*shapes[0][:2], *out_hw(shapes[0], k, s, p, self.dilations, self.ceil_mode))

    def cols(self, x, pad_value):
        k, s, p = self.window(x.shape)
        return im2col(x, k, s, p, self.dilations, pad_value, self.ceil_mode)

    def work(self, shapes, out):
        k, _, _ = self.window(shapes[0])
        return Work(alu=size(out) * k[0] * k[1])


@dataclass(frozen=True, eq=False)
class MaxPool(Pool):
    q: QParams | None = None  # quantized input and output share params

    def run(self, args, nx):
        x = np.asarray(args[0])
        if self.q is not None:
            cols = self.cols(x.astype(np.int64), np.iinfo(np.int64).min)
        else:
            cols = self.cols(x.astype(F), -np.inf)
        return cols.max(axis=(4, 5)).transpose(0, 3, 1, 2)

    def quantize(self, qc):
        return qc.passthrough(self)


@dataclass(frozen=True, eq=False)
class AvgPool(Pool):
    count_include_pad: bool = False
    x_q: QParams | None = None
    out_q: QParams | None = None

    def _sums(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 window sums in row-major order (as the C loops add them) and counts."""
        cols = self.cols(np.asarray(x, F), 0.0)
        kh, kw = cols.shape[4:]
        total = np.zeros(cols.shape[:4], F)
        for i in range(kh):
            for j in range(kw):
                total += cols[..., i, j]  # padding adds +0.0: exact, order unchanged
        if self.count_include_pad:
            count = np.full(total.shape, kh * kw, F)
        else:
            mask = self.cols(np.ones((1, 1, *x.shape[2:]), F), 0.0)
            count = np.broadcast_to(mask.sum(axis=(4, 5)).astype(F), total.shape)
        return total.transpose(0, 3, 1, 2), np.asarray(count).transpose(0, 3, 1, 2)

    def is_global(self, shape) -> bool:
        return self.global_ or (tuple(self.kernel) == tuple(shape[2:]) and not any(self.pads))

    def work(self, shapes, out):
        # only the quantized global average sums integers; every other form adds (and divides)
        # in float32, as onnxruntime's QLinearAveragePool does
        if self.out_q is not None and self.is_global(shapes[0]):
            return super().work(shapes, out)
        k = shapes[0][2] * shapes[0][3] if self.global_ else self.window(shapes[0])[0][0] * \
            self.window(shapes[0])[0][1]
        return Work(fp=size(out) * (k + 1))

    def run(self, args, nx):
        x = np.asarray(args[0])
        if self.out_q is None:
            if self.global_:
                return x.astype(F).mean(axis=(2, 3), keepdims=True, dtype=F)
            total, count = self._sums(x)
            return total / count
        q = self.out_q
        if self.is_global(x.shape):
            n = x.shape[2] * x.shape[3]
            acc = x.astype(np.int64).sum(axis=(2, 3), keepdims=True) - np.int64(self.x_q.zero_point) * n
            m = F(F(self.x_q.scale) / F(F(q.scale) * F(n)))
            return requant_float(acc, m, q.zero_point, q.qmin, q.qmax)
        xf = (x.astype(np.int64) - np.int64(self.x_q.zero_point)).astype(F) * F(self.x_q.scale)
        total, count = self._sums(xf)
        v = np.rint(total / count / F(q.scale) + F(q.zero_point))
        return np.clip(v, q.qmin, q.qmax).astype(np.int64)

    def quantize(self, qc):
        x, x_q = qc.int_input(self.inputs[0])
        return replace(self, inputs=(x,), x_q=x_q, out_q=qc.act_q(self.output))


def _geometry(ctx, node) -> dict:
    a = ctx.attrs(node)
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        raise ctx.err(node, "auto_pad is unsupported; export with explicit pads")
    k = tuple(a["kernel_shape"])
    if len(k) != 2:
        raise ctx.err(node, "only 2-D pooling is supported")
    return dict(kernel=k, strides=tuple(a.get("strides", (1, 1))), pads=tuple(a.get("pads", (0, 0, 0, 0))),
                ceil_mode=bool(a.get("ceil_mode", 0)))


@onnx_op("MaxPool", "GlobalMaxPool", qdq="drop", act_inputs=(0,))
def import_maxpool(ctx, node, group):
    if len(node.output) > 1 and node.output[1]:
        raise ctx.err(node, "the Indices output is unsupported")
    if node.op_type == "GlobalMaxPool":
        geom = dict(global_=True)
    else:
        geom = _geometry(ctx, node)
        geom["dilations"] = tuple(ctx.attrs(node).get("dilations", (1, 1)))
    name = ctx.name(node)
    if group is not None:
        x, q = group.inputs[0]
        if not q.same(group.out_q):
            return False
        ctx.emit(MaxPool(name, (x,), group.output, q=q, **geom))
        return True
    x = ctx.tensor(node.input[0])
    q = ctx.q_of(x) if ctx.is_int(x) else None
    ctx.emit(MaxPool(name, (x if q else ctx.float_input(x),), node.output[0], q=q, **geom))


@onnx_op("AveragePool", "GlobalAveragePool", qdq="fuse", act_inputs=(0,))
def import_avgpool(ctx, node, group):
    if node.op_type == "GlobalAveragePool":
        geom = dict(global_=True)
    else:
        geom = _geometry(ctx, node)
        geom["count_include_pad"] = bool(ctx.attrs(node).get("count_include_pad", 0))
    name = ctx.name(node)
    if group is not None:
        x, q = group.inputs[0]
        ctx.emit(AvgPool(name, (x,), group.output, x_q=q, out_q=group.out_q, **geom))
        return True
    ctx.emit(AvgPool(name, (ctx.float_input(node.input[0]),), node.output[0], **geom))


@onnx_op("QLinearAveragePool", "QLinearGlobalAveragePool")
def import_qlinear_avgpool(ctx, node, group):
    if ctx.attrs(node).get("channels_last", 0):
        raise ctx.err(node, "channels_last=1 is unsupported (NCHW only)")
    x, xq = ctx.int_input(node, 0)
    oq = ctx.out_q(node, 3)
    if node.op_type == "QLinearGlobalAveragePool":
        geom = dict(global_=True)
    else:
        geom = _geometry(ctx, node)
        geom["count_include_pad"] = bool(ctx.attrs(node).get("count_include_pad", 0))
    ctx.emit(AvgPool(ctx.name(node), (x,), node.output[0], x_q=xq, out_q=oq, **geom))

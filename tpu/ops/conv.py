"""Conv (ONNX Conv, QLinearConv, QDQ Conv, BatchNormalization folded into the Conv before it).

2-D convolution, NCHW input, OIHW weight, ``group`` > 1 for grouped and depthwise convolution.
On the matrix unit it is an im2col GEMM per group: M = batch·Ho·Wo, K = (C/g)·kh·kw, N = O/g.
A quantized conv pads with the input zero point (padding contributes 0 to the sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.ops.core import replace
from tpu.ops.matrix import MatrixOp
from tpu.ops.registry import onnx_op
from tpu.ops.window import im2col, out_hw


@dataclass(frozen=True, eq=False)
class Conv(MatrixOp):
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)
    group: int = 1

    w_axis = 0

    @property
    def depthwise(self) -> bool:
        return self.group > 1 and self.weight.shape[1] == 1

    def dims(self, shapes):
        x = shapes[0]
        o, cg, kh, kw = self.weight.shape
        if len(x) != 4 or x[1] != cg * self.group or o % self.group:
            raise ValueError(f"weight {self.weight.shape} with group {self.group} needs an NCHW "
                             f"input with {cg * self.group} channels")
        ho, wo = out_hw(x, (kh, kw), self.strides, self.pads, self.dilations)
        return self.group, x[0] * ho * wo, cg * kh * kw, o // self.group

    def infer(self, shapes, values):
        ho, wo = out_hw(shapes[0], self.weight.shape[2:], self.strides, self.pads, self.dilations)
        return (shapes[0][0], self.weight.shape[0], ho, wo)

    def patches(self, args, pad_value, mlas_order=False):
        cols = im2col(args[0], self.weight.shape[2:], self.strides, self.pads, self.dilations,
                      pad_value)  # N, Ho, Wo, C, kh, kw
        cg = cols.shape[3] // self.group
        if mlas_order:  # MLAS's NHWC im2col: K over (kh, kw, c), channel fastest
            cols = cols.transpose(0, 1, 2, 4, 5, 3)
            return [cols[..., g * cg:(g + 1) * cg].reshape(-1, cols.shape[3] * cols.shape[4] * cg)
                    for g in range(self.group)]
        return [cols[:, :, :, g * cg:(g + 1) * cg].reshape(-1, cg * cols.shape[4] * cols.shape[5])
                for g in range(self.group)]

    def weights(self, args, mlas_order=False):
        w = self.weight.transpose(0, 2, 3, 1) if mlas_order else self.weight
        og = w.shape[0] // self.group
        return [w[g * og:(g + 1) * og].reshape(og, -1).T for g in range(self.group)]

    def to_output(self, y, shapes):
        n, o, ho, wo = self.infer(shapes, [])
        return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)

    def u8s8(self) -> bool:
        # MLAS runs depthwise convs on an exact int16 kernel, never the pair-saturating GEMM
        return super().u8s8() and not self.depthwise

    def quantize(self, qc):
        x, x_q = qc.int_input(self.inputs[0])
        return replace(self, inputs=(x,), x_q=x_q, out_q=qc.act_q(self.output),
                       **self.quantize_weights(qc, x_q))

    def describe(self):
        kh, kw = self.weight.shape[2:]
        g = f" group {self.group}" if self.group > 1 else ""
        return f"{kh}x{kw} stride {self.strides[0]}{g}"


def _geometry(ctx, node, w) -> dict:
    a = ctx.attrs(node)
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        raise ctx.err(node, "auto_pad is unsupported; export with explicit pads")
    if w.ndim != 4:
        raise ctx.err(node, f"only 2-D convolution is supported (weight rank {w.ndim})")
    if "kernel_shape" in a and tuple(a["kernel_shape"]) != tuple(w.shape[2:]):
        raise ctx.err(node, "kernel_shape disagrees with the weight")
    pads = tuple(a.get("pads", (0, 0, 0, 0)))
    return dict(strides=tuple(a.get("strides", (1, 1))), pads=(pads[0], pads[1], pads[2], pads[3]),
                dilations=tuple(a.get("dilations", (1, 1))), group=int(a.get("group", 1)))


@onnx_op("Conv", qdq="fuse", act_inputs=(0,))
def import_conv(ctx, node, group):
    w, wq = ctx.weight(node, node.input[1])
    geom = _geometry(ctx, node, w)
    bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if group is not None:
        # onnxruntime fuses the group only with a DQ'd weight and a DQ'd bias of its own
        x, x_q = group.inputs[0]
        bias_in = group.inputs[2] if bias_name is not None else None
        if wq is None or not ctx.fusable_activation(x_q) or not ctx.fusable_bias(bias_in, x_q, wq):
            return False
        bias = None if bias_name is None else group.inputs[2][0]
        ctx.emit(Conv(ctx.name(node), (x,), group.output, weight=w, bias=bias, **geom, x_q=x_q,
                      w_q=ctx.channel_axis(wq, 0), out_q=group.out_q))
        return True
    w = ctx.dequantized(w, wq)
    bias = None if bias_name is None else ctx.float_const(node, bias_name)
    out = node.output[0]
    bn = ctx.single_consumer(out, "BatchNormalization")
    if bn is not None:
        w, bias, out = _fold_bn(ctx, bn, w, bias)
    ctx.emit(Conv(ctx.name(node), (ctx.float_input(node.input[0]),), out, weight=w, bias=bias, **geom))


def _fold_bn(ctx, bn, w, bias):
    a = ctx.attrs(bn)
    if a.get("training_mode", 0):
        raise ctx.err(bn, "training_mode BatchNormalization is unsupported")
    gamma, beta, mean, var = (np.asarray(ctx.const(bn, n, "BatchNormalization parameter"), np.float64)
                              for n in bn.input[1:5])
    scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    b = np.zeros(w.shape[0]) if bias is None else bias.astype(np.float64)
    ctx.skip(bn)
    w2 = (w.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
    return w2, ((b - mean) * scale + beta).astype(np.float32), bn.output[0]


@onnx_op("QLinearConv")
def import_qlinear_conv(ctx, node, group):
    x, xq = ctx.int_input(node, 0)
    w = ctx.int8_const(node, node.input[3], "weight")
    wq = ctx.qparams(node, node.input[4], node.input[5], 0)
    oq = ctx.out_q(node, 6)
    bias = None
    if len(node.input) > 8 and node.input[8]:
        bias = np.asarray(ctx.const(node, node.input[8], "bias"), np.int64)
    ctx.emit(Conv(ctx.name(node), (x,), node.output[0], weight=w, bias=bias,
                  **_geometry(ctx, node, w), x_q=xq, w_q=wq, out_q=oq))

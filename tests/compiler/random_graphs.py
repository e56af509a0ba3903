"""Random quantized IR graphs (no ONNX involved) for executor-vs-reference tests."""

from __future__ import annotations

import numpy as np

from tpu.compiler import ir


def qp(rng, bits=8, signed=False, n=None, axis=None, symmetric=False):
    shape = () if n is None else (n,)
    scale = rng.uniform(0.005, 0.05, shape).astype(np.float32)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    zp = np.zeros(shape, np.int64) if symmetric else rng.integers(lo, hi + 1, shape).astype(np.int64)
    return ir.QParams(scale, zp, bits, signed, axis)


def residual_graph(rng, *, act_signed=False, weight_signed=True, weight_zp=False, hw=6):
    """Quantize → Conv3x3+ReLU → Conv3x3/2 (2 groups) → 1×1 Conv → Add(residual) →
    MaxPool → GlobalAvgPool → Flatten → Gemm → Dequantize."""
    A = dict(bits=8, signed=act_signed)
    wlo, whi = (-128, 127) if weight_signed else (0, 255)

    def weights(shape):
        return rng.integers(wlo, whi + 1, shape).astype(np.int64)

    def wq(n):
        return qp(rng, 8, weight_signed, n=n, axis=0, symmetric=not weight_zp)

    q_in, q1, q2, q3, q4, q5, q6 = (qp(rng, **A) for _ in range(7))
    nodes = [
        ir.Quantize("quant", ("x",), "xq", q=q_in),
        ir.Conv("conv1", ("xq",), "c1", weight=weights((4, 2, 3, 3)),
                bias=rng.integers(-2000, 2000, 4), pads=(1, 1, 1, 1), relu=True,
                x_q=q_in, w_q=wq(4), out_q=q1),
        ir.Conv("conv2", ("c1",), "c2", weight=weights((6, 2, 3, 3)), bias=None, strides=(2, 2),
                pads=(1, 0, 1, 1), group=2, x_q=q1, w_q=wq(6), out_q=q2),
        ir.Conv("conv3", ("c2",), "c3", weight=weights((6, 6, 1, 1)),
                bias=rng.integers(-500, 500, 6), x_q=q2, w_q=wq(6), out_q=q3),
        ir.Add("add", ("c2", "c3"), "s", relu=True, a_q=q2, b_q=q3, out_q=q4),
        ir.MaxPool("pool", ("s",), "p", kernel=(2, 2), strides=(1, 1), q=q4),
        ir.AvgPool("gap", ("p",), "g", global_=True, x_q=q4, out_q=q5),
        ir.Reshape("flat", ("g",), "f", flatten_axis=1),
        ir.Gemm("fc", ("f",), "y", weight=rng.integers(wlo, whi + 1, (6, 5)).astype(np.int64),
                bias=rng.integers(-300, 300, 5), x_q=q5,
                w_q=qp(rng, 8, weight_signed, n=5, axis=1, symmetric=not weight_zp), out_q=q6),
        ir.Dequantize("dequant", ("y",), "out", q=q6),
    ]
    ho = (hw + 2 - 3) // 2 + 1
    wo = (hw + 1 - 3) // 2 + 1
    shapes = {"x": (1, 2, hw, hw), "xq": (1, 2, hw, hw), "c1": (1, 4, hw, hw),
              "c2": (1, 6, ho, wo), "c3": (1, 6, ho, wo), "s": (1, 6, ho, wo),
              "p": (1, 6, ho - 1, wo - 1), "g": (1, 6, 1, 1), "f": (1, 6), "y": (1, 5),
              "out": (1, 5)}
    return ir.Graph("residual", tuple(nodes), ("x",), ("out",), shapes, quantized=True)

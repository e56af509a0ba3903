"""QuantizeLinear, DequantizeLinear and constants: where float and integer tensors meet.

A Quantize after a graph input (and a Dequantize before a graph output) runs on the host, as
the data enter and leave the machine; one inside the graph borders a float island and runs on
the vector unit (one float operation per element).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.ops.core import Node, QParams, Work, size
from tpu.quant import dequantize as dequantize_values
from tpu.quant import quantize as quantize_values


def quantize_array(x, q: QParams) -> np.ndarray:
    """QuantizeLinear: ``clamp(rint(fp32(x / s)) + zp)`` (a true division, as onnxruntime)."""
    return quantize_values(x, q.scale, q.zero_point, bits=q.bits, signed=q.signed, axis=q.axis)


def dequantize_array(x, q: QParams) -> np.ndarray:
    """DequantizeLinear: ``fp32(q - zp) · s``."""
    return dequantize_values(x, q.scale, q.zero_point, axis=q.axis)


@dataclass(frozen=True, eq=False)
class Quantize(Node):
    q: QParams = None

    def run(self, args, nx):
        return quantize_array(args[0], self.q)

    def work(self, shapes, out):
        return Work(fp=size(out))

    def quantize(self, qc):
        return self


@dataclass(frozen=True, eq=False)
class Dequantize(Node):
    q: QParams = None

    def run(self, args, nx):
        return dequantize_array(args[0], self.q)

    def work(self, shapes, out):
        return Work(fp=size(out))

    def quantize(self, qc):
        return self


@dataclass(frozen=True, eq=False)
class Constant(Node):
    """A constant tensor (an Add's operand, a Reshape's target, ...); ``inputs`` is empty.

    Quantized graphs hold the integer value with its ``q`` params (as onnxruntime's quantizer
    stores a quantized initializer); float graphs hold the float32 or int64 value."""

    value: np.ndarray = None
    q: QParams | None = None

    unit = "host"

    def infer(self, shapes, values):
        return np.shape(self.value)

    def run(self, args, nx):
        return np.asarray(self.value)

    def work(self, shapes, out):
        return Work()

    def quantize(self, qc):
        return qc.constant(self)

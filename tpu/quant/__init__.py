"""Quantization: schemes and qparams, calibration, exact requantization, QAT (docs/numerics.md)."""

from tpu.quant.requant import (
    bias_int32,
    float_multiplier,
    quantize_multiplier,
    requant_fixed,
    requant_float,
)
from tpu.quant.schemes import QRange, QuantError, dequantize, qparams, qrange, quantize

__all__ = [
    "QRange",
    "QuantError",
    "bias_int32",
    "dequantize",
    "float_multiplier",
    "qparams",
    "qrange",
    "quantize",
    "quantize_multiplier",
    "requant_fixed",
    "requant_float",
]

"""The three ways to quantize a model: weight-only, static post-training, quantization-aware."""

from __future__ import annotations

import copy

from tpu.nn.model import Sequential
from tpu.quant.qat import qat
from tpu.quant.qmodel import QuantizedModel, Scheme, compute_layers, static_ptq, weight_qparams
from tpu.quant.schemes import dequantize, quantize


def weight_only(model: Sequential, scheme: Scheme) -> Sequential:
    """Quantize weights only (no data needed): a float model whose weights are dequantized
    integers; activations stay float."""
    out = copy.deepcopy(model)
    axis = 0 if scheme.per_channel else None
    for i in compute_layers(out):
        w = out.layers[i].params["W"]
        s, z = weight_qparams(w, scheme)
        q = quantize(w, s, z, bits=scheme.w_bits, signed=True, axis=axis)
        out.layers[i].params["W"] = dequantize(q, s, z, axis)
    return out


__all__ = ["QuantizedModel", "Scheme", "qat", "static_ptq", "weight_only"]

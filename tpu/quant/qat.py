"""Quantization-aware training: fake quantization with the straight-through estimator.

Weights are fake-quantized with the scheme's own qparams (recomputed every step); activations at
the integer model's quantization points go through :class:`FakeQuantAct`, whose range is a
moving-average min/max. The gradient passes unchanged where the value was representable and is
zero where it was clamped. After training, :func:`qat` returns the exact integer model built
from the trained weights and the observed ranges.
"""

from __future__ import annotations

import copy

import numpy as np

from tpu.nn.layers import Layer
from tpu.nn.model import Sequential
from tpu.nn.train import TrainConfig, train
from tpu.quant.observers import MovingAverageMinMaxObserver
from tpu.quant.qmodel import (
    QuantizedModel,
    Scheme,
    act_qparams,
    compute_layers,
    quant_points,
    weight_qparams,
)
from tpu.quant.schemes import dequantize, expand, qrange, quantize


def fake_quant(x: np.ndarray, scale, zero_point, *, bits: int, signed: bool,
               qmin: int, qmax: int, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``dequantize(quantize(x))`` and the STE mask (1 where x lies inside the clamp range)."""
    x = np.asarray(x, np.float32)
    q = quantize(x, scale, zero_point, bits=bits, signed=signed, axis=axis, qmin=qmin, qmax=qmax)
    v = x / expand(np.asarray(scale, np.float32), x.ndim, axis) \
        + expand(np.asarray(zero_point, np.float32), x.ndim, axis)
    mask = (v >= qmin - 0.5) & (v <= qmax + 0.5)
    return dequantize(q, scale, zero_point, axis), mask.astype(np.float32)


class FakeQuantAct(Layer):
    """Fake-quantize an activation with a moving-average min/max range."""

    def __init__(self, scheme: Scheme, averaging_constant: float = 0.01) -> None:
        super().__init__()
        self.scheme = scheme
        self.observer = MovingAverageMinMaxObserver(averaging_constant)
        self.frozen = False

    def forward(self, x, train=False):
        if train and not self.frozen:
            self.observer.observe(x)
        s, z = act_qparams(*self.observer.range(), self.scheme)
        rng = qrange(self.scheme.a_bits, self.scheme.a_signed, convention=self.scheme.convention)
        xq, mask = fake_quant(x, s, z, bits=self.scheme.a_bits, signed=self.scheme.a_signed,
                              qmin=rng.qmin, qmax=rng.qmax)
        self._mask = mask
        return xq

    def backward(self, grad):
        return grad * self._mask


def weight_fake_quant(scheme: Scheme):
    axis = 0 if scheme.per_channel else None
    rng = qrange(scheme.w_bits, True, symmetric=True, convention=scheme.convention)

    def fq(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, z = weight_qparams(w, scheme)
        return fake_quant(w, s, z, bits=scheme.w_bits, signed=True, qmin=rng.qmin,
                          qmax=rng.qmax, axis=axis)

    return fq


QAT_DEFAULT = TrainConfig(epochs=15, lr=3e-3)  # frozen, so sharing it as a default is safe


def qat(model: Sequential, x: np.ndarray, y: np.ndarray, scheme: Scheme,
        cfg: TrainConfig = QAT_DEFAULT) -> QuantizedModel:
    """Fine-tune a copy of ``model`` with fake quantization, then convert it to integers."""
    float_model = copy.deepcopy(model)
    points = quant_points(float_model)
    fq_after = {p: FakeQuantAct(scheme) for p in points}
    layers: list[Layer] = [fq_after[-1]]
    for i, layer in enumerate(float_model.layers):
        layers.append(layer)
        if i in fq_after:
            layers.append(fq_after[i])
    for i in compute_layers(float_model):
        float_model.layers[i].weight_quant = weight_fake_quant(scheme)
    qat_model = Sequential(layers, float_model.input_shape, float_model.name)
    qat_model.forward(x[:256], train=True)  # the first batch initialises every observer
    train(qat_model, x, y, cfg)
    for i in compute_layers(float_model):
        float_model.layers[i].weight_quant = None
    ranges = {p: fq.observer.range() for p, fq in fq_after.items()}
    return QuantizedModel(float_model, scheme, ranges)

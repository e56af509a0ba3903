"""Integer inference of a quantized sequential model, following the QOperator arithmetic exactly.

Quantization points: the model input and the output of every Conv/Dense (after its ReLU, which is
fused as a clamp at the output zero point), except the last layer, whose int32 accumulator is
dequantized to float logits (``fp32(acc) * fp32(s_in * s_w[c])``). MaxPool and Flatten act on the
integers directly (max commutes with a monotone quantizer). Per layer:

    acc = sum((x - zx)(w - zw[c])) + bias_int32[c]      (wrapped to acc_bits)
    y   = requant_float(acc, fp32(fp32(sx*sw[c]) / sy), zy, qmin, qmax)   or requant_fixed
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.nn.layers import Conv2d, Dense, Flatten, Layer, MaxPool2d, ReLU
from tpu.nn.model import Sequential
from tpu.quant.kernels import conv_acc, matmul_acc, wrap
from tpu.quant.observers import METHODS, HistogramObserver, MinMaxObserver
from tpu.quant.requant import bias_int32, float_multiplier, quantize_multiplier, requant_fixed, requant_float
from tpu.quant.schemes import (
    QuantError,
    expand,
    qparams,
    qparams_from_range,
    qrange,
    quantize,
)


@dataclass(frozen=True)
class Scheme:
    """How to quantize a model: widths, granularity, activation calibration, arithmetic."""

    w_bits: int = 8
    a_bits: int = 8
    per_channel: bool = False
    calib: str = "minmax"  # activation range: minmax | percentile | kl | mse
    percentile: float = 99.99
    a_signed: bool = False  # u8 activations, as onnxruntime's default QUInt8
    convention: str = "onnxruntime"
    acc_bits: int = 32
    requant: str = "float"  # float (MLAS/fbgemm) | fixed (gemmlowp)
    w_calib: str = "maxabs"  # weight range: maxabs (non-saturating) | mse (clipped)

    def __post_init__(self) -> None:
        # one weight bit is the binary sign scheme (scale mean|w|, XNOR-Net); activations need
        # two bits at least (a ReLU network's outputs are not signs)
        for name, lo in (("w_bits", 1), ("a_bits", 2)):
            v = getattr(self, name)
            if not lo <= v <= 16:
                raise QuantError(f"{name} must be in {lo}..16, got {v}")
        if self.calib not in METHODS:
            raise QuantError(f"calib must be one of {METHODS}, got {self.calib!r}")
        if self.w_calib not in ("maxabs", "mse"):
            raise QuantError(f"w_calib must be 'maxabs' or 'mse', got {self.w_calib!r}")
        if self.requant not in ("float", "fixed"):
            raise QuantError(f"requant must be 'float' or 'fixed', got {self.requant!r}")
        if not 8 <= self.acc_bits <= 64:
            raise QuantError(f"acc_bits must be in 8..64, got {self.acc_bits}")

    @property
    def label(self) -> str:
        gran = "per-channel" if self.per_channel else "per-tensor"
        return f"W{self.w_bits}A{self.a_bits} {gran} {self.calib}"


def compute_layers(model: Sequential) -> list[int]:
    return [i for i, l in enumerate(model.layers) if isinstance(l, Conv2d | Dense)]


def quant_points(model: Sequential) -> list[int]:
    """Layer indices after which an activation is quantized (-1 = the model input)."""
    comp = compute_layers(model)
    points = [-1]
    for i in comp[:-1]:
        nxt = i + 1
        points.append(nxt if nxt < len(model.layers) and isinstance(model.layers[nxt], ReLU)
                      else i)
    return points


def collect_activations(model: Sequential, x: np.ndarray) -> dict[int, np.ndarray]:
    """Float tensors at every quantization point for a calibration batch."""
    points = set(quant_points(model))
    acts = {-1: np.asarray(x, np.float32)}
    h = acts[-1]
    for i, layer in enumerate(model.layers):
        h = layer.forward(h)
        if i in points:
            acts[i] = h
    return acts


def act_observer(scheme: Scheme) -> HistogramObserver | MinMaxObserver:
    """The observer the activation calibration of ``scheme`` feeds (batch by batch); MinMax
    needs no histogram."""
    if scheme.calib == "minmax":
        return MinMaxObserver()
    return HistogramObserver(skip_zeros=scheme.calib == "kl")


def act_range(x: np.ndarray, scheme: Scheme) -> tuple[np.float32, np.float32]:
    obs = act_observer(scheme)
    obs.observe(x)
    return observed_range(obs, scheme)


def observed_range(obs, scheme: Scheme) -> tuple[np.float32, np.float32]:
    if isinstance(obs, MinMaxObserver):
        return obs.range()
    levels = (1 << scheme.a_bits) - 1
    # KL merges |x| into as many bins as the type has non-negative levels: TensorRT's 128 for
    # signed 8-bit, 255 for u8 (our activations), capped by the 2048-bin histogram.
    kl_bins = min(1 << (scheme.a_bits - 1) if scheme.a_signed else levels, obs.bins // 2)
    return obs.range(scheme.calib, percentile=scheme.percentile, levels=levels,
                     symmetric_levels=scheme.a_signed, kl_bins=kl_bins)


def weight_qparams(w: np.ndarray, scheme: Scheme):
    """Weight scale and zero point. One bit is binary whatever ``w_calib`` says: its scale,
    mean|w|, is already the one that minimises the squared error."""
    axis = 0 if scheme.per_channel else None
    if scheme.w_calib == "maxabs" or scheme.w_bits == 1:
        return qparams(w, bits=scheme.w_bits, signed=True, symmetric=True, axis=axis,
                       convention=scheme.convention)
    rng = qrange(scheme.w_bits, True, symmetric=True, convention=scheme.convention)
    t = mse_weight_threshold(w, rng, axis)
    return qparams_from_range(-t, t, rng, symmetric=True, convention=scheme.convention,
                              custom=scheme.w_bits not in (8, 16))


def mse_weight_threshold(w: np.ndarray, rng, axis: int | None, steps: int = 100) -> np.ndarray:
    """Per-tensor/per-channel clipping threshold T minimising ||w - fakequant(w; [-T, T])||^2."""
    w = np.asarray(w, np.float32)
    wc = w.reshape(1, -1) if axis is None else np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    top = np.abs(wc).max(1).astype(np.float64)
    fr = np.arange(1, steps + 1, dtype=np.float64)[:, None] / steps  # (steps, 1)
    t = np.maximum(top[None, :] * fr, np.finfo(np.float32).tiny)  # (steps, C)
    scale = t / ((rng.qmax - rng.qmin) / 2.0)
    q = np.clip(np.round(wc[None] / scale[..., None]), rng.qmin, rng.qmax) * scale[..., None]
    err = ((q - wc[None]) ** 2).sum(-1)  # (steps, C)
    best = t[err.argmin(0), np.arange(wc.shape[0])].astype(np.float32)
    return best[0] if axis is None else best


def act_qparams(rmin, rmax, scheme: Scheme):
    rng = qrange(scheme.a_bits, scheme.a_signed, convention=scheme.convention)
    return qparams_from_range(rmin, rmax, rng, symmetric=False, convention=scheme.convention,
                              custom=scheme.a_bits not in (8, 16))


@dataclass(frozen=True)
class QLayer:
    """One quantized Conv/Dense: integer weights, int32 bias, requantization constants."""

    kind: str  # "conv" | "dense"
    wq: np.ndarray
    w_scale: np.ndarray
    w_zp: np.ndarray
    bias: np.ndarray
    in_scale: np.float32
    in_zp: int
    out_scale: np.float32 | None  # None: last layer, float logits
    out_zp: int | None
    relu: bool
    stride: int = 1
    padding: int = 0


class QuantizedModel:
    """A float model turned into integers; ``forward`` runs the exact integer pipeline."""

    def __init__(self, model: Sequential, scheme: Scheme, ranges: dict[int, tuple]) -> None:
        self.model = model
        self.scheme = scheme
        self.ranges = ranges
        self.in_q = act_qparams(*ranges[-1], scheme)
        self.qlayers: dict[int, QLayer] = {}
        self.overflows = 0
        comp = compute_layers(model)
        points = quant_points(model)
        cur = self.in_q
        for n, i in enumerate(comp):
            layer = model.layers[i]
            ws, wz = weight_qparams(layer.params["W"], scheme)
            wq = quantize(layer.params["W"], ws, wz, bits=scheme.w_bits, signed=True,
                          axis=0 if scheme.per_channel else None)
            last = n == len(comp) - 1
            out = (None, None) if last else act_qparams(*ranges[points[n + 1]], scheme)
            relu = i + 1 < len(model.layers) and isinstance(model.layers[i + 1], ReLU)
            self.qlayers[i] = QLayer(
                "conv" if isinstance(layer, Conv2d) else "dense", wq,
                np.atleast_1d(ws), np.atleast_1d(wz),
                bias_int32(layer.params["b"], cur[0], np.atleast_1d(ws)),
                np.float32(cur[0]), int(cur[1]),
                None if last else np.float32(out[0]), None if last else int(out[1]), relu,
                getattr(layer, "stride", 1), getattr(layer, "padding", 0))
            if not last:
                cur = out

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        s = self.scheme
        return quantize(x, self.in_q[0], self.in_q[1], bits=s.a_bits, signed=s.a_signed)

    def forward(self, x: np.ndarray, kernel=None) -> np.ndarray:
        """Logits of the exact integer pipeline. ``kernel(qlayer, q) -> (wrapped accumulators,
        overflows)`` replaces the numpy accumulators (e.g. the array: tpu.quant.on_array)."""
        q = self.quantize_input(x)
        out = None
        for i, layer in enumerate(self.model.layers):
            if i in self.qlayers:
                q, out = self._compute(self.qlayers[i], q, kernel)
            elif isinstance(layer, ReLU):
                continue  # fused into the preceding requantization's clamp
            elif isinstance(layer, MaxPool2d | Flatten):
                q = _int_layer(layer, q)
            else:
                raise QuantError(f"layer {type(layer).__name__} has no integer implementation")
        return out

    __call__ = forward

    def accumulators(self, ql: QLayer, q: np.ndarray) -> tuple[np.ndarray, int]:
        """The layer's int32 (``acc_bits``) accumulators by numpy kernels, and how many of them
        wrapped."""
        zw = ql.w_zp if ql.w_scale.size > 1 else ql.w_zp.reshape(())
        if ql.kind == "conv":
            exact = conv_acc(q, ql.in_zp, ql.wq, zw, ql.bias, stride=(ql.stride,) * 2,
                             pads=(ql.padding,) * 4, acc_bits=None)
        else:
            exact = matmul_acc(q, ql.in_zp, ql.wq.T, zw, ql.bias,
                               w_axis=None if ql.w_scale.size == 1 else 1, acc_bits=None)
        acc = wrap(exact, self.scheme.acc_bits)
        return acc, int(np.count_nonzero(acc != exact))

    def _compute(self, ql: QLayer, q: np.ndarray, kernel=None):
        s = self.scheme
        axis_w = None if ql.w_scale.size == 1 else 0
        ch_axis = 1
        acc, overflows = (kernel or self.accumulators)(ql, q)
        self.overflows += overflows
        ws = ql.w_scale if axis_w is not None else ql.w_scale.reshape(())
        ax = ch_axis if axis_w is not None else None
        if ql.out_scale is None:
            mult = (np.float32(ql.in_scale) * ws.astype(np.float32)).astype(np.float32)
            return None, acc.astype(np.float32) * expand(mult, acc.ndim, ax)
        rng = qrange(s.a_bits, s.a_signed, convention=s.convention)
        qmin = max(rng.qmin, ql.out_zp) if ql.relu else rng.qmin
        if s.requant == "float":
            m = float_multiplier(ql.in_scale, ws, ql.out_scale)
            return requant_float(acc, m, ql.out_zp, qmin, rng.qmax, axis=ax), None
        real = (np.float64(ql.in_scale) * ws.astype(np.float64)) / np.float64(ql.out_scale)
        qm, sh = quantize_multiplier(real)
        return requant_fixed(acc, qm, sh, ql.out_zp, qmin, rng.qmax, axis=ax), None


def _int_layer(layer: Layer, q: np.ndarray) -> np.ndarray:
    return layer.forward(q)


def calibrate_ranges(model: Sequential, x_calib: np.ndarray, scheme: Scheme) -> dict[int, tuple]:
    acts = collect_activations(model, x_calib)
    return {i: act_range(a, scheme) for i, a in acts.items()}


def static_ptq(model: Sequential, x_calib: np.ndarray, scheme: Scheme) -> QuantizedModel:
    """Static post-training quantization: activation ranges from a calibration set."""
    return QuantizedModel(model, scheme, calibrate_ranges(model, x_calib, scheme))

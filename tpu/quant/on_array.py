"""tpu.nn / tpu.quant models with their Conv and Dense layers run as GEMMs on the array.

Two runners, for what the compiler does not take yet:

* :func:`integer_on_array` — a :class:`~tpu.quant.qmodel.QuantizedModel`'s accumulators come
  from the array at the scheme's widths (``tpu.array.precision``: a binary-weight network runs
  W1A8 on an 8-bit multi-precision array). The array computes Σ q·w; the zero points' terms
  (Σw per column times the input zero point, ...) and the bias are added beside it in int64 and
  the sum wrapped to ``acc_bits``: equal to the numpy kernels' accumulators, as a test checks.
* :func:`float_on_array` — a float :class:`~tpu.nn.model.Sequential` on an fp16/bf16 array:
  every Conv/Dense input and weight rounded to the format, products and sums in fp32 in the
  dataflow's order; bias, ReLU and pooling in fp32 on the fp32 result, which is rounded to the
  format again as the next layer's input (what a 16-bit float machine stores).

Each returns the outputs and an :class:`ArrayRun` with every layer's GEMM result (cycles and
activity on the array alone: no DMA or buffers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tpu.array import gemm
from tpu.array.numerics import float_dtype, wrap
from tpu.array.precision import Precision
from tpu.config import Config
from tpu.errors import TpuError
from tpu.nn.functional import im2col
from tpu.nn.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU


@dataclass
class ArrayRun:
    """The GEMMs one forward pass ran on the array, in order."""

    config: Config
    results: list = field(default_factory=list)

    @property
    def cycles(self) -> int:
        """Array cycles, layer after layer (no overlap between layers counted)."""
        return sum(r.cycles for r in self.results)

    @property
    def overflows(self) -> int:
        return sum(r.overflows for r in self.results)

    def counts(self):
        """On-chip activity of the GEMMs (tpu.array.activity.array_counts), summed."""
        from tpu.array.activity import array_counts
        from tpu.cost.energy import Counts

        return sum((array_counts(r.plan, self.config) for r in self.results), Counts())


def _gemm_operands(x: np.ndarray, w: np.ndarray, kind: str, stride: int, padding: int,
                   pad_value=0) -> tuple[np.ndarray, np.ndarray, tuple]:
    """A (M×K), B (K×N) of a Conv (NCHW, OIHW weights) or Dense (W stored out×in) layer, and
    the (N, OH, OW) shape its rows fold back into (conv) or None."""
    if kind == "conv":
        o, _, kh, kw = w.shape
        cols = im2col(x, kh, kw, (stride, stride), (padding,) * 4, pad_value=pad_value)
        n, oh, ow = cols.shape[:3]
        return cols.reshape(n * oh * ow, -1), w.reshape(o, -1).T, (n, oh, ow)
    return x, w.T, None


def _unfold(y: np.ndarray, shape) -> np.ndarray:
    return y if shape is None else y.reshape(*shape, -1).transpose(0, 3, 1, 2)


def integer_on_array(qm, x: np.ndarray, config: Config, *, backend: str = "fast"):
    """(logits, ArrayRun) of ``qm.forward`` with every accumulator computed on the array."""
    s = qm.scheme
    if config.array.format != "int":
        raise TpuError(f"a quantized model runs on an integer array, not {config.array.format}")
    if config.array.acc_bits != s.acc_bits:
        raise TpuError(f"the array's accumulators are {config.array.acc_bits} bits, the scheme's "
                       f"{s.acc_bits}: make them equal")
    precision = Precision(s.a_bits, s.w_bits, s.a_signed, True)
    run = ArrayRun(config)

    def kernel(ql, q):
        a, b, shape = _gemm_operands(np.asarray(q, np.int64), np.asarray(ql.wq, np.int64), ql.kind,
                                     ql.stride, ql.padding, pad_value=ql.in_zp)
        r = gemm(a, b, config, precision=precision, backend=backend)
        run.results.append(r)
        zw = np.broadcast_to(np.asarray(ql.w_zp, np.int64), (b.shape[1],))
        k = a.shape[1]
        # Σ(x - zx)(w - zw) = Σxw - zx·Σw - zw·Σx + k·zx·zw
        corr = -ql.in_zp * b.sum(0) - np.outer(a.sum(1), zw) + k * ql.in_zp * zw
        acc = wrap(r.output + corr + np.asarray(ql.bias, np.int64), s.acc_bits)
        return _unfold(acc, shape), r.overflows

    return qm.forward(x, kernel=kernel), run


def float_on_array(model, x: np.ndarray, config: Config, *, backend: str = "fast"):
    """(outputs, ArrayRun) of a float model on an fp16/bf16 array (see the module docstring)."""
    fmt = config.array.format
    if fmt == "int":
        raise TpuError("float_on_array needs an fp16 or bf16 array (array.format)")
    dtype = float_dtype(fmt)
    run = ArrayRun(config)

    def rounded(v):
        return np.asarray(v, np.float32).astype(dtype).astype(np.float64)

    h = np.asarray(x, np.float32)
    for layer in model.layers:
        if isinstance(layer, Conv2d | Dense):
            kind = "conv" if isinstance(layer, Conv2d) else "dense"
            a, b, shape = _gemm_operands(rounded(h), rounded(layer.params["W"]), kind,
                                         getattr(layer, "stride", 1), getattr(layer, "padding", 0))
            r = gemm(a, b, config, backend=backend)
            run.results.append(r)
            h = _unfold(r.output + layer.params["b"].astype(np.float32), shape)
        elif isinstance(layer, ReLU | MaxPool2d | Flatten):
            h = layer.forward(h)
        else:
            raise TpuError(f"layer {type(layer).__name__} has no array mapping")
    return h, run

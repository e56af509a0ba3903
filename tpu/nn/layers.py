"""Float32 layers with forward and backward passes (NCHW), enough for the digits models.

Conv2d and Dense accept ``weight_quant``: a callable ``w -> (w_used, grad_mask)`` applied in the
forward pass; the weight gradient is multiplied by the mask (the straight-through estimator of
quantization-aware training).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tpu.errors import ShapeError
from tpu.nn.functional import col2im, im2col

WeightQuant = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class Layer:
    """A layer: ``forward(x, train)`` keeps what ``backward(grad)`` needs."""

    params: dict[str, np.ndarray]

    def __init__(self) -> None:
        self.params = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _Weighted(Layer):
    weight_quant: WeightQuant | None = None

    def _weight(self, train: bool) -> np.ndarray:
        w = self.params["W"]
        if self.weight_quant is None:
            self._mask = None
            return w
        wq, mask = self.weight_quant(w)
        self._mask = mask if train else None
        return wq

    def _weight_grad(self, g: np.ndarray) -> np.ndarray:
        return g if self._mask is None else g * self._mask


class Conv2d(_Weighted):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        rng = rng or np.random.default_rng(0)
        fan_in = in_ch * kernel * kernel
        self.params["W"] = (rng.standard_normal((out_ch, in_ch, kernel, kernel))
                            * np.sqrt(2.0 / fan_in)).astype(np.float32)
        self.params["b"] = np.zeros(out_ch, np.float32)
        self.stride = stride
        self.padding = padding

    @property
    def pads(self) -> tuple[int, int, int, int]:
        p = self.padding
        return (p, p, p, p)

    def forward(self, x, train=False):
        w = self._weight(train)
        o, c, kh, kw = w.shape
        if x.ndim != 4 or x.shape[1] != c:
            raise ShapeError(f"Conv2d expects N×{c}×H×W input, got {x.shape}")
        cols = im2col(x, kh, kw, (self.stride, self.stride), self.pads)
        n, oh, ow = cols.shape[:3]
        flat = cols.reshape(n * oh * ow, -1)
        y = flat @ w.reshape(o, -1).T + self.params["b"]
        if train:
            self._cache = (x.shape, flat, w, cols.shape)
        return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    def backward(self, grad):
        x_shape, flat, w, cols_shape = self._cache
        o = w.shape[0]
        g = grad.transpose(0, 2, 3, 1).reshape(-1, o)
        self.grads["W"] = self._weight_grad((g.T @ flat).reshape(w.shape))
        self.grads["b"] = g.sum(0)
        dcols = (g @ w.reshape(o, -1)).reshape(cols_shape)
        return col2im(dcols, x_shape, (self.stride, self.stride), self.pads)


class Dense(_Weighted):
    """``y = x W^T + b`` with W stored (out, in), as ONNX Gemm with transB=1."""

    def __init__(self, in_features: int, out_features: int, *,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        rng = rng or np.random.default_rng(0)
        self.params["W"] = (rng.standard_normal((out_features, in_features))
                            * np.sqrt(2.0 / in_features)).astype(np.float32)
        self.params["b"] = np.zeros(out_features, np.float32)

    def forward(self, x, train=False):
        w = self._weight(train)
        if x.ndim != 2 or x.shape[1] != w.shape[1]:
            raise ShapeError(f"Dense expects N×{w.shape[1]} input, got {x.shape}")
        if train:
            self._cache = (x, w)
        return x @ w.T + self.params["b"]

    def backward(self, grad):
        x, w = self._cache
        self.grads["W"] = self._weight_grad(grad.T @ x)
        self.grads["b"] = grad.sum(0)
        return grad @ w


class ReLU(Layer):
    def forward(self, x, train=False):
        if train:
            self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad):
        return grad * self._mask


class MaxPool2d(Layer):
    def __init__(self, kernel: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride or kernel

    def forward(self, x, train=False):
        k, s = self.kernel, self.stride
        cols = im2col(x, k, k, (s, s), (0, 0, 0, 0), pad_value=0)
        n, oh, ow, c = cols.shape[:4]
        flat = cols.reshape(n, oh, ow, c, k * k)
        arg = flat.argmax(-1)
        if train:
            self._cache = (x.shape, arg, cols.shape)
        return np.take_along_axis(flat, arg[..., None], -1)[..., 0].transpose(0, 3, 1, 2)

    def backward(self, grad):
        x_shape, arg, cols_shape = self._cache
        n, oh, ow, c, k, _ = cols_shape
        dflat = np.zeros((n, oh, ow, c, k * k), grad.dtype)
        np.put_along_axis(dflat, arg[..., None], grad.transpose(0, 2, 3, 1)[..., None], -1)
        return col2im(dflat.reshape(cols_shape), x_shape, (self.stride, self.stride), (0, 0, 0, 0))


class Flatten(Layer):
    def forward(self, x, train=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._shape)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    n = len(labels)
    loss = float(-np.log(p[np.arange(n), labels] + 1e-12).mean())
    g = p
    g[np.arange(n), labels] -= 1
    return loss, (g / n).astype(np.float32)

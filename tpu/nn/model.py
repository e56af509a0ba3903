"""A sequential model: a list of layers, a numpy forward pass, ONNX export/import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tpu.nn.layers import Conv2d, Dense, Flatten, Layer, MaxPool2d, ReLU


class Sequential:
    def __init__(self, layers: list[Layer], input_shape: tuple[int, ...], name: str = "model"):
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)  # without the batch dimension
        self.name = name

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = np.asarray(x, np.float32)
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    __call__ = forward

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def parameters(self) -> list[tuple[Layer, str]]:
        return [(layer, k) for layer in self.layers for k in layer.params]

    def predict(self, x: np.ndarray, batch: int = 512) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch]).argmax(1)
                               for i in range(0, len(x), batch)])

    def to_onnx(self, path: str | Path) -> None:
        from tpu.nn.onnx_io import save_onnx

        save_onnx(self, path)

    @classmethod
    def from_onnx(cls, path: str | Path) -> Sequential:
        from tpu.nn.onnx_io import load_onnx

        return load_onnx(path)


def digits_cnn(seed: int = 0) -> Sequential:
    """Conv 1→8 3×3 p1, ReLU, MaxPool 2, Conv 8→16 3×3 p1, ReLU, MaxPool 2, Flatten, Dense 64→10."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2d(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(8, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
        Flatten(), Dense(64, 10, rng=rng),
    ], (1, 8, 8), name="digits_cnn")


def digits_mlp(seed: int = 0) -> Sequential:
    """Flatten, Dense 64→64, ReLU, Dense 64→32, ReLU, Dense 32→10."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Flatten(), Dense(64, 64, rng=rng), ReLU(), Dense(64, 32, rng=rng), ReLU(),
        Dense(32, 10, rng=rng),
    ], (1, 8, 8), name="digits_mlp")


__all__ = ["Conv2d", "Dense", "Flatten", "MaxPool2d", "ReLU", "Sequential", "digits_cnn",
           "digits_mlp"]

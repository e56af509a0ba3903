"""Float32 transcendental functions as onnxruntime's MLAS computes them (its own polynomial
approximations, not libm), so float islands and lookup tables agree with onnxruntime."""

from __future__ import annotations

import numpy as np

F = np.float32


def logistic(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F)
    return (F(1) / (F(1) + np.exp(-x))).astype(F)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(np.asarray(x, F)).astype(F)


def erf(x: np.ndarray) -> np.ndarray:
    from math import erf as _erf

    x = np.asarray(x, F)
    return np.vectorize(_erf, otypes=[np.float64])(x).astype(F) if x.size else x

"""Observers: watch tensors, then give a float range [rmin, rmax] to turn into qparams.

``MinMaxObserver`` (running min/max), ``MovingAverageMinMaxObserver`` (exponential average of
per-batch min/max, as used during QAT) and ``HistogramObserver`` (2048-bin histogram of |x| that
grows its range as data arrive, feeding the percentile / KL / MSE thresholds).
"""

from __future__ import annotations

import numpy as np

from tpu.quant import calibrate
from tpu.quant.schemes import QuantError, minmax

METHODS = ("minmax", "percentile", "kl", "mse")


class MinMaxObserver:
    """Running min and max (per tensor, or per index along ``axis``)."""

    def __init__(self, axis: int | None = None) -> None:
        self.axis = axis
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None

    def observe(self, x) -> None:
        lo, hi = minmax(x, self.axis)
        self.min = lo if self.min is None else np.minimum(self.min, lo)
        self.max = hi if self.max is None else np.maximum(self.max, hi)

    def range(self) -> tuple[np.ndarray, np.ndarray]:
        if self.min is None:
            raise QuantError("observer has seen no data")
        return np.float32(self.min), np.float32(self.max)


class MovingAverageMinMaxObserver(MinMaxObserver):
    """``m <- m + c * (batch - m)``; the first batch sets the range (PyTorch's rule)."""

    def __init__(self, averaging_constant: float = 0.01, axis: int | None = None) -> None:
        super().__init__(axis)
        if not 0 < averaging_constant <= 1:
            raise QuantError(f"averaging_constant must be in (0, 1], got {averaging_constant}")
        self.c = np.float32(averaging_constant)

    def observe(self, x) -> None:
        lo, hi = minmax(x, self.axis)
        if self.min is None:
            self.min, self.max = lo, hi
        else:
            self.min = np.float32(self.min + self.c * (lo - self.min))
            self.max = np.float32(self.max + self.c * (hi - self.max))


class HistogramObserver:
    """Histogram of |x| on ``bins`` bins over [0, top]; widening the range re-bins old counts.

    Re-binning puts each old bin's count into the new bin holding its centre, which keeps the
    histogram exact when calibration data arrive in one batch and close to it otherwise.
    """

    def __init__(self, bins: int = calibrate.HIST_BINS, *, skip_zeros: bool = False) -> None:
        self.bins = bins
        self.skip_zeros = skip_zeros  # drop exact zeros (ReLU's dead units), as NVIDIA's
        # pytorch-quantization HistogramCalibrator can; they swamp the KL search otherwise
        self.counts = np.zeros(bins)
        self.top = 0.0
        self.min = np.inf
        self.max = -np.inf

    def observe(self, x) -> None:
        lo, hi = minmax(x)
        self.min = min(self.min, float(lo))
        self.max = max(self.max, float(hi))
        a = np.abs(np.asarray(x, np.float64)).ravel()
        if self.skip_zeros:
            a = a[a != 0]
            if a.size == 0:
                return
        top = float(a.max())
        if top > self.top:
            if self.counts.any():
                centers = (np.arange(self.bins) + 0.5) * (self.top / self.bins)
                idx = np.minimum((centers / top * self.bins).astype(np.int64), self.bins - 1)
                new = np.zeros(self.bins)
                np.add.at(new, idx, self.counts)
                self.counts = new
            self.top = top
        if self.top == 0.0:
            self.counts[0] += a.size
            return
        counts, _ = np.histogram(a, bins=self.bins, range=(0.0, self.top))
        self.counts += counts

    def edges(self) -> np.ndarray:
        return np.linspace(0.0, self.top or 1.0, self.bins + 1)

    def threshold(self, method: str, *, percentile: float = 99.99, levels: int = 255,
                  symmetric_levels: bool = False,
                  kl_bins: int = calibrate.KL_QUANT_BINS) -> float:
        if self.min == np.inf:
            raise QuantError("observer has seen no data")
        if method == "percentile":
            return calibrate.percentile_threshold(self.counts, self.edges(), percentile)
        if method == "kl":
            return calibrate.kl_threshold(self.counts, self.edges(), kl_bins)
        if method == "mse":
            return calibrate.mse_threshold(self.counts, self.edges(), levels=levels,
                                           symmetric_levels=symmetric_levels)
        if method == "minmax":
            return self.top
        raise QuantError(f"calibration method must be one of {METHODS}, got {method!r}")

    def range(self, method: str = "minmax", **kw) -> tuple[np.float32, np.float32]:
        if method == "minmax":
            if self.min == np.inf:
                raise QuantError("observer has seen no data")
            return np.float32(self.min), np.float32(self.max)
        return calibrate.clip_range(self.min, self.max, self.threshold(method, **kw))

"""Saturating thresholds from a histogram of |x|: percentile, KL entropy (TensorRT), MSE.

Each function takes a histogram of |x| over ``[0, edges[-1]]`` (``counts``, ``edges``) and
returns the clipping threshold T > 0; the range used for quantization is then
``[max(min(x), -T), min(max(x), T)]`` (see :func:`clip_range`).
"""

from __future__ import annotations

import numpy as np

from tpu.quant.schemes import QuantError

HIST_BINS = 2048
KL_QUANT_BINS = 128  # TensorRT: int8 has 128 non-negative levels


def abs_histogram(x, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    a = np.abs(np.asarray(x, np.float64)).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise QuantError("calibration data must be non-empty and finite")
    top = float(a.max()) or 1.0
    counts, edges = np.histogram(a, bins=bins, range=(0.0, top))
    return counts.astype(np.float64), edges


def percentile_threshold(counts, edges, percentile: float = 99.99) -> float:
    """Smallest bin edge below which ``percentile`` % of |x| lies."""
    if not 0 < percentile <= 100:
        raise QuantError(f"percentile must be in (0, 100], got {percentile}")
    cdf = np.cumsum(counts) / counts.sum()
    i = int(np.searchsorted(cdf, percentile / 100.0 - 1e-12))
    return float(edges[min(i + 1, len(edges) - 1)])


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    mask = p > 0
    if np.any(q[mask] == 0):
        return np.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def kl_threshold(counts, edges, quant_bins: int = KL_QUANT_BINS) -> float:
    """TensorRT entropy calibration: the threshold minimising KL(P || Q).

    For each candidate i (bins 0..i-1 kept), P folds the outliers into its last bin; Q merges
    those i bins into ``quant_bins`` levels and spreads each level evenly over its non-empty
    source bins. Threshold = ``(i + 0.5) * bin_width`` as in TensorRT.
    """
    counts = np.asarray(counts, np.float64)
    nbins = len(counts)
    width = float(edges[1] - edges[0])
    if nbins <= quant_bins:
        return float(edges[-1])
    best_i, best = nbins, np.inf
    for i in range(quant_bins, nbins + 1):
        ref = counts[:i].copy()
        ref[i - 1] += counts[i:].sum()
        if ref.sum() == 0:
            continue
        src = counts[:i]
        sizes = np.full(quant_bins, i // quant_bins)
        sizes[: i % quant_bins] += 1  # np.array_split's grouping
        gid = np.repeat(np.arange(quant_bins), sizes)
        nonzero = src > 0
        sums = np.bincount(gid, weights=src, minlength=quant_bins)
        nzc = np.bincount(gid, weights=nonzero, minlength=quant_bins)
        q = np.where(nonzero, sums[gid] / np.maximum(nzc[gid], 1), 0.0)
        kl = _kl(ref, q)
        if kl < best:
            best, best_i = kl, i
    return (best_i + 0.5) * width if best_i < nbins else float(edges[-1])


def mse_threshold(counts, edges, *, levels: int = 255, symmetric_levels: bool = False,
                  candidates: int = 200) -> float:
    """Threshold minimising the histogram-weighted squared error of uniform clipping quantization.

    ``levels`` is the number of steps across [0, T] (255 for u8 on non-negative data); with
    ``symmetric_levels`` the steps cover [-T, T] so the step is 2T/levels.
    """
    counts = np.asarray(counts, np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    top = float(edges[-1])
    best_t, best = top, np.inf
    for t in np.linspace(top / candidates, top, candidates):
        step = (2 * t if symmetric_levels else t) / levels
        q = np.minimum(np.round(centers / step) * step, t)
        err = float(np.sum(counts * (centers - q) ** 2))
        if err < best:
            best, best_t = err, float(t)
    return best_t


def clip_range(xmin: float, xmax: float, threshold: float) -> tuple[np.float32, np.float32]:
    """The quantization range a saturating threshold gives, never wider than the data."""
    return np.float32(max(xmin, -threshold)), np.float32(min(xmax, threshold))

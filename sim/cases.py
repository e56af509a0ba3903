"""Test cases shared by every model (PyMTL3 style): the same stimuli drive the Python cycle
core, Amaranth's simulator and the cocotb runs, and the outputs must agree cycle by cycle."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from tpu.array.schedule import plan_gemm
from tpu.array.stimulus import build_stimulus
from tpu.config import Config, int_range


def operands(config: Config, m: int, k: int, n: int, rng: np.random.Generator,
             extreme: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random A (m×k) and B (k×n) in the config's ranges; ``extreme``: all at the most
    negative (signed) or largest (unsigned) value, the worst case for the accumulators."""
    a_cfg = config.array
    (alo, ahi), (wlo, whi) = a_cfg.range("act"), a_cfg.range("weight")
    if extreme:
        a = np.full((m, k), alo if a_cfg.act_signed else ahi)
        b = np.full((k, n), wlo if a_cfg.weight_signed else whi)
        return a, b
    return rng.integers(alo, ahi + 1, (m, k)), rng.integers(wlo, whi + 1, (k, n))


def gemm_stimulus(config: Config, a: np.ndarray, b: np.ndarray):
    return build_stimulus(plan_gemm(a.shape[0], a.shape[1], b.shape[1], config), a, b)


def concat(stimuli, gap: int = 2):
    """One stimulus running several back to back (``gap`` idle cycles after each).

    Valid for any model: the registers carry over, exactly as they would in hardware."""
    first = stimuli[0]
    parts = {}
    for f in fields(first):
        arrays = []
        for st in stimuli:
            x = getattr(st, f.name)
            pad = np.zeros((gap, *x.shape[1:]), x.dtype)
            arrays += [x, pad]
        parts[f.name] = np.concatenate(arrays)
    return replace(first, **parts)


def random_stimulus(config: Config, rng: np.random.Generator, count: int, *,
                    max_dim: int = 9, extreme_every: int = 0):
    """``count`` random GEMMs (random shapes, partial tiles) concatenated into one stimulus."""
    out = []
    for i in range(count):
        m, k, n = (int(v) for v in rng.integers(1, max_dim + 1, 3))
        extreme = extreme_every and i % extreme_every == extreme_every - 1
        out.append(gemm_stimulus(config, *operands(config, m, k, n, rng, bool(extreme))))
    return concat(out)


def acc_range(config: Config) -> tuple[int, int]:
    return int_range(config.array.acc_bits, True)

"""When each tile enters the array: the closed-form timing both backends (and the RTL) share.

Two structures cover the three dataflows:

* stationary (ws, is): one operand sits in the PEs (double-buffered, loaded one row per cycle
  through a row-addressed port); the other streams through, one vector per cycle. ``is`` is
  ``ws`` on transposed operands: the stationary tile is Aᵀ and Bᵀ streams.
* output-stationary (os): both operands stream; each PE keeps one output, captured into a
  shadow register at the end of the tile and drained one row per cycle from the bottom.

Cycle conventions (the RTL implements exactly these): an input presented during cycle ``t``
is used by PE(0,0) during ``t``; row ``i`` is delayed ``i`` cycles, column ``j`` ``j`` cycles,
so PE(i, j) sees it during ``t + i + j``. Register writes happen at the end of a cycle. The
run takes ``cycles`` clock edges: the last edge latches the last result row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.config import ArrayConfig, Config
from tpu.errors import ConfigError


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _blocks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, total - start)) for start in range(0, total, size)]


@dataclass(frozen=True)
class StationaryTile:
    """One stationary tile: rows ``[r0, r0+rows)`` of the streamed operand, reduction slice
    ``[k0, k0+k)`` and stationary columns ``[c0, c0+cols)``; results go to accumulator rows
    ``[addr, addr+rows)``, added to what is there when ``accumulate``."""

    r0: int
    rows: int
    k0: int
    k: int
    c0: int
    cols: int
    bank: int
    addr: int
    accumulate: bool
    load: int  # cycle of the first weight-row write (k consecutive cycles)
    start: int  # cycle the first streamed vector enters


@dataclass(frozen=True)
class OSTile:
    """One output-stationary tile: output rows ``[m0, m0+m)`` × columns ``[n0, n0+n)``,
    streaming the whole reduction from ``start``; drained from cycle ``drain`` (R cycles)."""

    m0: int
    m: int
    n0: int
    n: int
    start: int
    drain: int


@dataclass(frozen=True)
class Plan:
    """The tiles of one GEMM in issue order, and the total cycle count."""

    dataflow: str
    rows: int
    cols: int
    m: int
    k: int
    n: int
    tiles: tuple
    cycles: int
    chunk_rows: int  # accumulator rows per half (ws/is); streamed rows per chunk

    @property
    def folds(self) -> int:
        return len(self.tiles)

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n

    @property
    def latency(self) -> int:
        """Cycles from a streamed vector entering to its result row being latched (ws, is)."""
        return self.rows + self.cols - 2


def accumulator_rows(config: Config) -> int:
    """Rows of ``cols`` accumulators that fit in one half of the double-buffered accumulator."""
    a = config.array
    row_bytes = a.cols * _ceil_div(a.acc_bits, 8)
    half = config.memory.accumulator_bytes // 2 // row_bytes
    if half < 1:
        raise ConfigError(
            f"memory.accumulator_bytes ({config.memory.accumulator_bytes}) cannot hold two rows of "
            f"{a.cols} {a.acc_bits}-bit accumulators ({2 * row_bytes} bytes); make it larger"
        )
    return half


def plan_gemm(m: int, k: int, n: int, config: Config) -> Plan:
    """Tile C[m×n] = A[m×k]·B[k×n] onto the array and time every tile."""
    for name, value in (("m", m), ("k", k), ("n", n)):
        if value < 1:
            raise ConfigError(f"GEMM dimension {name} must be at least 1, got {value}")
    a = config.array
    if a.dataflow == "os":
        return _plan_os(a, m, k, n)
    streamed, stationary_cols = (m, n) if a.dataflow == "ws" else (n, m)
    return _plan_stationary(a, m, k, n, streamed, stationary_cols, accumulator_rows(config))


def _plan_stationary(a: ArrayConfig, m, k, n, streamed, stat_cols, chunk) -> Plan:
    R, C = a.rows, a.cols
    tiles = []
    block = 0
    prev_load_end = 0
    history: list[tuple[int, int]] = []  # (start, rows) of issued tiles
    for r0, rows in _blocks(streamed, chunk):
        for c0, cols in _blocks(stat_cols, C):
            addr = (block % 2) * chunk
            for i, (k0, kk) in enumerate(_blocks(k, R)):
                t = len(tiles)
                load = prev_load_end
                if t >= 2:  # the bank we load was last used by tile t-2: let it leave PE(r, C-1)
                    s2, rows2 = history[t - 2]
                    load = max(load, s2 + rows2 + C - 2)
                start = load + 1
                if t >= 1:
                    s1, rows1 = history[t - 1]
                    start = max(start, s1 + rows1)
                tiles.append(StationaryTile(r0, rows, k0, kk, c0, cols, t % 2, addr, i > 0, load, start))
                history.append((start, rows))
                prev_load_end = load + kk
            block += 1
    last = tiles[-1]
    cycles = last.start + last.rows + R + C - 2
    return Plan(a.dataflow, R, C, m, k, n, tuple(tiles), cycles, chunk)


def _plan_os(a: ArrayConfig, m, k, n) -> Plan:
    R, C = a.rows, a.cols
    tiles = []
    prev_start = prev_drain = None
    for m0, mm in _blocks(m, R):
        for n0, nn in _blocks(n, C):
            start = 0
            if prev_start is not None:
                # one input port; and this tile's first capture (end of start+k-1 at PE(0,0))
                # must come after the previous drain's last shift (end of drain+R-1)
                start = max(prev_start + k, prev_drain + R + 1 - k)
            drain = start + k + R + C - 2  # after the last capture at PE(R-1, C-1)
            if prev_drain is not None:
                drain = max(drain, prev_drain + R)
            tiles.append(OSTile(m0, mm, n0, nn, start, drain))
            prev_start, prev_drain = start, drain
    cycles = tiles[-1].drain + R
    return Plan("os", R, C, m, k, n, tuple(tiles), cycles, R)


def gemm_cycles(m: int, k: int, n: int, config: Config) -> int:
    """Cycles our machine takes for C[m×n] = A[m×k]·B[k×n] (matrix unit only, stall-free)."""
    return plan_gemm(m, k, n, config).cycles


def stationary_operands(a: np.ndarray, b: np.ndarray, dataflow: str) -> tuple[np.ndarray, np.ndarray]:
    """(streamed X, stationary S) with X·S the array's product: A·B for ws, Bᵀ·Aᵀ for is."""
    return (a, b) if dataflow == "ws" else (b.T, a.T)

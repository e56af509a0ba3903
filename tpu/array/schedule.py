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

Operands of other widths than the PEs' (tpu.array.precision) change only what a tile is: a
packed GEMM has a ``lanes`` times shorter reduction; a sliced one runs every stationary slice
as its own tile and streams the rows once per streamed slice (ws/is), or streams every pass's
reduction in turn (os). The timing rules above are the same for every mode.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from tpu import limits
from tpu.array.precision import Mode, Precision, Roles, mode_for
from tpu.config import ArrayConfig, Config, load_config
from tpu.errors import ConfigError, ShapeError


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _blocks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, total - start)) for start in range(0, total, size)]


@dataclass(frozen=True)
class StationaryTile:
    """One stationary tile: rows ``[r0, r0+rows)`` of the streamed operand, reduction words
    ``[k0, k0+k)`` (``lanes`` values each) and stationary columns ``[c0, c0+cols)`` of
    stationary slice ``s_slice``; the rows stream once per streamed slice (``x_slices``), and
    results go to accumulator rows ``[addr, addr+rows)``, the first pass added to what is there
    when ``accumulate`` (later ones always are)."""

    job: int  # which GEMM of the plan
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
    s_slice: int = 0
    x_slices: int = 1
    last: bool = True  # its rows are final sums (last reduction block, last slices)

    @property
    def vectors(self) -> int:
        """Streamed vectors (cycles on the input port)."""
        return self.rows * self.x_slices


@dataclass(frozen=True)
class OSTile:
    """One output-stationary tile: output rows ``[m0, m0+m)`` × columns ``[n0, n0+n)``,
    streaming ``k`` steps from ``start`` (the reduction's words, once per pass); drained from
    cycle ``drain`` (R cycles)."""

    job: int
    m0: int
    m: int
    n0: int
    n: int
    k: int
    start: int
    drain: int


@dataclass(frozen=True)
class Plan:
    """The tiles of one or more GEMMs (``jobs``, each (m, k, n)) issued back to back as one
    stream, and the cycle on which each job's last result is latched (``finish``)."""

    dataflow: str
    rows: int
    cols: int
    jobs: tuple[tuple[int, int, int], ...]
    tiles: tuple
    finish: tuple[int, ...]  # per job: cycles until its last result row is latched
    chunk_rows: int  # accumulator rows per half (ws/is); streamed rows per chunk
    modes: tuple[Mode, ...] = ()  # per job: how its operands map onto the PEs
    roles: Roles | None = None  # the streamed/stationary PE words' widths and signedness

    @property
    def cycles(self) -> int:
        return max(self.finish)

    @property
    def folds(self) -> int:
        return len(self.tiles)

    @property
    def macs(self) -> int:
        return sum(m * k * n for m, k, n in self.jobs)

    def _single(self) -> tuple[int, int, int]:
        if len(self.jobs) != 1:
            raise ValueError(f"plan of {len(self.jobs)} GEMMs has no single shape")
        return self.jobs[0]

    @property
    def m(self) -> int:
        return self._single()[0]

    @property
    def k(self) -> int:
        return self._single()[1]

    @property
    def n(self) -> int:
        return self._single()[2]


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


def plan_gemm(m: int, k: int, n: int, config: Config, precision: Precision | None = None) -> Plan:
    """Tile C[m×n] = A[m×k]·B[k×n] onto the array and time every tile."""
    return plan_gemms([(m, k, n)], config, precision)


def plan_gemms(jobs, config: Config, precisions=None) -> Plan:
    """Several GEMMs back to back as one stream: the next one's weights load while the
    previous one computes and drains, exactly as tiles of one GEMM do. ``precisions``: one
    :class:`Precision` for every job, a list with one per job, or None (the array's own)."""
    config = load_config(config)
    jobs = tuple(_job(job) for job in jobs)
    if not jobs:
        raise ShapeError("a plan needs at least one GEMM")
    if precisions is None or isinstance(precisions, Precision):
        precisions = [precisions] * len(jobs)
    if len(precisions) != len(jobs):
        raise ShapeError(f"{len(precisions)} precisions for {len(jobs)} GEMMs")
    a = config.array
    modes = tuple(mode_for(a, p) for p in precisions)
    chunk = None if a.dataflow == "os" else accumulator_rows(config)
    tiles = tile_count(jobs, a, chunk, modes)
    shape = " + ".join(f"{m}×{k}·{k}×{n}" for m, k, n in jobs[:3]) + (" + …" if len(jobs) > 3 else "")
    limits.check("tiles", tiles, f"planning {shape} on a {a.rows}×{a.cols} {a.dataflow} array")
    plan = _plan_os(a, jobs, modes) if a.dataflow == "os" else _plan_stationary(a, jobs, modes, chunk)
    return dataclasses.replace(plan, roles=Roles.of(a))


def _job(job) -> tuple[int, int, int]:
    try:
        dims = tuple(job)
    except TypeError:
        dims = ()
    if len(dims) != 3:
        raise ShapeError(f"a GEMM is (m, k, n), got {job!r}")
    for name, value in zip("mkn", dims, strict=True):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool | np.bool_):
            raise ShapeError(f"GEMM dimension {name} must be an integer, got {value!r}")
        if value < 1:
            raise ShapeError(f"GEMM dimension {name} must be at least 1, got {value}")
    return tuple(int(v) for v in dims)


def tile_count(jobs, a: ArrayConfig, chunk: int | None, modes=None) -> int:
    """How many tiles :func:`plan_gemms` makes, in closed form (checked before making them)."""
    R, C = a.rows, a.cols
    modes = modes or [mode_for(a)] * len(jobs)
    if a.dataflow == "os":
        return sum(_ceil_div(m, R) * _ceil_div(n, C) for m, _, n in jobs)
    total = 0
    for (m, k, n), mode in zip(jobs, modes, strict=True):
        streamed, stat_cols = (m, n) if a.dataflow == "ws" else (n, m)
        stationary = len(stationary_slices(mode, a.dataflow)[1])
        total += _ceil_div(streamed, chunk) * _ceil_div(stat_cols, C) * \
            _ceil_div(mode.packed(k), R) * stationary
    return total


def stationary_slices(mode: Mode, dataflow: str):
    """(streamed slices, stationary slices) of a ws/is mode: ws streams activations."""
    return (mode.act, mode.weight) if dataflow == "ws" else (mode.weight, mode.act)


def _plan_stationary(a: ArrayConfig, jobs, modes, chunk) -> Plan:
    R, C = a.rows, a.cols
    tiles = []
    block = 0
    prev_load_end = 0
    history: list[tuple[int, int]] = []  # (start, vectors) of issued tiles
    finish = []
    for j, ((m, k, n), mode) in enumerate(zip(jobs, modes, strict=True)):
        streamed, stat_cols = (m, n) if a.dataflow == "ws" else (n, m)
        x_slices, s_slices = stationary_slices(mode, a.dataflow)
        k_blocks = _blocks(mode.packed(k), R)
        for r0, rows in _blocks(streamed, chunk):
            for c0, cols in _blocks(stat_cols, C):
                addr = (block % 2) * chunk
                for i, (k0, kk) in enumerate(k_blocks):
                    for js in range(len(s_slices)):
                        t = len(tiles)
                        load = prev_load_end
                        if t >= 2:  # the bank we load was last used by tile t-2: let it leave PE(r, C-1)
                            s2, v2 = history[t - 2]
                            load = max(load, s2 + v2 + C - 2)
                        start = load + 1
                        if t >= 1:
                            s1, v1 = history[t - 1]
                            start = max(start, s1 + v1)
                        last = i == len(k_blocks) - 1 and js == len(s_slices) - 1
                        tiles.append(StationaryTile(j, r0, rows, k0, kk, c0, cols, t % 2, addr,
                                                    i > 0 or js > 0, load, start, js,
                                                    len(x_slices), last))
                        history.append((start, rows * len(x_slices)))
                        prev_load_end = load + kk
                block += 1
        last = tiles[-1]
        finish.append(last.start + last.vectors + R + C - 2)
    return Plan(a.dataflow, R, C, jobs, tuple(tiles), tuple(finish), chunk, modes)


def os_passes(mode: Mode) -> list[tuple[int, int, int]]:
    """The os order of (activation slice, weight slice) pairs and the Horner shift code each
    starts with (0: none, 1: the sum times 2^(act PE width), 2: times 2^(weight PE width)):
    pairs by falling total shift, so every step down is one act or one weight slice width."""
    pairs = sorted(((i, j) for i in range(len(mode.act)) for j in range(len(mode.weight))),
                   key=lambda p: -(mode.act[p[0]].shift + mode.weight[p[1]].shift))
    out = []
    prev = None
    for i, j in pairs:
        total = mode.act[i].shift + mode.weight[j].shift
        code = 0
        if prev is not None and total != prev:
            step = prev - total
            if step == mode.act_field * mode.lanes:
                code = 1
            elif step == mode.weight_field * mode.lanes:
                code = 2
            else:
                raise ConfigError(
                    f"os cannot combine {mode.precision.label} slices: consecutive shifts differ "
                    f"by {step} bits, neither PE width; use ws or is for these widths")
        out.append((i, j, code))
        prev = total
    return out


def _plan_os(a: ArrayConfig, jobs, modes) -> Plan:
    R, C = a.rows, a.cols
    tiles = []
    finish = []
    prev = None
    for j, ((m, k, n), mode) in enumerate(zip(jobs, modes, strict=True)):
        if mode.passes > 1:
            os_passes(mode)  # refuse orders the PEs cannot shift through, up front
        k = mode.packed(k) * mode.passes  # steps streamed per tile
        for m0, mm in _blocks(m, R):
            for n0, nn in _blocks(n, C):
                start = 0
                if prev is not None:
                    # one input port; and this tile's first capture (end of start+k-1 at PE(0,0))
                    # must come after the previous drain's last shift (end of drain+R-1)
                    start = max(prev.start + prev.k, prev.drain + R + 1 - k)
                drain = start + k + R + C - 2  # after the last capture at PE(R-1, C-1)
                if prev is not None:
                    drain = max(drain, prev.drain + R)
                prev = OSTile(j, m0, mm, n0, nn, k, start, drain)
                tiles.append(prev)
        finish.append(tiles[-1].drain + R)
    return Plan("os", R, C, jobs, tuple(tiles), tuple(finish), R, modes)


def gemm_cycles(m: int, k: int, n: int, config: Config, precision: Precision | None = None) -> int:
    """Cycles our machine takes for C[m×n] = A[m×k]·B[k×n] (matrix unit only, stall-free)."""
    return plan_gemm(m, k, n, config, precision).cycles


def stationary_operands(a: np.ndarray, b: np.ndarray, dataflow: str) -> tuple[np.ndarray, np.ndarray]:
    """(streamed X, stationary S) with X·S the array's product: A·B for ws, Bᵀ·Aᵀ for is."""
    return (a, b) if dataflow == "ws" else (b.T, a.T)

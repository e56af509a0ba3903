"""One integer GEMM on the array, by the tile-level fast path or the cycle-level model.

Both paths share the plan (tpu.array.schedule): the tiling, and in closed form the cycle on
which each tile's weights start loading and its first vector enters. What the cycle path adds is
emergent from registers stepped every cycle: the values, the overflow counts, and the cycle on
which each result row leaves (the skew, the trip down the columns and the de-skew, or the os
drain). Its cycle count is that last row's cycle, so ``fast == cycle`` shows the plan's latency
arithmetic is right and the plan hazard-free; it cannot show the plan wastes no cycle (inputs
entering later than necessary leave later, and the counts still agree).
tests/array/test_schedule_tight.py checks that separately: no tile can start earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu import limits
from tpu.array.cycle import make_core
from tpu.array.fast import fast_values
from tpu.array.numerics import arithmetic, as_matrix, check_binary, check_float_operand, check_operand
from tpu.array.precision import Precision
from tpu.array.schedule import Plan, plan_gemms, stationary_slices
from tpu.array.stimulus import Outputs, build_stimulus_many
from tpu.config import Config, load_config
from tpu.errors import ShapeError

BACKENDS = ("fast", "cycle", "rtl")


@dataclass(frozen=True)
class GemmResult:
    output: np.ndarray  # (m, n) int64, wrapped to acc_bits
    cycles: int
    macs: int
    folds: int
    overflows: int  # accumulator adds whose true result left the acc_bits range
    plan: Plan
    stimulus: object = None  # per-cycle inputs (cycle/rtl backends with trace=True)
    outputs: Outputs | None = None  # per-cycle outputs (idem)

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.plan.rows * self.plan.cols)

    def report(self) -> dict:
        return {
            "m": self.plan.m, "k": self.plan.k, "n": self.plan.n,
            "dataflow": self.plan.dataflow, "rows": self.plan.rows, "cols": self.plan.cols,
            "cycles": self.cycles, "macs": self.macs, "utilization": self.utilization,
            "folds": self.folds, "overflows": self.overflows, "format": self.plan.roles.format,
            "precision": self.plan.modes[0].describe(),
        }


def check_operands(a, b, config: Config, precision: Precision | None = None):
    """A and B as the array takes them: integers in the declared widths (default: the
    array's), or finite values of the float format."""
    arr = config.array
    if arr.format != "int":
        a, b = check_float_operand(a, "A", arr.format), check_float_operand(b, "B", arr.format)
    else:
        a, b = as_matrix(a, "A"), as_matrix(b, "B")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"A is {a.shape[0]}×{a.shape[1]} but B is {b.shape[0]}×{b.shape[1]}: "
                         f"A's columns must equal B's rows")
    (m, k), n = a.shape, b.shape[1]
    # int64 copies of A and B, their float64 copies for BLAS, C and its temporaries
    limits.check_bytes(8 * (2 * (m * k + k * n) + 4 * m * n), f"a {m}×{k}·{k}×{n} GEMM")
    if arr.format != "int":
        return a, b
    p = precision or Precision.native(arr)
    a = check_operand(a, "A", p.act_bits, p.act_signed)
    b = check_operand(b, "B", p.weight_bits, p.weight_signed)
    for name, x, bits in (("A", a, p.act_bits), ("B", b, p.weight_bits)):
        if bits == 1:
            check_binary(x, name)
    return a, b


def check_stepping(plan: Plan, backend: str) -> None:
    """Refuse a per-cycle run (cycle model or RTL) too long or too large to finish."""
    R, C, T = plan.rows, plan.cols, plan.cycles
    what = f"the {backend} backend on {plan.folds:,} tiles ({T:,} cycles of a {R}×{C} array)"
    limits.check("pe_cycles", T * R * C, what)
    # the per-cycle stimulus (data and Op tags) and output rows, and the core's registers
    # (tpu.array.stimulus, .cycle)
    limits.check_bytes(T * (40 + 16 * R + 16 * C) + 8 * (14 * R * C + 3 * R * R + C * C), what)


@dataclass(frozen=True)
class ManyResult:
    """Several GEMMs run back to back as one stream (see :func:`gemm_many`)."""

    outputs: list[np.ndarray]
    finish: tuple[int, ...]  # per GEMM: cycles until its last result row is latched
    overflows: int
    plan: Plan
    stimulus: object = None
    trace: Outputs | None = None

    @property
    def cycles(self) -> int:
        return max(self.finish)


def gemm(a, b, config: Config | str, *, backend: str = "fast", trace: bool = False, waves=None,
         precision: Precision | None = None) -> GemmResult:
    """C = A·B on the configured array (a Config, or what :func:`tpu.load_config` takes).
    A holds activations, B weights: of the array's widths, or of those ``precision`` declares
    (run in slices or packed lanes, tpu.array.precision)."""
    r = gemm_many([(a, b)], config, backend=backend, trace=trace, waves=waves, precision=precision)
    return GemmResult(r.outputs[0], r.cycles, r.plan.macs, r.plan.folds, r.overflows, r.plan,
                      r.stimulus, r.trace)


def gemm_many(pairs, config: Config | str, *, backend: str = "fast", trace: bool = False,
              waves=None, precision=None) -> ManyResult:
    """Several GEMMs [(A, B), ...] issued back to back: the array pipelines them (the next one's
    weights load while the previous one drains), so fill and drain are paid once.
    ``precision``: one :class:`Precision` for all, a list with one per GEMM, or None."""
    if backend not in BACKENDS:
        raise ShapeError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    config = load_config(config)
    try:
        pairs = [(a, b) for a, b in pairs]
    except (TypeError, ValueError):
        raise ShapeError("gemm_many takes a list of (A, B) pairs") from None
    if precision is None or isinstance(precision, Precision):
        precision = [precision] * len(pairs)
    if len(precision) != len(pairs):
        raise ShapeError(f"{len(precision)} precisions for {len(pairs)} GEMMs")
    pairs = [check_operands(a, b, config, p) for (a, b), p in zip(pairs, precision, strict=True)]
    plan = plan_gemms([(a.shape[0], a.shape[1], b.shape[1]) for a, b in pairs], config, precision)
    if backend != "fast":
        check_stepping(plan, backend)
    arith = arithmetic(config.array, plan.roles)
    fast = [fast_values(a, b, mode, plan.dataflow, plan.rows, arith)
            for (a, b), mode in zip(pairs, plan.modes, strict=True)]
    if backend == "fast":
        return ManyResult([o for o, _ in fast], plan.finish, sum(v for _, v in fast), plan)
    if backend == "rtl" and config.array.format != "int":
        raise ShapeError(f"the rtl backend has integer PEs only; run the {config.array.format} "
                         f"array on the fast or cycle backend")
    stimulus = build_stimulus_many(plan, pairs)
    if backend == "cycle":
        core = make_core(config.array)
        outputs = core.run(stimulus, extents(plan))
        core_overflows = core.overflows
    else:
        from tpu.rtl import run_rtl  # imported lazily: building a simulator is heavy

        outputs = run_rtl(config, stimulus, waves=waves)
        core_overflows = None
    results, finish, acc_overflows = collect(plan, outputs, arith)
    if core_overflows is None:  # the RTL does not count overflows; the cycle model does
        core_overflows = sum(v for _, v in fast) - acc_overflows
    return ManyResult(results, finish, core_overflows + acc_overflows, plan,
                      stimulus if trace else None, outputs if trace else None)


def extents(plan: Plan) -> np.ndarray:
    """Per input cycle, the rows and columns of PEs (rows << 16 | cols) whose adds belong to a
    result, for the cycle model's overflow count: a partial tile leaves the others to multiply
    padding (zeros, or −1 in a binary field, which has no zero) into sums no one reads."""
    out = np.zeros(plan.cycles, np.int64)
    for t in plan.tiles:
        if plan.dataflow == "os":
            out[t.start : t.start + t.k] = t.m << 16 | t.n
        else:
            out[t.start : t.start + t.vectors] = t.k << 16 | t.cols
    return out


def collect(plan: Plan, outputs: Outputs, arith):
    """Turn the output rows into each job's C — through the accumulators (ws/is: each row added
    shifted by its pass's slice shifts) or straight (os) — and the cycle on which each job's
    last row left (+1: a cycle count)."""
    events = iter(outputs.events())
    results = [np.zeros((m, n), arith.dtype) for m, _, n in plan.jobs]
    finish = [0] * len(plan.jobs)
    if plan.dataflow == "os":
        for tile in plan.tiles:
            for d in range(plan.rows):
                cycle, row = next(events)
                i = plan.rows - 1 - d  # the bottom row leaves first
                if i < tile.m:
                    results[tile.job][tile.m0 + i, tile.n0 : tile.n0 + tile.n] = row[: tile.n]
                finish[tile.job] = cycle + 1
        return results, tuple(finish), 0
    acc = np.zeros((2 * plan.chunk_rows, plan.cols), arith.dtype)
    columns = np.arange(plan.cols)
    views = [c if plan.dataflow == "ws" else c.T for c in results]  # is produces Cᵀ rows
    overflows = 0
    for tile in plan.tiles:
        x_sl, s_sl = stationary_slices(plan.modes[tile.job], plan.dataflow)
        for i in range(tile.x_slices):
            shift = x_sl[i].shift + s_sl[tile.s_slice].shift
            for r in range(tile.rows):
                cycle, row = next(events)
                addr = tile.addr + r
                if tile.accumulate or i > 0:
                    acc[addr], over = arith.shift_add(acc[addr], row, shift, columns < tile.cols)
                    overflows += over
                else:
                    acc[addr] = row
                finish[tile.job] = cycle + 1
        if tile.last:  # final sums: the activation unit reads the rows
            for r in range(tile.rows):
                addr = tile.addr + r
                views[tile.job][tile.r0 + r, tile.c0 : tile.c0 + tile.cols] = acc[addr, : tile.cols]
    return results, tuple(finish), overflows

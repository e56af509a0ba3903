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
from tpu.array.numerics import as_matrix, check_operand, count_wraps, exact_matmul, max_abs, wrap
from tpu.array.schedule import Plan, plan_gemms, stationary_operands
from tpu.array.stimulus import Outputs, build_stimulus_many
from tpu.config import Config, int_range, load_config
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
            "folds": self.folds, "overflows": self.overflows,
        }


def check_operands(a, b, config: Config) -> tuple[np.ndarray, np.ndarray]:
    arr = config.array
    a, b = as_matrix(a, "A"), as_matrix(b, "B")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"A is {a.shape[0]}×{a.shape[1]} but B is {b.shape[0]}×{b.shape[1]}: "
                         f"A's columns must equal B's rows")
    (m, k), n = a.shape, b.shape[1]
    # int64 copies of A and B, their float64 copies for BLAS, C and its temporaries
    limits.check_bytes(8 * (2 * (m * k + k * n) + 4 * m * n), f"a {m}×{k}·{k}×{n} GEMM")
    return (check_operand(a, "A", arr.act_bits, arr.act_signed),
            check_operand(b, "B", arr.weight_bits, arr.weight_signed))


def check_stepping(plan: Plan, backend: str) -> None:
    """Refuse a per-cycle run (cycle model or RTL) too long or too large to finish."""
    R, C, T = plan.rows, plan.cols, plan.cycles
    what = f"the {backend} backend on {plan.folds:,} tiles ({T:,} cycles of a {R}×{C} array)"
    limits.check("pe_cycles", T * R * C, what)
    # the per-cycle stimulus and output rows, and the core's registers (tpu.array.stimulus, .cycle)
    limits.check_bytes(T * (40 + 8 * R + 16 * C) + 8 * (12 * R * C + 2 * R * R + C * C), what)


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


def gemm(a, b, config: Config | str, *, backend: str = "fast", trace: bool = False,
         waves=None) -> GemmResult:
    """C = A·B on the configured array (a Config, or what :func:`tpu.load_config` takes).
    A holds activations, B weights (their widths apply)."""
    r = gemm_many([(a, b)], config, backend=backend, trace=trace, waves=waves)
    return GemmResult(r.outputs[0], r.cycles, r.plan.macs, r.plan.folds, r.overflows, r.plan,
                      r.stimulus, r.trace)


def gemm_many(pairs, config: Config | str, *, backend: str = "fast", trace: bool = False,
              waves=None) -> ManyResult:
    """Several GEMMs [(A, B), ...] issued back to back: the array pipelines them (the next one's
    weights load while the previous one drains), so fill and drain are paid once."""
    if backend not in BACKENDS:
        raise ShapeError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    config = load_config(config)
    try:
        pairs = [(a, b) for a, b in pairs]
    except (TypeError, ValueError):
        raise ShapeError("gemm_many takes a list of (A, B) pairs") from None
    pairs = [check_operands(a, b, config) for a, b in pairs]
    plan = plan_gemms([(a.shape[0], a.shape[1], b.shape[1]) for a, b in pairs], config)
    if backend != "fast":
        check_stepping(plan, backend)
    acc_bits = config.array.acc_bits
    fast = [fast_values(a, b, plan.dataflow, plan.rows, acc_bits) for a, b in pairs]
    if backend == "fast":
        return ManyResult([o for o, _ in fast], plan.finish, sum(v for _, v in fast), plan)
    stimulus = build_stimulus_many(plan, pairs)
    if backend == "cycle":
        core = make_core(config.array)
        outputs = core.run(stimulus)
        core_overflows = core.overflows
    else:
        from tpu.rtl import run_rtl  # imported lazily: building a simulator is heavy

        outputs = run_rtl(config, stimulus, waves=waves)
        core_overflows = None
    results, finish, acc_overflows = collect(plan, outputs, acc_bits)
    if core_overflows is None:  # the RTL does not count overflows; the cycle model does
        core_overflows = sum(v for _, v in fast) - acc_overflows
    return ManyResult(results, finish, core_overflows + acc_overflows, plan,
                      stimulus if trace else None, outputs if trace else None)


def collect(plan: Plan, outputs: Outputs, acc_bits: int):
    """Turn the output rows into each job's C — through the accumulators (ws/is) or straight
    (os) — and the cycle on which each job's last row left (+1: a cycle count)."""
    events = iter(outputs.events())
    results = [np.zeros((m, n), np.int64) for m, _, n in plan.jobs]
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
    lo, hi = int_range(acc_bits, True)
    acc = np.zeros((2 * plan.chunk_rows, plan.cols), np.int64)
    views = [c if plan.dataflow == "ws" else c.T for c in results]  # is produces Cᵀ rows
    overflows = 0
    for tile in plan.tiles:
        k = plan.jobs[tile.job][1]
        last_k0 = (k - 1) // plan.rows * plan.rows
        for r in range(tile.rows):
            cycle, row = next(events)
            addr = tile.addr + r
            if tile.accumulate:
                total = acc[addr] + row
                overflows += int(np.count_nonzero((total < lo) | (total > hi)))
                acc[addr] = wrap(total, acc_bits)
            else:
                acc[addr] = row
            if tile.k0 == last_k0:  # final sum: the activation unit reads the row
                views[tile.job][tile.r0 + r, tile.c0 : tile.c0 + tile.cols] = acc[addr, : tile.cols]
            finish[tile.job] = cycle + 1
    return results, tuple(finish), overflows


def fast_values(a: np.ndarray, b: np.ndarray, dataflow: str, rows: int, acc_bits: int):
    """Exact wrapped C and the overflow count the array would record, without cycling."""
    step = max_abs(a) * max_abs(b)
    out = wrap(exact_matmul(a, b, step), acc_bits)
    if step * a.shape[1] <= int_range(acc_bits, True)[1]:
        return out, 0  # no partial sum can leave the range, whatever the order
    return out, _count_overflows(a, b, dataflow, rows, acc_bits)


def _count_overflows(a, b, dataflow: str, rows: int, acc_bits: int) -> int:
    """Replay the order of additions: within a tile down the PE column, then in the accumulator."""
    k = a.shape[1]
    if dataflow == "os":
        return count_wraps([np.outer(a[:, i], b[i, :]) for i in range(k)], acc_bits)
    x, s = stationary_operands(a, b, dataflow)
    overflows = 0
    tile_sums = []
    for k0 in range(0, k, rows):
        terms = [np.outer(x[:, i], s[i, :]) for i in range(k0, min(k0 + rows, k))]
        overflows += count_wraps(terms, acc_bits)
        tile_sums.append(wrap(np.sum(terms, axis=0), acc_bits))
    return overflows + count_wraps(tile_sums, acc_bits)

"""Per-cycle boundary signals of the array for a plan of one or more GEMMs.

A stimulus is what enters the array on each cycle; the cycle model and the RTL testbench
replay the same one, and both produce an :class:`Outputs` record that must agree cycle by
cycle. Rows and columns beyond a partial tile are driven with zeros, so whatever stale
weights sit there multiply zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.array.schedule import Plan, stationary_operands


@dataclass(frozen=True)
class StationaryStimulus:
    """ws/is: weight-row writes into a bank, and streamed vectors tagged with their bank."""

    w_valid: np.ndarray  # (T,) bool
    w_bank: np.ndarray  # (T,) int
    w_row: np.ndarray  # (T,) int
    w_data: np.ndarray  # (T, C) int64
    x_valid: np.ndarray  # (T,) bool
    x_bank: np.ndarray  # (T,) int
    x_data: np.ndarray  # (T, R) int64
    x_addr: np.ndarray  # (T,) accumulator row the result goes to
    x_acc: np.ndarray  # (T,) bool: add to the accumulator (else overwrite)

    @property
    def cycles(self) -> int:
        return len(self.w_valid)


@dataclass(frozen=True)
class OSStimulus:
    """os: a column of A and a row of B per cycle, tile first/last flags, and drain strobes."""

    x_data: np.ndarray  # (T, R) A[m0+i, k]
    y_data: np.ndarray  # (T, C) B[k, n0+j]
    first: np.ndarray  # (T,) bool: k == 0 (start a new sum)
    last: np.ndarray  # (T,) bool: k == K-1 (capture the sum for draining)
    drain: np.ndarray  # (T,) bool: shift the captured sums down one row, bottom row out

    @property
    def cycles(self) -> int:
        return len(self.drain)


@dataclass(frozen=True)
class Outputs:
    """What leaves the array: on cycle t (latched at its end) a row of C results."""

    valid: np.ndarray  # (T,) bool
    data: np.ndarray  # (T, C) int64

    def events(self) -> list[tuple[int, np.ndarray]]:
        return [(int(t), self.data[t]) for t in np.flatnonzero(self.valid)]


def build_stimulus(plan: Plan, a: np.ndarray, b: np.ndarray):
    """The per-cycle inputs that run ``plan`` on operands ``a`` (m×k) and ``b`` (k×n)."""
    return build_stimulus_many(plan, [(a, b)])


def build_stimulus_many(plan: Plan, operands):
    """The per-cycle inputs of a multi-GEMM plan; ``operands[j]`` is job j's (A, B)."""
    if plan.dataflow == "os":
        return _os_stimulus(plan, operands)
    return _stationary_stimulus(plan, [stationary_operands(a, b, plan.dataflow) for a, b in operands])


def _stationary_stimulus(plan: Plan, operands) -> StationaryStimulus:
    T, R, C = plan.cycles, plan.rows, plan.cols
    st = StationaryStimulus(
        w_valid=np.zeros(T, bool), w_bank=np.zeros(T, np.int64), w_row=np.zeros(T, np.int64),
        w_data=np.zeros((T, C), np.int64), x_valid=np.zeros(T, bool),
        x_bank=np.zeros(T, np.int64), x_data=np.zeros((T, R), np.int64),
        x_addr=np.zeros(T, np.int64), x_acc=np.zeros(T, bool),
    )
    for tile in plan.tiles:
        x, s = operands[tile.job]
        w = slice(tile.load, tile.load + tile.k)
        st.w_valid[w] = True
        st.w_bank[w] = tile.bank
        st.w_row[w] = np.arange(tile.k)
        st.w_data[w, : tile.cols] = s[tile.k0 : tile.k0 + tile.k, tile.c0 : tile.c0 + tile.cols]
        v = slice(tile.start, tile.start + tile.rows)
        st.x_valid[v] = True
        st.x_bank[v] = tile.bank
        st.x_data[v, : tile.k] = x[tile.r0 : tile.r0 + tile.rows, tile.k0 : tile.k0 + tile.k]
        st.x_addr[v] = tile.addr + np.arange(tile.rows)
        st.x_acc[v] = tile.accumulate
    return st


def _os_stimulus(plan: Plan, operands) -> OSStimulus:
    T, R, C = plan.cycles, plan.rows, plan.cols
    st = OSStimulus(
        x_data=np.zeros((T, R), np.int64), y_data=np.zeros((T, C), np.int64),
        first=np.zeros(T, bool), last=np.zeros(T, bool), drain=np.zeros(T, bool),
    )
    for tile in plan.tiles:
        a, b = operands[tile.job]
        v = slice(tile.start, tile.start + tile.k)
        st.x_data[v, : tile.m] = a[tile.m0 : tile.m0 + tile.m, :].T
        st.y_data[v, : tile.n] = b[:, tile.n0 : tile.n0 + tile.n]
        st.first[tile.start] = True
        st.last[tile.start + tile.k - 1] = True
        st.drain[tile.drain : tile.drain + R] = True
    return st

"""Per-cycle boundary signals of the array for a plan of one or more GEMMs.

A stimulus is what enters the array on each cycle; the cycle model and the RTL testbench
replay the same one, and both produce an :class:`Outputs` record that must agree cycle by
cycle. Rows and columns beyond a partial tile are driven with zeros, so whatever stale
weights sit there multiply zero (binary fields cannot hold a zero: their rows are tagged to
skip every lane instead).

Operands run in their mode (tpu.array.precision): words are packed lanes or slices, and every
streamed row carries the tag saying how the PEs read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.array.precision import Op, Roles, pack
from tpu.array.schedule import Plan, os_passes, stationary_operands, stationary_slices


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
    x_mode: np.ndarray  # (T, R) the Op tag each row's PEs use (0: the array's native product)
    x_shift: np.ndarray  # (T,) the accumulator adds the result row shifted left this far

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
    mode: np.ndarray  # (T,) the Op tag of the step (lanes, signedness, Horner shift)

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


def _words(values: np.ndarray, slices, width: int, lanes: int, axis: int,
           fmt: str = "int") -> list[np.ndarray]:
    """Each slice of ``values`` packed along ``axis`` (the reduction) into PE words."""
    if fmt != "int":
        return [np.asarray(values, np.float64)]  # float words are the values
    out = []
    for sl in slices:
        v = np.moveaxis(sl.take(values), axis, -1)
        out.append(np.moveaxis(pack(v, width, lanes), -1, axis))
    return out


def _tag(mode, x_slice, s_slice, roles: Roles, skip: int = 0, shift: int = 0) -> int:
    """The Op tag of a row: flips where a slice's signedness differs from the array's."""
    xf, sf = roles.x_bits // mode.lanes, roles.s_bits // mode.lanes
    return Op(mode.lanes, skip, xf > 1 and x_slice.signed != roles.x_signed,
              sf > 1 and s_slice.signed != roles.s_signed, shift).encode()


def _skips(mode, k: int, words: int) -> np.ndarray:
    """Per reduction word: lanes beyond ``k`` values (only the last word has any)."""
    skip = np.zeros(words, np.int64)
    skip[-1] = words * mode.lanes - k
    return skip


def _stationary_stimulus(plan: Plan, operands) -> StationaryStimulus:
    T, R, C = plan.cycles, plan.rows, plan.cols
    roles = plan.roles
    data = np.int64 if roles.format == "int" else np.float64
    st = StationaryStimulus(
        w_valid=np.zeros(T, bool), w_bank=np.zeros(T, np.int64), w_row=np.zeros(T, np.int64),
        w_data=np.zeros((T, C), data), x_valid=np.zeros(T, bool),
        x_bank=np.zeros(T, np.int64), x_data=np.zeros((T, R), data),
        x_addr=np.zeros(T, np.int64), x_acc=np.zeros(T, bool),
        x_mode=np.zeros((T, R), np.int64), x_shift=np.zeros(T, np.int64),
    )
    words = {}
    for tile in plan.tiles:
        mode = plan.modes[tile.job]
        x_sl, s_sl = stationary_slices(mode, plan.dataflow)
        if tile.job not in words:
            x, s = operands[tile.job]
            kw = mode.packed(x.shape[1])
            words[tile.job] = (_words(x, x_sl, roles.x_bits, mode.lanes, 1, roles.format),
                               _words(s, s_sl, roles.s_bits, mode.lanes, 0, roles.format),
                               _skips(mode, x.shape[1], kw))
        xw, sw, skips = words[tile.job]
        w = slice(tile.load, tile.load + tile.k)
        ks = slice(tile.k0, tile.k0 + tile.k)
        st.w_valid[w] = True
        st.w_bank[w] = tile.bank
        st.w_row[w] = np.arange(tile.k)
        st.w_data[w, : tile.cols] = sw[tile.s_slice][ks, tile.c0 : tile.c0 + tile.cols]
        skip_padding = roles.skips_padding(mode)
        for i in range(tile.x_slices):
            start = tile.start + i * tile.rows
            v = slice(start, start + tile.rows)
            st.x_valid[v] = True
            st.x_bank[v] = tile.bank
            st.x_data[v, : tile.k] = xw[i][tile.r0 : tile.r0 + tile.rows, ks]
            tags = [_tag(mode, x_sl[i], s_sl[tile.s_slice], roles, int(sk)) for sk in skips[ks]]
            st.x_mode[v, : tile.k] = tags
            if skip_padding:  # rows past the reduction: nothing to add
                st.x_mode[v, tile.k :] = Op(mode.lanes, mode.lanes).encode()
            st.x_addr[v] = tile.addr + np.arange(tile.rows)
            st.x_acc[v] = tile.accumulate or i > 0
            st.x_shift[v] = x_sl[i].shift + s_sl[tile.s_slice].shift
    return st


def _os_stimulus(plan: Plan, operands) -> OSStimulus:
    T, R, C = plan.cycles, plan.rows, plan.cols
    data = np.int64 if plan.roles.format == "int" else np.float64
    st = OSStimulus(
        x_data=np.zeros((T, R), data), y_data=np.zeros((T, C), data),
        first=np.zeros(T, bool), last=np.zeros(T, bool), drain=np.zeros(T, bool),
        mode=np.zeros(T, np.int64),
    )
    roles = plan.roles
    words = {}
    for tile in plan.tiles:
        mode = plan.modes[tile.job]
        if tile.job not in words:
            a, b = operands[tile.job]
            kw = mode.packed(a.shape[1])
            words[tile.job] = (_words(a, mode.act, roles.x_bits, mode.lanes, 1, roles.format),
                               _words(b, mode.weight, roles.s_bits, mode.lanes, 0, roles.format),
                               _skips(mode, a.shape[1], kw), kw)
        aw, bw, skips, kw = words[tile.job]
        for p, (i, j, shift) in enumerate(os_passes(mode)):
            v = slice(tile.start + p * kw, tile.start + (p + 1) * kw)
            st.x_data[v, : tile.m] = aw[i][tile.m0 : tile.m0 + tile.m, :].T
            st.y_data[v, : tile.n] = bw[j][:, tile.n0 : tile.n0 + tile.n]
            tags = [_tag(mode, mode.act[i], mode.weight[j], roles, int(sk)) for sk in skips]
            tags[0] = _tag(mode, mode.act[i], mode.weight[j], roles, int(skips[0]), shift)
            st.mode[v] = tags
        st.first[tile.start] = True
        st.last[tile.start + tile.k - 1] = True
        st.drain[tile.drain : tile.drain + R] = True
    return st

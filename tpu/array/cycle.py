"""The cycle-level array: every register of the R×C PEs updated once per clock, vectorised.

Both cores are stepped one cycle at a time (``step``) with only that cycle's inputs, exactly
as the RTL testbench drives the Verilog; ``run`` replays a whole stimulus. State is numpy
arrays of the register contents; nothing loops over PEs. Each streamed row carries its Op tag
(tpu.array.precision) beside the data, so the PEs read packed lanes, slices of either
signedness and binary fields as the GEMM's mode says; the arithmetic (integer or fp16/bf16
with fp32 sums) is tpu.array.numerics'.
"""

from __future__ import annotations

import numpy as np

from tpu.array.numerics import arithmetic
from tpu.array.precision import Roles
from tpu.array.stimulus import OSStimulus, Outputs, StationaryStimulus
from tpu.config import ArrayConfig


class _Skew:
    """Delay line bank: lane ``i`` delays its input by ``i`` cycles (a triangle of registers)."""

    def __init__(self, lanes: int, dtype=np.int64):
        self.hist = np.zeros((lanes, lanes), dtype)
        self.lane = np.arange(lanes)

    def push(self, cycle: int, values: np.ndarray) -> np.ndarray:
        n = len(self.lane)
        self.hist[cycle % n] = values
        return self.hist[(cycle - self.lane) % n, self.lane]


class _Core:
    def __init__(self, array: ArrayConfig):
        self.R, self.C = array.rows, array.cols
        self.roles = Roles.of(array)
        self.arith = arithmetic(array, self.roles)
        self.dtype = self.arith.dtype
        self.overflows = 0
        self.cycle = 0
        self.row_index = np.arange(self.R)[:, None]
        self.col_index = np.arange(self.C)[None, :]
        # which PEs' adds belong to a result: not the stimulus (the hardware has no such port)
        # but what the plan says, travelling beside the data (see gemm.extents)
        self.extent = np.zeros((self.R, self.C), np.int64)
        self.extent_skew = _Skew(self.R)

    def _mac(self, base, x, s, tags, shift=0, extent=None) -> np.ndarray:
        """One step of every PE; overflows counted only in the PEs ``extent`` (rows << 16 |
        cols of the tile the operands belong to, travelling with them) says carry a result."""
        counted = True
        if extent is not None:
            counted = (self.row_index < extent >> 16) & (self.col_index < (extent & 0xFFFF))
        out, over = self.arith.mac(base, x, s, tags, shift, counted)
        self.overflows += over
        return out

    def _zeros(self, shape, dtype=None):
        return np.zeros(shape, dtype or self.dtype)

    @staticmethod
    def _shift_right(col0: np.ndarray, regs: np.ndarray) -> np.ndarray:
        return np.concatenate([col0[:, None], regs[:, :-1]], axis=1)

    @staticmethod
    def _shift_down(row0: np.ndarray, regs: np.ndarray) -> np.ndarray:
        return np.concatenate([row0[None, :], regs[:-1, :]], axis=0)


class StationaryCore(_Core):
    """ws/is core: double-buffered stationary operand, streamed operand (with its bank and Op
    tags) moving right, partial sums moving down, outputs de-skewed so a whole row leaves on
    one cycle."""

    def __init__(self, array: ArrayConfig):
        super().__init__(array)
        R, C = self.R, self.C
        self.weights = self._zeros((2, R, C))
        self.a = self._zeros((R, C))
        self.bank = np.zeros((R, C), np.int64)
        self.mode = np.zeros((R, C), np.int64)
        self.psum = self._zeros((R, C))
        self.x_skew = _Skew(R, self.dtype)
        self.bank_skew = _Skew(R)
        self.mode_skew = _Skew(R)
        self.deskew = self._zeros((C, C))  # ring of bottom rows, column j read C-1-j late
        self.latency = R + C - 2
        self.valid_line = np.zeros(self.latency + 1, bool)

    def step(self, w_valid, w_bank, w_row, w_data, x_valid, x_bank, x_data, x_mode=0, extent=None):
        """Advance one clock; returns (valid, row) latched into the output register."""
        u, R, C = self.cycle, self.R, self.C
        a_in = self._shift_right(self.x_skew.push(u, x_data), self.a)
        bank_in = self._shift_right(self.bank_skew.push(u, np.full(R, x_bank)), self.bank)
        mode_in = self._shift_right(self.mode_skew.push(u, np.broadcast_to(x_mode, R)), self.mode)
        ext_in = None
        if extent is not None:
            ext_in = self._shift_right(self.extent_skew.push(u, np.full(R, extent)), self.extent)
            self.extent = ext_in
        w = np.where(bank_in == 1, self.weights[1], self.weights[0])
        psum_in = self._shift_down(self._zeros(C), self.psum)
        # end of cycle: every register latches
        self.psum = self._mac(psum_in, a_in, w, mode_in, extent=ext_in)
        self.a, self.bank, self.mode = a_in, bank_in, mode_in
        if w_valid:
            self.weights[w_bank, w_row] = w_data
        self.deskew[u % C] = self.psum[R - 1]
        cols = np.arange(C)
        row = self.deskew[(u - (C - 1 - cols)) % C, cols]
        self.valid_line[u % len(self.valid_line)] = x_valid
        valid = bool(self.valid_line[(u - self.latency) % len(self.valid_line)]) and u >= self.latency
        self.cycle += 1
        return valid, row

    def run(self, st: StationaryStimulus, extents=None) -> Outputs:
        """Replay ``st``; ``extents`` (T,), optional: see :meth:`_Core._mac`."""
        valid = np.zeros(st.cycles, bool)
        data = self._zeros((st.cycles, self.C))
        for t in range(st.cycles):
            valid[t], data[t] = self.step(
                st.w_valid[t], st.w_bank[t], st.w_row[t], st.w_data[t],
                st.x_valid[t], st.x_bank[t], st.x_data[t], st.x_mode[t],
                None if extents is None else extents[t],
            )
        return Outputs(valid, data)


class OutputStationaryCore(_Core):
    """os core: A columns move right (with the step's flags and Op tag), B rows move down, each
    PE keeps its sum; at the tile's last step the sums are captured into a shadow register
    chain that drains downwards. A tag's Horner shift multiplies the sum by 2^(PE width)
    before the product is added (sliced operands)."""

    def __init__(self, array: ArrayConfig):
        super().__init__(array)
        R, C = self.R, self.C
        self.a = self._zeros((R, C))
        self.b = self._zeros((R, C))
        self.first = np.zeros((R, C), bool)
        self.last = np.zeros((R, C), bool)
        self.mode = np.zeros((R, C), np.int64)
        self.acc = self._zeros((R, C))
        self.shadow = self._zeros((R, C))
        self.x_skew = _Skew(R, self.dtype)
        self.flag_skew = _Skew(R)
        self.mode_skew = _Skew(R)
        self.y_skew = _Skew(C, self.dtype)
        self.shift_bits = np.array([0, self.roles.x_bits, self.roles.s_bits, 0], np.int64)

    def step(self, x_data, y_data, first, last, drain, mode=0, extent=None):
        u, R, C = self.cycle, self.R, self.C
        a_in = self._shift_right(self.x_skew.push(u, x_data), self.a)
        flags = self.flag_skew.push(u, np.full(R, int(first) | (int(last) << 1)))
        first_in = self._shift_right((flags & 1).astype(bool), self.first)
        last_in = self._shift_right((flags & 2).astype(bool), self.last)
        mode_in = self._shift_right(self.mode_skew.push(u, np.full(R, mode)), self.mode)
        ext_in = None
        if extent is not None:
            ext_in = self._shift_right(self.extent_skew.push(u, np.full(R, extent)), self.extent)
            self.extent = ext_in
        b_in = self._shift_down(self.y_skew.push(u, y_data), self.b)
        shift = self.shift_bits[(mode_in >> 10) & 3]  # Op.shift: Horner over slices
        self.acc = self._mac(np.where(first_in, 0, self.acc), a_in, b_in, mode_in, shift, ext_in)
        self.a, self.b, self.first, self.last, self.mode = a_in, b_in, first_in, last_in, mode_in
        row = self.shadow[R - 1].copy()
        if drain:
            if last_in.any():
                raise RuntimeError(f"cycle {u}: capture during drain (schedule bug)")
            self.shadow = self._shift_down(self._zeros(C), self.shadow)
        else:
            self.shadow = np.where(last_in, self.acc, self.shadow)
        self.cycle += 1
        return bool(drain), row

    def run(self, st: OSStimulus, extents=None) -> Outputs:
        """Replay ``st``; ``extents`` (T,), optional: see :meth:`_Core._mac`."""
        valid = np.zeros(st.cycles, bool)
        data = self._zeros((st.cycles, self.C))
        for t in range(st.cycles):
            valid[t], data[t] = self.step(
                st.x_data[t], st.y_data[t], st.first[t], st.last[t], st.drain[t], st.mode[t],
                None if extents is None else extents[t],
            )
        return Outputs(valid, data)


def make_core(array: ArrayConfig):
    return OutputStationaryCore(array) if array.dataflow == "os" else StationaryCore(array)

"""The R×C systolic arrays with their skew and de-skew: ws/is (double-buffered stationary
operand) and os (sums stay in the PEs, drained a row per cycle).

Ports are flat buses (``ArrayLayout``: lane 0 in the low bits); results leave one row of C
accumulators per cycle. Timing is that of ``tpu.array.cycle`` register for register: a row
latched at the end of cycle t is on ``out_*`` after clock edge t. Every streamed row (ws/is:
``x_mode``, one tag per row; os: ``mode``, one per step) carries the Op tag its PEs read their
words by (tpu.array.precision); 0 is the array's native product.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

from hdl.params import ArrayParams
from hdl.pe import OutputStationaryPE, StationaryPE
from hdl.skew import delayed, input_skew, output_deskew


def row_index_shape(rows: int):
    return unsigned(max(1, (rows - 1).bit_length()))


class StationaryArray(wiring.Component):
    """ws/is array. ``w_*`` writes one stationary row (``w_row``) of bank ``w_bank`` per
    cycle; ``x_*`` streams one vector per cycle, tagged with the bank it multiplies; after
    R+C-2 cycles its result row leaves on ``out_data`` with ``out_valid``."""

    def __init__(self, params: ArrayParams):
        if not params.stationary:
            raise TypeError(f"StationaryArray needs a ws or is design, not {params.dataflow!r}")
        self.params = params
        super().__init__(self.signature_for(params))

    @staticmethod
    def signature_for(p: ArrayParams) -> wiring.Signature:
        return wiring.Signature({
            "w_valid": In(1), "w_bank": In(1), "w_row": In(row_index_shape(p.rows)),
            "w_data": In(ArrayLayout(p.s_shape, p.cols)),
            "x_valid": In(1), "x_bank": In(1), "x_data": In(ArrayLayout(p.x_shape, p.rows)),
            "x_mode": In(ArrayLayout(p.tag_shape, p.rows)),
            "out_valid": Out(1), "out_data": Out(ArrayLayout(p.acc_shape, p.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        R, C = p.rows, p.cols
        m.submodules.x_skew = x_skew = input_skew(p.x_shape, R)
        m.submodules.bank_skew = bank_skew = input_skew(unsigned(1), R)
        m.submodules.mode_skew = mode_skew = input_skew(p.tag_shape, R)
        m.submodules.deskew = deskew = output_deskew(p.acc_shape, C)
        m.d.comb += [x_skew.i.eq(self.x_data), bank_skew.i.eq(self.x_bank.replicate(R)),
                     mode_skew.i.eq(self.x_mode)]
        pes = [[StationaryPE(x_shape=p.x_shape, w_shape=p.s_shape, acc_bits=p.acc_bits,
                             modes=p.modes) for _ in range(C)] for _ in range(R)]
        for i in range(R):
            row_we = self.w_valid & (self.w_row == i)
            we = Cat(row_we & ~self.w_bank, row_we & self.w_bank)
            for j in range(C):
                pe = pes[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                left = (x_skew.o[i], bank_skew.o[i], mode_skew.o[i]) if j == 0 else \
                    (pes[i][j - 1].x_out, pes[i][j - 1].bank_out, pes[i][j - 1].mode_out)
                m.d.comb += [
                    pe.x_in.eq(left[0]), pe.bank_in.eq(left[1]), pe.mode_in.eq(left[2]),
                    pe.psum_in.eq(Const(0) if i == 0 else pes[i - 1][j].psum_out),
                    pe.w_we.eq(we), pe.w_data.eq(self.w_data[j]),
                ]
        m.d.comb += [deskew.i[j].eq(pes[R - 1][j].psum_out) for j in range(C)]
        m.d.comb += [
            self.out_data.eq(deskew.o),
            self.out_valid.eq(delayed(m, self.x_valid, p.latency + 1, name="valid")),
        ]
        return m


class OutputStationaryArray(wiring.Component):
    """os array. Each cycle a column of A (``x_data``) and a row of B (``y_data``) enter,
    with ``first``/``last`` marking the ends of the reduction; while ``drain`` is high the
    captured sums shift down and the bottom row leaves (registered) on ``out_data``."""

    def __init__(self, params: ArrayParams):
        if params.stationary:
            raise TypeError(f"OutputStationaryArray needs an os design, not {params.dataflow!r}")
        self.params = params
        super().__init__(self.signature_for(params))

    @staticmethod
    def signature_for(p: ArrayParams) -> wiring.Signature:
        return wiring.Signature({
            "x_data": In(ArrayLayout(p.x_shape, p.rows)),
            "y_data": In(ArrayLayout(p.s_shape, p.cols)),
            "first": In(1), "last": In(1), "drain": In(1), "mode": In(p.tag_shape),
            "out_valid": Out(1), "out_data": Out(ArrayLayout(p.acc_shape, p.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        R, C = p.rows, p.cols
        m.submodules.x_skew = x_skew = input_skew(p.x_shape, R)
        m.submodules.flag_skew = flag_skew = input_skew(unsigned(2), R)
        m.submodules.y_skew = y_skew = input_skew(p.s_shape, C)
        m.submodules.mode_skew = mode_skew = input_skew(p.tag_shape, R)
        m.d.comb += [
            x_skew.i.eq(self.x_data), y_skew.i.eq(self.y_data),
            flag_skew.i.eq(Cat(self.first, self.last).replicate(R)),
            mode_skew.i.eq(self.mode.replicate(R)),
        ]
        pes = [[OutputStationaryPE(a_shape=p.x_shape, b_shape=p.s_shape, acc_bits=p.acc_bits,
                                   modes=p.modes) for _ in range(C)] for _ in range(R)]
        for i in range(R):
            for j in range(C):
                pe = pes[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                if j == 0:
                    a, first, last = x_skew.o[i], flag_skew.o[i][0], flag_skew.o[i][1]
                    mode = mode_skew.o[i]
                else:
                    left = pes[i][j - 1]
                    a, first, last, mode = left.a_out, left.first_out, left.last_out, left.mode_out
                above = pes[i - 1][j] if i else None
                m.d.comb += [
                    pe.a_in.eq(a), pe.first_in.eq(first), pe.last_in.eq(last), pe.mode_in.eq(mode),
                    pe.b_in.eq(y_skew.o[j] if above is None else above.b_out),
                    pe.shadow_in.eq(Const(0) if above is None else above.shadow_out),
                    pe.drain.eq(self.drain),
                ]
        m.d.sync += [self.out_data[j].eq(pes[R - 1][j].shadow_out) for j in range(C)]
        m.d.sync += self.out_valid.eq(self.drain)
        return m

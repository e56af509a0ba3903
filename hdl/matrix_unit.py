"""The matrix unit: the systolic array plus, for ws/is, its double-buffered accumulators.

Each result row leaving the array is written to accumulator row ``x_addr`` (given with the
streamed vector and carried along with it), added to what is there when ``x_acc`` was set;
the written row is shown on ``acc_*`` one cycle after it left the array. For os the sums are
finished inside the PEs and the drained rows are the results.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hdl.array import OutputStationaryArray, StationaryArray
from hdl.params import ArrayParams
from hdl.skew import delayed


class MatrixUnit(wiring.Component):
    def __init__(self, params: ArrayParams):
        if not params.stationary or params.acc_rows < 1:
            raise TypeError(f"MatrixUnit needs a ws/is design with acc_rows >= 1, not {params!r}")
        self.params = p = params
        self.array = StationaryArray(p)
        depth = 2 * p.acc_rows
        addr = unsigned(max(1, (depth - 1).bit_length()))
        row = ArrayLayout(p.acc_shape, p.cols)
        super().__init__({
            **self.array.signature.members,
            "x_addr": In(addr), "x_acc": In(1),
            "acc_valid": Out(1), "acc_addr": Out(addr), "acc_data": Out(row),
        })
        self.depth = depth

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.array = array = self.array
        for name in array.signature.members:
            port, inner = getattr(self, name), getattr(array, name)
            m.d.comb += inner.eq(port) if name.startswith(("w_", "x_")) else port.eq(inner)
        # the address and mode travel beside the valid bit, R+C-1 cycles
        addr = delayed(m, self.x_addr, p.latency + 1, name="addr")
        acc = delayed(m, self.x_acc, p.latency + 1, name="acc")
        m.submodules.mem = mem = Memory(shape=ArrayLayout(p.acc_shape, p.cols), depth=self.depth,
                                        init=[])
        rd = mem.read_port(domain="comb")
        wr = mem.write_port()
        new = [Mux(acc, rd.data[j] + array.out_data[j], array.out_data[j]) for j in range(p.cols)]
        m.d.comb += [rd.addr.eq(addr), wr.addr.eq(addr), wr.en.eq(array.out_valid)]
        m.d.comb += [wr.data[j].eq(new[j]) for j in range(p.cols)]
        m.d.sync += [self.acc_valid.eq(array.out_valid), self.acc_addr.eq(addr)]
        m.d.sync += [self.acc_data[j].eq(new[j]) for j in range(p.cols)]
        return m


def matrix_unit(params: ArrayParams) -> wiring.Component:
    """The matrix unit for this design: with accumulators when ws/is and ``acc_rows`` is set."""
    if not params.stationary:
        return OutputStationaryArray(params)
    return MatrixUnit(params) if params.acc_rows else StationaryArray(params)

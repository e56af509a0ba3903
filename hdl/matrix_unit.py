"""The matrix unit: the systolic array plus, for ws/is, its double-buffered accumulators.

Each result row leaving the array is written to accumulator row ``x_addr`` (given with the
streamed vector and carried along with it), shifted left by ``x_shift`` (a sliced operand's
pass) and added to what is there when ``x_acc`` was set;
the written row is shown on ``acc_*`` one cycle after it left the array. For os the sums are
finished inside the PEs and the drained rows are the results.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout, View
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hdl.array import OutputStationaryArray, StationaryArray
from hdl.params import ArrayParams
from hdl.ram import Ram
from hdl.skew import delayed


class MatrixUnit(wiring.Component):
    """``ram="tpu_ram"`` keeps the accumulators in a ``hdl.ram`` macro instead of an Amaranth
    ``Memory`` (the whole machine: no initialisation pass, a macro in synthesis; Amaranth's own
    simulator needs the ``Memory``). ``faults`` plants a bug for the mutation check
    (``sim.mutations``): ``"acc_plus_one"`` adds 1 to every accumulated row."""

    FAULTS = ("acc_plus_one",)

    def __init__(self, params: ArrayParams, *, faults: frozenset = frozenset(),
                 ram: str = "amaranth"):
        if not params.stationary or params.acc_rows < 1:
            raise TypeError(f"MatrixUnit needs a ws/is design with acc_rows >= 1, not {params!r}")
        if ram not in ("amaranth", "tpu_ram"):
            raise TypeError(f"ram must be 'amaranth' or 'tpu_ram', not {ram!r}")
        self.params = params
        self.ram = ram
        self.rams: list = []  # the hdl.ram instances, once elaborated
        self.faults = frozenset(faults) & set(self.FAULTS)
        self.depth = 2 * params.acc_rows
        super().__init__(self.signature_for(params))

    @staticmethod
    def signature_for(p: ArrayParams) -> wiring.Signature:
        addr = unsigned(max(1, (2 * p.acc_rows - 1).bit_length()))
        count = unsigned(max(1, p.cols.bit_length()))
        return wiring.Signature({
            **StationaryArray.signature_for(p).members,
            "x_addr": In(addr), "x_acc": In(1), "x_shift": In(p.shift_shape), "x_last": In(1),
            "acc_valid": Out(1), "acc_addr": Out(addr),
            "acc_data": Out(ArrayLayout(p.acc_shape, p.cols)),
            # the cycle a row is written: its x_last, and how many of its adds overflowed
            "wr_last": Out(1), "wr_overflows": Out(count),
            # a second read port for the activation unit
            "rd_addr": In(addr), "rd_data": Out(ArrayLayout(p.acc_shape, p.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.array = array = StationaryArray(p)
        for name in array.signature.members:
            port, inner = getattr(self, name), getattr(array, name)
            m.d.comb += inner.eq(port) if name.startswith(("w_", "x_")) else port.eq(inner)
        # the address and mode travel beside the valid bit, R+C-1 cycles
        addr = delayed(m, self.x_addr, p.latency + 1, name="addr")
        acc = delayed(m, self.x_acc, p.latency + 1, name="acc")
        shift = delayed(m, self.x_shift, p.latency + 1, name="shift")
        last = delayed(m, self.x_last, p.latency + 1, name="last")
        row = ArrayLayout(p.acc_shape, p.cols)
        if self.ram == "tpu_ram":
            mem = Ram("acc", row.size, self.depth)
            self.rams.append(mem)
            old = View(row, mem.read(addr))
            m.d.comb += self.rd_data.eq(mem.read(self.rd_addr))
        else:
            m.submodules.mem = amem = Memory(shape=row, depth=self.depth, init=[])
            rd, wr, out_rd = amem.read_port(domain="comb"), amem.write_port(), \
                amem.read_port(domain="comb")
            m.d.comb += [rd.addr.eq(addr), out_rd.addr.eq(self.rd_addr),
                         self.rd_data.eq(out_rd.data)]
            old = rd.data
        bug = 1 if "acc_plus_one" in self.faults else 0
        rows = [array.out_data[j] << shift if p.flips else array.out_data[j] for j in range(p.cols)]
        sums = [old[j] + rows[j] + bug for j in range(p.cols)]  # unshifted: one bit wider
        new = [Mux(acc, sums[j], rows[j]) for j in range(p.cols)]
        top = p.acc_bits - 1
        # the add left acc_bits (counted for unshifted rows: the machine's native passes)
        wrapped = [acc & (s[top] != s[top + 1]) for s in sums]
        data = Signal(row)
        m.d.comb += [data[j].eq(new[j]) for j in range(p.cols)]
        if self.ram == "tpu_ram":
            mem.write(array.out_valid, addr, data.as_value())
            mem.elaborate(m)
        else:
            m.d.comb += [wr.addr.eq(addr), wr.en.eq(array.out_valid), wr.data.eq(data)]
        m.d.comb += [self.wr_last.eq(array.out_valid & last),
                     self.wr_overflows.eq(Mux(array.out_valid, sum(wrapped), 0))]
        m.d.sync += [self.acc_valid.eq(array.out_valid), self.acc_addr.eq(addr)]
        m.d.sync += [self.acc_data[j].eq(new[j]) for j in range(p.cols)]
        return m


def _matrix_unit_class(params: ArrayParams):
    if not params.stationary:
        return OutputStationaryArray
    return MatrixUnit if params.acc_rows else StationaryArray


def matrix_unit(params: ArrayParams) -> wiring.Component:
    """The matrix unit for this design: with accumulators when ws/is and ``acc_rows`` is set."""
    return _matrix_unit_class(params)(params)


def matrix_unit_signature(params: ArrayParams) -> wiring.Signature:
    """The ports of :func:`matrix_unit` without building it."""
    return _matrix_unit_class(params).signature_for(params)

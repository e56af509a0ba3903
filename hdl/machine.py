"""The whole TPU: instruction memory, DMA engine, weight buffer, unified buffer, matrix unit with
its accumulators, activation unit, counters. ``tpu.machine.model`` is the specification, cycle
for cycle; this file follows its structure (DMA, loader, streamer, activation, HALT).

DRAM is outside: the top has a byte-addressed DRAM port that the testbench serves as a
synchronous RAM (read data one cycle after the request, writes at the clock edge); the DMA
adds ``dram_latency - 1`` register stages. The on-chip SRAMs are generated RAM modules
(``hdl.ram``: a write and a read port per byte lane), so that synthesis keeps them as macros
and simulators start them without an initialisation pass.

Top-level ports (``Machine.signature``):

=============  ===  =======================================================================
imem_we/addr/  in   load port of the instruction memory (used while in reset)
  data
base_mxu,      in   first instruction word of the matrix unit's and activation unit's
  base_act          streams (the DMA stream starts at 0); held during reset and the run
dram_rd_*      out  read request: ``en``, byte ``addr``; ``dram_rd_data`` (in) carries
                    ``bytes_per_cycle`` bytes from that address on the next cycle
dram_wr_*      out  write: ``en``, byte ``addr``, ``data``, ``len`` bytes (lane 0 first)
halted         out  every unit has executed HALT (the cycle counter has stopped)
cycles         out  cycles from reset release to HALT
overflows      out  accumulator adds whose true sum left int32
ev_start,      out  per unit (bit 0 DMA, 1 matrix unit, 2 activation unit): an instruction
  ev_end            started / completed this cycle (the testbench's log)
=============  ===  =======================================================================
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.activation import ActivationUnit
from hdl.matrix_unit import MatrixUnit
from hdl.params import ArrayParams, operand_shape
from hdl.ram import Ram, addr_bits, ram_modules
from tpu.machine import isa
from tpu.machine.params import MachineParams


def wire(m: Module, value, name: str) -> Signal:
    """``value`` as a named signal: shared by every use instead of re-emitted at each."""
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def field(word, op: str, name: str):
    """A field of an instruction word (signed fields as signed values)."""
    for n, pos, bits, sgn in isa.layout(op):
        if n == name:
            v = word[pos: pos + bits]
            return v.as_signed() if sgn else v
    raise KeyError(f"{op} has no field {name}")


FAULTS = ("acc_plus_one", "skew_lane_late", "wrong_bank", "dma_beat_dropped",
          "dependency_ignored")


class Machine(wiring.Component):
    """The machine; ``faults`` (names from ``FAULTS``) plant bugs for the mutation check:
    accumulator +1, the last streamed lane a cycle late, weights into the other bank, the second
    beat of every DMA read lost, MATMULs starting without waiting for the DMA."""

    def __init__(self, params: MachineParams, *, faults=frozenset()):
        self.p = params
        self.faults = frozenset(faults)
        unknown = self.faults - set(FAULTS)
        if unknown:
            raise TypeError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        super().__init__(self.signature_for(params))

    @staticmethod
    def signature_for(p: MachineParams) -> wiring.Signature:
        ia = addr_bits(p.imem_words)
        return wiring.Signature({
            "imem_we": In(1), "imem_addr": In(ia), "imem_data": In(isa.WORD_BITS),
            "base_mxu": In(ia), "base_act": In(ia),
            "dram_rd_en": Out(1), "dram_rd_addr": Out(32), "dram_rd_data": In(8 * p.bytes_per_cycle),
            "dram_wr_en": Out(1), "dram_wr_addr": Out(32), "dram_wr_data": Out(8 * p.bytes_per_cycle),
            "dram_wr_len": Out(addr_bits(p.bytes_per_cycle + 1)),
            "halted": Out(1), "cycles": Out(48), "overflows": Out(32),
            "ev_start": Out(3), "ev_end": Out(3),
        })

    @property
    def rams(self) -> list:
        """The ``hdl.ram.Ram`` instances, once the design has been elaborated."""
        return [*self._rams, *self._mu.rams]

    def elaborate(self, platform):
        m = Module()
        p = self.p
        now = Signal(48)
        m.d.sync += now.eq(now + 1)

        imem = Ram("imem", isa.WORD_BITS, p.imem_words)
        imem.write(self.imem_we, self.imem_addr, self.imem_data)
        ub = Ram("ub", 8, p.ub_bytes)
        wb = Ram("wb", 8, p.wb_bytes)
        prm = Ram("param", 8, p.param_bytes)

        done = {u: Signal(18, name=f"done_{u}") for u in isa.UNITS}
        inc = {u: Signal(name=f"inc_{u}") for u in isa.UNITS}
        started = {u: Signal(name=f"start_{u}") for u in isa.UNITS}
        halted = {u: Signal(name=f"halted_{u}") for u in isa.UNITS}
        pc = {u: Signal(18, name=f"pc_{u}") for u in isa.UNITS}
        # the stream bases are constant during a run: registered (no reset), they keep the
        # instruction decode out of the logic a simulator re-evaluates when an input changes
        base = {"dma": Const(0)}
        for u in ("mxu", "act"):
            base[u] = Signal.like(getattr(self, f"base_{u}"), name=f"base_{u}_r", reset_less=True)
            m.d.sync += base[u].eq(getattr(self, f"base_{u}"))
        word = {u: imem.read(base[u] + pc[u]) for u in isa.UNITS}
        word = {u: wire(m, w, f"word_{u}") for u, w in word.items()}
        op = {u: word[u][:4] for u in isa.UNITS}

        def ready(w, unit=None):
            dma_ok = done["dma"] >= field(w, "HALT", "wait_dma")
            if unit == "mxu" and "dependency_ignored" in self.faults:
                dma_ok = 1
            return (dma_ok & (done["mxu"] >= field(w, "HALT", "wait_mxu"))
                    & (done["act"] >= field(w, "HALT", "wait_act")))

        idle = {}
        idle["dma"] = self._dma(m, p, word["dma"], op["dma"], ready, halted["dma"], pc["dma"],
                                started["dma"], inc["dma"], ub, wb, prm)
        mu, idle["mxu"] = self._matrix(m, p, now, word["mxu"], op["mxu"],
                                       lambda w: ready(w, "mxu"), halted["mxu"],
                                       pc["mxu"], started["mxu"], inc["mxu"], ub, wb)
        idle["act"] = self._activation(m, p, word["act"], op["act"], ready, halted["act"],
                                       pc["act"], started["act"], inc["act"], ub, prm, mu)
        for u in isa.UNITS:
            m.d.sync += done[u].eq(done[u] + inc[u])
            with m.If(idle[u] & ~halted[u] & (op[u] == isa.OPCODES["HALT"]) & ready(word[u])):
                m.d.sync += halted[u].eq(1)
        all_halted = halted["dma"] & halted["mxu"] & halted["act"]
        cycles, overflows = Signal(48), Signal(32)
        m.d.sync += [cycles.eq(cycles + ~all_halted), overflows.eq(overflows + mu.wr_overflows)]
        m.d.comb += [
            self.halted.eq(all_halted), self.cycles.eq(cycles), self.overflows.eq(overflows),
            self.ev_start.eq(Cat(started[u] for u in isa.UNITS)),
            self.ev_end.eq(Cat(inc[u] for u in isa.UNITS)),
        ]
        self._rams, self._mu = [imem, ub, wb, prm], mu
        for ram in (imem, ub, wb, prm):
            ram.elaborate(m)
        return m

    # -- DMA -----------------------------------------------------------------------------------

    def _dma(self, m, p, word, op, ready, halted, pc, started, inc, ub, wb, prm):
        B, lat = p.bytes_per_cycle, p.dram_latency
        busy = Signal(name="dma_busy")
        kind = Signal(2, name="dma_kind")  # 0 read, 1 write, 2 sync
        mem = Signal(2, name="dma_mem")
        dram, chip, rem = Signal(32, name="dma_dram"), Signal(24, name="dma_chip"), \
            Signal(25, name="dma_rem")
        is_read = (op == isa.OPCODES["READ_HOST"]) | (op == isa.OPCODES["READ_WEIGHTS"])
        is_write = op == isa.OPCODES["WRITE_HOST"]
        is_sync = op == isa.OPCODES["SYNC"]
        start = ~busy & ~halted & (is_read | is_write | is_sync) & ready(word)
        m.d.comb += started.eq(start)
        new_kind = Mux(is_read, 0, Mux(is_write, 1, 2))
        k = wire(m, Mux(busy, kind, new_kind), "dma_k")
        cur_mem = wire(m, Mux(busy, mem, field(word, "READ_HOST", "mem")), "dma_cur_mem")
        cur_dram = wire(m, Mux(busy, dram, field(word, "READ_HOST", "dram")), "dma_cur_dram")
        cur_chip = wire(m, Mux(busy, chip, field(word, "READ_HOST", "chip")), "dma_cur_chip")
        cur_rem = wire(m, Mux(busy, rem, Mux(is_sync, 0, field(word, "READ_HOST", "nbytes"))),
                       "dma_cur_rem")
        valid = wire(m, busy | start, "dma_valid")
        n = wire(m, Mux(cur_rem < B, cur_rem, B), "dma_n")
        last = wire(m, cur_rem <= B, "dma_last")
        with m.If(valid):
            m.d.sync += [dram.eq(cur_dram + B), chip.eq(cur_chip + B), rem.eq(cur_rem - B),
                         busy.eq(~last), kind.eq(k), mem.eq(cur_mem)]
        with m.If(start):
            m.d.sync += pc.eq(pc + 1)
        m.d.comb += [self.dram_rd_en.eq(valid & (k == 0)), self.dram_rd_addr.eq(cur_dram)]
        wdata = wire(m, Cat(ub.read(cur_chip + j) for j in range(B)), "dma_wdata")
        # the pipe: stage s holds what was issued s cycles ago
        stage = [dict(valid=valid, kind=k, mem=cur_mem, chip=cur_chip, dram=cur_dram, n=n,
                      last=last, wdata=wdata)]
        for s in range(1, lat + 1):
            prev = stage[-1]
            regs = {name: Signal.like(v, name=f"dma_s{s}_{name}") if isinstance(v, Signal)
                    else Signal(v.shape(), name=f"dma_s{s}_{name}") for name, v in prev.items()}
            m.d.sync += [regs[name].eq(v) for name, v in prev.items()]
            stage.append(regs)
        w = stage[lat - 1]  # the write reaches DRAM at the edge closing cycle t + lat - 1
        m.d.comb += [self.dram_wr_en.eq(w["valid"] & (w["kind"] == 1)),
                     self.dram_wr_addr.eq(w["dram"]), self.dram_wr_data.eq(w["wdata"]),
                     self.dram_wr_len.eq(w["n"])]
        rdata = self.dram_rd_data
        for s in range(2, lat + 1):  # the RAM's own register is stage 1
            reg = Signal.like(rdata, name=f"dma_rdata_s{s}")
            m.d.sync += reg.eq(rdata)
            rdata = reg
        f = stage[lat]
        landing = f["valid"] & (f["kind"] == 0)
        if "dma_beat_dropped" in self.faults:  # the second beat of a read never lands
            second = Signal(name="dma_second")
            m.d.sync += second.eq(Mux(valid, start, second))
            lost = stage[0]["valid"] & second & ~start
            for s in range(1, lat + 1):
                reg = Signal(name=f"dma_lost{s}")
                m.d.sync += reg.eq(lost)
                lost = reg
            landing = landing & ~lost
        for ram, sel in ((ub, isa.MEMS["ub"]), (wb, isa.MEMS["wb"]), (prm, isa.MEMS["param"])):
            for j in range(B):
                ram.write(landing & (f["mem"] == sel) & (j < f["n"]), f["chip"] + j,
                          rdata[8 * j: 8 * j + 8])
        m.d.comb += inc.eq(f["valid"] & f["last"])
        return ~busy

    # -- matrix unit ---------------------------------------------------------------------------

    def _matrix(self, m, p, now, word, op, ready, halted, pc, started, inc, ub, wb):
        R, C = p.rows, p.cols
        ap = ArrayParams(R, C, "ws", p.act_bits, p.act_signed, p.weight_bits, p.weight_signed, 32,
                         p.acc_rows)
        m.submodules.mu = mu = MatrixUnit(ap, faults=self.faults, ram="tpu_ram")
        mm = "MATMUL"

        # loader
        busy = Signal(name="ld_busy")
        lw = Signal(isa.WORD_BITS, name="ld_word")
        row = Signal(range(R + 1), name="ld_row")
        k_rem = Signal(17, name="ld_krem")
        wptr = Signal(24, name="ld_wptr")
        st = [Signal(13, name="ld_dy"), Signal(13, name="ld_dx"), Signal(13, name="ld_dyd"),
              Signal(13, name="ld_dxd"), Signal(signed(26), name="ld_off")]
        bank_next = Signal(name="bank_next")
        pending = Signal(2, name="pending")
        busy_until = [Signal(48, name=f"busy_until{b}") for b in range(2)]
        accept = wire(m, ~busy & ~halted & (op == isa.OPCODES[mm]) & ready(word), "ld_accept")
        m.d.comb += started.eq(accept)
        cur = wire(m, Mux(busy, lw, word), "ld_cur")
        active = busy | accept
        c_row = wire(m, Mux(busy, row, 0), "ld_c_row")
        c_krem = wire(m, Mux(busy, k_rem, field(word, mm, "k")), "ld_c_krem")
        c_wptr = wire(m, Mux(busy, wptr, field(word, mm, "wb")), "ld_c_wptr")
        c_state = [wire(m, Mux(busy, s, 0), f"ld_c_{s.name}") for s in st]
        kk = wire(m, Mux(c_krem < R, c_krem, R), "ld_kk")
        b = bank_next

        # tile queue (two entries) between loader and streamer
        qn = Signal(range(3), name="q_count")
        q = [dict(word=Signal(isa.WORD_BITS, name=f"q{i}_word"), bank=Signal(name=f"q{i}_bank"),
                  kk=Signal(range(R + 1), name=f"q{i}_kk"), first=Signal(name=f"q{i}_first"),
                  last=Signal(name=f"q{i}_last"), load=Signal(48, name=f"q{i}_load"))
             for i in range(2)]
        go = wire(m, active & ((c_row != 0) | (~pending.bit_select(b, 1)
                  & (now >= Mux(b, busy_until[1], busy_until[0])) & (qn < 2))), "ld_go")
        tile_start = wire(m, go & (c_row == 0), "ld_tile_start")
        cols = field(cur, mm, "cols")
        w_data = Cat(Mux(j < cols, wb.read(c_wptr + j), 0) for j in range(C))
        wrong = "wrong_bank" in self.faults
        m.d.comb += [mu.w_valid.eq(go), mu.w_bank.eq(~b if wrong else b), mu.w_row.eq(c_row),
                     mu.w_data.eq(w_data)]
        # the tile's R lanes of im2col offsets: a chain of steps from the running state
        lanes = [c_state]
        for j in range(R):
            lanes.append([wire(m, v, f"ld_lane{j + 1}_{i}")
                          for i, v in enumerate(self._step(lanes[-1], cur))])
        lane_regs = [[[Signal(signed(26) if i == 4 else 13, name=f"lane{bk}_{j}_{i}")
                       for i in range(5)] for j in range(R)] for bk in range(2)]
        with m.If(tile_start):
            for bk in range(2):
                with m.If(b == bk):
                    for j in range(R):
                        m.d.sync += [lane_regs[bk][j][i].eq(lanes[j][i]) for i in range(5)]
        last_row = wire(m, (c_row + 1) == kk, "ld_last_row")
        last_tile = wire(m, c_krem <= R, "ld_last_tile")
        first = Signal(name="ld_first")  # the tile being loaded is the MATMUL's first
        c_first = wire(m, Mux(busy, first, 1), "ld_c_first")
        with m.If(go):
            m.d.sync += [lw.eq(cur), wptr.eq(c_wptr + cols),
                         row.eq(Mux(last_row, 0, c_row + 1)),
                         k_rem.eq(Mux(last_row, c_krem - R, c_krem)),
                         first.eq(c_first & ~last_row), busy.eq(~(last_row & last_tile))]
            with m.If(tile_start):
                m.d.sync += [s.eq(v) for s, v in zip(st, lanes[R], strict=True)]
            with m.Else():
                m.d.sync += [s.eq(v) for s, v in zip(st, c_state, strict=True)]
            with m.If(last_row):
                m.d.sync += bank_next.eq(~b)
        with m.Elif(accept):
            m.d.sync += [lw.eq(word), busy.eq(1), row.eq(0), k_rem.eq(c_krem), wptr.eq(c_wptr),
                         first.eq(1)]
            m.d.sync += [s.eq(0) for s in st]
        with m.If(accept):
            m.d.sync += pc.eq(pc + 1)

        # streamer
        sb = Signal(name="st_busy")
        sd = dict(word=Signal(isa.WORD_BITS, name="st_word"), bank=Signal(name="st_bank"),
                  kk=Signal(range(R + 1), name="st_kk"), first=Signal(name="st_first"),
                  last=Signal(name="st_last"))
        srow = Signal(16, name="st_row")
        pix, ox, oy = Signal(signed(26), name="st_pix"), Signal(13, name="st_ox"), \
            Signal(13, name="st_oy")
        x0, y0 = Signal(signed(14), name="st_x0"), Signal(signed(14), name="st_y0")
        pop = wire(m, ~sb & (qn > 0) & (now >= q[0]["load"] + 1), "st_pop")
        d = {k: wire(m, Mux(sb, sd[k], q[0][k]), f"st_d_{k}") for k in sd}
        sw = d["word"]

        def f(name):
            return field(sw, mm, name)
        c_pix = wire(m, Mux(sb, pix, f("pix")), "st_c_pix")
        c_ox, c_oy = wire(m, Mux(sb, ox, f("ox")), "st_c_ox"), wire(m, Mux(sb, oy, f("oy")), "st_c_oy")
        c_x0, c_y0 = wire(m, Mux(sb, x0, f("x0")), "st_c_x0"), wire(m, Mux(sb, y0, f("y0")), "st_c_y0")
        c_srow = wire(m, Mux(sb, srow, 0), "st_c_row")
        streaming = wire(m, sb | pop, "st_streaming")
        lane_sel = [[wire(m, Mux(d["bank"], lane_regs[1][j][i], lane_regs[0][j][i]),
                          f"st_lane{j}_{i}") for i in range(5)] for j in range(R)]
        x_lanes = []
        for j in range(R):
            _, _, dyd, dxd, off = lane_sel[j]
            y, x = c_y0 + dyd, c_x0 + dxd
            inside = (y >= 0) & (y < f("h")) & (x >= 0) & (x < f("w"))
            data = ub.read(c_pix + off)
            x_lanes.append(Mux(j < d["kk"], Mux(inside, data, f("pad")), 0)[:p.act_bits])
        if "skew_lane_late" in self.faults:  # the last lane's skew has one register too many
            late = Signal(p.act_bits, name="late_lane")
            m.d.sync += late.eq(x_lanes[-1])
            x_lanes[-1] = late
        m.d.comb += [
            mu.x_valid.eq(streaming), mu.x_bank.eq(d["bank"]), mu.x_data.eq(Cat(x_lanes)),
            mu.x_addr.eq(f("acc") + c_srow), mu.x_acc.eq(f("accumulate") | ~d["first"]),
            mu.x_last.eq(d["last"] & (c_srow + 1 == f("rows"))),
        ]
        with m.If(streaming):
            with m.If(c_ox + 1 < f("wo")):
                m.d.sync += [ox.eq(c_ox + 1), pix.eq(c_pix + f("d_ox")), x0.eq(c_x0 + f("stride")),
                             oy.eq(c_oy), y0.eq(c_y0)]
            with m.Elif(c_oy + 1 < f("ho")):
                m.d.sync += [ox.eq(0), x0.eq(f("x_reset")), oy.eq(c_oy + 1),
                             pix.eq(c_pix + f("d_oy")), y0.eq(c_y0 + f("stride"))]
            with m.Else():
                m.d.sync += [ox.eq(0), x0.eq(f("x_reset")), oy.eq(0), y0.eq(f("y_reset")),
                             pix.eq(c_pix + f("d_b"))]
            m.d.sync += [srow.eq(c_srow + 1), sb.eq(c_srow + 1 != f("rows"))]
            m.d.sync += [sd[k].eq(d[k]) for k in sd]
        # banks: the loader claims, the streamer releases
        release = Signal(2)
        claim = Signal(2)
        m.d.comb += [release.eq(Mux(pop, 1 << q[0]["bank"], 0)),
                     claim.eq(Mux(tile_start, 1 << b, 0))]
        m.d.sync += pending.eq((pending & ~release) | claim)
        for bk in range(2):
            with m.If(pop & (q[0]["bank"] == bk)):
                m.d.sync += busy_until[bk].eq(now + f("rows") + (C - 2))
        # the queue: a pop shifts entry 1 down, a push appends after what remains
        entry = dict(word=cur, bank=b, kk=kk, first=c_first, last=last_tile, load=now)
        remain = qn - pop
        with m.If(tile_start & (remain == 0)):
            m.d.sync += [q[0][k].eq(v) for k, v in entry.items()]
        with m.Elif(pop):
            m.d.sync += [q[0][k].eq(q[1][k]) for k in q[0]]
        with m.If(tile_start & (remain == 1)):
            m.d.sync += [q[1][k].eq(v) for k, v in entry.items()]
        m.d.sync += qn.eq(qn - pop + tile_start)
        m.d.comb += inc.eq(mu.wr_last)
        return mu, ~busy

    @staticmethod
    def _step(state, word):
        """One reduction index on: dx fastest, then dy, then the channel."""
        dy, dx, dyd, dxd, off = state
        mm = "MATMUL"
        kw, kh, dil = field(word, mm, "kw"), field(word, mm, "kh"), field(word, mm, "dil")
        nx = dx + 1 < kw
        ny = dy + 1 < kh
        return [
            Mux(nx, dy, Mux(ny, dy + 1, 0))[:13], Mux(nx, dx + 1, 0)[:13],
            Mux(nx, dyd, Mux(ny, dyd + dil, 0))[:13], Mux(nx, dxd + dil, 0)[:13],
            (off + Mux(nx, field(word, mm, "e_dx"), Mux(ny, field(word, mm, "e_dy"),
                                                          field(word, mm, "e_c"))))[:26].as_signed(),
        ]

    # -- activation unit -----------------------------------------------------------------------

    def _activation(self, m, p, word, op, ready, halted, pc, started, inc, ub, prm, mu):
        C = p.cols
        act = "ACTIVATE"
        busy = Signal(name="act_busy")
        aw = Signal(isa.WORD_BITS, name="act_word")
        row = Signal(16, name="act_row")
        acc_ptr, ub_ptr = Signal(16, name="act_acc"), Signal(24, name="act_ub")
        accept = wire(m, ~busy & ~halted & (op == isa.OPCODES[act]) & ready(word), "act_accept")
        m.d.comb += started.eq(accept)
        cur = wire(m, Mux(busy, aw, word), "act_cur")
        valid = wire(m, busy | accept, "act_valid")
        c_row = wire(m, Mux(busy, row, 0), "act_c_row")
        c_acc = wire(m, Mux(busy, acc_ptr, field(word, act, "acc")), "act_c_acc")
        c_ub = wire(m, Mux(busy, ub_ptr, field(word, act, "ub")), "act_c_ub")

        def f(name):
            return field(cur, act, name)
        last = wire(m, c_row + 1 == f("rows"), "act_last")
        with m.If(valid):
            m.d.sync += [aw.eq(cur), row.eq(c_row + 1), acc_ptr.eq(c_acc + 1),
                         ub_ptr.eq(c_ub + f("stride")), busy.eq(~last)]
        with m.If(accept):
            m.d.sync += pc.eq(pc + 1)
        out_shape = operand_shape(p.act_bits, p.act_signed)
        m.submodules.act = unit = ActivationUnit(cols=C, acc_bits=32, out_shape=out_shape)
        prm_bytes = [prm.read(f("param") + i) for i in range(9 * C)]

        def word32(i):
            return Cat(prm_bytes[i: i + 4]).as_signed()
        m.d.comb += [mu.rd_addr.eq(c_acc), unit.in_valid.eq(valid), unit.in_data.eq(mu.rd_data),
                     unit.zp.eq(f("zp")), unit.act_min.eq(f("act_min")),
                     unit.act_max.eq(f("act_max")), unit.relu.eq(f("relu")), unit.fp.eq(f("fp"))]
        for c in range(C):
            m.d.comb += [unit.bias[c].eq(word32(4 * c)), unit.qm[c].eq(word32(4 * C + 4 * c)),
                         unit.shift[c].eq(prm_bytes[8 * C + c].as_signed())]
        meta = dict(ub=c_ub, cols=f("cols"), last=last)
        s1 = {k: Signal(v.shape(), name=f"act_s1_{k}") for k, v in meta.items()}
        s2 = {k: Signal(v.shape(), name=f"act_s2_{k}") for k, v in meta.items()}
        m.d.sync += [s1[k].eq(v) for k, v in meta.items()]
        m.d.sync += [s2[k].eq(s1[k]) for k in meta]
        for j in range(C):
            byte = Signal(8, name=f"act_byte{j}")
            m.d.comb += byte.eq(unit.out_data[j])  # sign- or zero-extended, as the model stores
            ub.write(unit.out_valid & (j < s2["cols"]), s2["ub"] + j, byte)
        m.d.comb += inc.eq(unit.out_valid & s2["last"])
        return ~busy


def machine_verilog(params: MachineParams, *, name: str = "tpu_machine", faults=frozenset(),
                    blackbox_rams: bool = False) -> str:
    """The top module ``name`` and the RAM modules it instantiates, as one Verilog text
    (``blackbox_rams``: the RAMs as port-only blackboxes, for synthesis)."""
    from amaranth.back import verilog

    machine = Machine(params, faults=faults)
    text = verilog.convert(machine, name=name)
    return text + "\n" + ram_modules(machine.rams, blackbox=blackbox_rams)


__all__ = ["FAULTS", "Machine", "machine_verilog"]

"""The cycle-level Python machine: the specification the RTL top (``hdl/machine.py``) implements.

Every cycle each unit looks at registers as they were at the start of the cycle and what it
writes lands at the end of it (memories too: a read in cycle t sees the writes of cycles < t).

* **DMA**: an idle unit starts the next instruction of its stream when its waits are met and
  issues one beat (``bytes_per_cycle`` bytes) per cycle; a beat takes effect ``dram_latency``
  cycles later (a DRAM read lands in its on-chip memory, a write reaches DRAM), and the
  instruction completes with its last beat. The unit issues the next instruction's first beat
  the cycle after the last one of the previous.
* **Matrix unit**: the *loader* takes a MATMUL, splits it into k-tiles of R rows and writes one
  weight row per cycle into the tile's bank (banks alternate tile by tile); it may start a tile
  in a bank only when the tile that used the bank before has left the last PE column
  (``start + rows + C - 2``, the schedule's rule in ``tpu.array.schedule``). The *streamer*
  starts a tile the cycle after its first weight row was written and once the previous tile has
  streamed; each cycle it gathers one vector from the unified buffer (im2col addressing) into
  the array (``tpu.array.cycle.StationaryCore``, the same registers as the RTL array). A result
  row leaving the array is added to (or written over) its accumulator row one cycle later.
  A MATMUL completes when the last row of its last tile is in the accumulators.
* **Activation unit**: one accumulator row per cycle through bias, requantization (onnxruntime's
  float32 scheme or gemmlowp fixed point, per instruction), ReLU and saturation (two pipeline
  stages), written to the unified buffer two cycles after it was read; an ACTIVATE completes
  with its last row.
* The cycle counter runs from reset until all three units have executed HALT.

``Machine.run`` returns the cycle count, every instruction's start and end cycle (end: the
first cycle its dependants may start) and the event log ``(cycle, unit, index, event)`` that
the RTL testbench produces too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tpu.array.cycle import StationaryCore
from tpu.config import ArrayConfig
from tpu.machine import isa
from tpu.machine.params import MachineParams
from tpu.quant.requant import requant_fixed, requant_float, wrap_int32

MEM_NAMES = {v: k for k, v in isa.MEMS.items()}


def log_order(event: tuple) -> tuple:
    """Events of one cycle in the testbenches' order: by unit, a start before an end."""
    t, unit, _, kind = event
    return t, isa.UNITS.index(unit), kind != "start"


class MachineError(RuntimeError):
    """The machine ran into a state a correct image never produces (an assembler bug)."""


@dataclass
class Trace:
    starts: dict = field(default_factory=dict)  # (unit, index) -> cycle
    ends: dict = field(default_factory=dict)  # (unit, index) -> first cycle after completion
    log: list = field(default_factory=list)  # (cycle, unit, index, "start" | "end")

    def start(self, t, unit, idx):
        self.starts[(unit, idx)] = t
        self.log.append((t, unit, idx, "start"))

    def end(self, t, unit, idx):
        self.ends[(unit, idx)] = t + 1
        self.log.append((t, unit, idx, "end"))


@dataclass
class RunStats:
    cycles: int
    trace: Trace
    overflows: int
    dram_read_bytes: int
    dram_write_bytes: int


def _signed(values: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    v = values.astype(np.int64) & ((1 << bits) - 1)
    if signed:
        v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
    return v


class Machine:
    """One machine with its memories; ``run(streams, dram)`` executes an image's streams."""

    def __init__(self, params: MachineParams):
        p = self.p = params
        self.ub = np.zeros(p.ub_bytes, np.uint8)
        self.wb = np.zeros(p.wb_bytes, np.uint8)
        self.param = np.zeros(p.param_bytes, np.uint8)
        self.acc = np.zeros((2 * p.acc_rows, p.cols), np.int64)

    def mem(self, index: int) -> np.ndarray:
        return (self.ub, self.wb, self.param)[index]

    # -- the run --------------------------------------------------------------------------------

    def run(self, streams: dict[str, list[int]], dram: np.ndarray, *,
            max_cycles: int = 10**9) -> RunStats:
        """Execute the three instruction streams (encoded words) against ``dram`` (updated)."""
        p = self.p
        R, C = p.rows, p.cols
        prog = {u: [isa.decode(w) for w in streams[u]] for u in isa.UNITS}
        for u in isa.UNITS:
            if not prog[u] or prog[u][-1].op != "HALT":
                raise MachineError(f"the {u} stream must end with HALT")
        trace = Trace()
        done = dict.fromkeys(isa.UNITS, 0)
        pc = dict.fromkeys(isa.UNITS, 0)
        halted = dict.fromkeys(isa.UNITS, False)
        core = StationaryCore(ArrayConfig(rows=R, cols=C, act_bits=p.act_bits,
                                          weight_bits=p.weight_bits, acc_bits=32,
                                          act_signed=p.act_signed, weight_signed=p.weight_signed,
                                          multi_precision=False, packing=False))  # native PEs
        lat = p.dram_latency
        # DMA
        dma_ins, dma_beat, dma_beats, dma_idx = None, 0, 0, -1
        dma_pipe: deque = deque()  # (effect cycle, kind, payload, last index or -1)
        # matrix unit: loader
        ld_ins, ld_idx, ld_tile, ld_row, ld_tiles = None, -1, 0, 0, 0
        ld_c = [0, 0, 0]  # dy, dx, off
        bank_next = 0
        pending = [False, False]
        busy_until = [0, 0]
        lanes_off = np.zeros((2, R), np.int64)
        lanes_dy = np.zeros((2, R), np.int64)
        lanes_dx = np.zeros((2, R), np.int64)
        queue: deque = deque()  # tile descriptors
        # streamer
        st = None  # current tile descriptor
        st_row = 0
        st_pix = {}
        line = deque([None] * p.latency)  # (acc addr, accumulate, last idx) beside x
        out_reg = None  # (row, addr, accumulate, last idx) latched at the end of the cycle
        overflows = 0
        # activation unit
        act_ins, act_idx, act_row = None, -1, 0
        act_pipe: deque = deque()  # (effect cycle, ub addr, values, last index)
        read_bytes = write_bytes = 0
        dram_wq: deque = deque()  # (cycle, address, bytes): DRAM writes, applied at its end

        def ready(ins):
            return all(done[u] >= w for u, w in zip(isa.UNITS, ins.waits, strict=True))

        t = 0
        while not all(halted.values()):
            if t >= max_cycles:
                raise MachineError(f"no HALT after {max_cycles} cycles")
            inc = dict.fromkeys(isa.UNITS, 0)
            # HALT: a unit whose issue stage is idle at HALT with its waits met stops
            idle = {"dma": dma_ins is None, "mxu": ld_ins is None, "act": act_ins is None}
            halt_now = [u for u in isa.UNITS if not halted[u] and idle[u]
                        and prog[u][pc[u]].op == "HALT" and ready(prog[u][pc[u]])]

            # ---- DMA: effects of beats issued lat cycles ago
            while dma_pipe and dma_pipe[0][0] == t:
                _, kind, payload, last = dma_pipe.popleft()
                if kind == "read":
                    mem, addr, data = payload
                    self.mem(mem)[addr: addr + len(data)] = data
                if last >= 0:
                    trace.end(t, "dma", last)
                    inc["dma"] += 1
            if dma_ins is None and not halted["dma"]:
                ins = prog["dma"][pc["dma"]]
                if ins.op != "HALT" and ready(ins):
                    dma_ins, dma_idx, dma_beat = ins, pc["dma"], 0
                    dma_beats = max(1, -(-ins.nbytes // p.bytes_per_cycle))
                    pc["dma"] += 1
                    trace.start(t, "dma", dma_idx)
            if dma_ins is not None:
                ins = dma_ins
                lo = dma_beat * p.bytes_per_cycle
                n = min(p.bytes_per_cycle, ins.nbytes - lo)
                last = dma_idx if dma_beat == dma_beats - 1 else -1
                if ins.op == "SYNC":
                    dma_pipe.append((t + lat, "none", None, last))
                elif ins.op == "WRITE_HOST":
                    data = self.mem(ins.mem)[ins.chip + lo: ins.chip + lo + n].copy()
                    dram_wq.append((t + lat - 1, ins.dram + lo, data))
                    dma_pipe.append((t + lat, "none", None, last))
                    write_bytes += n
                else:
                    data = dram[ins.dram + lo: ins.dram + lo + n].copy()
                    if len(data) != n:
                        raise MachineError(f"DMA read past the end of DRAM at {ins.dram + lo}")
                    dma_pipe.append((t + lat, "read", (ins.mem, ins.chip + lo, data), last))
                    read_bytes += n
                dma_beat += 1
                if dma_beat == dma_beats:
                    dma_ins = None

            # ---- matrix unit: loader (one weight row per cycle)
            w_valid, w_bank, w_row, w_data = False, 0, 0, np.zeros(C, np.int64)
            lane_update = None
            ld_start_tile = None
            if ld_ins is None and not halted["mxu"]:
                ins = prog["mxu"][pc["mxu"]]
                if ready(ins) and ins.op == "MATMUL":
                    ld_ins, ld_idx, ld_tile, ld_row = ins, pc["mxu"], 0, 0
                    ld_tiles = -(-ins.k // R)
                    ld_c = [0, 0, 0]
                    pc["mxu"] += 1
                    trace.start(t, "mxu", ld_idx)
            if ld_ins is not None:
                ins = ld_ins
                b = bank_next
                go = True
                if ld_row == 0:
                    go = not pending[b] and t >= busy_until[b] and len(queue) < 2
                    if go:
                        kk = min(R, ins.k - ld_tile * R)
                        ld_start_tile = dict(
                            ins=ins, idx=ld_idx, bank=b, kk=kk, first=ld_tile == 0,
                            last=ld_tile == ld_tiles - 1, load=t)
                        # the tile's R lanes of im2col offsets, one step of (dy, dx) apart
                        lanes = []
                        for _ in range(R):
                            lanes.append(ld_c)
                            ld_c = _step(ld_c, ins)
                        lane_update = (b, lanes)
                        ld_dil = ins.dil
                if go:
                    k = ld_tile * R + ld_row
                    row = self.wb[ins.wb + k * ins.cols: ins.wb + (k + 1) * ins.cols]
                    w_valid, w_bank, w_row = True, b, ld_row
                    w_data[: ins.cols] = _signed(row, p.weight_bits, p.weight_signed)
                    kk = min(R, ins.k - ld_tile * R)
                    ld_row += 1
                    if ld_row == kk:
                        ld_row = 0
                        ld_tile += 1
                        bank_next ^= 1
                        if ld_tile == ld_tiles:
                            ld_ins = None

            # ---- matrix unit: streamer (one vector per cycle)
            x_valid, x_bank, x_data = False, 0, np.zeros(R, np.int64)
            x_tag = None
            st_started = None
            if st is None and queue and t >= queue[0]["load"] + 1:
                st = queue.popleft()
                st_row = 0
                ins = st["ins"]
                st_pix = dict(pix=ins.pix, ox=ins.ox, oy=ins.oy, x0=ins.x0, y0=ins.y0)
                st_started = (st["bank"], t + ins.rows + C - 2)
            if st is not None:
                ins, b, kk = st["ins"], st["bank"], st["kk"]
                s = st_pix
                y = s["y0"] + lanes_dy[b, :kk]
                x = s["x0"] + lanes_dx[b, :kk]
                inside = (y >= 0) & (y < ins.h) & (x >= 0) & (x < ins.w)
                addr = s["pix"] + lanes_off[b, :kk]
                vals = np.full(kk, ins.pad, np.int64)
                if inside.any():
                    a = addr[inside]
                    if a.min() < 0 or a.max() >= p.ub_bytes:
                        raise MachineError(f"MATMUL {st['idx']} reads outside the unified buffer")
                    vals[inside] = _signed(self.ub[a], p.act_bits, p.act_signed)
                x_valid, x_bank = True, b
                x_data[:kk] = vals
                last = st["idx"] if st["last"] and st_row == ins.rows - 1 else -1
                x_tag = (ins.acc + st_row, bool(ins.accumulate) or not st["first"], last)
                if s["ox"] + 1 < ins.wo:
                    s.update(ox=s["ox"] + 1, pix=s["pix"] + ins.d_ox, x0=s["x0"] + ins.stride)
                elif s["oy"] + 1 < ins.ho:
                    s.update(ox=0, x0=ins.x_reset, oy=s["oy"] + 1, pix=s["pix"] + ins.d_oy,
                             y0=s["y0"] + ins.stride)
                else:
                    s.update(ox=0, x0=ins.x_reset, oy=0, y0=ins.y_reset, pix=s["pix"] + ins.d_b)
                st_row += 1
                if st_row == ins.rows:
                    st = None

            # ---- accumulators: the row that left the array last cycle
            if out_reg is not None:
                row, addr, accumulate, last = out_reg
                if accumulate:
                    total = self.acc[addr] + row
                    overflows += int(np.count_nonzero((total < -(1 << 31)) | (total >= 1 << 31)))
                    row = wrap_int32(total)
                acc_write = (addr, row)
                if last >= 0:
                    trace.end(t, "mxu", last)
                    inc["mxu"] += 1
            else:
                acc_write = None
            valid, row = core.step(w_valid, w_bank, w_row, w_data, x_valid, x_bank, x_data)
            line.append(x_tag)
            tag = line.popleft()
            if valid != (tag is not None):
                raise MachineError(f"cycle {t}: array output and its tag disagree")
            out_reg = (row.copy(), *tag) if valid else None

            # ---- activation unit
            act_out = []
            while act_pipe and act_pipe[0][0] == t:
                _, ub_addr, values, last = act_pipe.popleft()
                act_out.append((ub_addr, values))
                if last >= 0:
                    trace.end(t, "act", last)
                    inc["act"] += 1
            if act_ins is None and not halted["act"]:
                ins = prog["act"][pc["act"]]
                if ready(ins) and ins.op == "ACTIVATE":
                    act_ins, act_idx, act_row = ins, pc["act"], 0
                    pc["act"] += 1
                    trace.start(t, "act", act_idx)
            if act_ins is not None:
                ins = act_ins
                acc = self.acc[ins.acc + act_row]
                y = self._activate(ins, acc)
                last = act_idx if act_row == ins.rows - 1 else -1
                act_pipe.append((t + 2, ins.ub + act_row * ins.stride, y[: ins.cols], last))
                act_row += 1
                if act_row == ins.rows:
                    act_ins = None

            # ---- end of cycle: registers and memories latch
            if lane_update is not None:
                b, lanes = lane_update
                dy, dx, off = (np.array(v, np.int64) for v in zip(*lanes, strict=True))
                lanes_off[b], lanes_dy[b], lanes_dx[b] = off, dy * ld_dil, dx * ld_dil
            if ld_start_tile is not None:
                pending[ld_start_tile["bank"]] = True
                queue.append(ld_start_tile)
            if st_started is not None:
                b, until = st_started
                pending[b] = False
                busy_until[b] = until
            if acc_write is not None:
                addr, row = acc_write
                self.acc[addr] = row
            for ub_addr, values in act_out:
                if ub_addr < 0 or ub_addr + len(values) > p.ub_bytes:
                    raise MachineError("ACTIVATE writes outside the unified buffer")
                self.ub[ub_addr: ub_addr + len(values)] = values.astype(np.int64) & 0xFF
            while dram_wq and dram_wq[0][0] == t:
                _, addr, data = dram_wq.popleft()
                dram[addr: addr + len(data)] = data
            for u in isa.UNITS:
                done[u] += inc[u]
            for u in halt_now:
                halted[u] = True
            t += 1
        trace.log.sort(key=log_order)
        return RunStats(t, trace, overflows, read_bytes, write_bytes)

    def _activate(self, ins, acc: np.ndarray) -> np.ndarray:
        C = self.p.cols
        pb = self.param[ins.param: ins.param + 9 * C]
        bias = pb[: 4 * C].view("<i4").astype(np.int64)
        qm = pb[4 * C: 8 * C].view("<i4").astype(np.int64)
        shift = pb[8 * C: 9 * C].view(np.int8).astype(np.int64)
        lo = max(ins.act_min, ins.zp) if ins.relu else ins.act_min
        x = wrap_int32(acc + bias)
        if ins.fp:  # the qm slot holds the float32 multiplier's bits
            m = pb[4 * C: 8 * C].view("<f4")
            return requant_float(x, m, ins.zp, lo, ins.act_max, axis=-1)
        return requant_fixed(x, qm, shift, ins.zp, lo, ins.act_max, axis=-1)


def _step(state: list[int], ins) -> list[int]:
    """The next reduction index's (dy, dx, offset): dx fastest, then dy, then the channel."""
    dy, dx, off = state
    if dx + 1 < ins.kw:
        return [dy, dx + 1, off + ins.e_dx]
    if dy + 1 < ins.kh:
        return [dy + 1, 0, off + ins.e_dy]
    return [0, 0, off + ins.e_c]

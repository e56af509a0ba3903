"""Run an assembled program: machine segments on the Python machine or the RTL, host steps
between them, DRAM carried across. ``run`` is the one entry point the compiler calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tpu.compiler import ir, reference
from tpu.compiler.lower import patch_matrices
from tpu.errors import TpuError
from tpu.machine import isa
from tpu.machine.assemble import Home, HostStep, Image, assemble
from tpu.machine.model import Machine
from tpu.machine.params import MachineParams

BACKENDS = ("machine", "rtl")


@dataclass
class MachineRun:
    outputs: list[np.ndarray]
    cycles: int  # machine cycles, all segments (host steps take none)
    layer_spans: dict[int, tuple[int, int]]  # layer -> (first start, last end), global cycles
    instrs: list[dict]  # every machine instruction: segment, unit, index, op, layer, start, end
    log: list[tuple]  # (cycle, unit, index, event), global cycles, segment order
    host: list[dict]  # host steps: layer, op, kind, elements
    overflows: int
    dram_bytes: dict
    segments: int
    rtl: dict | None = None  # simulator, dut_cycles, sim_wall_s, build_wall_s
    tensors: dict = field(default_factory=dict, repr=False)
    busy: dict = field(default_factory=dict)  # layer -> cycles the array streamed vectors
    requant: str = "float"

    def program_ends(self, program) -> list[int]:
        """An end cycle per compiler instruction: its layer's end on the machine (host layers
        end where the machine stood), so per-layer cycles add up to the machine's count."""
        ends, cur = [], 0
        for ins in program.instrs:
            if ins.layer in self.layer_spans:
                cur = max(cur, self.layer_spans[ins.layer][1])
            ends.append(cur)
        return ends

    def program_durations(self, program) -> dict[int, int]:
        """Each layer's array-busy cycles, on its first MATMUL (the executor sums a layer's)."""
        out, seen = {}, set()
        for i, ins in enumerate(program.instrs):
            if ins.op == "MATMUL":
                out[i] = 0 if ins.layer in seen else self.busy.get(ins.layer, 0)
                seen.add(ins.layer)
        return out

    def summary(self) -> dict:
        """What the report adds for a machine run."""
        return {"cycles": self.cycles, "segments": self.segments, "overflows": self.overflows,
                "dram_bytes": dict(self.dram_bytes), "requant": self.requant,
                "host_steps": [{k: h[k] for k in ("layer", "op", "node", "elements")}
                               for h in self.host]}


def _load(dram: np.ndarray, home: Home, act_bits: int, act_signed: bool) -> np.ndarray:
    """A tensor's model integers from its NHWC bytes in DRAM."""
    raw = dram[home.dram: home.dram + home.nbytes]
    v = raw.view(np.int8).astype(np.int64) if act_signed else raw.astype(np.int64)
    shape = home.flat_from or home.shape
    if len(shape) == 4:
        b, c, h, w = shape
        v = v.reshape(b, h, w, c).transpose(0, 3, 1, 2)
    return v.reshape(home.shape) - home.offset


def _store(dram: np.ndarray, home: Home, values: np.ndarray) -> None:
    v = np.asarray(values, np.int64) + home.offset
    if v.ndim == 4:
        v = v.transpose(0, 2, 3, 1)
    dram[home.dram: home.dram + home.nbytes] = (v.reshape(-1) & 0xFF).astype(np.uint8)


def run(program, inputs, *, backend: str = "machine", requant: str = "float",
        simulator=None, waves=None, params: MachineParams | None = None,
        progress=None) -> MachineRun:
    """Run ``program`` on ``inputs`` (one array per graph input) on the Python machine
    (``backend="machine"``) or the RTL (``"rtl"``), requantizing as ``requant`` says ("float":
    onnxruntime's float32 scheme, "fixed": gemmlowp), both in the activation unit. ``simulator``:
    "verilator", "icarus" or a built ``tpu.machine.rtl.RtlMachine``."""
    if backend not in BACKENDS:
        raise TpuError(f"machine backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    image = assemble(program, params, requant=requant)
    p = image.params
    xs = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    graph_inputs = tuple(program.notes["inputs"])
    env = dict(zip(graph_inputs, (np.asarray(v) for v in xs), strict=True))
    dram = image.dram.copy()
    sim = None
    if backend == "rtl":
        from tpu.machine.rtl import RtlMachine

        sim = simulator if isinstance(simulator, RtlMachine) else \
            RtlMachine(p, simulator=simulator, waves=waves)
    t0 = 0
    instrs, log, host = [], [], []
    spans: dict[int, tuple[int, int]] = {}
    busy: dict[int, int] = {}
    overflows = 0
    dma = {"read": 0, "write": 0}
    dut_cycles = 0
    host_made = set()
    for si, step in enumerate(image.steps):
        if isinstance(step, HostStep):
            host.append(_host_step(step, image, env, dram, host_made, requant))
            continue
        streams = step.words()
        if sim is None:
            stats = Machine(p).run(streams, dram)
            cycles, trace_log, starts, ends = stats.cycles, stats.trace.log, stats.trace.starts, \
                stats.trace.ends
            overflows += stats.overflows
            dma["read"] += stats.dram_read_bytes
            dma["write"] += stats.dram_write_bytes
        else:
            out = sim.run(streams, dram)
            dram[:] = out.dram
            cycles, trace_log = out.cycles, out.log
            starts = {(u, i): t for t, u, i, e in trace_log if e == "start"}
            ends = {(u, i): t + 1 for t, u, i, e in trace_log if e == "end"}
            overflows += out.overflows
            dut_cycles += out.dut_cycles
            dma["read"] += out.dram_read_bytes
            dma["write"] += out.dram_write_bytes
        for u in isa.UNITS:
            for i, ins in enumerate(step.streams[u][:-1]):
                s, e = starts[(u, i)] + t0, ends[(u, i)] + t0
                instrs.append({"segment": si, "unit": u, "index": i, "op": ins.op,
                               "layer": ins.tag, "start": s, "end": e,
                               "nbytes": ins.nbytes if u == "dma" else 0})
                lo, hi = spans.get(ins.tag, (s, e))
                spans[ins.tag] = (min(lo, s), max(hi, e))
                if ins.op == "MATMUL":
                    busy[ins.tag] = busy.get(ins.tag, 0) + ins.rows * -(-ins.k // p.rows)
        last = step.layers[-1]  # the segment's last cycles (to HALT) belong to its last layer
        spans[last] = (spans[last][0], t0 + cycles)
        log.extend((t + t0, u, i, ev) for t, u, i, ev in trace_log)
        for li in step.layers:  # what the segment left in DRAM, for inspection
            name = program.layers[li].node.output
            home = image.homes.get(name)
            if home is not None and home.dram is not None:
                env.setdefault(name, _load(dram, home, p.act_bits, p.act_signed))
        t0 += cycles
        if progress:
            progress(si + 1, len(image.steps))
    outputs = [env[o] for o in program.notes["outputs"]]
    rtl = None
    if sim is not None:
        rtl = {"simulator": sim.simulator, "dut_cycles": dut_cycles,
               "sim_wall_s": sim.sim_wall_s, "build_wall_s": sim.build_wall_s}
    return MachineRun(outputs, t0, spans, instrs, log, host, overflows, dma,
                      sum(not isinstance(s, HostStep) for s in image.steps), rtl, env, busy,
                      requant)


def _host_step(step: HostStep, image: Image, env: dict, dram: np.ndarray, host_made: set,
               requant: str) -> dict:
    """One op on the host: inputs from DRAM (or the host's own results), result to DRAM."""
    p = image.params
    node = step.node
    program = image.program
    layer = program.layers[step.layer]
    t = time.perf_counter()

    def value(name):
        if name in env and (name in host_made or name in program.notes["inputs"]):
            return env[name]
        return _load(dram, image.home(name), p.act_bits, p.act_signed)

    if step.kind == "im2col":
        x = value(node.inputs[0])
        pats = patch_matrices(np.asarray(x, np.int64), node, int(node.x_q.zero_point)) \
            if isinstance(node, ir.Conv) else [np.asarray(x, np.int64).reshape(layer.m, layer.k)]
        mat = np.concatenate([pm + m.dx for pm, m in zip(pats, layer.mapped, strict=True)], axis=1)
        addr = image.patches[step.layer]
        dram[addr: addr + mat.size] = (mat.reshape(-1) & 0xFF).astype(np.uint8)
        return {"layer": step.layer, "op": "im2col", "node": node.name, "elements": int(mat.size),
                "wall_s": time.perf_counter() - t}
    args = [value(n) for n in node.inputs]
    out = reference.run_node(node, args, requant)
    env[node.output] = out
    host_made.add(node.output)
    home = image.homes.get(node.output)
    if home is not None and home.dram is not None:
        _store(dram, home, out)
    return {"layer": step.layer, "op": type(node).__name__, "node": node.name,
            "elements": int(np.size(out)), "wall_s": time.perf_counter() - t}


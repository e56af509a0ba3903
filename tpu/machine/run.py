"""Run an assembled program: machine segments on the Python machine or the RTL, host steps
between them, DRAM carried across. ``run`` is the one entry point the compiler calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tpu.errors import ShapeError
from tpu.machine import isa
from tpu.machine.assemble import Home, HostStep, Image, assemble
from tpu.machine.model import Machine
from tpu.machine.params import MachineParams
from tpu.ops.core import Numerics

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
    requant: str = "float"
    path: list[tuple[int, int, str]] = field(default_factory=list)  # (layer, cycles, unit)

    def layer_cycles(self) -> tuple[dict[int, int], dict[int, int]]:
        """Cycles per layer along the machine's critical path (they add up to ``cycles``), and
        of those the DMA's: the executor's per-layer attribution, from the machine's trace."""
        cycles: dict[int, int] = {}
        dma: dict[int, int] = {}
        for layer, n, unit in self.path:
            cycles[layer] = cycles.get(layer, 0) + n
            if unit == "dma":
                dma[layer] = dma.get(layer, 0) + n
        return cycles, dma

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
        numerics: Numerics | None = None, simulator=None, waves=None,
        params: MachineParams | None = None, progress=None) -> MachineRun:
    """Run ``program`` on ``inputs`` (one array per graph input) on the Python machine
    (``backend="machine"``) or the RTL (``"rtl"``), requantizing as ``requant`` (or
    ``numerics.requant``) says ("float": onnxruntime's float32 scheme, "fixed": gemmlowp), both
    in the activation unit. ``simulator``: "verilator", "icarus" or a built
    ``tpu.machine.rtl.RtlMachine``."""
    if backend not in BACKENDS:
        raise ShapeError(f"machine backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    nx = numerics or Numerics(requant, False, program.config.array.acc_bits)
    if nx.saturate_pairs:
        raise ShapeError("--saturate-pairs reproduces onnxruntime's int16 pair saturation, which "
                         "the machine's exact MACs do not; run the machine backends without it "
                         "(onnxruntime agrees with exact sums on 7-bit weights: reduce_range)")
    p = params or MachineParams.from_config(program.config)
    if backend == "rtl":
        from tpu.machine.rtl import RtlMachine, check_size

        check_size(p)  # before the assembler's work on a machine too large to build
    graph = program.notes["graph"]
    xs = graph.check_inputs(inputs)
    image = assemble(program, p, requant=nx.requant)
    env = dict(zip(graph.inputs, xs, strict=True))
    dram = image.dram.copy()
    for name, home in image.inputs.items():
        _store(dram, home, env[name])
    sim = None
    if backend == "rtl":
        sim = simulator if isinstance(simulator, RtlMachine) else \
            RtlMachine(p, simulator=simulator, waves=waves)
    t0 = 0
    instrs, log, host, path = [], [], [], []
    spans: dict[int, tuple[int, int]] = {}
    overflows = 0
    dma = {"read": 0, "write": 0}
    dut_cycles = 0
    for si, step in enumerate(image.steps):
        if isinstance(step, HostStep):
            host.append(_host_step(step, image, env, dram, nx))
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
        seg = []
        for u in isa.UNITS:
            for i, ins in enumerate(step.streams[u][:-1]):
                s, e = starts[(u, i)] + t0, ends[(u, i)] + t0
                seg.append({"segment": si, "unit": u, "index": i, "op": ins.op,
                            "layer": ins.tag, "start": s, "end": e, "waits": ins.waits,
                            "nbytes": ins.nbytes if u == "dma" else 0})
                lo, hi = spans.get(ins.tag, (s, e))
                spans[ins.tag] = (min(lo, s), max(hi, e))
        instrs.extend(seg)
        path.extend(_critical_path(seg, t0, t0 + cycles, step.layers[-1]))
        last = step.layers[-1]  # the segment's last cycles (to HALT) belong to its last layer
        spans[last] = (spans[last][0], t0 + cycles)
        log.extend((t + t0, u, i, ev) for t, u, i, ev in trace_log)
        for li in step.layers:  # what the segment left in DRAM
            name = program.layers[li].node.output
            home = image.homes.get(name)
            if home is not None and home.dram is not None:
                env[name] = _load(dram, home, p.act_bits, p.act_signed)
        t0 += cycles
        if progress:
            progress(si + 1, len(image.steps))
    outputs = [_value(o, image, env) for o in graph.outputs]
    rtl = None
    if sim is not None:
        rtl = {"simulator": sim.simulator, "dut_cycles": dut_cycles,
               "sim_wall_s": sim.sim_wall_s, "build_wall_s": sim.build_wall_s}
    return MachineRun(outputs, t0, spans, instrs, log, host, overflows, dma,
                      sum(not isinstance(s, HostStep) for s in image.steps), rtl, env, nx.requant,
                      path)


def _critical_path(seg: list[dict], t0: int, halt: int, last_layer: int) -> list[tuple]:
    """(layer, cycles, unit) along a segment's critical path: from its last instruction back,
    each step to whichever of its unit's previous instruction and the instructions it waits
    for ended last; every cycle from ``t0`` to ``halt`` is counted once."""
    at = {(r["unit"], r["index"]): r for r in seg}

    def before(r):
        cands = [at.get((r["unit"], r["index"] - 1))]
        cands += [at.get((u, n - 1)) for u, n in zip(isa.UNITS, r["waits"], strict=True) if n]
        cands = [c for c in cands if c is not None]
        return max(cands, key=lambda c: c["end"]) if cands else None

    cur = max(seg, key=lambda r: r["end"], default=None)
    if cur is None:
        return [(last_layer, halt - t0, "halt")]
    out = [(last_layer, halt - cur["end"], "halt")]  # to HALT: the segment's last layer
    while cur is not None:
        prev = before(cur)
        out.append((cur["layer"], cur["end"] - (t0 if prev is None else prev["end"]), cur["unit"]))
        cur = prev
    return out


def _value(name: str, image: Image, env: dict) -> np.ndarray:
    """A tensor the host needs: computed already, or a view of one (nothing moved)."""
    if name not in env and name in image.alias:
        root = _value(image.alias[name], image, env)
        env[name] = root.reshape(image.program.notes["shapes"][name])
    return env[name]


def _host_step(step: HostStep, image: Image, env: dict, dram: np.ndarray, nx: Numerics) -> dict:
    """One op on the host, with its own semantics: inputs from the host's memory (the machine's
    results were read back from DRAM), result to DRAM where a segment reads it."""
    node = step.node
    layer = image.program.layers[step.layer]
    t = time.perf_counter()
    if step.kind == "im2col":
        x = np.asarray(_value(node.inputs[0], image, env), np.int64)
        pats = node.patches([x], int(node.x_q.zero_point))
        mat = np.concatenate([np.concatenate([pats[g] for g in pack], axis=1) + m.dx
                              for pack, m in zip(layer.packs, image.mapped[step.layer],
                                                 strict=True)], axis=1)
        addr = image.patches[step.layer]
        dram[addr: addr + mat.size] = (mat.reshape(-1) & 0xFF).astype(np.uint8)
        return {"layer": step.layer, "op": "im2col", "node": node.name, "elements": int(mat.size),
                "wall_s": time.perf_counter() - t}
    args = [_value(n, image, env) if n else None for n in node.inputs]
    out = node.evaluate(args, nx)
    env[node.output] = out
    home = image.homes.get(node.output)
    if home is not None and home.dram is not None:
        _store(dram, home, out)
    return {"layer": step.layer, "op": type(node).__name__, "node": node.name,
            "elements": int(np.size(out)), "wall_s": time.perf_counter() - t}

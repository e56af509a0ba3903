"""Running a program: values layer by layer (matrix work on the array backend), then timing
every instruction on a scoreboard, then per-layer statistics and energy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tpu.array import gemm_many
from tpu.array.activity import array_counts, packed
from tpu.compiler import ir, reference
from tpu.compiler.lower import patch_matrices
from tpu.compiler.program import Program
from tpu.cost import area, energy
from tpu.cost.energy import Counts, Energy, Operands


@dataclass(frozen=True)
class LayerStats:
    name: str
    op: str
    macs: int
    cycles: int
    stall_cycles: int
    busy_cycles: int
    utilization: float
    sram_bytes: Operands
    dram_bytes: Operands
    energy_pj: Energy
    counts: Counts

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "counts"}
        for key in ("sram_bytes", "dram_bytes", "energy_pj"):
            d[key] = d[key].to_dict()
        return d


@dataclass(frozen=True, eq=False)
class RunResult:
    outputs: list[np.ndarray]
    layers: tuple[LayerStats, ...]
    totals: dict
    program: Program
    tensors: dict = field(default_factory=dict, repr=False)
    machine: object = None  # tpu.machine.MachineRun (backends "machine" and "rtl")

    def report(self) -> dict:
        cfg = self.program.config
        out = {
            "config": cfg.to_dict(),
            "model": self.program.name,
            "batch": self.program.batch,
            "layers": [layer.to_dict() for layer in self.layers],
            "totals": self.totals,
            "area_mm2": area(cfg).to_dict(),
        }
        if self.machine is not None:
            out["machine"] = self.machine.summary()
            if self.machine.rtl is not None:
                out["rtl"] = self.machine.rtl
        return out


MACHINE_BACKENDS = ("machine", "rtl")  # the whole program, cycle by cycle (tpu.machine)


def run_program(program: Program, x, *, backend: str = "fast", requant: str = "float",
                waves=None, progress: Callable[[int, int], None] | None = None) -> RunResult:
    config = program.config
    xs = list(x) if isinstance(x, list | tuple) else [x]
    machine = None
    if backend in MACHINE_BACKENDS:  # values and timing from the machine; activity counted below
        from tpu.machine import run as run_machine

        machine = run_machine(program, xs, backend=backend, requant=requant, waves=waves)
        backend = "fast"
    env = dict(zip(_graph_inputs(program), (np.asarray(v) for v in xs), strict=True))
    durations: dict[int, int] = {}
    counts: dict[int, Counts] = {}
    by_layer: dict[int, list[int]] = {}
    for i, ins in enumerate(program.instrs):
        by_layer.setdefault(ins.layer, []).append(i)
    for layer in program.layers:
        node = layer.node
        args = [env[t] for t in node.inputs]
        if layer.kind == "matmul":
            env[node.output], counts[layer.index] = _run_matmul(
                program, layer, args[0], by_layer[layer.index], durations, backend, requant, waves)
        else:
            env[node.output] = reference.run_node(node, args, requant)
            if layer.kind == "vector":
                moved = sum(packed(a.size, config.array.act_bits) for a in args)
                out = packed(env[node.output].size, config.array.act_bits)
                counts[layer.index] = Counts(sram_reads=Operands(inputs=moved),
                                             sram_writes=Operands(outputs=out))
        if progress:
            progress(layer.index + 1, len(program.layers))
    if machine is not None:
        env, durations = machine.tensors, machine.program_durations(program)
    ends = _scoreboard(program, durations) if machine is None else machine.program_ends(program)
    layers = _layer_stats(program, ends, durations, counts, by_layer)
    outputs = [env[o] for o in _graph_outputs(program)]
    return RunResult(outputs, layers, _totals(layers, config), program, env, machine)


def _graph_inputs(program):
    return program.notes["inputs"]


def _graph_outputs(program):
    return program.notes["outputs"]


def _run_matmul(program, layer, x, instr_ids, durations, backend, requant, waves):
    """The layer's MATMUL instructions as one stream on the array (the matrix unit pipelines
    consecutive MATMULs); accumulators restored exactly, then requantized."""
    config = program.config
    node = layer.node
    zx = int(node.x_q.zero_point)
    if isinstance(node, ir.Conv):
        patches = patch_matrices(np.asarray(x, np.int64), node, zx)
    else:
        patches = [np.asarray(x, np.int64).reshape(layer.m, layer.k)]
    shifted = [p + mapped.dx for p, mapped in zip(patches, layer.mapped, strict=True)]
    matmuls = [i for i in instr_ids if program.instrs[i].op == "MATMUL"]
    jobs = []
    for i in matmuls:
        ins = program.instrs[i]
        (m0, m1), (n0, n1), (k0, k1) = ins.m, ins.n, ins.k
        jobs.append((shifted[ins.group][m0:m1, k0:k1], layer.mapped[ins.group].w[k0:k1, n0:n1]))
    r = gemm_many(jobs, config, backend=backend, waves=waves)
    # each MATMUL occupies the matrix unit for the cycles it adds to the stream
    for i, finish, before in zip(matmuls, r.finish, (0, *r.finish[:-1]), strict=True):
        durations[i] = finish - before
    outs = [np.zeros((layer.m, mapped.w.shape[1]), np.int64) for mapped in layer.mapped]
    for i, part in zip(matmuls, r.outputs, strict=True):
        ins = program.instrs[i]
        (m0, m1), (n0, n1) = ins.m, ins.n
        outs[ins.group][m0:m1, n0:n1] += part  # accumulators add; wrapped below as the adders do
    acc = np.concatenate([mapped.accumulators(out) for mapped, out in zip(layer.mapped, outs, strict=True)],
                         axis=1)
    y = reference.requantize(acc, node, requant)  # (rows, channels): channel axis 1
    if isinstance(node, ir.Conv):
        b, _, ho, wo = layer.out_shape
        y = y.reshape(b, ho, wo, -1).transpose(0, 3, 1, 2)
    total = array_counts(r.plan, config) + Counts(
        sram_writes=Operands(outputs=packed(y.size, config.array.act_bits)))
    return y, total


def _scoreboard(program: Program, durations: dict[int, int]) -> list[int]:
    """End cycle of every instruction: in order per unit, after its dependencies."""
    bpc = program.config.memory.dram_bytes_per_cycle
    free = {"dma": 0, "mxu": 0, "act": 0, "host": 0}
    ends = []
    for i, ins in enumerate(program.instrs):
        dur = -(-ins.nbytes // bpc) if ins.unit == "dma" else durations.get(i, ins.duration)
        start = max([free[ins.unit]] + [ends[d] for d in ins.deps])
        ends.append(start + dur)
        if ins.unit != "host":  # host bookkeeping takes no machine time
            free[ins.unit] = start + dur
    return ends


def _layer_stats(program, ends, durations, counts, by_layer) -> tuple[LayerStats, ...]:
    config = program.config
    pes = config.array.rows * config.array.cols
    stats = []
    prev_end = 0
    for layer in program.layers:
        ids = by_layer.get(layer.index, [])
        end = max([prev_end] + [ends[i] for i in ids])
        cycles = end - prev_end
        prev_end = end
        busy_op = "MATMUL" if layer.kind == "matmul" else "VECTOR"
        busy = sum(durations.get(i, program.instrs[i].duration) for i in ids
                   if program.instrs[i].op == busy_op)
        dram = Operands()
        for i in ids:
            ins = program.instrs[i]
            if ins.unit == "dma":
                dram = dram + Operands(**{ins.operand: ins.nbytes})
        c = dataclasses.replace(counts.get(layer.index, Counts()), dram_bytes=dram)
        sram = Operands(weights=c.sram_reads.weights, inputs=c.sram_reads.inputs,
                        outputs=c.sram_writes.outputs)
        stats.append(LayerStats(
            name=layer.name, op=layer.op, macs=layer.macs, cycles=cycles,
            stall_cycles=max(0, cycles - busy), busy_cycles=busy,
            utilization=layer.macs / (cycles * pes) if cycles else 0.0,
            sram_bytes=sram, dram_bytes=dram, energy_pj=energy(c, config), counts=c,
        ))
    return tuple(stats)


def _totals(layers, config) -> dict:
    cycles = sum(s.cycles for s in layers)
    macs = sum(s.macs for s in layers)
    pes = config.array.rows * config.array.cols
    return {
        "macs": macs,
        "cycles": cycles,
        "stall_cycles": sum(s.stall_cycles for s in layers),
        "utilization": macs / (cycles * pes) if cycles else 0.0,
        "seconds": cycles / config.clock.hz,
        "sram_bytes": sum((s.sram_bytes for s in layers), Operands()).to_dict(),
        "dram_bytes": sum((s.dram_bytes for s in layers), Operands()).to_dict(),
        "energy_pj": sum((s.energy_pj for s in layers), Energy()).to_dict(),
    }

"""Running a program: values layer by layer (matrix work on the array backend), then timing
every instruction on a scoreboard, then per-layer statistics and energy.

Time is attributed along the critical path: the chain of instructions, each started by the one
before it (a dependency or its unit coming free), that ends at the program's last cycle. Every
cycle of the run lies on it exactly once, and belongs to the layer whose instruction holds it —
so weights prefetched while an earlier layer computes cost that earlier layer nothing, and a
layer that waits for DRAM owns the wait. DRAM and SRAM bytes belong to the layer whose
instructions move them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tpu.array import gemm_many, plan_gemms
from tpu.array.activity import array_counts, packed
from tpu.compiler.operands import map_weights
from tpu.compiler.program import Program
from tpu.cost import area, energy
from tpu.cost.energy import Counts, Energy, Operands
from tpu.errors import TpuError
from tpu.ops.core import MALFORMED, Numerics, size
from tpu.ops.matrix import zero_point


@dataclass(frozen=True)
class LayerStats:
    name: str
    op: str
    unit: str  # array, vector, host or view
    macs: int
    cycles: int  # on the critical path
    stall_cycles: int  # of those, waiting for DRAM
    busy_cycles: int  # its compute unit's busy time (overlapped or not)
    utilization: float
    sram_bytes: Operands
    dram_bytes: Operands
    energy_pj: Energy
    counts: Counts
    mapping: str = ""
    float_island: bool = False

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
    numerics: Numerics = Numerics()
    machine: object = None  # tpu.machine.MachineRun (backends "machine" and "rtl")

    def report(self) -> dict:
        cfg = self.program.config
        out = {
            "config": cfg.to_dict(),
            "model": self.program.name,
            "batch": self.program.batch,
            "numerics": dataclasses.asdict(self.numerics),
            "layers": [layer.to_dict() for layer in self.layers],
            "float_islands": [s.name for s in self.layers if s.float_island],
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
                saturate_pairs: bool = False, waves=None,
                progress: Callable[[int, int], None] | None = None, values: bool = True,
                tensors: bool = True) -> RunResult:
    """Run ``program`` on the inputs ``x``. ``values=False`` reports the same timing, traffic and
    energy without computing a value (every duration and count follows from the shapes alone:
    the layers' GEMMs are planned from their MATMUL tiles), and returns no outputs.
    ``backend="machine"`` or ``"rtl"``: values and cycles from the whole machine (tpu.machine)."""
    config = program.config
    nx = Numerics(requant, saturate_pairs, config.array.acc_bits)
    graph = program.notes["graph"]
    xs = graph.check_inputs(x)
    env = dict(zip(graph.inputs, xs, strict=True))
    machine = _on_machine(program, xs, backend, nx, waves) if backend in MACHINE_BACKENDS else None
    want = values
    if machine is not None:  # its values and cycles; activity and traffic from the program's tiles
        values, backend = False, "fast"
    durations: dict[int, int] = {}
    counts: dict[int, Counts] = {}
    by_layer: dict[int, list[int]] = {}
    for i, ins in enumerate(program.instrs):
        by_layer.setdefault(ins.layer, []).append(i)
    last_read = {} if tensors else {t: layer.index for layer in program.layers for t in layer.node.inputs}
    for layer in program.layers:
        node = layer.node
        args = [env[t] if t else None for t in node.inputs] if values else []  # "": absent input
        try:
            if layer.kind == "matmul":
                matmuls = [i for i in by_layer[layer.index] if program.instrs[i].op == "MATMUL"]
                if values:
                    env[node.output], plan = _run_matmul(program, layer, args, matmuls, backend, nx, waves)
                else:
                    plan = plan_gemms([(ins.m[1] - ins.m[0], ins.k[1] - ins.k[0], ins.n[1] - ins.n[0])
                                       for ins in (program.instrs[i] for i in matmuls)], config,
                                      layer.precision)
                # each MATMUL occupies the matrix unit for the cycles it adds to the stream
                for i, finish, before in zip(matmuls, plan.finish, (0, *plan.finish[:-1]), strict=True):
                    durations[i] = finish - before
                counts[layer.index] = array_counts(plan, config) + Counts(
                    sram_writes=Operands(outputs=_nbytes(program, node.output)))
            else:
                if values:
                    env[node.output] = node.evaluate(args, nx)
                if layer.kind == "vector":
                    counts[layer.index] = _vector_counts(layer, program)
        except MALFORMED as exc:
            raise TpuError(f"node {node.name!r} ({node.op}): {type(exc).__name__}: {exc}") from None
        for t in node.inputs:
            if last_read.get(t) == layer.index and t not in graph.outputs:
                env.pop(t, None)
        if progress:
            progress(layer.index + 1, len(program.layers))
    if machine is None:
        starts, ends, binding = _scoreboard(program, durations)
        attributed = _attribute(program, _critical_path(starts, ends, binding), starts, ends)
        cycles = max(ends, default=0)
    else:
        attributed, cycles, env = machine.layer_cycles(), machine.cycles, machine.tensors
    layers = _layer_stats(program, attributed, durations, counts, by_layer)
    outputs = [env[o] for o in graph.outputs] if want else []
    return RunResult(outputs, layers, _totals(layers, config, cycles), program,
                     env if want and tensors else {},
                     nx, machine)


def _on_machine(program: Program, xs, backend: str, nx: Numerics, waves):
    """The whole program on the cycle-level Python machine or its RTL (tpu.machine)."""
    from tpu.machine import run as run_machine

    return run_machine(program, xs, backend=backend, numerics=nx, waves=waves)


def _nbytes(program: Program, tensor: str) -> int:
    """Bytes of a tensor as the machine stores it (program.notes: shapes and stored widths)."""
    return packed(size(program.notes["shapes"][tensor]), program.notes["bits"][tensor])


def _vector_counts(layer, program) -> Counts:
    params = set(getattr(layer.node, "params", ()))
    moved = sum(_nbytes(program, t) for i, t in enumerate(layer.node.inputs) if t and i not in params)
    w = layer.work
    return Counts(sram_reads=Operands(inputs=moved),
                  sram_writes=Operands(outputs=_nbytes(program, layer.node.output)),
                  vector_alu=w.alu, vector_mul=w.mul, vector_lut=w.lut, vector_fp=w.fp)


def _mappings(layer, args, config):
    """Per pack, the weights as the array holds them: compiled in, or (a second activation,
    loaded as the stationary operand at run time) mapped now with its type's range."""
    if layer.mapped:
        return layer.mapped
    node = layer.node
    x_range = (node.x_q.qmin, node.x_q.qmax)
    zw = zero_point(node.w_q)
    return tuple(map_weights(np.asarray(b, np.int64), np.broadcast_to(zw, (b.shape[1],)), None,
                             int(zero_point(node.x_q)), x_range, config.array, node.name,
                             w_range=(node.w_q.qmin, node.w_q.qmax), precision=layer.precision)
                 for b in node.weights(args))


def _run_matmul(program, layer, args, matmuls, backend, nx: Numerics, waves):
    """The layer's MATMUL instructions as one stream on the array (the matrix unit pipelines
    consecutive MATMULs); accumulators restored exactly, then requantized. Returns the output
    and the stream's plan."""
    config = program.config
    node = layer.node
    args = [np.asarray(a, np.int64) for a in args]
    patches = node.patches(args, int(zero_point(node.x_q)))
    mapped = _mappings(layer, args, config)
    packs = [np.concatenate([patches[g] for g in pack], axis=1) + m.dx
             for pack, m in zip(layer.packs, mapped, strict=True)]
    jobs = []
    for i in matmuls:
        ins = program.instrs[i]
        (m0, m1), (n0, n1), (k0, k1) = ins.m, ins.n, ins.k
        jobs.append((packs[ins.group][m0:m1, k0:k1], mapped[ins.group].w[k0:k1, n0:n1]))
    r = gemm_many(jobs, config, backend=backend, waves=waves, precision=layer.precision)
    outs = [np.zeros((layer.m, m.w.shape[1]), np.int64) for m in mapped]
    for i, part in zip(matmuls, r.outputs, strict=True):
        ins = program.instrs[i]
        (m0, m1), (n0, n1) = ins.m, ins.n
        outs[ins.group][m0:m1, n0:n1] += part  # accumulators add; wrapped below as the adders do
    # packs hold consecutive groups, so their columns concatenate in group order
    acc = np.concatenate([m.accumulators(out) for m, out in zip(mapped, outs, strict=True)], axis=1)
    if nx.saturate_pairs and node.u8s8():
        # onnxruntime's AVX2 (no VNNI) kernel saturates pairs of products: its values, our timing
        acc = node.accumulate(args, nx)
    y = node.requantize(acc, nx.requant)  # (rows, channels): channel axis 1
    return node.to_output(y, [a.shape for a in args]), r.plan


def _scoreboard(program: Program, durations: dict[int, int]):
    """Start and end cycle of every instruction (in order per unit, after its dependencies),
    and the instruction that made it start when it did (None: it started at cycle 0)."""
    bpc = program.config.memory.dram_bytes_per_cycle
    free = {"dma": (0, None), "mxu": (0, None), "act": (0, None), "host": (0, None)}
    starts, ends, binding = [], [], []
    for i, ins in enumerate(program.instrs):
        dur = -(-ins.nbytes // bpc) if ins.unit == "dma" else durations.get(i, ins.duration)
        start, why = free[ins.unit]
        for d in ins.deps:
            if ends[d] > start or (ends[d] == start and why is None):
                start, why = ends[d], d
        starts.append(start)
        ends.append(start + dur)
        binding.append(why)
        if ins.unit != "host":  # host bookkeeping takes no machine time
            free[ins.unit] = (start + dur, i)
    return starts, ends, binding


def _critical_path(starts, ends, binding) -> list[int]:
    if not ends:
        return []
    cur = max(range(len(ends)), key=lambda i: (ends[i], i))
    path = []
    while cur is not None:
        path.append(cur)
        cur = binding[cur]
    return path


def _attribute(program, path, starts, ends) -> tuple[dict[int, int], dict[int, int]]:
    """Cycles on the critical path per layer, and of those the DMA's (waiting for DRAM)."""
    cp_cycles: dict[int, int] = {}
    cp_dma: dict[int, int] = {}
    for i in path:
        ins = program.instrs[i]
        cp_cycles[ins.layer] = cp_cycles.get(ins.layer, 0) + ends[i] - starts[i]
        if ins.unit == "dma":
            cp_dma[ins.layer] = cp_dma.get(ins.layer, 0) + ends[i] - starts[i]
    return cp_cycles, cp_dma


def _layer_stats(program, attributed, durations, counts, by_layer) -> tuple[LayerStats, ...]:
    config = program.config
    pes = config.array.rows * config.array.cols
    cp_cycles, cp_dma = attributed
    stats = []
    for layer in program.layers:
        ids = by_layer.get(layer.index, [])
        cycles = cp_cycles.get(layer.index, 0)
        busy = sum(durations.get(i, program.instrs[i].duration) for i in ids
                   if program.instrs[i].op in ("MATMUL", "VECTOR"))
        dram = Operands()
        for i in ids:
            ins = program.instrs[i]
            if ins.unit == "dma":
                dram = dram + Operands(**{ins.operand: ins.nbytes})
        c = dataclasses.replace(counts.get(layer.index, Counts()), dram_bytes=dram, cycles=cycles)
        sram = Operands(weights=c.sram_reads.weights, inputs=c.sram_reads.inputs,
                        outputs=c.sram_writes.outputs)
        stats.append(LayerStats(
            name=layer.name, op=layer.op, unit=layer.unit, macs=layer.macs, cycles=cycles,
            stall_cycles=cp_dma.get(layer.index, 0), busy_cycles=busy,
            utilization=layer.macs / (cycles * pes) if cycles else 0.0,
            sram_bytes=sram, dram_bytes=dram, energy_pj=energy(c, config), counts=c,
            mapping=layer.mapping, float_island=layer.island,
        ))
    return tuple(stats)


def _totals(layers, config, cycles: int) -> dict:
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

"""Lowering a quantized graph to a program: matrix ops → GEMMs tiled against the array and the
buffers, the rest onto the vector unit or the host, and the instruction stream with its
dependencies.

Where each op runs comes from the op (``Node.unit``): matrix ops on the matrix unit, elementwise,
pooling, normalisation and data movement on the vector unit, views nowhere, and the host at the
machine's boundary (quantizing inputs, dequantizing outputs, shape arithmetic). Grouped
convolutions with few output channels per group (depthwise) are packed several groups to a GEMM
with block-diagonal weights, or run on the vector unit, whichever the timing model says is
faster (``depthwise="auto"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu import limits
from tpu.array.activity import packed
from tpu.array.precision import Precision
from tpu.array.schedule import accumulator_rows, plan_gemms
from tpu.compiler.operands import MappedWeights, layer_precision, map_weights
from tpu.compiler.program import Instr, Program
from tpu.config import Config
from tpu.errors import ShapeError, TpuError
from tpu.ops.conv import Conv
from tpu.ops.core import MALFORMED, Graph, Node, Work, size
from tpu.ops.matrix import MatrixOp, zero_point
from tpu.ops.quant import Dequantize, Quantize

DEPTHWISE = ("auto", "groups", "packed", "vector")


@dataclass(frozen=True, eq=False)
class Layer:
    index: int
    node: Node
    kind: str  # "matmul", "vector", "host" or "view"
    out_shape: tuple[int, ...]
    in_shapes: tuple[tuple[int, ...], ...] = ()
    m: int = 0  # GEMM rows per group
    k: int = 0
    n: int = 0  # output columns per group
    groups: int = 1
    packs: tuple[tuple[int, ...], ...] = ()  # matrix: the groups each GEMM (pack) holds
    mapped: tuple[MappedWeights, ...] = ()  # per pack (constant weights); () when dynamic
    work: Work = Work()
    mapping: str = ""  # matrix ops: gemm | packed | vector | dynamic
    island: bool = False  # a float op in a quantized graph
    precision: Precision | None = None  # matrix ops: the widths its GEMMs declare

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def op(self) -> str:
        return self.node.op

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.groups

    @property
    def unit(self) -> str:
        return {"matmul": "array", "vector": "vector", "host": "host", "view": "view"}[self.kind]

    def describe(self) -> str:
        if self.kind == "matmul" or self.mapping == "vector":
            g = f" x{self.groups} groups" if self.groups > 1 else ""
            how = f" [{self.mapping}]" if self.mapping not in ("gemm", "") else ""
            return f"GEMM M={self.m} K={self.k} N={self.n}{g}{how} -> {self.out_shape}"
        return f"-> {self.out_shape}" + (" (float island)" if self.island else "")


def _unit(node: Node, graph: Graph, producers: dict[str, Node]) -> str:
    """Quantize after a graph input (or a view of one) and Dequantize before a graph output run on
    the host (data enter and leave the machine); inside the graph they border float islands on
    the vector unit."""
    if isinstance(node, Quantize):
        src = node.inputs[0]
        while src in producers and producers[src].unit == "view":
            src = producers[src].inputs[0]
        if src in graph.inputs:
            return "host"
    if isinstance(node, Dequantize) and node.output in graph.outputs:
        return "host"
    return node.unit


def map_pack(node: MatrixOp, mats: list[np.ndarray], zw_all: np.ndarray, pack: tuple[int, ...],
              config: Config, precision: Precision) -> MappedWeights:
    """The (block-diagonal, for several groups) weight matrix of one pack, mapped exactly;
    ``mats`` are the op's per-group weight matrices, ``zw_all`` its column zero points."""
    k, n = mats[0].shape
    zw = np.concatenate([zw_all[g * n:(g + 1) * n] for g in pack])
    # off the diagonal blocks each column holds its zero point: (w - zw) = 0 there
    w = np.tile(zw, (k * len(pack), 1))
    for i, g in enumerate(pack):
        w[i * k:(i + 1) * k, i * n:(i + 1) * n] = mats[g]
    bias = None
    if node.bias is not None:
        b = np.asarray(node.bias, np.int64).reshape(-1)
        bias = np.concatenate([b[g * n:(g + 1) * n] for g in pack])
    x_range = (node.x_q.qmin, node.x_q.qmax)
    return map_weights(w, zw, bias, int(zero_point(node.x_q)), x_range, config.array, node.name,
                       precision=precision)


def _packs(groups: int, n: int, size_: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(range(g0, min(groups, g0 + size_))) for g0 in range(0, groups, size_))


def _matrix_layer(index: int, node: MatrixOp, shapes, out_shape, config: Config, depthwise: str) -> Layer:
    groups, m, k, n = node.dims(shapes)
    base = dict(index=index, node=node, out_shape=out_shape, in_shapes=tuple(shapes), m=m, k=k, n=n,
                groups=groups)
    if node.x_q is None:  # a float matrix op (a float island): float32 MACs on the vector unit
        macs = groups * m * k * n
        return Layer(kind="vector", work=Work(fp=2 * macs), mapping="vector", island=True, **base)
    if node.w_q is None:  # integer inputs but float weights: the graph was never quantized
        raise TpuError(f"layer {node.name!r} is not quantized: quantize the model first "
                       f"(tpu run --calib X.npy, or tpu.quantize)")
    base["precision"] = layer_precision(node.x_q, node.w_q, config.array, node.name)
    if not node.const_weights:
        return Layer(kind="matmul", packs=tuple((g,) for g in range(groups)), mapping="dynamic", **base)
    cols = config.array.cols if config.array.dataflow != "is" else config.array.rows
    # binary weights have no zero for the off-diagonal blocks of packed groups
    per = max(1, cols // n) if groups > 1 and node.w_q.bits > 1 else 1
    choice = depthwise
    if choice == "auto":
        choice = "groups" if per == 1 else _faster(groups, m, k, n, per, config)
    if choice == "vector" and groups > 1:
        macs = groups * m * k * n
        return Layer(kind="vector", work=Work(mul=macs, alu=macs + m * groups * n), mapping="vector", **base)
    size_ = per if choice == "packed" else 1
    a = config.array
    # every pack is at least one GEMM of tiles: refuse a layer too large to plan before mapping it
    tiles = -(-groups // size_) * -(-m // accumulator_rows(config)) * -(-k * size_ // a.rows) * \
        -(-n * size_ // a.cols)
    limits.check("tiles", tiles, f"layer {node.name!r} ({groups} groups of GEMM M={m} K={k} N={n})")
    packs = _packs(groups, n, size_)
    mats = node.weights([])
    zw_all = node.weight_zero_points(n * groups)
    mapped = tuple(map_pack(node, mats, zw_all, p, config, base["precision"]) for p in packs)
    return Layer(kind="matmul", packs=packs, mapped=mapped, mapping="packed" if size_ > 1 else "gemm", **base)


def _faster(groups: int, m: int, k: int, n: int, per: int, config: Config) -> str:
    """Packed block-diagonal GEMMs or the vector unit for a grouped conv: the shorter one (the
    array's plan against the vector unit's steps; DRAM streaming is left out of both)."""
    full, rest = divmod(groups, per)
    jobs = [(m, k * per, n * per)] * full + ([(m, k * rest, n * rest)] if rest else [])
    if len(jobs) > 4:  # identical packs pipeline alike: time a few, scale the steady state
        few = plan_gemms(jobs[:2], config).cycles
        one = few - plan_gemms(jobs[:1], config).cycles
        array = few + one * (len(jobs) - 2)
    else:
        array = plan_gemms(jobs, config).cycles
    macs = groups * m * k * n
    vector = Work(mul=macs, alu=macs + m * groups * n).cycles(config.vector)
    return "packed" if array <= vector else "vector"


def lower_layers(graph: Graph, config: Config, input_shapes: dict,
                 depthwise: str = "auto") -> tuple[Layer, ...]:
    if depthwise not in DEPTHWISE:
        raise TpuError(f"depthwise mapping must be one of {', '.join(DEPTHWISE)}, got {depthwise!r}")
    shapes = graph.propagate(input_shapes)[0]
    producers = graph.producers()
    layers = []
    for node in graph.nodes:
        try:
            layers.append(_lower(node, graph, shapes, producers, config, depthwise, len(layers)))
        except MALFORMED as exc:
            raise TpuError(f"node {node.name!r} ({node.op}): cannot lower it ({type(exc).__name__}: "
                           f"{exc})") from None
    return tuple(layers)


def _lower(node, graph, shapes, producers, config, depthwise, index) -> Layer:
    ins = tuple(shapes[t] for t in node.inputs if t)
    out = shapes[node.output]
    unit = _unit(node, graph, producers)
    if unit == "matrix":
        if not graph.quantized and node.x_q is None:
            raise TpuError(f"layer {node.name!r} is not quantized: quantize the model first "
                           f"(tpu run --calib X.npy, or tpu.quantize)")
        return _matrix_layer(index, node, list(ins), out, config, depthwise)
    if unit == "vector":
        island = graph.quantized and not node.quantized and not isinstance(node, Quantize | Dequantize)
        return Layer(index, node, "vector", out, ins, work=node.work(list(ins), out), island=island)
    if unit in ("host", "view"):
        return Layer(index, node, unit, out, ins)
    raise TpuError(f"node {node.name!r} ({node.op}) has no lowering")


class _Emitter:
    """Appends instructions; tracks the machine-wide buffer hand-offs across layers."""

    def __init__(self):
        self.instrs: list[Instr] = []
        self.matmuls: list[int] = []  # weight-buffer halves: load j+2 waits for MATMUL j
        self.activates: list[int] = []  # accumulator halves: MATMUL j+2 waits for ACTIVATE j

    def emit(self, **kw) -> int:
        kw["deps"] = tuple(sorted(set(kw.get("deps", ()))))
        self.instrs.append(Instr(**kw))
        return len(self.instrs) - 1


def _data_inputs(layer: Layer) -> list[str]:
    """Inputs that carry data (not host parameters such as a Reshape's target)."""
    params = set(getattr(layer.node, "params", ()))
    return [t for i, t in enumerate(layer.node.inputs) if t and i not in params]


def build_program(graph: Graph, config: Config, batch: int | dict = 1, depthwise: str = "auto") -> Program:
    """Lower, tile and schedule ``graph`` on ``config``'s machine for ``batch`` inputs (or for
    inputs of the given shapes, a dict input name → shape)."""
    input_shapes = batch if isinstance(batch, dict) else graph.input_shapes(batch)
    batch = graph.batch_of([np.empty(input_shapes[n], np.uint8) for n in graph.inputs])
    layers = lower_layers(graph, config, input_shapes, depthwise)
    shapes = graph.propagate(input_shapes)[0]
    a, mem = config.array, config.memory
    bits = _tensor_bits(graph, a.act_bits, a.acc_bits)

    def nbytes(t: str) -> int:
        return packed(size(shapes[t]), bits.get(t, a.act_bits)) if t in shapes else 0

    em = _Emitter()
    done: dict[str, int] = {}  # tensor -> instruction that completes it
    in_dram = set(graph.inputs)
    # what ends in DRAM anyway (the host reads it back): written as it is produced
    to_dram = set(graph.outputs) | {layer.node.inputs[0] for layer in layers
                                    if layer.kind == "host" and isinstance(layer.node, Dequantize)}
    chunk_rows = accumulator_rows(config)
    for layer in layers:
        node = layer.node
        deps = tuple(done[t] for t in node.inputs if t in done)
        if layer.kind in ("host", "view"):
            if layer.kind == "host":  # the host's results are in its memory (quantized inputs: DRAM)
                in_dram.add(node.output)
            if isinstance(node, Dequantize):
                src = node.inputs[0]
                if src not in in_dram:
                    done[src] = em.emit(op="WRITE_HOST", layer=layer.index, deps=deps, nbytes=nbytes(src),
                                        operand="outputs", args=f"dram:{src} <- ub:{src}")
                    in_dram.add(src)
                deps = (done[src],)
            data = _data_inputs(layer)
            if layer.kind == "view" and data and all(t in in_dram for t in data):
                in_dram.add(node.output)
            done[node.output] = em.emit(op="HOST" if layer.kind == "host" else "SYNC", layer=layer.index,
                                        deps=deps, args=f"{layer.op.lower()} {node.output}")
            continue
        data = _data_inputs(layer)
        in_bytes = sum(nbytes(t) for t in data)
        out_bytes = nbytes(node.output)
        # a vector op streams its inputs through (each element read once), so only its output
        # must fit; a matrix op rereads its input for every block of output columns
        resident = (out_bytes if layer.kind == "vector" else in_bytes + out_bytes) <= mem.unified_buffer_bytes
        # a matrix layer streams its (first) input from DRAM chunk by chunk, overlapping compute;
        # vector ops and a second activation operand are read whole
        streamed = data[:1] if layer.kind == "matmul" else []
        reads = []
        for t in data:
            if t in in_dram and t not in streamed:
                reads.append(em.emit(op="READ_HOST", layer=layer.index, deps=deps, nbytes=nbytes(t),
                                     operand="inputs", args=f"ub:{t} <- dram:{t}"))
        if layer.kind == "vector":
            last = em.emit(op="VECTOR", layer=layer.index, deps=deps + tuple(reads),
                           duration=layer.work.cycles(config.vector),
                           args=f"ub:{node.output} <- {layer.op.lower()}("
                                f"{', '.join('ub:' + t for t in data)})")
            if not resident:
                last = em.emit(op="WRITE_HOST", layer=layer.index, deps=(last,), nbytes=out_bytes,
                               operand="outputs", args=f"dram:{node.output} <- ub")
                in_dram.add(node.output)
            done[node.output] = last
            continue
        write_out = not resident or node.output in to_dram
        done[node.output] = _emit_matmul(em, layer, config, deps + tuple(reads), resident, chunk_rows,
                                         bits[node.output], stream_in=data[0] in in_dram,
                                         write_out=write_out)
        if write_out:
            in_dram.add(node.output)
    for t in graph.outputs:  # what the host reads back and no Dequantize wrote yet
        if t not in in_dram and t in done and bits.get(t) is not None:
            em.emit(op="WRITE_HOST", layer=len(layers) - 1, deps=(done[t],), nbytes=nbytes(t),
                    operand="outputs", args=f"dram:{t} <- ub:{t}")
    return Program(graph.name, batch, config, layers, tuple(em.instrs),
                   notes={"inputs": graph.inputs, "outputs": graph.outputs, "graph": graph,
                          "shapes": shapes, "bits": bits})


def input_elements(layer: Layer, m0: int, m1: int, groups: int, kept: bool = False) -> int:
    """Input elements GEMM rows [m0, m1) of ``groups`` groups read from DRAM. A convolution reads
    the feature-map rows under its output rows (patches are formed on chip, so a 3×3 window does
    not read its pixels nine times); the rows its window shares with the previous chunk are read
    again, unless ``kept``: the layer's input stays in the unified buffer as it arrives, and each
    chunk reads only rows not read before. A GEMM reads its rows of K."""
    node = layer.node
    if not isinstance(node, Conv):
        return (m1 - m0) * layer.k * groups
    _, c, h, w = layer.in_shapes[0]
    _, _, ho, wo = layer.out_shape
    kh = node.weight.shape[2]
    (sh, _), (dh, _) = node.strides, node.dilations
    top = node.pads[0]

    def rows_through(out_row: int) -> int:  # input rows [0, n) the output rows up to out_row need
        return max(0, min(h, out_row * sh - top + (kh - 1) * dh + 1))

    def read_before(m: int) -> int:  # input rows read for GEMM rows [0, m) when rows are kept
        if m == 0:
            return 0
        img, pixel = divmod(m - 1, ho * wo)
        return img * h + rows_through(pixel // wo)

    if kept:
        rows = read_before(m1) - read_before(m0)
    else:
        rows = 0
        for img in range(m0 // (ho * wo), (m1 - 1) // (ho * wo) + 1):  # whole images at a time
            first = max(m0 - img * ho * wo, 0) // wo
            last = (min(m1 - img * ho * wo, ho * wo) - 1) // wo
            rows += rows_through(last) - max(0, min(h, first * sh - top))
    return rows * w * (c // node.group * groups)


def _tensor_bits(graph: Graph, act_bits: int, acc_bits: int) -> dict[str, int]:
    """Stored width of each tensor: integers at their quantized width (packed densely), floats
    at 32 bits."""
    out = {}
    for n in graph.nodes:
        q = getattr(n, "out_q", None) or getattr(n, "q", None)
        integer = q is not None and not isinstance(n, Dequantize)
        out[n.output] = q.bits if integer else 32
        if isinstance(n, MatrixOp) and n.raw:
            out[n.output] = acc_bits  # accumulators leave as they are
    for t in graph.inputs:  # a float input is quantized by the host; integers come as they are
        out[t] = 32 if graph.spec(t).dtype == "float32" else act_bits
    return out


def _emit_matmul(em: _Emitter, layer: Layer, config: Config, deps, resident: bool, chunk_rows: int,
                 ob: int, *, stream_in: bool, write_out: bool) -> int:
    """MATMUL/ACTIVATE (and READ_WEIGHTS) for one matrix layer; returns its last instruction.
    ``ob``: the stored width of its output; ``stream_in``: its input comes from DRAM, chunk by
    chunk; ``write_out``: its output goes to DRAM, chunk by chunk."""
    a, mem = config.array, config.memory
    R, C = a.rows, a.cols
    # bytes at the layer's own widths (what the buffers hold, packed densely)
    ab, wb = layer.node.x_q.bits, layer.node.w_q.bits
    half_wb = mem.weight_buffer_bytes // 2  # double-buffered: load one half while using the other
    if packed(R * C, wb) > half_wb:
        raise ShapeError(
            f"layer {layer.name!r}: one {R}x{C} weight tile ({packed(R * C, wb)} bytes) does not fit "
            f"half the weight buffer ({half_wb} bytes); raise [memory] weight_buffer_bytes")
    dynamic = layer.mapping == "dynamic"
    k_pack = layer.k * len(layer.packs[0])
    n_cols = layer.mapped[0].w.shape[1] if layer.mapped else layer.n + 1  # + the Σx column
    ub_row = packed(k_pack + n_cols, ab)
    if ub_row > mem.unified_buffer_bytes:
        raise ShapeError(
            f"layer {layer.name!r}: one input row and output row ({ub_row} bytes) do not fit the "
            f"unified buffer ({mem.unified_buffer_bytes} bytes); raise [memory] unified_buffer_bytes")
    k_chunk = min(k_pack, max(R, half_wb * 8 // (C * wb) // R * R))
    n_block = min(n_cols, max(C, half_wb * 8 // (k_chunk * wb) // C * C))
    weights_total = packed(k_pack * n_cols * len(layer.packs), wb)
    weights_resident = weights_total <= mem.weight_buffer_bytes
    m_chunk = chunk_rows if resident else max(1, min(chunk_rows, mem.unified_buffer_bytes // ub_row))
    if (stream_in or write_out) and weights_resident and layer.m > R:
        # a few chunks at least, so DRAM reads and writes overlap the array (weights stay loaded)
        m_chunk = min(m_chunk, max(R, -(-layer.m // 4)))
    last = None
    matmuls, activates = em.matmuls, em.activates
    first_activate = len(activates)
    weight_loads: list[int] = []
    src = layer.node.inputs[0]
    pending = []  # a block's output write, issued after the next block's first weight load so the
    # in-order DMA prefetches weights before it waits for the write's activation

    def flush():
        nonlocal last
        while pending:
            last = em.emit(**pending.pop())

    for p in range(len(layer.packs)):
        n_real = layer.n * len(layer.packs[p])  # the Σx column, if any, is not an output
        for m0 in range(0, layer.m, m_chunk):
            m1 = min(layer.m, m0 + m_chunk)
            reads = ()
            if stream_in:  # the input this chunk reads, from DRAM
                reads = (em.emit(op="READ_HOST", layer=layer.index, deps=deps,
                                 nbytes=packed(input_elements(layer, m0, m1, len(layer.packs[p]),
                                                              kept=resident), ab),
                                 operand="inputs", args=f"ub <- dram:{src} for rows {m0}:{m1}"),)
            for n0 in range(0, n_cols, n_block):
                n1 = min(n_cols, n0 + n_block)
                for k0 in range(0, k_pack, k_chunk):
                    k1 = min(k_pack, k0 + k_chunk)
                    mdeps = deps + reads
                    if not dynamic:  # weights from DRAM into the weight FIFO
                        wdeps = (matmuls[-2],) if len(matmuls) >= 2 else ()
                        if m0 == 0 or not weights_resident:
                            weight_loads.append(em.emit(
                                op="READ_WEIGHTS", layer=layer.index, deps=wdeps,
                                nbytes=packed((k1 - k0) * (n1 - n0), wb), operand="weights",
                                args=f"wb <- dram:{layer.name}.w[{p}] k {k0}:{k1} n {n0}:{n1}"))
                        mdeps += (weight_loads[-1],)
                    if len(activates) >= 2:  # accumulator half reused
                        mdeps += (activates[-2],)
                    stationary = f"ub:{layer.node.inputs[1]}" if dynamic else "wb"
                    matmuls.append(em.emit(
                        op="MATMUL", layer=layer.index, deps=mdeps, group=p, m=(m0, m1), n=(n0, n1),
                        k=(k0, k1), accumulate=k0 > 0,
                        args=f"acc <- ub:{src} rows {m0}:{m1} x {stationary} k {k0}:{k1} n {n0}:{n1}"
                             f"{' (accumulate)' if k0 else ''}"))
                    if k0 == 0:
                        flush()
                activates.append(em.emit(
                    op="ACTIVATE", layer=layer.index, deps=(matmuls[-1],),
                    duration=(m1 - m0) * -(-(n1 - n0) // C),
                    args=f"ub:{layer.node.output} rows {m0}:{m1} n {n0}:{n1} <- requant(acc)"
                         f"{' relu' if getattr(layer.node, 'relu', False) else ''}"))
                last = activates[-1]
                if write_out and n0 < n_real:
                    pending.append(dict(op="WRITE_HOST", layer=layer.index, deps=(activates[-1],),
                                        nbytes=packed((m1 - m0) * (min(n1, n_real) - n0), ob),
                                        operand="outputs",
                                        args=f"dram:{layer.node.output} rows {m0}:{m1} n {n0}:{n1} <- ub"))
    flush()
    return em.emit(op="SYNC", layer=layer.index, deps=tuple(activates[first_activate:]) + (last,),
                   args=f"{layer.node.output} complete")

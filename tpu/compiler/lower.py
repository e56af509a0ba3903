"""Lowering a quantized graph to a program: Conv → GEMM (im2col), tiling against the array
and the buffers, and the instruction stream with its dependencies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.array.activity import packed
from tpu.array.schedule import accumulator_rows
from tpu.compiler import ir
from tpu.compiler.operands import MappedWeights, map_weights
from tpu.compiler.program import Instr, Program
from tpu.compiler.reference import conv_im2col, out_size
from tpu.config import Config
from tpu.errors import ShapeError, TpuError

VECTOR_OPS = (ir.Add, ir.MaxPool, ir.AvgPool, ir.Relu, ir.Clip)
HOST_OPS = (ir.Quantize, ir.Dequantize, ir.Constant)


@dataclass(frozen=True, eq=False)
class Layer:
    index: int
    node: ir.Node
    kind: str  # "matmul", "vector", "host" or "view"
    out_shape: tuple[int, ...]
    m: int = 0  # GEMM rows (batch × output pixels)
    k: int = 0
    n: int = 0  # output columns per group
    groups: int = 1
    mapped: tuple[MappedWeights, ...] = ()
    elements: int = 0  # vector ops: output elements

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def op(self) -> str:
        return type(self.node).__name__

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.groups

    def describe(self) -> str:
        if self.kind == "matmul":
            g = f" x{self.groups} groups" if self.groups > 1 else ""
            return f"GEMM M={self.m} K={self.k} N={self.n}{g} -> {self.out_shape}"
        return f"-> {self.out_shape}"


def conv_geometry(node: ir.Conv, in_shape) -> tuple[int, int]:
    _, _, H, W = in_shape
    kh, kw = node.weight.shape[2:]
    (sh, sw), (dh, dw) = node.strides, node.dilations
    pt, pl, pb, pr = node.pads
    return out_size(H, kh, sh, pt, pb, dh), out_size(W, kw, sw, pl, pr, dw)


def conv_weight_matrices(node: ir.Conv) -> list[np.ndarray]:
    """Per group, the (Cg·kh·kw) × Og matrix whose rows match :func:`im2col`'s columns."""
    O = node.weight.shape[0]
    og = O // node.group
    return [node.weight[g * og : (g + 1) * og].reshape(og, -1).T for g in range(node.group)]


def patch_matrices(x: np.ndarray, node: ir.Conv, pad_value: int) -> list[np.ndarray]:
    """Per group, the (B·Ho·Wo) × (Cg·kh·kw) patch matrix; padding holds ``pad_value`` (zx)."""
    cols = conv_im2col(x, node, pad_value)  # B, Ho, Wo, C, kh, kw
    cg = cols.shape[3] // node.group
    return [cols[:, :, :, g * cg : (g + 1) * cg].reshape(-1, cg * cols.shape[4] * cols.shape[5])
            for g in range(node.group)]


def _map_layer(node, config: Config) -> tuple[MappedWeights, ...]:
    if node.x_q is None or node.w_q is None:
        raise TpuError(f"layer {node.name!r} is not quantized: quantize the model first "
                       f"(tpu run --calib X.npy, or tpu.quantize)")
    matrices = conv_weight_matrices(node) if isinstance(node, ir.Conv) else [node.weight]
    x_range = (node.x_q.qmin, node.x_q.qmax)
    zx = int(node.x_q.zero_point)
    mapped = []
    for g, w in enumerate(matrices):
        n = w.shape[1]
        zw = np.broadcast_to(np.asarray(node.w_q.zero_point, np.int64), (n * len(matrices),))
        bias = None if node.bias is None else np.asarray(node.bias, np.int64)[g * n : (g + 1) * n]
        mapped.append(map_weights(np.asarray(w, np.int64), zw[g * n : (g + 1) * n], bias, zx,
                                  x_range, config.array, node.name))
    return tuple(mapped)


def lower_layers(graph: ir.Graph, config: Config, batch: int) -> tuple[Layer, ...]:
    shapes = {name: (batch, *shape[1:]) for name, shape in graph.shapes.items()}
    layers = []
    for node in graph.nodes:
        out_shape = shapes.get(node.output, ())
        if isinstance(node, ir.Conv):
            ho, wo = conv_geometry(node, shapes[node.inputs[0]])
            O, cg, kh, kw = node.weight.shape
            layers.append(Layer(len(layers), node, "matmul", (batch, O, ho, wo), m=batch * ho * wo,
                                k=cg * kh * kw, n=O // node.group, groups=node.group,
                                mapped=_map_layer(node, config)))
        elif isinstance(node, ir.Gemm):
            K, N = node.weight.shape
            layers.append(Layer(len(layers), node, "matmul", (batch, N), m=batch, k=K, n=N,
                                mapped=_map_layer(node, config)))
        elif isinstance(node, VECTOR_OPS):
            layers.append(Layer(len(layers), node, "vector", out_shape,
                                elements=int(np.prod(out_shape))))
        elif isinstance(node, HOST_OPS):
            layers.append(Layer(len(layers), node, "host", out_shape))
        elif isinstance(node, ir.Reshape):
            layers.append(Layer(len(layers), node, "view", out_shape))
        else:
            raise TpuError(f"node {node.name!r} ({type(node).__name__}) has no lowering")
    return tuple(layers)


def _tensor_bytes(shape, bits: int) -> int:
    return packed(int(np.prod(shape)), bits) if shape else 0


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


def build_program(graph: ir.Graph, config: Config, batch: int = 1) -> Program:
    """Lower, tile and schedule ``graph`` for ``batch`` inputs on ``config``'s machine."""
    layers = lower_layers(graph, config, batch)
    a, mem = config.array, config.memory
    ab, wb = a.act_bits, a.weight_bits  # operand widths: buffers hold them packed
    R, C = a.rows, a.cols
    shapes = {name: (batch, *s[1:]) for name, s in graph.shapes.items()}
    em = _Emitter()
    done: dict[str, int] = {}  # tensor -> instruction that completes it
    in_dram = set(graph.inputs)
    chunk_rows = accumulator_rows(config)
    for layer in layers:
        node = layer.node
        deps = tuple(done[t] for t in node.inputs if t in done)
        if layer.kind in ("host", "view"):
            if isinstance(node, ir.Quantize):  # host quantizes; the result lands in DRAM
                in_dram.add(node.output)
            if isinstance(node, ir.Dequantize):
                src = node.inputs[0]
                if src not in in_dram:
                    done[src] = em.emit(op="WRITE_HOST", layer=layer.index, deps=deps,
                                        nbytes=_tensor_bytes(shapes.get(src), a.act_bits),
                                        operand="outputs", args=f"dram:{src} <- ub:{src}")
                    in_dram.add(src)
                deps = (done[src],)
            if isinstance(node, ir.Reshape) and all(t in in_dram for t in node.inputs):
                in_dram.add(node.output)
            done[node.output] = em.emit(op="HOST" if layer.kind == "host" else "SYNC",
                                        layer=layer.index, deps=deps,
                                        args=f"{layer.op.lower()} {node.output}")
            continue
        in_bytes = sum(_tensor_bytes(shapes.get(t), a.act_bits) for t in node.inputs)
        out_bytes = _tensor_bytes(layer.out_shape, a.act_bits)
        resident = in_bytes + out_bytes <= mem.unified_buffer_bytes
        reads = []
        for t in node.inputs:
            if t in in_dram and t in shapes:
                reads.append(em.emit(op="READ_HOST", layer=layer.index, deps=deps,
                                     nbytes=_tensor_bytes(shapes[t], a.act_bits), operand="inputs",
                                     args=f"ub:{t} <- dram:{t}"))
        if layer.kind == "vector":
            done[node.output] = em.emit(op="VECTOR", layer=layer.index, deps=deps + tuple(reads),
                                        duration=-(-layer.elements // C),
                                        args=f"ub:{node.output} <- {layer.op.lower()}"
                                             f"({', '.join('ub:' + t for t in node.inputs)})")
            continue
        done[node.output] = _emit_matmul(em, layer, config, deps + tuple(reads), resident,
                                         chunk_rows, ab, wb, R, C)
        if not resident:
            in_dram.add(node.output)
    return Program(graph.name, batch, config, layers, tuple(em.instrs),
                   notes={"inputs": graph.inputs, "outputs": graph.outputs})


def _emit_matmul(em: _Emitter, layer: Layer, config: Config, deps, resident: bool,
                 chunk_rows: int, ab: int, wb: int, R: int, C: int) -> int:
    """MATMUL/ACTIVATE (and READ_WEIGHTS) for one GEMM layer; returns its last instruction."""
    mem = config.memory
    half_wb = mem.weight_buffer_bytes // 2  # double-buffered: load one half while using the other
    if packed(R * C, wb) > half_wb:
        raise ShapeError(
            f"layer {layer.name!r}: one {R}x{C} weight tile ({packed(R * C, wb)} bytes) does not fit "
            f"half the weight buffer ({half_wb} bytes); raise [memory] weight_buffer_bytes"
        )
    ub_row = packed(layer.k + layer.n, ab)
    if ub_row > mem.unified_buffer_bytes:
        raise ShapeError(
            f"layer {layer.name!r}: one input row and output row ({ub_row} bytes) do not fit the "
            f"unified buffer ({mem.unified_buffer_bytes} bytes); raise [memory] unified_buffer_bytes"
        )
    n_cols = layer.mapped[0].w.shape[1]
    k_chunk = min(layer.k, max(R, half_wb * 8 // (C * wb) // R * R))
    n_block = min(n_cols, max(C, half_wb * 8 // (k_chunk * wb) // C * C))
    weights_total = packed(layer.k * n_cols * layer.groups, wb)
    weights_resident = weights_total <= mem.weight_buffer_bytes
    m_chunk = chunk_rows if resident else max(1, min(chunk_rows, mem.unified_buffer_bytes // ub_row))
    last = None
    matmuls, activates = em.matmuls, em.activates
    first_activate = len(activates)
    weight_loads: list[int] = []
    for g in range(layer.groups):
        for m0 in range(0, layer.m, m_chunk):
            m1 = min(layer.m, m0 + m_chunk)
            reads = ()
            if not resident:  # stream this chunk's patches in from DRAM
                reads = (em.emit(op="READ_HOST", layer=layer.index, deps=deps,
                                 nbytes=packed((m1 - m0) * layer.k, ab), operand="inputs",
                                 args=f"ub <- dram:{layer.node.inputs[0]} rows {m0}:{m1}"),)
            for n0 in range(0, n_cols, n_block):
                n1 = min(n_cols, n0 + n_block)
                for k0 in range(0, layer.k, k_chunk):
                    k1 = min(layer.k, k0 + k_chunk)
                    wdeps = (matmuls[-2],) if len(matmuls) >= 2 else ()
                    if m0 == 0 or not weights_resident:
                        weight_loads.append(em.emit(
                            op="READ_WEIGHTS", layer=layer.index, deps=wdeps,
                            nbytes=packed((k1 - k0) * (n1 - n0), wb), operand="weights",
                            args=f"wb <- dram:{layer.name}.w[g{g}] k {k0}:{k1} n {n0}:{n1}"))
                    mdeps = deps + reads + (weight_loads[-1],)
                    if len(activates) >= 2:  # accumulator half reused
                        mdeps += (activates[-2],)
                    matmuls.append(em.emit(
                        op="MATMUL", layer=layer.index, deps=mdeps, group=g, m=(m0, m1),
                        n=(n0, n1), k=(k0, k1), accumulate=k0 > 0,
                        args=f"acc <- ub:{layer.node.inputs[0]} rows {m0}:{m1} x wb k {k0}:{k1} "
                             f"n {n0}:{n1}{' (accumulate)' if k0 else ''}"))
                rows = m1 - m0
                activates.append(em.emit(
                    op="ACTIVATE", layer=layer.index, deps=(matmuls[-1],),
                    duration=rows * -(-(n1 - n0) // C),
                    args=f"ub:{layer.node.output} rows {m0}:{m1} n {n0}:{n1} <- requant(acc)"
                         f"{' relu' if getattr(layer.node, 'relu', False) else ''}"))
                last = activates[-1]
            if not resident:
                last = em.emit(op="WRITE_HOST", layer=layer.index, deps=(activates[-1],),
                               nbytes=packed((m1 - m0) * layer.n, ab), operand="outputs",
                               args=f"dram:{layer.node.output} rows {m0}:{m1} <- ub")
    return em.emit(op="SYNC", layer=layer.index, deps=tuple(activates[first_activate:]) + (last,),
                   args=f"{layer.node.output} complete")

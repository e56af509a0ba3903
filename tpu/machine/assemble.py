"""The assembler: a compiled ``Program`` and its layer data become a machine image.

The image is a list of steps, run in order:

* :class:`Segment` — instruction streams for the machine (DMA, matrix unit, activation unit),
  run from reset to HALT. Every matrix layer with constant weights (Conv, Gemm, depthwise
  convolutions packed block-diagonally) runs in a segment.
* :class:`HostStep` — every other layer (vector-unit ops such as QLinearAdd and pooling, float
  islands, the products of two activations, host ops, views that move data), evaluated with
  the op's own semantics (``Node.run``), or the im2col of a layer whose activations do not fit
  the unified buffer. The host reads its inputs from DRAM and writes its result to DRAM between
  segments; it costs no machine cycles and is listed in the run's ``host`` record.

The machine's PEs run the array's native operation only (tag 0: one ``act_bits`` ×
``weight_bits`` product of the array's signedness). A layer that declares other widths on a
multi-precision array (u8 activations read unsigned, 4-bit operands packed) is mapped back onto
the native operands, exactly as a plain array maps it (an offset on the activations, folded into
the bias); operands wider than the PEs are refused with the layer named.

Memory layout. DRAM holds weights (per group and block of C output columns, k × cols
row-major, in the array's operand encoding), the activation unit's constants (per block of C
columns: C int32 biases with the zero-point terms folded in, C int32 multipliers, C int8
shifts) and every tensor that crosses a segment boundary. Activation tensors are NHWC (a 2-D
tensor is rows × columns), stored in the array's operand encoding (value + offset, see
``tpu.compiler.operands``), one byte per value. A Gemm reading a flattened NCHW tensor gets its
weight rows permuted to NHWC order (exact: the same products summed in another order).

Inside a segment the unified buffer holds the tensors (first-fit allocation; an instruction
that overwrites a freed region waits for that region's last readers), the weight buffer and the
PARAM memory alternate halves, and the accumulators alternate halves per MATMUL. Every wait
is derived from these resources, so the streams run as concurrently as the data allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tpu.array.precision import Precision
from tpu.compiler.lower import map_pack
from tpu.compiler.operands import MappedWeights, choose_offset
from tpu.errors import ModelError, ShapeError
from tpu.machine import isa
from tpu.machine.params import PARAM_BYTES_PER_COL, MachineParams
from tpu.ops import Conv, Gemm, Node, Reshape
from tpu.ops.core import size

ALIGN = 64


class AssemblyError(ModelError):
    """The program cannot be laid out on this machine (named layer and what to change)."""


@dataclass
class Home:
    """Where a tensor's bytes are: NHWC (``shape`` is the model's NCHW/2-D shape)."""

    shape: tuple[int, ...]
    offset: int  # array encoding: stored = value + offset
    dram: int | None = None
    flat_from: tuple[int, ...] | None = None  # a flattened 4-D tensor: the 4-D shape

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Segment:
    layers: list[int]
    streams: dict[str, list[isa.Instr]] = field(default_factory=dict)

    def words(self) -> dict[str, list[int]]:
        return {u: [isa.encode(i) for i in self.streams[u]] for u in isa.UNITS}


@dataclass
class HostStep:
    layer: int
    kind: str  # "op" (run the node) or "im2col" (patch matrix of a streamed layer's input)
    node: Node
    elements: int = 0  # values the host produced


@dataclass
class Image:
    params: MachineParams
    steps: list
    dram: np.ndarray  # initial contents
    homes: dict[str, Home]
    patches: dict[int, int]  # layer -> DRAM address of its host-made patch matrix
    program: object
    alias: dict[str, str]  # a flatten view -> the tensor whose bytes it shares
    mapped: dict[int, tuple[MappedWeights, ...]]  # machine layer -> per pack, native operands
    inputs: dict[str, Home]  # graph inputs a segment reads: stored to DRAM before the run

    def home(self, name: str) -> Home:
        return _view_home(self.homes, self.alias, self.program, name)


def _root(alias: dict[str, str], name: str) -> str:
    while name in alias:
        name = alias[name]
    return name


def _view_home(homes: dict[str, Home], alias: dict[str, str], program, name: str) -> Home:
    """A tensor's home; a flatten view reads its root's NHWC bytes as rows."""
    root = _root(alias, name)
    h = homes[root]
    if root == name:
        return h
    return Home(tuple(program.notes["shapes"][name]), h.offset, h.dram,
                h.shape if len(h.shape) == 4 else h.flat_from)


def on_machine(layer) -> bool:
    """The layers a segment runs: matrix layers with constant weights (one GEMM per pack)."""
    return layer.kind == "matmul" and layer.mapping in ("gemm", "packed") \
        and isinstance(layer.node, Conv | Gemm)


class _Dram:
    def __init__(self):
        self.chunks: list[tuple[int, bytes]] = []
        self.top = 0

    def alloc(self, nbytes: int, data: bytes | None = None) -> int:
        addr = self.top
        self.top = -(-(addr + max(nbytes, 1)) // ALIGN) * ALIGN
        if data is not None:
            self.chunks.append((addr, data))
        return addr

    def image(self) -> np.ndarray:
        mem = np.zeros(self.top, np.uint8)
        for addr, data in self.chunks:
            mem[addr: addr + len(data)] = np.frombuffer(data, np.uint8)
        return mem


Waits = dict  # unit -> count


def _join(*waits: Waits) -> Waits:
    out: Waits = {}
    for w in waits:
        for u, n in w.items():
            out[u] = max(out.get(u, 0), n)
    return out


class _Ub:
    """First-fit allocator; a freed region remembers who must finish before it is rewritten."""

    def __init__(self, size: int):
        self.free = [(0, size, {})]

    def alloc(self, nbytes: int, what: str) -> tuple[int, Waits]:
        nbytes = max(nbytes, 1)
        for i, (lo, hi, w) in enumerate(self.free):
            if hi - lo >= nbytes:
                self.free[i] = (lo + nbytes, hi, w)
                return lo, dict(w)
        biggest = max((hi - lo for lo, hi, _ in self.free), default=0)
        raise AssemblyError(f"{what}: {nbytes} bytes do not fit the unified buffer beside what "
                            f"the segment keeps there (largest free block {biggest} bytes); "
                            f"raise [memory] unified_buffer_bytes")

    def release(self, lo: int, nbytes: int, waits: Waits) -> None:
        blocks = sorted([*self.free, (lo, lo + max(nbytes, 1), dict(waits))])
        merged = [blocks[0]]
        for b in blocks[1:]:
            if b[0] == merged[-1][1]:
                merged[-1] = (merged[-1][0], b[1], _join(merged[-1][2], b[2]))
            else:
                merged.append(b)
        self.free = [(lo, hi, w) for lo, hi, w in merged if hi > lo]


class _Streams:
    def __init__(self):
        self.streams = {u: [] for u in isa.UNITS}

    def emit(self, op: str, waits: Waits, tag: int, **fields) -> Waits:
        u = isa.UNIT_OF[op]
        ins = isa.make(op, waits=tuple(waits.get(x, 0) for x in isa.UNITS), tag=tag, **fields)
        self.streams[u].append(ins)
        return {u: len(self.streams[u])}

    def halt(self) -> dict[str, list[isa.Instr]]:
        final = tuple(len(self.streams[u]) for u in isa.UNITS)
        return {u: [*self.streams[u], isa.make("HALT", waits=final)] for u in isa.UNITS}


def assemble(program, params: MachineParams | None = None, *, requant: str = "float") -> Image:
    """Lay the program out on the machine: DRAM contents, segments and host steps.
    ``requant``: the activation unit's scheme, "float" (onnxruntime MLAS) or "fixed" (gemmlowp)."""
    if requant not in ("float", "fixed"):
        raise ShapeError(f"requant must be 'float' or 'fixed', got {requant!r}")
    config = program.config
    p = params or MachineParams.from_config(config)
    return _Assembler(program, p, requant).run()


class _Assembler:
    def __init__(self, program, p: MachineParams, requant: str):
        self.program, self.p, self.requant = program, p, requant
        self.graph_inputs = tuple(program.notes["inputs"])
        self.graph_outputs = tuple(program.notes["outputs"])
        self.shapes = program.notes["shapes"]
        self.dram = _Dram()
        self.homes: dict[str, Home] = {}
        self.inputs: dict[str, Home] = {}
        self.alias: dict[str, str] = {}
        self.patches: dict[int, int] = {}
        self.mapped: dict[int, tuple[MappedWeights, ...]] = {}
        layers = program.layers
        for layer in layers:
            if self._is_view(layer):
                self.alias[layer.node.output] = self._root(layer.node.inputs[0])
        self.consumers: dict[str, list[int]] = {}  # by root tensor; views are not consumers
        for layer in layers:
            if layer.node.output in self.alias:
                continue
            for t in layer.node.inputs:
                if t:
                    self.consumers.setdefault(self._root(t), []).append(layer.index)
        self.outputs = {self._root(t) for t in self.graph_outputs}

    def _root(self, name: str) -> str:
        return _root(self.alias, name)

    def _is_view(self, layer) -> bool:
        """A Reshape to (batch, rest) or to its own shape: the NHWC bytes read as rows (a Gemm
        after it permutes its weight rows), so nothing moves."""
        node = layer.node
        if not isinstance(node, Reshape) or layer.kind != "view" or not layer.in_shapes:
            return False
        src, out = layer.in_shapes[0], layer.out_shape
        return tuple(out) == tuple(src) or (len(out) == 2 and len(src) >= 2 and out[0] == src[0])

    # -- plan --------------------------------------------------------------------------------

    def _streamed(self, layer) -> bool:
        """Input and output together exceed the unified buffer: patches come from the host."""
        ins = size(self.shapes[layer.node.inputs[0]])
        return ins + size(layer.out_shape) > self.p.ub_bytes

    def run(self) -> Image:
        prog = self.program
        steps: list = []
        current: list[int] = []

        def flush():
            if current:
                steps.append(list(current))
                current.clear()

        for layer in prog.layers:
            node = layer.node
            if on_machine(layer):
                self.mapped[layer.index] = self._native(layer)
                if self._streamed(layer):
                    flush()
                    steps.append(HostStep(layer.index, "im2col", node))
                    steps.append([layer.index])
                else:
                    current.append(layer.index)
            elif node.output in self.alias:
                continue
            else:
                flush()
                steps.append(HostStep(layer.index, "op", node))
        flush()
        self.segment_of = {}
        for s, step in enumerate(steps):
            if isinstance(step, list):
                for i in step:
                    self.segment_of[i] = s
        for name in self.graph_inputs:  # integer inputs a segment reads directly
            if self._machine_reader(name) is not None:
                self.inputs[name] = self.homes[name] = self._dram_home(name)
        out = []
        for s, step in enumerate(steps):
            if isinstance(step, HostStep):
                self._host_home(step)
                out.append(step)
            else:
                out.append(self._segment(s, step))
        return Image(self.p, out, self.dram.image(), self.homes, self.patches, prog, self.alias,
                     self.mapped, self.inputs)

    def _native(self, layer) -> tuple[MappedWeights, ...]:
        """Per pack, the layer's weights on the PEs' native operands (see the module docstring)."""
        node, a = layer.node, self.program.config.array
        if node.out_q is None:
            raise AssemblyError(f"layer {layer.name!r}: its output is the raw int32 accumulators, "
                                f"which the machine's activation unit does not write; give it "
                                f"output quantization parameters or use the fast or cycle backend")
        native = Precision.native(a)
        declared = layer.precision or native
        if declared.act_bits > a.act_bits or declared.weight_bits > a.weight_bits:
            raise AssemblyError(
                f"layer {layer.name!r}: {declared.label} operands are wider than the "
                f"{a.act_bits}×{a.weight_bits}-bit PEs; the machine backends run the native "
                f"operation only (no slices): give the layer at most {a.weight_bits}-bit weights "
                f"and {a.act_bits}-bit activations (--layer-bits) or use the fast or cycle backend")
        mapped = layer.mapped
        if declared != native:
            mats = node.weights([])
            zw_all = node.weight_zero_points(layer.n * layer.groups)
            mapped = tuple(map_pack(node, mats, zw_all, pack, self.program.config, native)
                           for pack in layer.packs)
        if any(m.rowsum for m in mapped):
            raise AssemblyError(
                f"layer {layer.name!r}: weight zero points need the Σx column, which the "
                f"machine's activation unit does not combine; quantize weights symmetrically "
                f"or use the fast or cycle backend")
        return mapped

    # -- homes -------------------------------------------------------------------------------

    def _offset(self, q) -> int:
        return choose_offset(q.qmin, q.qmax, self.p.act_bits, self.p.act_signed, "activations",
                             "tensor")

    def _machine_reader(self, tensor: str):
        """The first machine layer reading ``tensor`` (it fixes the tensor's encoding)."""
        return next((self.program.layers[c] for c in self.consumers.get(tensor, [])
                     if c in self.segment_of), None)

    def _dram_home(self, tensor: str) -> Home:
        """A DRAM home for a tensor the host makes (or the user gives) and a segment reads, in
        the encoding of the machine layer that reads it."""
        reader = self._machine_reader(tensor)
        home = Home(tuple(self.shapes[tensor]), self.mapped[reader.index][0].dx)
        home.dram = self.dram.alloc(home.nbytes)
        return home

    def _needs_dram(self, tensor: str, segment: int | None) -> bool:
        if tensor in self.outputs:
            return True
        return any(self.segment_of.get(c) != segment for c in self.consumers.get(tensor, []))

    def _host_home(self, step: HostStep) -> None:
        node, layer = step.node, self.program.layers[step.layer]
        if step.kind == "im2col":
            nbytes = layer.m * layer.k * layer.groups
            self.patches[layer.index] = self.dram.alloc(nbytes)
            step.elements = nbytes
            return
        step.elements = size(layer.out_shape)
        if self._machine_reader(node.output) is not None:
            self.homes[node.output] = self._dram_home(node.output)

    def home(self, name: str) -> Home:
        return _view_home(self.homes, self.alias, self.program, name)

    # -- segments ----------------------------------------------------------------------------

    def _segment(self, s: int, layer_ids: list[int]) -> Segment:
        st = _Streams()
        ub = _Ub(self.p.ub_bytes)
        res = _Resources(self.p)
        resident: dict[str, tuple[int, Waits, list]] = {}  # tensor -> (ub addr, ready, readers)
        for li in layer_ids:
            layer = self.program.layers[li]
            if li in self.patches:
                self._streamed_layer(st, ub, res, layer)
            else:
                self._resident_layer(st, ub, res, layer, resident, s)
        return Segment(layer_ids, st.halt())

    def _packs(self, layer):
        """Per pack: (native weights, first group, K, first output column)."""
        out = []
        for pack, m in zip(layer.packs, self.mapped[layer.index], strict=True):
            out.append((m, pack[0], layer.k * len(pack), pack[0] * layer.n))
        return out

    def _params(self, layer) -> tuple[bytes, list[int]]:
        """The layer's activation-unit constants, per (pack, block of C columns)."""
        C = self.p.cols
        node = layer.node
        total = layer.n * layer.groups
        if self.requant == "float":  # the float32 multiplier's bits take the qm slot
            mf = np.broadcast_to(np.asarray(node.multiplier_float(), np.float32), (total,))
            qm, shift = mf.view(np.int32), np.zeros(total, np.int64)
        else:
            qm, shift = node.multiplier_fixed()
        qm = np.broadcast_to(np.asarray(qm, np.int64), (total,))
        shift = np.broadcast_to(np.asarray(shift, np.int64), (total,))
        if np.any(shift < -32) or np.any(shift > 31):
            raise AssemblyError(f"layer {layer.name!r}: a requantization shift leaves [-32, 31]; "
                                f"use --requant float")
        parts, offsets = [], []
        pos = 0
        for mapped, _, _, o0 in self._packs(layer):
            n = mapped.n
            for c0 in range(0, n, C):
                cols = min(C, n - c0)
                ch = slice(o0 + c0, o0 + c0 + cols)
                bias = np.zeros(C, "<i4")
                q = np.zeros(C, "<i4")
                sh = np.zeros(C, np.int8)
                bias[:cols] = mapped.bias[c0: c0 + cols]
                q[:cols] = qm[ch]
                sh[:cols] = shift[ch]
                parts.append(bias.tobytes() + q.tobytes() + sh.tobytes())
                offsets.append(pos)
                pos += PARAM_BYTES_PER_COL * C
        data = b"".join(parts)
        if len(data) > self.p.param_bytes // 2:
            raise AssemblyError(f"layer {layer.name!r}: {total} output channels exceed the "
                                f"activation unit's constant memory")
        return data, offsets

    def _weights(self, layer, flat_from) -> list[list[tuple[int, int, int]]]:
        """Per pack, per block of C columns: (DRAM address, cols, bytes) of k × cols weights."""
        C, wbits = self.p.cols, self.p.weight_bits
        out = []
        for mapped, *_ in self._packs(layer):
            w = np.asarray(mapped.w, np.int64)
            if flat_from is not None and isinstance(layer.node, Gemm):
                _, c, h, wd = flat_from
                # machine row (y, x, c) holds the model's row c·H·W + y·W + x
                perm = np.arange(c * h * wd).reshape(c, h, wd).transpose(1, 2, 0).reshape(-1)
                w = w[perm]
            parts = []
            for c0 in range(0, w.shape[1], C):
                cols = min(C, w.shape[1] - c0)
                parts.append((cols, (w[:, c0: c0 + cols] & ((1 << wbits) - 1)).astype(np.uint8)
                              .tobytes()))
            base = self.dram.alloc(sum(len(d) for _, d in parts), b"".join(d for _, d in parts))
            blocks, pos = [], base  # contiguous: a weight set is one DMA
            for cols, data in parts:
                blocks.append((pos, cols, len(data)))
                pos += len(data)
            out.append(blocks)
        return out

    def _weight_sets(self, layer, blocks) -> list[list[int]]:
        half = self.p.wb_bytes // 2
        sets, cur, size_ = [], [], 0
        for i, (_, _, nbytes) in enumerate(blocks):
            if nbytes > half:
                raise AssemblyError(
                    f"layer {layer.name!r}: one block of {self.p.cols} weight columns "
                    f"({nbytes} bytes, K = {nbytes // self.p.cols}) does not fit half the weight "
                    f"buffer ({half} bytes); raise [memory] weight_buffer_bytes")
            if size_ + nbytes > half:
                sets.append(cur)
                cur, size_ = [], 0
            cur.append(i)
            size_ += nbytes
        sets.append(cur)
        return sets

    def _out_fields(self, layer) -> tuple[dict, int]:
        node = layer.node
        q = node.out_q
        d = self._offset(q)
        lo, hi = node.output_range()
        return dict(zp=int(q.zero_point) + d, act_min=lo + d, act_max=hi + d, relu=0,
                    fp=int(self.requant == "float")), d

    def _resident_layer(self, st: _Streams, ub: _Ub, res, layer, resident, s) -> None:
        p = self.p
        node, tag = layer.node, layer.index
        xname = self._root(node.inputs[0])
        xhome = self.home(node.inputs[0])
        if isinstance(node, Gemm) and len(xhome.shape) == 4:
            raise AssemblyError(f"layer {layer.name!r}: a Gemm over a 4-D tensor's last axis is "
                                f"not laid out on the machine (4-D tensors are NHWC there); "
                                f"use the fast or cycle backend")
        if xname in resident:
            xaddr, x_ready, x_readers = resident[xname]
        else:
            xaddr, war = ub.alloc(xhome.nbytes, f"layer {layer.name!r} input")
            if xhome.dram is None:
                raise AssemblyError(f"tensor {xname!r} has no DRAM copy (assembler bug)")
            x_ready = st.emit("READ_HOST", war, tag, dram=xhome.dram, chip=xaddr,
                              nbytes=xhome.nbytes, mem=isa.MEMS["ub"])
            x_readers = []
            resident[xname] = (xaddr, x_ready, x_readers)
        out_fields, d_out = self._out_fields(layer)
        ybytes = size(layer.out_shape)
        yaddr, y_war = ub.alloc(ybytes, f"layer {layer.name!r} output")
        pdata, poffs = self._params(layer)
        pbase, p_war = res.param.take()
        p_ready = st.emit("READ_HOST", p_war, tag, dram=self.dram.alloc(len(pdata), pdata),
                          chip=pbase, nbytes=len(pdata), mem=isa.MEMS["param"])
        blocks = self._weights(layer, xhome.flat_from)
        geo = self._geometry(layer, xhome, xaddr)
        n_total = layer.n * layer.groups
        chunk = p.acc_rows
        pi = 0
        last_mm: Waits = {}
        last_act: Waits = {}
        for (mapped, g0, k, o0), gblocks in zip(self._packs(layer), blocks, strict=True):
            if mapped.dx != xhome.offset:
                raise AssemblyError(f"layer {layer.name!r}: input encoding offset mismatch "
                                    f"(assembler bug)")
            for wset in self._weight_sets(layer, gblocks):
                wbase, w_war = res.wb.take()
                set_addr = gblocks[wset[0]][0]
                set_bytes = sum(gblocks[i][2] for i in wset)
                w_ready = st.emit("READ_WEIGHTS", w_war, tag, dram=set_addr, chip=wbase,
                                  nbytes=set_bytes, mem=isa.MEMS["wb"])
                for m0 in range(0, layer.m, chunk):
                    rows = min(chunk, layer.m - m0)
                    woff = 0
                    for i in wset:
                        _, cols, nbytes = gblocks[i]
                        c0 = i * p.cols
                        acc, a_war = res.acc.take()
                        mm = st.emit("MATMUL", _join(w_ready, x_ready, a_war), tag,
                                     rows=rows, k=k, cols=cols, wb=wbase + woff, acc=acc,
                                     accumulate=0, pad=mapped.zx_star, **geo(g0, m0))
                        woff += nbytes
                        act = st.emit("ACTIVATE", _join(mm, p_ready, y_war), tag, rows=rows,
                                      acc=acc, cols=cols, ub=yaddr + m0 * n_total + o0 + c0,
                                      stride=n_total, param=pbase + poffs[pi + i], **out_fields)
                        res.acc.used(act)
                        last_mm, last_act = mm, act
                res.wb.used(last_mm)
            pi += len(gblocks)
        res.param.used(last_act)
        x_readers.append(last_mm)
        yname = node.output
        y_readers: list = []
        resident[yname] = (yaddr, last_act, y_readers)
        seg = self.segment_of[layer.index]
        home = Home(tuple(layer.out_shape), d_out)
        self.homes[yname] = home
        if self._needs_dram(yname, seg):
            home.dram = self.dram.alloc(ybytes)
            y_readers.append(st.emit("WRITE_HOST", last_act, tag, dram=home.dram, chip=yaddr,
                                     nbytes=ybytes, mem=isa.MEMS["ub"]))
        # free what no later layer of this segment reads
        for name in (xname, yname):
            later = [c for c in self.consumers.get(name, []) if c > layer.index
                     and self.segment_of.get(c) == seg]
            if not later and name in resident:
                addr, written, readers = resident.pop(name)
                ub.release(addr, self.home(name).nbytes, _join(written, *readers))

    def _geometry(self, layer, xhome: Home, xaddr: int):
        """im2col fields of a MATMUL streaming rows from ``m0`` of the pack starting at group
        ``g0`` (a pack's groups are consecutive, so its channels are too)."""
        node = layer.node
        if isinstance(node, Conv):
            _, C, H, W = xhome.shape
            kh, kw = node.weight.shape[2:]
            (sh, sw), (dh, dw) = node.strides, node.dilations
            if sh != sw or dh != dw:
                raise AssemblyError(f"layer {layer.name!r}: the machine's im2col walks square "
                                    f"strides and dilations, not {node.strides}/{node.dilations}; "
                                    f"use the fast or cycle backend")
            s, dil = sh, dh
            pt, pl = node.pads[0], node.pads[1]
            _, _, Ho, Wo = layer.out_shape
            cg = C // node.group
            e_dx = dil * C
            e_dy = dil * W * C - (kw - 1) * dil * C
            e_c = 1 - (kh - 1) * dil * W * C - (kw - 1) * dil * C

            def geo(g0, m0):
                b, rem = divmod(m0, Ho * Wo)
                oy, ox = divmod(rem, Wo)
                y0, x0 = oy * s - pt, ox * s - pl
                return dict(pix=xaddr + g0 * cg + ((b * H + y0) * W + x0) * C,
                            d_ox=s * C, d_oy=s * W * C - (Wo - 1) * s * C,
                            d_b=H * W * C - (Ho - 1) * s * W * C - (Wo - 1) * s * C,
                            ox=ox, oy=oy, wo=Wo, ho=Ho, x0=x0, y0=y0, x_reset=-pl, y_reset=-pt,
                            stride=s, w=W, h=H, kh=kh, kw=kw, dil=dil, e_dx=e_dx, e_dy=e_dy,
                            e_c=e_c)
            return geo
        row = layer.k * layer.groups

        def gemm_geo(g0, m0):
            return _rows_geometry(xaddr + m0 * row + g0 * layer.k, row)
        return gemm_geo

    def _streamed_layer(self, st: _Streams, ub: _Ub, res, layer) -> None:
        """A layer whose activations do not fit: patch rows stream in from the host-made
        matrix in DRAM chunk by chunk, output rows stream out to DRAM."""
        p = self.p
        tag = layer.index
        G, K = layer.groups, layer.k
        n_total = layer.n * G
        row = G * K + n_total
        nbuf = 2 if p.ub_bytes >= 2 * row else 1  # double-buffer the chunks where two fit
        chunk = min(p.acc_rows, p.ub_bytes // (nbuf * row))
        if chunk < 1:
            raise AssemblyError(f"layer {layer.name!r}: one patch row and output row ({row} "
                                f"bytes) do not fit the unified buffer; raise [memory] "
                                f"unified_buffer_bytes")
        in_buf = [ub.alloc(chunk * G * K, layer.name)[0] for _ in range(nbuf)] * (3 - nbuf)
        out_buf = [ub.alloc(chunk * n_total, layer.name)[0] for _ in range(nbuf)] * (3 - nbuf)
        in_war: list[Waits] = [{}, {}]
        out_war: list[Waits] = [{}, {}]
        out_fields, d_out = self._out_fields(layer)
        pdata, poffs = self._params(layer)
        pbase, p_war = res.param.take()
        p_ready = st.emit("READ_HOST", p_war, tag, dram=self.dram.alloc(len(pdata), pdata),
                          chip=pbase, nbytes=len(pdata), mem=isa.MEMS["param"])
        packs = self._packs(layer)
        blocks = self._weights(layer, None)
        sets = [self._weight_sets(layer, gb) for gb in blocks]
        once = sum(len(s) for s in sets) == 1
        home = Home(tuple(layer.out_shape), d_out)
        home.dram = self.dram.alloc(home.nbytes)
        self.homes[layer.node.output] = home
        patches = self.patches[layer.index]
        w_loaded: Waits | None = None
        wbase = 0
        last_act: Waits = {}
        pending = None  # the previous chunk's output write, issued after this chunk's read so
        # the in-order DMA fetches ahead instead of waiting for the activation unit

        def flush():
            if pending is not None:
                s_, m_, rows_, act_ = pending
                out_war[s_] = st.emit("WRITE_HOST", act_, tag, dram=home.dram + m_ * n_total,
                                      chip=out_buf[s_], nbytes=rows_ * n_total, mem=isa.MEMS["ub"])

        for ci, m0 in enumerate(range(0, layer.m, chunk)):
            rows = min(chunk, layer.m - m0)
            s = ci % 2 if nbuf == 2 else 0
            x_ready = st.emit("READ_HOST", in_war[s], tag, dram=patches + m0 * G * K,
                              chip=in_buf[s], nbytes=rows * G * K, mem=isa.MEMS["ub"])
            flush()
            last_mm: Waits = {}
            pi = 0
            for (_, g0, k, o0), gblocks, gsets in zip(packs, blocks, sets, strict=True):
                for wset in gsets:
                    if w_loaded is None or not once:
                        wbase, w_war = res.wb.take()
                        w_loaded = st.emit(
                            "READ_WEIGHTS", w_war, tag, dram=gblocks[wset[0]][0], chip=wbase,
                            nbytes=sum(gblocks[i][2] for i in wset), mem=isa.MEMS["wb"])
                    woff = 0
                    for i in wset:
                        _, cols, nbytes = gblocks[i]
                        acc, a_war = res.acc.take()
                        mm = st.emit("MATMUL", _join(w_loaded, x_ready, a_war), tag, rows=rows,
                                     k=k, cols=cols, wb=wbase + woff, acc=acc, accumulate=0,
                                     pad=0, **_rows_geometry(in_buf[s] + g0 * K, G * K))
                        woff += nbytes
                        act = st.emit("ACTIVATE", _join(mm, p_ready, out_war[s]), tag, rows=rows,
                                      acc=acc, cols=cols, ub=out_buf[s] + o0 + i * p.cols,
                                      stride=n_total, param=pbase + poffs[pi + i], **out_fields)
                        res.acc.used(act)
                        last_mm, last_act = mm, act
                    if not once:
                        res.wb.used(last_mm)
                pi += len(gblocks)
            in_war[s] = last_mm
            pending = (s, m0, rows, last_act)
        flush()
        res.param.used(last_act)
        if once:
            res.wb.used(last_mm)


def _rows_geometry(base: int, row_stride: int) -> dict:
    """Plain row-major streaming: row r at ``base + r·row_stride``, lane k at +k (stride 0 keeps
    the bounds check at pixel (0, 0) of a 1×1 image)."""
    big = (1 << 13) - 1
    return dict(pix=base, d_ox=row_stride, d_oy=row_stride, d_b=row_stride, ox=0, oy=0, wo=big,
                ho=big, x0=0, y0=0, x_reset=0, y_reset=0, stride=0, w=1, h=1, kh=1, kw=1, dil=1,
                e_dx=0, e_dy=0, e_c=1)


class _Halves:
    """A double-buffered resource (weight buffer, PARAM memory, accumulators): the halves
    alternate, each remembering the instructions that used it last."""

    def __init__(self, size: int):
        self.size, self.next, self.cur = size, 0, 0
        self.users: list[Waits] = [{}, {}]

    def take(self) -> tuple[int, Waits]:
        """The next half's base address and what must finish before it is overwritten."""
        self.cur, self.next = self.next, self.next ^ 1
        return self.cur * self.size, self.users[self.cur]

    def used(self, waits: Waits) -> None:
        self.users[self.cur] = waits


class _Resources:
    def __init__(self, p: MachineParams):
        self.wb = _Halves(p.wb_bytes // 2)
        self.param = _Halves(p.param_bytes // 2)
        self.acc = _Halves(p.acc_rows)


__all__ = ["AssemblyError", "HostStep", "Image", "Segment", "ShapeError", "assemble"]

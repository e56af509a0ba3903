"""Data movement and shape arithmetic: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Slice,
Split, Concat (and QLinearConcat), Expand, Pad, Gather, Shape, and host shape arithmetic.

Data movement runs on integers as they are (onnxruntime drops an equal DQ/Q pair around it):
Reshape/Flatten/Squeeze/Unsqueeze are views (nothing moves), the others copy elements on the
vector unit. Parameter inputs (a Reshape's target, a Slice's starts, ...) are host values known
before the run: constants, or shape arithmetic on ``Shape`` of an activation, which the host
evaluates (:class:`HostOp`, by onnx's own reference implementation) — so a model exported with a
dynamic batch dimension runs at any batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tpu.ops.core import Node, QParams, Work, replace, size
from tpu.ops.quant import dequantize_array, quantize_array
from tpu.ops.registry import onnx_op


@dataclass(frozen=True, eq=False)
class Movement(Node):
    """An op that only moves elements; ``q`` is set when it moves integers."""

    q: QParams | None = None

    params: ClassVar[tuple[int, ...]] = ()  # indices of host-value parameter inputs

    def quantize(self, qc):
        return qc.passthrough(self)

    def work(self, shapes, out):
        return Work(alu=size(out))  # one copy per output element


class View(Movement):
    unit = "view"

    def work(self, shapes, out):
        return Work()


def _axes(v, ndim: int) -> list[int]:
    return sorted(int(a) % ndim for a in np.asarray(v).reshape(-1))


@dataclass(frozen=True, eq=False)
class Reshape(View):
    """Reshape (target from ``shape`` or the second input: 0 copies a dimension, -1 is
    inferred) or Flatten (``flatten_axis``)."""

    shape: tuple[int, ...] | None = None
    flatten_axis: int | None = None
    allowzero: bool = False

    params = (1,)

    def target(self, in_shape, values) -> tuple[int, ...]:
        if self.flatten_axis is not None:
            a = self.flatten_axis % len(in_shape) if in_shape else 0
            return (size(in_shape[:a]), size(in_shape[a:]))
        spec = self.shape if self.shape is not None else tuple(int(d) for d in values[1].reshape(-1))
        dims = [in_shape[i] if d == 0 and not self.allowzero else d for i, d in enumerate(spec)]
        if dims.count(-1) > 1:
            raise ValueError("more than one -1 in the target shape")
        if -1 in dims:
            known = size([d for d in dims if d != -1])
            if known == 0 or size(in_shape) % known:
                raise ValueError(f"cannot reshape {in_shape} to {tuple(spec)}")
            dims[dims.index(-1)] = size(in_shape) // known
        if size(dims) != size(in_shape):
            raise ValueError(f"cannot reshape {tuple(in_shape)} to {tuple(spec)}")
        return tuple(dims)

    def infer(self, shapes, values):
        return self.target(shapes[0], values)

    def run(self, args, nx):
        return np.asarray(args[0]).reshape(self.target(np.shape(args[0]), args))


@dataclass(frozen=True, eq=False)
class Squeeze(View):
    axes: tuple[int, ...] | None = None  # None: from the second input, or every 1

    params = (1,)

    def _axes(self, shape, values):
        if self.axes is not None:
            return _axes(self.axes, len(shape))
        if len(values) > 1 and values[1] is not None:
            return _axes(values[1], len(shape))
        return [i for i, d in enumerate(shape) if d == 1]

    def infer(self, shapes, values):
        ax = self._axes(shapes[0], values)
        if any(shapes[0][a] != 1 for a in ax):
            raise ValueError(f"cannot squeeze axes {ax} of {shapes[0]}")
        return tuple(d for i, d in enumerate(shapes[0]) if i not in ax)

    def run(self, args, nx):
        return np.asarray(args[0]).reshape(self.infer([np.shape(args[0])], args))


@dataclass(frozen=True, eq=False)
class Unsqueeze(View):
    axes: tuple[int, ...] | None = None

    params = (1,)

    def infer(self, shapes, values):
        ax = self.axes if self.axes is not None else values[1]
        out_rank = len(shapes[0]) + np.asarray(ax).size
        ax = _axes(ax, out_rank)
        if len(set(ax)) != len(ax):
            raise ValueError(f"repeated axes {ax}")
        dims = list(shapes[0])[::-1]
        return tuple(1 if i in ax else dims.pop() for i in range(out_rank))

    def run(self, args, nx):
        return np.asarray(args[0]).reshape(self.infer([np.shape(args[0])], args))


@dataclass(frozen=True, eq=False)
class Transpose(Movement):
    perm: tuple[int, ...] | None = None

    def _perm(self, ndim):
        return tuple(self.perm) if self.perm is not None else tuple(reversed(range(ndim)))

    def infer(self, shapes, values):
        return tuple(shapes[0][p] for p in self._perm(len(shapes[0])))

    def run(self, args, nx):
        return np.ascontiguousarray(np.transpose(args[0], self._perm(np.ndim(args[0]))))

    def describe(self):
        return f"perm {self._perm(len(self.perm or ()))}"


@dataclass(frozen=True, eq=False)
class Slice(Movement):
    """ONNX Slice: inputs (data, starts, ends[, axes[, steps]]), clamped as ONNX specifies."""

    params = (1, 2, 3, 4)

    def _index(self, shape, values):
        starts, ends = (np.asarray(v).reshape(-1) for v in values[1:3])
        ndim = len(shape)
        axes = list(range(len(starts)))
        if len(values) > 3 and values[3] is not None:
            axes = [int(a) % ndim for a in np.asarray(values[3]).reshape(-1)]
        steps = np.asarray(values[4]).reshape(-1) if len(values) > 4 and values[4] is not None else \
            np.ones(len(starts), np.int64)
        index = [slice(None)] * ndim
        for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
            if st == 0:
                raise ValueError("slice step 0")
            # slice.indices clamps exactly as ONNX does (INT64 extremes included)
            index[a] = np.arange(*slice(int(s), int(e), int(st)).indices(shape[a]))
        return index

    def infer(self, shapes, values):
        return tuple(len(ix) if isinstance(ix, np.ndarray) else d
                     for ix, d in zip(self._index(shapes[0], values), shapes[0], strict=True))

    def run(self, args, nx):
        x = np.asarray(args[0])
        for axis, ix in enumerate(self._index(x.shape, args)):
            if isinstance(ix, np.ndarray):
                x = np.take(x, ix, axis=axis)
        return x


@dataclass(frozen=True, eq=False)
class Concat(Movement):
    """Concatenation; quantized (QLinearConcat) each input is requantized to the output's
    parameters unless it already has them (then it is a copy)."""

    axis: int = 1
    in_q: tuple[QParams, ...] | None = None  # per input, when quantized

    def infer(self, shapes, values):
        a = self.axis % len(shapes[0])
        for s in shapes[1:]:
            if len(s) != len(shapes[0]) or any(d != e for i, (d, e) in
                                               enumerate(zip(s, shapes[0], strict=True)) if i != a):
                raise ValueError(f"shapes {shapes} do not concatenate on axis {self.axis}")
        return (*shapes[0][:a], sum(s[a] for s in shapes), *shapes[0][a + 1:])

    def run(self, args, nx):
        if self.q is None:
            return np.concatenate([np.asarray(a, np.float32) for a in args], axis=self.axis)
        # QLinearConcat: an input with other parameters goes through a table Q_out(DQ_in(x))
        parts = [np.asarray(a, np.int64) if q.same(self.q) else quantize_array(dequantize_array(a, q), self.q)
                 for a, q in zip(args, self.in_q, strict=True)]
        return np.concatenate(parts, axis=self.axis)

    def work(self, shapes, out):
        if self.q is None or all(q.same(self.q) for q in self.in_q):
            return Work(alu=size(out))
        moved = [size(s) for s, q in zip(shapes, self.in_q, strict=True) if not q.same(self.q)]
        return Work(alu=size(out), lut=sum(moved))

    def quantize(self, qc):
        ins = [qc.int_input(t) for t in self.inputs]
        return replace(self, inputs=tuple(t for t, _ in ins), in_q=tuple(q for _, q in ins),
                       q=qc.act_q(self.output))


@dataclass(frozen=True, eq=False)
class Expand(Movement):
    params = (1,)

    def infer(self, shapes, values):
        return tuple(np.broadcast_shapes(shapes[0], tuple(int(d) for d in np.asarray(values[1]).reshape(-1))))

    def run(self, args, nx):
        return np.ascontiguousarray(np.broadcast_to(args[0], self.infer([np.shape(args[0])], args)))


@dataclass(frozen=True, eq=False)
class Pad(Movement):
    """Constant/edge/reflect padding; inputs (data, pads[, constant_value[, axes]]).
    Quantized, the constant is the quantized value (usually the zero point)."""

    mode: str = "constant"
    value: float = 0.0

    params = (1, 2, 3)

    def _pads(self, ndim, values):
        pads = np.asarray(values[1]).reshape(-1).astype(np.int64)
        axes = list(range(ndim))
        if len(values) > 3 and values[3] is not None:
            axes = [int(a) % ndim for a in np.asarray(values[3]).reshape(-1)]
        widths = [(0, 0)] * ndim
        n = len(axes)
        for i, a in enumerate(axes):
            widths[a] = (int(pads[i]), int(pads[i + n]))
        return widths

    def infer(self, shapes, values):
        return tuple(d + lo + hi for d, (lo, hi) in zip(shapes[0], self._pads(len(shapes[0]), values),
                                                          strict=True))

    def run(self, args, nx):
        x = np.asarray(args[0])
        widths = self._pads(x.ndim, args)
        if any(lo < 0 or hi < 0 for lo, hi in widths):
            raise ValueError("negative pads are unsupported")
        if self.mode == "constant":
            v = self.value
            if len(args) > 2 and args[2] is not None and np.size(args[2]):
                v = np.asarray(args[2]).reshape(-1)[0]
            if self.q is not None:  # integers pad with the constant's quantized value
                v = int(quantize_array(np.float32(v), self.q))
            return np.pad(x, widths, constant_values=v)
        return np.pad(x, widths, mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[self.mode])


@dataclass(frozen=True, eq=False)
class Gather(Movement):
    """Gather along ``axis``: rows of an activation, or (with a constant ``table``) an embedding
    lookup whose indices are the activation (the rows come from DRAM)."""

    axis: int = 0
    table: np.ndarray | None = None  # the constant data operand of an embedding lookup

    def _data_indices(self, args):
        return (self.table, args[0]) if self.table is not None else (args[0], args[1])

    def infer(self, shapes, values):
        data = self.table.shape if self.table is not None else shapes[0]
        idx = shapes[0] if self.table is not None else shapes[1]
        a = self.axis % len(data)
        return (*data[:a], *idx, *data[a + 1:])

    def run(self, args, nx):
        data, idx = self._data_indices(args)
        idx = np.asarray(idx, np.int64)
        n = np.shape(data)[self.axis]
        if np.any((idx < -n) | (idx >= n)):
            from tpu.errors import ShapeError

            raise ShapeError(f"node {self.name!r}: index out of range [-{n}, {n - 1}]")
        out = np.take(data, np.where(idx < 0, idx + n, idx), axis=self.axis)
        return out if self.q is not None or self.table is None else out.astype(np.float32)

    def quantize(self, qc):
        if self.table is None:
            return qc.passthrough(self)
        q = qc.act_q(self.output)
        return replace(self, table=qc.quantize_constant(self.table, q), q=q)


@dataclass(frozen=True, eq=False)
class Shape(Node):
    """The shape of a tensor as int64 (host: known before the run)."""

    start: int = 0
    end: int | None = None

    unit = "host"
    shape_only = True

    def infer(self, shapes, values):
        return (len(range(len(shapes[0]))[self.start:self.end]),)

    def run(self, args, nx):
        return np.asarray(np.shape(args[0])[self.start:self.end], np.int64)

    def work(self, shapes, out):
        return Work()

    def quantize(self, qc):
        return self


@dataclass(frozen=True, eq=False)
class HostOp(Node):
    """A standard ONNX op on host values (shape arithmetic: Gather/Concat/Cast/Mul/... of
    shapes; an attention mask made from an integer input), computed by onnx's reference
    implementation."""

    proto: object = None  # onnx.NodeProto
    opset: int = 13
    dtypes: tuple[str, ...] = ()  # of the inputs: stand-ins where a value comes only at run time

    unit = "host"

    @property
    def op(self) -> str:
        return self.proto.op_type

    def stand_ins(self, shapes, values) -> list[np.ndarray]:
        """The values, zeros of the right shape and type where one is not known yet."""
        return [np.zeros(s, self.dtypes[i] if i < len(self.dtypes) else np.float32) if v is None else v
                for i, (s, v) in enumerate(zip(shapes, values, strict=True))]

    def infer(self, shapes, values):
        return np.shape(self.run(self.stand_ins(shapes, values), None))

    def run(self, args, nx):
        from tpu.frontend.fold import fold

        return fold(self.proto, [np.asarray(a) for a in args], self.opset)[0]

    def work(self, shapes, out):
        return Work()

    def quantize(self, qc):
        return self


# --- import rules -------------------------------------------------------------------------

def _params(ctx, node, first: int = 1) -> tuple[str, ...]:
    """Parameter inputs as host tensors (constants become Constant nodes); '' stays absent."""
    return tuple(ctx.host_input(n) if n else "" for n in node.input[first:])


def movement(ctx, node, group, build, *, params: bool = True):
    """Emit a data-movement op on integers (QOperator tensor, or a QDQ group ORT drops) or floats."""
    rest = _params(ctx, node) if params else ()
    if group is not None:
        x, q = group.inputs[0]
        if not q.same(group.out_q):
            return False
        ctx.emit(build((x, *rest), group.output, q))
        return True
    x = ctx.tensor(node.input[0])
    if ctx.is_int(x):
        ctx.emit(build((x, *rest), node.output[0], ctx.q_of(x)))
    else:
        ctx.emit(build((ctx.float_input(x), *rest), node.output[0], None))
    return True


@onnx_op("Reshape", qdq="drop", act_inputs=(0,))
def import_reshape(ctx, node, group):
    allowzero = bool(ctx.attrs(node).get("allowzero", 0))
    name = ctx.name(node)
    return movement(ctx, node, group, lambda i, o, q: Reshape(name, i, o, q=q, allowzero=allowzero))


@onnx_op("Flatten", qdq="drop", act_inputs=(0,))
def import_flatten(ctx, node, group):
    axis, name = int(ctx.attrs(node).get("axis", 1)), ctx.name(node)
    return movement(ctx, node, group, lambda i, o, q: Reshape(name, i, o, q=q, flatten_axis=axis),
                    params=False)


@onnx_op("Squeeze", "Unsqueeze", qdq="drop", act_inputs=(0,))
def import_squeeze(ctx, node, group):
    a, name = ctx.attrs(node), ctx.name(node)
    cls = Squeeze if node.op_type == "Squeeze" else Unsqueeze
    axes = tuple(a["axes"]) if "axes" in a else None  # opset < 13: an attribute
    return movement(ctx, node, group, lambda i, o, q: cls(name, i, o, q=q, axes=axes))


@onnx_op("Transpose", qdq="drop", act_inputs=(0,))
def import_transpose(ctx, node, group):
    perm = ctx.attrs(node).get("perm")
    perm, name = (tuple(perm) if perm is not None else None), ctx.name(node)
    return movement(ctx, node, group, lambda i, o, q: Transpose(name, i, o, q=q, perm=perm), params=False)


@onnx_op("Slice", qdq="drop", act_inputs=(0,))
def import_slice(ctx, node, group):
    a, name = ctx.attrs(node), ctx.name(node)
    if "starts" in a:  # opset < 10: attributes
        node = ctx.with_inputs(node, [node.input[0]] + [ctx.constant(np.asarray(a[k], np.int64))
                                                        for k in ("starts", "ends", "axes") if k in a])
    return movement(ctx, node, group, lambda i, o, q: Slice(name, i, o, q=q))


@onnx_op("Expand", qdq="drop", act_inputs=(0,))
def import_expand(ctx, node, group):
    name = ctx.name(node)
    return movement(ctx, node, group, lambda i, o, q: Expand(name, i, o, q=q))


@onnx_op("Split", qdq="drop", act_inputs=(0,))
def import_split(ctx, node, group):
    """Split becomes one Slice per output (every IR node has one output)."""
    a = ctx.attrs(node)
    axis = int(a.get("axis", 0))
    dim = ctx.static_dim(node, node.input[0], axis)
    if "split" in a:
        sizes = list(a["split"])
    elif len(node.input) > 1 and node.input[1]:
        sizes = [int(s) for s in ctx.const(node, node.input[1], "split")]
    else:
        n = int(a.get("num_outputs", len(node.output)))
        step = -(-dim // n)
        sizes = [min(step, dim - i * step) for i in range(n)]
    if sum(sizes) != dim or len(sizes) != len(node.output):
        raise ctx.err(node, f"split sizes {sizes} do not cover dimension {dim}")
    x = ctx.tensor(node.input[0])
    outs = list(node.output)
    if ctx.is_int(x):
        src, q = x, ctx.q_of(x)
    elif group is not None:  # QDQ: every output closed by a Q of the input's parameters
        src, q = group.inputs[0]
        closing = [ctx.single_consumer(o, "QuantizeLinear") for o in outs]
        if not all(c is not None and ctx.q_equal(c, q) for c in closing):
            return False
        for c in closing[1:]:  # the core skips the first output's Q itself
            ctx.skip(c)
        outs = [c.output[0] for c in closing]
    else:
        src, q = ctx.float_input(x), None
    start = 0
    axes = ctx.constant(np.asarray([axis], np.int64))
    for i, (out, s) in enumerate(zip(outs, sizes, strict=True)):
        starts = ctx.constant(np.asarray([start], np.int64))
        ends = ctx.constant(np.asarray([start + s], np.int64))
        ctx.emit(Slice(f"{ctx.name(node)}_{i}", (src, starts, ends, axes), out, q=q))
        start += s
    return group is not None and q is not None


@onnx_op("Pad")  # onnxruntime keeps a QDQ Pad in float (no integer Pad fusion on the CPU)
def import_pad(ctx, node, group):
    a, name = ctx.attrs(node), ctx.name(node)
    mode = a.get("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise ctx.err(node, f"pad mode {mode!r} is unsupported")
    if "pads" in a:  # opset < 11
        node = ctx.with_inputs(node, [node.input[0], ctx.constant(np.asarray(a["pads"], np.int64))])
    value = float(a.get("value", 0.0))
    return movement(ctx, node, group, lambda i, o, q: Pad(name, i, o, q=q, mode=mode, value=value))


@onnx_op("Concat", qdq="fuse")
def import_concat(ctx, node, group):
    axis, name = int(ctx.attrs(node)["axis"]), ctx.name(node)
    if group is not None:
        if not all(isinstance(t, str) for t, _ in group.inputs):
            return False
        ctx.emit(Concat(name, tuple(t for t, _ in group.inputs), group.output, axis=axis,
                        q=group.out_q, in_q=tuple(q for _, q in group.inputs)))
        return True
    ins = [ctx.tensor(t) for t in node.input]
    if all(ctx.is_int(t) for t in ins):  # integers of equal parameters: a copy
        qs = [ctx.q_of(t) for t in ins]
        if all(q.same(qs[0]) for q in qs):
            ctx.emit(Concat(name, tuple(ins), node.output[0], axis=axis, q=qs[0], in_q=tuple(qs)))
            return True
    ctx.emit(Concat(name, tuple(ctx.float_input(t) for t in ins), node.output[0], axis=axis))


@onnx_op("QLinearConcat")
def import_qlinear_concat(ctx, node, group):
    oq = ctx.out_q(node, 0)
    ins, qs = [], []
    for i in range(2, len(node.input), 3):
        t = ctx.tensor(node.input[i])
        q = ctx.qparams(node, node.input[i + 1], node.input[i + 2])
        if ctx.is_constant(t):
            t = ctx.constant(ctx.int8_const(node, t, "input").astype(np.int64), q)
        ins.append(t)
        qs.append(q)
    ctx.emit(Concat(ctx.name(node), tuple(ins), node.output[0], axis=int(ctx.attrs(node)["axis"]), q=oq,
                    in_q=tuple(qs)))


@onnx_op("Gather", qdq="drop", act_inputs=(0,))
def import_gather(ctx, node, group):
    axis, name = int(ctx.attrs(node).get("axis", 0)), ctx.name(node)
    data, idx = node.input
    if ctx.is_constant(data) and not ctx.is_constant(idx):  # an embedding lookup
        table, tq = ctx.weight(node, data)
        out = node.output[0]
        raw = ctx.maybe_const(data)
        if tq is None and raw is not None and raw.dtype in (np.uint8, np.int8):
            # QOperator: an integer table, its parameters declared where the rows are read
            tq = ctx.consumer_qparams(out)
            if tq is None:
                raise ctx.err(node, "an integer embedding table needs a quantized consumer")
            table = raw.astype(np.int64)
        if tq is not None:
            q_node = ctx.single_consumer(out, "QuantizeLinear")
            if q_node is not None and ctx.q_equal(q_node, tq):  # DQ(table) → Gather → Q: integer rows
                out = q_node.output[0]
                ctx.skip(q_node)
            ctx.emit(Gather(name, (ctx.int_indices(idx),), out, axis=axis, table=table, q=tq))
            return True
        ctx.emit(Gather(name, (ctx.int_indices(idx),), out, axis=axis, table=np.asarray(table, np.float32)))
        return True
    if group is not None:
        x, q = group.inputs[0]
        if not q.same(group.out_q):
            return False
        ctx.emit(Gather(name, (x, ctx.host_input(idx)), group.output, axis=axis, q=q))
        return True
    x = ctx.tensor(data)
    q = ctx.q_of(x) if ctx.is_int(x) else None
    ctx.emit(Gather(name, (x if q else ctx.float_input(x), ctx.host_input(idx)), node.output[0],
                    axis=axis, q=q))


@onnx_op("Shape")
def import_shape(ctx, node, group):
    a = ctx.attrs(node)
    end = a.get("end")
    ctx.emit(Shape(ctx.name(node), (ctx.any_input(node.input[0]),), node.output[0],
                   start=int(a.get("start", 0)), end=None if end is None else int(end)))

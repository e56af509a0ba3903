"""ONNX → IR: float models, and models onnxruntime quantized (QOperator and QDQ formats).

The import rules of each op live with the op (:mod:`tpu.ops`, registered with ``onnx_op``); this
module is the machinery they share:

* constants: initializers, Constant nodes, Identity aliases, and nodes whose inputs are all
  constant, folded at import by onnx's reference implementation (as onnxruntime does at
  session start); shape arithmetic on a dynamic shape becomes host ops evaluated per batch;
* QDQ: a DequantizeLinear is kept lazy until its consumers decide: in a DQ → op → Q group that
  onnxruntime's QDQ fusion (ORT_ENABLE_ALL) turns into an integer op, the op's rule builds the
  integer op; around data movement the pair is dropped when the parameters are equal; anything
  else stays DequantizeLinear → float op → QuantizeLinear, as onnxruntime runs it;
* a model with ops no rule covers is refused with every unsupported op type listed at once.
"""

from __future__ import annotations

from dataclasses import replace as dc_replace
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tpu import ops  # noqa: F401  (registers every op's import rules)
from tpu.errors import ModelError, TpuError
from tpu.frontend.fold import KEEP, fold
from tpu.ops.core import MALFORMED, Graph, QParams, TensorSpec, propagate
from tpu.ops.quant import Constant, Dequantize, Quantize, dequantize_array, quantize_array
from tpu.ops.registry import DOMAINS, RULES, QdqGroup

CORE = {"QuantizeLinear", "DequantizeLinear", "Constant", "Identity", "Dropout"}

_BITS = {np.dtype(np.uint8): (8, False), np.dtype(np.int8): (8, True),
         np.dtype(np.uint16): (16, False), np.dtype(np.int16): (16, True),
         np.dtype(np.int32): (32, True)}
_INPUT_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64",
                onnx.TensorProto.INT32: "int32"}

# Logic and indexing the host runs on integer inputs: the attention mask an encoder takes
# becomes the float mask added to its scores (Cast, GatherND, And, then a Where of constants)
MASK_OPS = frozenset({"Cast", "And", "Or", "Xor", "Not", "GatherND", "Equal", "Less", "Greater",
                      "LessOrEqual", "GreaterOrEqual"})


def load_onnx(path: str | Path) -> Graph:
    """Read an ONNX file into the IR (float, QOperator or QDQ); raises ModelError."""
    if not isinstance(path, str | Path):
        raise ModelError(f"load_onnx takes a file path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(p))
    except Exception as exc:  # protobuf DecodeError, missing external data, ...
        raise ModelError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not proto.graph.node:
        raise ModelError(f"{path}: not an ONNX model (no graph nodes)")
    return import_model(proto, p.name)


def import_model(proto: onnx.ModelProto, fname: str = "model") -> Graph:
    try:
        return _Importer(proto, fname).run()
    except ModelError:
        raise
    except TpuError as exc:
        raise ModelError(f"{fname}: {exc}") from None
    except MALFORMED as exc:  # a graph that breaks the ONNX rules in a way no rule names
        raise ModelError(f"{fname}: malformed model ({type(exc).__name__}: {exc})") from None


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _toposort(graph: onnx.GraphProto, fname: str) -> list[onnx.NodeProto]:
    """The nodes in an order where every input is produced first (onnxruntime's quantizer can
    write Q/DQ nodes ahead of the Identity feeding them; onnxruntime sorts on load too). The
    file's order is kept wherever it is already valid."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    order = []
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                order.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            missing = sorted({i for n in rest for i in n.input if i not in ready
                              and not any(i in m.output for m in rest)})
            what = f"tensor {missing[0]!r} is never produced" if missing else "the graph has a cycle"
            raise ModelError(f"{fname}: node {rest[0].name or rest[0].op_type!r}: {what}")
        pending = rest
    return order


class _Importer:
    """The import context the op rules call (``ctx`` in tpu/ops)."""

    def __init__(self, proto: onnx.ModelProto, fname: str):
        self.proto = proto
        self.fname = fname
        g = proto.graph
        self.order = _toposort(g, fname)
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.consts: dict[str, np.ndarray] = {}
        for t in g.initializer:
            try:
                self.consts[t.name] = numpy_helper.to_array(t)
            except Exception as exc:  # external data missing, corrupt tensor
                raise ModelError(f"{fname}: initializer {t.name!r} cannot be read ({exc})") from None
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.order:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.graph_outputs = {o.name for o in g.output}
        self.node_names = {id(n): n.name or f"{n.op_type}_{k}" for k, n in enumerate(self.order)}
        self.nodes: list = []
        self.qp: dict[str, QParams] = {}  # integer activation tensors and their params
        self.dq_act: dict[str, str] = {}  # DQ output -> integer source tensor (lazy)
        self.dq_const: dict[str, tuple[np.ndarray, QParams]] = {}  # DQ of a constant
        self.host: set[str] = set()  # tensors the host computes: from shapes, or masks (below)
        self.host_dtypes: dict[str, np.dtype] = {}
        self.int_inputs: set[str] = set()  # integer graph inputs (token ids, attention masks)
        self.materialized: set[str] = set()
        self.skipped: set[int] = set()
        self.aliases: dict[str, str] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.values: dict[str, np.ndarray] = {}
        self.names: set[str] = set()
        self.counter = 0

    # --- what rules call -------------------------------------------------------------------
    def err(self, node: onnx.NodeProto, msg: str) -> ModelError:
        return ModelError(f"{self.fname}: node {self.name(node)!r} ({node.op_type}): {msg}")

    def name(self, node: onnx.NodeProto) -> str:
        return self.node_names.get(id(node)) or node.name or node.op_type

    def attrs(self, node: onnx.NodeProto) -> dict:
        return _attrs(node)

    def tensor(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def alias(self, name: str, target: str) -> None:
        self.aliases[name] = self.tensor(target)

    def is_alias(self, name: str) -> bool:
        return name in self.aliases

    def skip(self, node: onnx.NodeProto) -> None:
        self.skipped.add(id(node))

    def is_constant(self, name: str) -> bool:
        t = self.tensor(name)
        return t in self.consts or t in self.dq_const

    def maybe_const(self, name: str) -> np.ndarray | None:
        return self.consts.get(self.tensor(name))

    def const(self, node, name: str, what: str) -> np.ndarray:
        t = self.tensor(name)
        if t not in self.consts:
            raise self.err(node, f"{what} {name!r} must be a constant initializer")
        return self.consts[t]

    def int8_const(self, node, name: str, what: str) -> np.ndarray:
        """A constant operand of a QOperator op: its kernels take int8 or uint8 only."""
        v = np.asarray(self.const(node, name, what))
        if v.dtype not in (np.int8, np.uint8):
            raise self.err(node, f"{what} {name!r} is {v.dtype}, not int8 or uint8 (onnxruntime "
                                 f"refuses this model too; re-quantize it)")
        return v

    def float_const(self, node, name: str) -> np.ndarray:
        t = self.tensor(name)
        if t in self.dq_const:
            v, q = self.dq_const[t]
            return dequantize_array(v, q)
        return np.asarray(self.const(node, t, "operand"), np.float32)

    def weight(self, node, name: str) -> tuple[np.ndarray, QParams | None]:
        """A float constant, or (integers, params) when it is a DequantizeLinear'd constant."""
        t = self.tensor(name)
        if t in self.dq_const:
            return self.dq_const[t]
        return np.asarray(self.const(node, t, "weight"), np.float32), None

    @staticmethod
    def dequantized(w: np.ndarray, q: QParams | None) -> np.ndarray:
        return w if q is None else dequantize_array(w, q)

    @staticmethod
    def channel_axis(q: QParams, axis: int) -> QParams:
        """Weight params with the IR's channel axis (Conv: 0 of OIHW; Gemm: 1 of K×N)."""
        return q if np.ndim(q.scale) == 0 else dc_replace(q, axis=axis)

    def qparams(self, node, scale_name: str, zp_name: str | None, axis: int | None = None) -> QParams:
        scale = np.asarray(self.const(node, scale_name, "scale"), np.float32)
        zp = np.asarray(self.const(node, zp_name, "zero point")) if zp_name else \
            np.zeros(scale.shape, np.uint8)
        if zp.dtype not in _BITS:
            raise self.err(node, f"unsupported quantized type {zp.dtype}")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise self.err(node, f"scale {scale_name!r} must be positive and finite")
        bits, signed = _BITS[zp.dtype]
        if scale.size > 1 or zp.size > 1:
            scale = scale.reshape(-1)
            zp64 = np.broadcast_to(zp.astype(np.int64).reshape(-1), scale.shape).copy()
            return QParams(scale, zp64, bits, signed, axis)
        return QParams(scale.reshape(()), zp.astype(np.int64).reshape(()), bits, signed, None)

    def q_equal(self, q_node, q: QParams) -> bool:
        zp = q_node.input[2] if len(q_node.input) > 2 else None
        return self.qparams(q_node, q_node.input[1], zp).same(q)

    @staticmethod
    def fusable_bias(bias, x_q: QParams, w_q: QParams) -> bool:
        """onnxruntime fuses a QDQ Conv/Gemm with a bias only when the bias is int32 behind a
        DequantizeLinear (a float bias, which quantize_static leaves when it cannot quantize it,
        keeps the group in float) whose scale is within 1.5 % of x_scale·w_scale per channel
        (measured on onnxruntime 1.32: a bias DequantizeLinear shared by convs of other scales,
        as torch's exporter deduplicates zero biases, keeps those convs in float)."""
        if bias is None:
            return True
        values, q = bias
        if q is None:
            return False
        p = np.float32(x_q.scale) * np.asarray(w_q.scale, np.float32)
        return bool(np.all(np.abs(np.asarray(q.scale, np.float32) - p) < np.float32(0.015) * p))

    @staticmethod
    def fusable_activation(q: QParams) -> bool:
        """onnxruntime on x86 fuses a QDQ matrix op only on u8 activations (s8 ones it could not
        move to u8 leave the group in float)."""
        return not q.signed

    def out_q(self, node, scale_idx: int) -> QParams:
        zp = node.input[scale_idx + 1] if len(node.input) > scale_idx + 1 else None
        return self.qparams(node, node.input[scale_idx], zp or None)

    def is_int(self, tensor: str) -> bool:
        return self.tensor(tensor) in self.qp

    def q_of(self, tensor: str) -> QParams:
        return self.qp[self.tensor(tensor)]

    def int_input(self, node, idx: int) -> tuple[str, QParams]:
        """Input ``idx`` of a QOperator op, whose scale and zero point follow it."""
        t = self.tensor(node.input[idx])
        if t not in self.qp and t in self.host and len(node.input) > idx + 1 and node.input[idx + 1]:
            # 8-bit data the host computes from shapes (a Gather of an 8-bit table by indices
            # built from the batch size, as BERT's token types export): the op declares its
            # parameters
            zp = node.input[idx + 2] if len(node.input) > idx + 2 else None
            self.qp[t] = self.qparams(node, node.input[idx + 1], zp)
        if t not in self.qp:
            raise self.err(node, f"input {t!r} is not a quantized tensor")
        return t, self.qp[t]

    def int_operand(self, value, q: QParams) -> tuple[str, QParams]:
        """A QDQ group's input as an integer tensor (a DQ'd constant becomes a Constant node)."""
        if isinstance(value, str):
            return value, q
        return self.constant(np.asarray(value).astype(np.int64), q), q

    def float_input(self, name: str) -> str:
        """The float version of a tensor, materializing a lazy DequantizeLinear or a constant."""
        t = self.tensor(name)
        if t in self.materialized:
            return t
        if t in self.dq_act:
            src = self.dq_act[t]
            self.emit(Dequantize(f"{t}_dq", (src,), t, q=self.qp[src]))
        elif t in self.dq_const:
            v, q = self.dq_const[t]
            self.emit(Constant(f"{t}_const", (), t, value=dequantize_array(v, q)))
        elif t in self.consts:
            v = self.consts[t]
            v = v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v
            self.emit(Constant(f"{t}_const", (), t, value=v))
        return t

    def any_input(self, name: str) -> str:
        """A tensor with the same shape as ``name`` (for Shape: a lazy DequantizeLinear's source)."""
        t = self.tensor(name)
        if t in self.dq_act and t not in self.materialized:
            return self.dq_act[t]
        return self.float_input(t) if t in self.consts or t in self.dq_const else t

    def consumer_qparams(self, tensor: str) -> QParams | None:
        """The parameters a QOperator consumer (QLinearAdd, QLinearConv, ...) declares for an
        integer ``tensor`` it reads, as (x, x_scale, x_zero_point) triples."""
        for n in self.consumers.get(tensor, []):
            if not (n.op_type.startswith("QLinear") or n.op_type in ("QGemm", "DequantizeLinear")):
                continue
            for i, name in enumerate(n.input):
                if name == tensor:
                    if n.op_type == "DequantizeLinear":
                        return self.qparams(n, n.input[1], n.input[2] if len(n.input) > 2 else None)
                    if len(n.input) > i + 1:
                        zp = n.input[i + 2] if len(n.input) > i + 2 else None
                        return self.qparams(n, n.input[i + 1], zp)
        return None

    def constant_input(self, name: str) -> str:
        return self.float_input(name)

    def host_input(self, name: str) -> str:
        """A parameter input (a shape, axes, pads, ...): a constant or host shape arithmetic."""
        if not name:
            return ""
        t = self.tensor(name)
        if t in self.consts:
            return self.float_input(t)
        if t in self.host:
            return t
        raise ModelError(f"{self.fname}: tensor {name!r} must be a constant or computed from shapes")

    def host_or_float(self, name: str) -> str:
        t = self.tensor(name)
        return self.host_input(t) if (t in self.consts or t in self.host) else self.float_input(t)

    def int_indices(self, name: str) -> str:
        t = self.tensor(name)
        return self.host_input(t) if t in self.consts else t

    def constant(self, value: np.ndarray, q: QParams | None = None) -> str:
        """A new Constant node holding ``value``; returns its tensor."""
        self.counter += 1
        t = f"const_{self.counter}"
        while t in self.names or t in self.consts:
            self.counter += 1
            t = f"const_{self.counter}"
        self.consts[t] = value
        self.emit(Constant(t, (), t, value=value, q=q))
        return t

    def with_inputs(self, node: onnx.NodeProto, inputs: list[str]) -> onnx.NodeProto:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        del n.input[:]
        n.input.extend(inputs)
        self.node_names[id(n)] = self.name(node)
        return n

    def consumers_of(self, tensor: str) -> list[onnx.NodeProto]:
        return [n for n in self.consumers.get(tensor, []) if id(n) not in self.skipped]

    def has_consumers(self, tensor: str) -> bool:
        return bool(self.consumers.get(tensor))

    def is_graph_output(self, tensor: str) -> bool:
        return tensor in self.graph_outputs

    def single_consumer(self, tensor: str, op_type: str) -> onnx.NodeProto | None:
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == op_type and tensor not in self.graph_outputs:
            return users[0]
        return None

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.shapes[self.tensor(tensor)]

    def static_dim(self, node, tensor: str, axis: int) -> int:
        t = self.tensor(tensor)
        t = self.dq_act.get(t, t)
        if t not in self.shapes:
            raise self.err(node, f"the shape of {tensor!r} is not known at import")
        return self.shapes[t][axis]

    def emit(self, node) -> None:
        if node.name in self.names:
            node = dc_replace(node, name=f"{node.name}_{len(self.nodes)}")
        self.nodes.append(node)
        self.names.add(node.name)
        self.materialized.add(node.output)
        q = getattr(node, "out_q", None) or getattr(node, "q", None)
        if isinstance(node, Dequantize) or (isinstance(node, Constant) and q is None):
            q = None
        if q is not None:
            self.qp[node.output] = q
        if node.unit == "host" and not isinstance(node, Quantize | Dequantize):
            self.host.add(node.output)
        self._infer(node)

    def _infer(self, node) -> None:
        """Shapes at batch 1 as the graph is built: an inconsistent model fails at the node."""
        ins = [self.shapes.get(t) for t in node.inputs]
        if any(s is None for s in ins):
            return  # an input from a graph input whose shape is unknown: checked on completion
        mini = Graph("", (node,), tuple(node.inputs), (node.output,))
        try:
            shapes, values = propagate(mini, dict(zip(node.inputs, ins, strict=True)), self.values)
        except TpuError as exc:
            raise ModelError(f"{self.fname}: {exc}") from None
        self.shapes[node.output] = shapes[node.output]
        if node.output in values:
            self.values[node.output] = values[node.output]

    def _on_host(self, node: onnx.NodeProto, ins: list[str], known) -> bool:
        """Whether the host computes ``node``: a standard op on values it knows (``known(t)``:
        constants, shape arithmetic), or mask logic (MASK_OPS) also reading integer inputs."""
        if node.domain not in ("", "ai.onnx") or node.op_type in KEEP or not ins:
            return False
        return all(known(i) or (node.op_type in MASK_OPS and i in self.int_inputs) for i in ins)

    def _host_op(self, node: onnx.NodeProto) -> None:
        """A standard op the host computes: shape arithmetic, or (MASK_OPS) the logic that turns
        an integer input such as an attention mask into the float mask the model adds."""
        from tpu.ops.shape import HostOp

        ins = tuple(i if i in self.int_inputs else self.host_input(i) for i in node.input if i)
        dtypes = tuple(str(self.values[t].dtype if t in self.values else self.host_dtypes[t])
                       for t in ins)
        op = HostOp(self.name(node), ins, node.output[0], proto=node, opset=self.opset,
                    dtypes=dtypes)
        self.emit(op)
        out = self.values.get(op.output)
        if out is None:
            out = op.run(op.stand_ins([self.shapes[t] for t in ins], [None] * len(ins)), None)
        self.host_dtypes[op.output] = np.asarray(out).dtype

    # --- the import loop --------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.proto.graph
        specs = self._specs()
        self.int_inputs = {n for n, spec in specs.items() if spec.dtype != "float32"}
        self.host_dtypes.update((n, np.dtype(spec.dtype)) for n, spec in specs.items())
        self._check_supported()
        for name, spec in specs.items():
            dims = spec.shape
            first = next((i for i, d in enumerate(dims) if d is None), None)
            if all(d is not None or i == first for i, d in enumerate(dims)):
                # shapes at batch 1 as the graph is built; other dynamic dims: known per input
                self.shapes[name] = tuple(1 if d is None else d for d in dims)
        for node in self.order:
            if id(node) in self.skipped:
                continue
            try:
                self._import(node)
            except TpuError:
                raise
            except MALFORMED as exc:  # an attribute of the wrong kind, a missing input, ...
                raise self.err(node, f"malformed node ({type(exc).__name__}: {exc})") from None
        outputs = []
        for o in g.output:
            t = self.tensor(o.name)
            if t in self.dq_act or t in self.dq_const or t in self.consts:
                t = self.float_input(t)
            outputs.append(t)
        produced = {n.output for n in self.nodes} | set(specs)
        for o, t in zip(g.output, outputs, strict=True):
            if t not in produced:
                raise ModelError(f"{self.fname}: graph output {o.name!r} is not produced by any node")
        nodes = fuse_relu(self.nodes, set(outputs))
        graph = Graph(g.name or Path(self.fname).stem, tuple(nodes), tuple(specs), tuple(outputs),
                      quantized=any(n.quantized for n in nodes), specs=specs)
        shapes = {}
        if all(t in self.shapes for t in graph.inputs):
            try:
                shapes = graph.shapes_at(1)
            except TpuError as exc:
                raise ModelError(f"{self.fname}: {exc}") from None
        return dc_replace(graph, shapes=shapes, _cache={})

    def _specs(self) -> dict[str, TensorSpec]:
        specs = {}
        for vi in self.proto.graph.input:
            if vi.name in self.consts:
                continue
            t = vi.type.tensor_type
            if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
                raise ModelError(f"{self.fname}: graph input {vi.name!r} has no tensor shape")
            dtype = _INPUT_TYPES.get(t.elem_type)
            if dtype is None:
                raise ModelError(f"{self.fname}: graph input {vi.name!r} has element type "
                                 f"{onnx.TensorProto.DataType.Name(t.elem_type)}; supported: float, "
                                 f"int64, int32")
            shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
            specs[vi.name] = TensorSpec(shape, dtype)
        if not specs:
            raise ModelError(f"{self.fname}: the graph has no input")
        return specs

    def _check_supported(self) -> None:
        """Refuse the model once, naming every op type nothing can run (with counts)."""
        const = set(self.consts)
        host = set(self.consts)
        missing: dict[str, list[str]] = {}
        for n in self.order:
            ins = [i for i in n.input if i]
            standard = n.domain in ("", "ai.onnx")
            if n.op_type == "Constant" or (n.op_type in ("Identity", "Dropout") and ins and ins[0] in const):
                const.update(n.output)
                host.update(n.output)
                continue
            if standard and n.op_type not in KEEP and all(i in const for i in ins):
                const.update(n.output)
                host.update(n.output)
                continue
            if n.op_type == "Shape" or self._on_host(n, ins, host.__contains__):
                host.update(n.output)
                continue
            if n.domain not in DOMAINS or (n.op_type not in RULES and n.op_type not in CORE):
                key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                where = (repr(n.name) if n.name else
                         f"the node writing {n.output[0]!r}" if n.output else "unnamed")
                missing.setdefault(key, []).append(where)
        if missing:
            parts = [f"{op} ×{len(names)} (first: {names[0]})" for op, names in sorted(missing.items())]
            count = sum(len(v) for v in missing.values())
            raise ModelError(f"{self.fname}: {count} {'node uses an op' if count == 1 else 'nodes use ops'} "
                             f"tpu does not support: {'; '.join(parts)}. Re-export the model with "
                             f"supported ops (docs/compiler.md): {', '.join(supported_ops())}")

    def _import(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        ins = [self.tensor(i) for i in node.input if i]
        if op == "Constant":
            return self._constant(node)
        if op in ("Identity", "Dropout"):
            if len(node.output) > 1 and node.output[1] and self.has_consumers(node.output[1]):
                raise self.err(node, "the Dropout mask output is unsupported")
            self.alias(node.output[0], node.input[0])
            return
        if op == "QuantizeLinear":
            return self._quantize_linear(node)
        if op == "DequantizeLinear":
            return self._dequantize_linear(node)
        standard = node.domain in ("", "ai.onnx")
        if standard and op not in KEEP and all(i in self.consts for i in ins):
            try:
                values = fold(node, [self.consts[self.tensor(i)] for i in node.input if i], self.opset)
            except Exception as exc:
                raise self.err(node, f"cannot fold this constant node ({exc})") from None
            for out, v in zip(node.output, values, strict=False):
                self.consts[out] = v
            return
        if op != "Shape" and self._on_host(node, ins, lambda t: t in self.host or t in self.consts):
            return self._host_op(node)
        rule = RULES[op]
        group = self._group(node, rule) if rule.qdq else None
        if group is not None and rule.build(self, node, group) is True:  # it built the integer op
            q_node = self.consumers[node.output[0]][0]
            self.skip(q_node)
            self.qp[group.output] = group.out_q
            return
        rule.build(self, node, None)

    def _group(self, node, rule) -> QdqGroup | None:
        """The DQ → node → Q group around ``node``, if there is one."""
        act = set(rule.act_inputs if rule.act_inputs is not None else range(len(node.input)))
        ins, any_act = [], False
        for i, name in enumerate(node.input):
            t = self.tensor(name) if name else ""
            if not t:
                ins.append(None)
            elif t in self.dq_act:
                ins.append((self.dq_act[t], self.qp[self.dq_act[t]]))
                any_act |= i in act
            elif t in self.dq_const:
                ins.append(self.dq_const[t])
            elif i not in act and t in self.host:  # a parameter: a shape, axes, ...
                ins.append((t, None))
            elif i in act or t not in self.consts:
                return None
            else:
                ins.append((self.consts[t], None))
        if not any_act:
            return None
        out = node.output[0]
        q_node = self.single_consumer(out, "QuantizeLinear")
        if q_node is None:
            return None
        return QdqGroup(tuple(ins), q_node.output[0], self.activation_q(q_node))

    def _constant(self, node) -> None:
        a = _attrs(node)
        if "value" in a:
            self.consts[node.output[0]] = numpy_helper.to_array(a["value"])
            return
        for key, cast in (("value_float", np.float32), ("value_int", np.int64)):
            if key in a:
                self.consts[node.output[0]] = np.asarray(a[key], cast)
                return
        for key, cast in (("value_floats", np.float32), ("value_ints", np.int64)):
            if key in a:
                self.consts[node.output[0]] = np.asarray(list(a[key]), cast)
                return
        raise self.err(node, "only value, value_float(s) and value_int(s) Constants are supported")

    def activation_q(self, q_node) -> QParams:
        """The parameters of an activation QuantizeLinear as onnxruntime runs them on x86: its
        QDQS8ToU8 transform turns an s8 Q whose output only feeds one DequantizeLinear of the
        same parameters into u8 with zero point + 128 (the same values shifted by 128), so the
        integer ops after it see u8; other s8 pairs stay s8 (and on x86 their groups in float)."""
        q = self.out_q(q_node, 1)
        if not (q.signed and q.bits == 8 and q.axis is None):
            return q
        users = self.consumers.get(q_node.output[0], [])
        if len(users) != 1 or users[0].op_type != "DequantizeLinear" \
                or q_node.output[0] in self.graph_outputs:
            return q
        # onnxruntime first gives every consumer of a DequantizeLinear its own copy, so a pair
        # whose DQ feeds several ops has several DQs and stays s8
        dq_out = users[0].output[0]
        if len(self.consumers.get(dq_out, [])) != 1 or dq_out in self.graph_outputs:
            return q
        if not self.q_equal(users[0], q):
            return q
        return QParams(q.scale, q.zero_point + 128, 8, False, None)

    def _quantize_linear(self, node) -> None:
        axis = _attrs(node).get("axis", 1)
        zp = node.input[2] if len(node.input) > 2 else None
        q = self.qparams(node, node.input[1], zp or None, axis)
        src, out = self.tensor(node.input[0]), node.output[0]
        if src in self.consts or src in self.dq_const:  # a quantized constant computed at import
            value = self.consts[src] if src in self.consts else dequantize_array(*self.dq_const[src])
            self.consts[out] = quantize_array(value, q).astype(np.int64)
            return
        if q.axis is not None:
            raise self.err(node, "per-channel quantization of activations is unsupported")
        self.emit(Quantize(self.name(node), (self.float_input(src),), out, q=self.activation_q(node)))

    def _dequantize_linear(self, node) -> None:
        axis = _attrs(node).get("axis", 1)
        zp = node.input[2] if len(node.input) > 2 else None
        q = self.qparams(node, node.input[1], zp or None, axis)
        src, out = self.tensor(node.input[0]), node.output[0]
        if src in self.consts:
            self.dq_const[out] = (np.asarray(self.consts[src]).astype(np.int64), q)
            return
        if src not in self.qp:
            raise self.err(node, f"input {src!r} is not a quantized tensor")
        if q.signed and not self.qp[src].signed and q.zero_point + 128 == self.qp[src].zero_point:
            q = self.qp[src]  # the pair onnxruntime moved to u8 (activation_q)
        if not self.has_consumers(out) or out in self.graph_outputs:
            self.emit(Dequantize(self.name(node), (src,), out, q=q))
            return
        self.dq_act[out] = src  # the consumers decide: fused into an integer op or not


def supported_ops() -> list[str]:
    return sorted(set(RULES) | CORE)


def fuse_relu(nodes: list, outputs: set[str]) -> list:
    """Fold a Relu or a Clip into the op producing its input (a Clamped op: Conv, Gemm, Add, ...)
    when nothing else reads that input. Quantized, only a clamp on the producer's own output
    parameters folds (it is then the output range)."""
    from tpu.ops.activation import Clip, Relu
    from tpu.ops.core import Clamped

    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    producer = {n.output: k for k, n in enumerate(nodes)}
    out = list(nodes)
    drop = set()
    for k, n in enumerate(nodes):
        if type(n) is not Relu and not isinstance(n, Clip):
            continue
        p = producer.get(n.inputs[0])
        if p is None or p in drop or uses.get(n.inputs[0], 0) != 1 or n.inputs[0] in outputs:
            continue
        prod = out[p]
        if not isinstance(prod, Clamped) or prod.relu or prod.clip is not None:
            continue
        if prod.quantized != n.quantized or (n.quantized and not n.x_q.same(prod.out_q)):
            continue
        if type(n) is Relu or (n.lo == 0 and n.hi == np.inf):
            out[p] = dc_replace(prod, output=n.output, relu=True)
        else:
            out[p] = dc_replace(prod, output=n.output, clip=(n.lo, n.hi))
        drop.add(k)
    return [n for k, n in enumerate(out) if k not in drop]

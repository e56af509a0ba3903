"""ONNX → IR: float models, and models onnxruntime quantized (QOperator and QDQ formats).

Float: Conv (pads, strides, dilations, groups), Gemm, MatMul (+ a constant Add folded into
its bias), Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Add, Flatten, Reshape,
BatchNormalization (folded into the Conv before it). A Relu (or Clip(0, ∞)) whose input comes
only from a Conv/Gemm/Add is fused into it (``relu=True``).

QOperator: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, com.microsoft QGemm,
QLinearAdd, QLinearAveragePool, QLinearGlobalAveragePool, and MaxPool/Flatten/Reshape on 8-bit
tensors.

QDQ: each group DQ→op→Q becomes the integer op onnxruntime's QDQ fusion (ORT_ENABLE_ALL)
turns it into: Conv→QLinearConv, MatMul→QLinearMatMul, Gemm→QGemm, Add→QLinearAdd,
AveragePool→QLinearAveragePool, GlobalAveragePool→QLinearGlobalAveragePool; MaxPool, Reshape
and Flatten run on the integers when the DQ and Q parameters are equal (ORT drops the pair).
Any other DQ→op→Q stays as Dequantize → float op → Quantize, which is how ORT runs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tpu.compiler import ir, reference
from tpu.errors import ModelError, TpuError

FLOAT_OPS = ("Conv", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool",
             "GlobalAveragePool", "Add", "Flatten", "Reshape", "BatchNormalization")
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm",
             "QLinearAdd", "QLinearAveragePool", "QLinearGlobalAveragePool")
SUPPORTED = FLOAT_OPS + QUANT_OPS + ("Constant", "Identity")
_DROP_QDQ = ("MaxPool", "Reshape", "Flatten")  # ORT removes an equal DQ/Q pair around these
_FUSE_QDQ = ("Conv", "MatMul", "Gemm", "Add", "AveragePool", "GlobalAveragePool")
_BITS = {np.dtype(np.uint8): (8, False), np.dtype(np.int8): (8, True),
         np.dtype(np.uint16): (16, False), np.dtype(np.int16): (16, True),
         np.dtype(np.int32): (32, True)}


def load_onnx(path: str | Path) -> ir.Graph:
    """Read an ONNX file into the IR (float, QOperator or QDQ); raises ModelError."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(p))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not proto.graph.node:
        raise ModelError(f"{path}: not an ONNX model (no graph nodes)")
    return _Importer(proto, p.name).run()


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Importer:
    def __init__(self, proto: onnx.ModelProto, fname: str):
        self.proto = proto
        self.fname = fname
        g = proto.graph
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.graph_outputs = {o.name for o in g.output}
        self.nodes: list[ir.Node] = []
        self.qp: dict[str, ir.QParams] = {}  # integer activation tensors and their params
        self.dq_act: dict[str, str] = {}  # DQ output -> quantized source tensor (QDQ, lazy)
        self.dq_const: dict[str, tuple[np.ndarray, ir.QParams]] = {}  # DQ of an initializer
        self.materialized: set[str] = set()
        self.skip: set[int] = set()  # ids of ONNX nodes consumed by a fusion
        self.alias: dict[str, str] = {}
        self.names: set[str] = set()

    # --- helpers --------------------------------------------------------------------------
    def err(self, node: onnx.NodeProto, msg: str) -> ModelError:
        return ModelError(f"{self.fname}: node {self._name(node)!r} ({node.op_type}): {msg}")

    def _name(self, node: onnx.NodeProto) -> str:
        return node.name or f"{node.op_type}_{list(self.proto.graph.node).index(node)}"

    def t(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def const(self, node, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise self.err(node, f"{what} {name!r} must be a constant initializer")
        return self.consts[name]

    def qparams(self, node, scale_name: str, zp_name: str | None, axis: int | None = None,
                zp_dtype=np.uint8) -> ir.QParams:
        scale = np.asarray(self.const(node, scale_name, "scale"), np.float32)
        if zp_name:
            zp_arr = np.asarray(self.const(node, zp_name, "zero point"))
        else:
            zp_arr = np.zeros(scale.shape, zp_dtype)
        if zp_arr.dtype not in _BITS:
            raise self.err(node, f"unsupported quantized type {zp_arr.dtype}")
        bits, signed = _BITS[zp_arr.dtype]
        if scale.size > 1 or zp_arr.size > 1:
            scale, zp = scale.reshape(-1), zp_arr.astype(np.int64).reshape(-1)
            return ir.QParams(scale, np.broadcast_to(zp, scale.shape).copy(), bits, signed, axis)
        return ir.QParams(scale.reshape(()), zp_arr.astype(np.int64).reshape(()), bits, signed, None)

    def emit(self, node: ir.Node) -> None:
        self.nodes.append(node)
        self.names.add(node.name)

    def is_int(self, tensor: str) -> bool:
        return self.t(tensor) in self.qp

    def float_input(self, tensor: str) -> str:
        """The float version of a tensor, materializing a lazy QDQ DequantizeLinear."""
        tensor = self.t(tensor)
        if tensor in self.dq_const:
            value, q = self.dq_const[tensor]
            if tensor not in self.materialized:
                self.emit(ir.Constant(f"{tensor}_const", (), tensor,
                                      value=reference._dequantize(value, q.scale, q.zero_point, q.axis)))
                self.materialized.add(tensor)
            return tensor
        if tensor in self.dq_act and tensor not in self.materialized:
            src = self.dq_act[tensor]
            self.emit(ir.Dequantize(f"{tensor}_dq", (src,), tensor, q=self.qp[src]))
            self.materialized.add(tensor)
        return tensor

    def int_source(self, tensor: str) -> str | None:
        """The integer tensor behind a lazy QDQ DequantizeLinear (None if it is not one)."""
        return self.dq_act.get(self.t(tensor))

    def single_q_consumer(self, tensor: str) -> onnx.NodeProto | None:
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == "QuantizeLinear" and tensor not in self.graph_outputs:
            return users[0]
        return None

    # --- main loop ------------------------------------------------------------------------
    def run(self) -> ir.Graph:
        g = self.proto.graph
        inputs = [i.name for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ModelError(f"{self.fname}: expected one graph input, found {len(inputs)}")
        for node in g.node:
            if id(node) in self.skip:
                continue
            if node.op_type not in SUPPORTED or node.domain not in ("", "ai.onnx", "com.microsoft"):
                raise self.err(node, "unsupported op; supported: " + ", ".join(SUPPORTED))
            getattr(self, f"op_{node.op_type}")(node)
        outputs = []
        for o in g.output:
            name = self.t(o.name)
            name = self.float_input(name) if name in self.dq_act or name in self.dq_const else name
            outputs.append(name)
        nodes = _fuse_relu(self.nodes, set(outputs))
        graph = ir.Graph(g.name or Path(self.fname).stem, tuple(nodes), tuple(inputs),
                         tuple(outputs), quantized=any(_is_int_node(n) for n in nodes))
        return _with_shapes(graph, _input_shape(g.input[0], self.fname), self.fname)

    # --- constants ------------------------------------------------------------------------
    def op_Constant(self, node):
        a = _attrs(node)
        if "value" not in a:
            raise self.err(node, "only the 'value' form of Constant is supported")
        self.consts[node.output[0]] = numpy_helper.to_array(a["value"])

    def op_Identity(self, node):
        self.alias[node.output[0]] = self.t(node.input[0])
        if node.input[0] in self.consts:
            self.consts[node.output[0]] = self.consts[node.input[0]]

    # --- quantize / dequantize ------------------------------------------------------------
    def op_QuantizeLinear(self, node):
        axis = _attrs(node).get("axis", 1)
        zp = node.input[2] if len(node.input) > 2 else None
        q = self.qparams(node, node.input[1], zp, axis)
        if q.axis is not None:
            raise self.err(node, "per-channel quantization of activations is unsupported")
        src = self.t(node.input[0])
        out = node.output[0]
        if src in self.consts:  # a quantized constant computed at import
            val = reference._quantize(self.consts[src], q.scale, q.zero_point, bits=q.bits,
                                      signed=q.signed)
            self.consts[out] = val.astype(np.int64)
            return
        self.emit(ir.Quantize(self._name(node), (self.float_input(src),), out, q=q))
        self.qp[out] = q

    def op_DequantizeLinear(self, node):
        axis = _attrs(node).get("axis", 1)
        zp = node.input[2] if len(node.input) > 2 else None
        q = self.qparams(node, node.input[1], zp, axis)
        src, out = self.t(node.input[0]), node.output[0]
        if src in self.consts:
            self.dq_const[out] = (np.asarray(self.consts[src]).astype(np.int64), q)
            return
        if src not in self.qp:
            raise self.err(node, f"input {src!r} is not a quantized tensor")
        if len(self.consumers.get(out, [])) == 0 or out in self.graph_outputs:
            self.emit(ir.Dequantize(self._name(node), (src,), out, q=q))
            return
        self.dq_act[out] = src  # decided by the consumers: fused into an integer op or not

    # --- float (and QDQ) ops --------------------------------------------------------------
    def _qdq_fusable(self, node, act_inputs: list[str]) -> onnx.NodeProto | None:
        """The Q closing a DQ→node→Q group ORT fuses (None when it does not)."""
        if not all(self.int_source(i) is not None or self.t(i) in self.dq_const for i in act_inputs):
            return None
        if not any(self.int_source(i) is not None for i in act_inputs):
            return None
        return self.single_q_consumer(node.output[0])

    def _close_group(self, q_node) -> tuple[str, ir.QParams]:
        self.skip.add(id(q_node))
        zp = q_node.input[2] if len(q_node.input) > 2 else None
        q = self.qparams(q_node, q_node.input[1], zp)
        self.qp[q_node.output[0]] = q
        return q_node.output[0], q

    def _weight(self, node, name: str, axis: int):
        """Float weight, or (int weight, QParams) when it is a DequantizeLinear'd constant."""
        name = self.t(name)
        if name in self.dq_const:
            return self.dq_const[name]
        return np.asarray(self.const(node, name, "weight"), np.float32), None

    def op_Conv(self, node):
        a = _attrs(node)
        w, wq = self._weight(node, node.input[1], 0)
        geom = self._conv_geometry(node, a, w)
        bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        q_node = self._qdq_fusable(node, [node.input[0]])
        bias_ok = bias_name is None or self.t(bias_name) in self.dq_const
        if q_node is not None and wq is not None and bias_ok:
            x = self.int_source(node.input[0])
            out, oq = self._close_group(q_node)
            bias = None if bias_name is None else self.dq_const[self.t(bias_name)][0]
            self.emit(ir.Conv(self._name(node), (x,), out, weight=w, bias=bias, **geom,
                              x_q=self.qp[x], w_q=_axis(wq, 0), out_q=oq))
            return
        if wq is not None:
            w = reference._dequantize(w, wq.scale, wq.zero_point, wq.axis)
        bias = None if bias_name is None else self._float_const(node, bias_name)
        out = node.output[0]
        users = self.consumers.get(out, [])
        if len(users) == 1 and users[0].op_type == "BatchNormalization" and out not in self.graph_outputs:
            w, bias, out = self._fold_bn(users[0], w, bias)
        self.emit(ir.Conv(self._name(node), (self.float_input(node.input[0]),), out, weight=w,
                          bias=bias, **geom))

    def _conv_geometry(self, node, a, w) -> dict:
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.err(node, "auto_pad is unsupported; export with explicit pads")
        if w.ndim != 4:
            raise self.err(node, f"only 2-D convolution is supported (weight rank {w.ndim})")
        if "kernel_shape" in a and tuple(a["kernel_shape"]) != tuple(w.shape[2:]):
            raise self.err(node, "kernel_shape disagrees with the weight")
        pads = tuple(a.get("pads", (0, 0, 0, 0)))
        return dict(strides=tuple(a.get("strides", (1, 1))),
                    pads=(pads[0], pads[1], pads[2], pads[3]),
                    dilations=tuple(a.get("dilations", (1, 1))), group=int(a.get("group", 1)))

    def _float_const(self, node, name: str) -> np.ndarray:
        name = self.t(name)
        if name in self.dq_const:
            v, q = self.dq_const[name]
            return reference._dequantize(v, q.scale, q.zero_point, q.axis)
        return np.asarray(self.const(node, name, "operand"), np.float32)

    def _fold_bn(self, bn, w, bias):
        a = _attrs(bn)
        if a.get("training_mode", 0):
            raise self.err(bn, "training_mode BatchNormalization is unsupported")
        gamma, beta, mean, var = (np.asarray(self.const(bn, n, "BatchNormalization parameter"),
                                             np.float64) for n in bn.input[1:5])
        scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        b = np.zeros(w.shape[0]) if bias is None else bias.astype(np.float64)
        self.skip.add(id(bn))
        w2 = (w.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
        return w2, ((b - mean) * scale + beta).astype(np.float32), bn.output[0]

    def op_BatchNormalization(self, node):
        raise self.err(node, "BatchNormalization is supported only right after a Conv (folded)")

    def op_Gemm(self, node):
        a = _attrs(node)
        if a.get("transA", 0):
            raise self.err(node, "transA=1 is unsupported")
        w, wq = self._weight(node, node.input[1], 1)
        trans_b = bool(a.get("transB", 0))
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        c_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        q_node = self._qdq_fusable(node, [node.input[0]])
        if q_node is not None and wq is not None and alpha == 1.0 and beta == 1.0 and \
                (c_name is None or self.t(c_name) in self.dq_const):
            x = self.int_source(node.input[0])
            out, oq = self._close_group(q_node)
            bias = None if c_name is None else self.dq_const[self.t(c_name)][0].reshape(-1)
            wt = w.T if trans_b else w
            self.emit(ir.Gemm(self._name(node), (x,), out, weight=wt, bias=bias, x_q=self.qp[x],
                              w_q=_axis(wq, 1), out_q=oq))
            return
        if wq is not None:
            w = reference._dequantize(w, wq.scale, wq.zero_point, wq.axis)
        wt = (w.T if trans_b else w) * np.float32(alpha)
        bias = None
        if c_name is not None:
            c = self._float_const(node, c_name) * np.float32(beta)
            bias = np.broadcast_to(c.reshape(-1) if c.size == wt.shape[1] else c, (wt.shape[1],))
        self.emit(ir.Gemm(self._name(node), (self.float_input(node.input[0]),), node.output[0],
                          weight=np.ascontiguousarray(wt, np.float32),
                          bias=None if bias is None else np.array(bias, np.float32)))

    def op_MatMul(self, node):
        w, wq = self._weight(node, node.input[1], 1)
        if w.ndim != 2:
            raise self.err(node, "the second MatMul operand must be a 2-D constant")
        q_node = self._qdq_fusable(node, [node.input[0]])
        if q_node is not None and wq is not None:
            x = self.int_source(node.input[0])
            out, oq = self._close_group(q_node)
            self.emit(ir.Gemm(self._name(node), (x,), out, weight=w, x_q=self.qp[x],
                              w_q=_axis(wq, 1), out_q=oq))
            return
        if wq is not None:
            w = reference._dequantize(w, wq.scale, wq.zero_point, wq.axis)
        out, bias = node.output[0], None
        users = self.consumers.get(out, [])
        if len(users) == 1 and users[0].op_type == "Add" and out not in self.graph_outputs:
            other = [i for i in users[0].input if i != out]
            if len(other) == 1 and self.t(other[0]) in self.consts:
                c = np.asarray(self.consts[self.t(other[0])], np.float32)
                if c.size == w.shape[1] and c.ndim <= 2:
                    bias, out = c.reshape(-1), users[0].output[0]
                    self.skip.add(id(users[0]))
        self.emit(ir.Gemm(self._name(node), (self.float_input(node.input[0]),), out,
                          weight=np.asarray(w, np.float32), bias=bias))

    def _operand(self, node, name: str, as_int: bool) -> tuple[str, ir.QParams | None]:
        """An Add operand: a tensor, or a constant emitted as an ir.Constant node."""
        t = self.t(name)
        if as_int and t in self.dq_const:
            v, q = self.dq_const[t]
            if t not in self.materialized:
                self.emit(ir.Constant(f"{t}_const", (), t, value=v, q=q))
                self.materialized.add(t)
            return t, q
        if as_int:
            src = self.int_source(t) or t
            return src, self.qp[src]
        if t in self.consts:
            if t not in self.materialized:
                self.emit(ir.Constant(f"{t}_const", (), t, value=np.asarray(self.consts[t], np.float32)))
                self.materialized.add(t)
            return t, None
        return self.float_input(t), None

    def op_Add(self, node):
        q_node = self._qdq_fusable(node, list(node.input))
        if q_node is not None:
            (a, aq), (b, bq) = (self._operand(node, i, True) for i in node.input)
            out, oq = self._close_group(q_node)
            self.emit(ir.Add(self._name(node), (a, b), out, a_q=aq, b_q=bq, out_q=oq))
            return
        a, b = (self._operand(node, i, False)[0] for i in node.input)
        self.emit(ir.Add(self._name(node), (a, b), node.output[0]))

    def _pool_geometry(self, node, a) -> dict:
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.err(node, "auto_pad is unsupported; export with explicit pads")
        k = tuple(a["kernel_shape"])
        if len(k) != 2:
            raise self.err(node, "only 2-D pooling is supported")
        pads = tuple(a.get("pads", (0, 0, 0, 0)))
        return dict(kernel=k, strides=tuple(a.get("strides", (1, 1))), pads=pads,
                    ceil_mode=bool(a.get("ceil_mode", 0)))

    def _unary(self, node, build_int, build_float, drop_qdq: bool) -> None:
        """A one-input op on an integer tensor (QOperator), a QDQ group, or a float tensor."""
        x = self.t(node.input[0])
        if x in self.qp:  # QOperator: 8-bit tensor in, same params out
            self.emit(build_int(x, node.output[0], self.qp[x], self.qp[x]))
            self.qp[node.output[0]] = self.qp[x]
            return
        src = self.int_source(x)
        q_node = self.single_q_consumer(node.output[0]) if src is not None else None
        if q_node is not None:
            zp = q_node.input[2] if len(q_node.input) > 2 else None
            oq = self.qparams(q_node, q_node.input[1], zp)
            if not drop_qdq or _same_q(oq, self.qp[src]):
                out, oq = self._close_group(q_node)
                self.emit(build_int(src, out, self.qp[src], oq))
                return
        self.emit(build_float(self.float_input(x), node.output[0]))

    def op_MaxPool(self, node):
        a = _attrs(node)
        if len(node.output) > 1 and node.output[1]:
            raise self.err(node, "the Indices output is unsupported")
        geom = self._pool_geometry(node, a)
        geom["dilations"] = tuple(a.get("dilations", (1, 1)))
        name = self._name(node)
        self._unary(node, lambda x, o, xq, oq: ir.MaxPool(name, (x,), o, q=xq, **geom),
                    lambda x, o: ir.MaxPool(name, (x,), o, **geom), drop_qdq=True)

    def op_AveragePool(self, node):
        a = _attrs(node)
        geom = self._pool_geometry(node, a)
        geom["count_include_pad"] = bool(a.get("count_include_pad", 0))
        name = self._name(node)
        self._unary(node, lambda x, o, xq, oq: ir.AvgPool(name, (x,), o, x_q=xq, out_q=oq, **geom),
                    lambda x, o: ir.AvgPool(name, (x,), o, **geom), drop_qdq=False)

    def op_GlobalAveragePool(self, node):
        name = self._name(node)
        self._unary(node, lambda x, o, xq, oq: ir.AvgPool(name, (x,), o, global_=True, x_q=xq, out_q=oq),
                    lambda x, o: ir.AvgPool(name, (x,), o, global_=True), drop_qdq=False)

    def op_Flatten(self, node):
        axis = int(_attrs(node).get("axis", 1))
        name = self._name(node)
        self._unary(node, lambda x, o, xq, oq: ir.Reshape(name, (x,), o, flatten_axis=axis),
                    lambda x, o: ir.Reshape(name, (x,), o, flatten_axis=axis), drop_qdq=True)

    def op_Reshape(self, node):
        shape = tuple(int(d) for d in self.const(node, self.t(node.input[1]), "shape"))
        if _attrs(node).get("allowzero", 0):
            raise self.err(node, "allowzero=1 is unsupported")
        name = self._name(node)
        self._unary(node, lambda x, o, xq, oq: ir.Reshape(name, (x,), o, shape=shape),
                    lambda x, o: ir.Reshape(name, (x,), o, shape=shape), drop_qdq=True)

    def op_Relu(self, node):
        x = self.t(node.input[0])
        if x in self.qp:
            self.qp[node.output[0]] = self.qp[x]
            self.emit(ir.Relu(self._name(node), (x,), node.output[0], q=self.qp[x]))
            return
        self.emit(ir.Relu(self._name(node), (self.float_input(x),), node.output[0]))

    def op_Clip(self, node):
        a = _attrs(node)
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)  # opset < 11 attributes
        if len(node.input) > 1 and node.input[1]:
            lo = float(self.const(node, self.t(node.input[1]), "min"))
        if len(node.input) > 2 and node.input[2]:
            hi = float(self.const(node, self.t(node.input[2]), "max"))
        x = self.t(node.input[0])
        q = self.qp.get(x)
        if q is not None:
            self.qp[node.output[0]] = q
        else:
            x = self.float_input(x)
        self.emit(ir.Clip(self._name(node), (x,), node.output[0], lo=float(lo), hi=float(hi), q=q))

    # --- QOperator ops --------------------------------------------------------------------
    def _qin(self, node, idx: int) -> tuple[str, ir.QParams]:
        x = self.t(node.input[idx])
        if x not in self.qp:
            raise self.err(node, f"input {x!r} is not a quantized tensor")
        return x, self.qp[x]

    def _qout(self, node, scale_idx: int) -> ir.QParams:
        zp = node.input[scale_idx + 1] if len(node.input) > scale_idx + 1 else None
        q = self.qparams(node, node.input[scale_idx], zp or None)
        self.qp[node.output[0]] = q
        return q

    def op_QLinearConv(self, node):
        a = _attrs(node)
        x, xq = self._qin(node, 0)
        w = np.asarray(self.const(node, node.input[3], "weight"))
        wq = self.qparams(node, node.input[4], node.input[5], 0)
        oq = self._qout(node, 6)
        bias = None
        if len(node.input) > 8 and node.input[8]:
            bias = np.asarray(self.const(node, node.input[8], "bias"), np.int64)
        self.emit(ir.Conv(self._name(node), (x,), node.output[0], weight=w.astype(np.int64),
                          bias=bias, **self._conv_geometry(node, a, w), x_q=xq, w_q=wq, out_q=oq))

    def op_QLinearMatMul(self, node):
        x, xq = self._qin(node, 0)
        w = np.asarray(self.const(node, node.input[3], "weight"))
        if w.ndim != 2:
            raise self.err(node, "the second operand must be a 2-D constant")
        wq = self.qparams(node, node.input[4], node.input[5], 1)
        oq = self._qout(node, 6)
        self.emit(ir.Gemm(self._name(node), (x,), node.output[0], weight=w.astype(np.int64),
                          x_q=xq, w_q=wq, out_q=oq))

    def op_QGemm(self, node):
        a = _attrs(node)
        if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0:
            raise self.err(node, "only transA=0 and alpha=1 are supported")
        if len(node.input) < 8 or not node.input[7]:
            raise self.err(node, "QGemm with a float output (no y_scale) is unsupported")
        x, xq = self._qin(node, 0)
        w = np.asarray(self.const(node, node.input[3], "weight"))
        trans_b = bool(a.get("transB", 0))
        wq = self.qparams(node, node.input[4], node.input[5], 1)
        bias = None
        if node.input[6]:
            bias = np.asarray(self.const(node, node.input[6], "bias"), np.int64).reshape(-1)
        oq = self._qout(node, 7)
        wt = w.T if trans_b else w
        self.emit(ir.Gemm(self._name(node), (x,), node.output[0],
                          weight=np.ascontiguousarray(wt).astype(np.int64), bias=bias, x_q=xq,
                          w_q=wq, out_q=oq))

    def op_QLinearAdd(self, node):
        ops = []
        for i in (0, 3):
            t = self.t(node.input[i])
            if t in self.consts:
                q = self.qparams(node, node.input[i + 1], node.input[i + 2])
                if t not in self.materialized:
                    self.emit(ir.Constant(f"{t}_const", (), t,
                                          value=np.asarray(self.consts[t]).astype(np.int64), q=q))
                    self.materialized.add(t)
                ops.append((t, q))
            else:
                ops.append(self._qin(node, i))
        oq = self._qout(node, 6)
        self.emit(ir.Add(self._name(node), (ops[0][0], ops[1][0]), node.output[0], a_q=ops[0][1],
                         b_q=ops[1][1], out_q=oq))

    def _channels_last(self, node):
        if _attrs(node).get("channels_last", 0):
            raise self.err(node, "channels_last=1 is unsupported (NCHW only)")

    def op_QLinearAveragePool(self, node):
        self._channels_last(node)
        a = _attrs(node)
        x, xq = self._qin(node, 0)
        oq = self._qout(node, 3)
        geom = self._pool_geometry(node, a)
        self.emit(ir.AvgPool(self._name(node), (x,), node.output[0], **geom,
                             count_include_pad=bool(a.get("count_include_pad", 0)), x_q=xq, out_q=oq))

    def op_QLinearGlobalAveragePool(self, node):
        self._channels_last(node)
        x, xq = self._qin(node, 0)
        oq = self._qout(node, 3)
        self.emit(ir.AvgPool(self._name(node), (x,), node.output[0], global_=True, x_q=xq, out_q=oq))


def _axis(q: ir.QParams, axis: int) -> ir.QParams:
    """Weight params with the IR's channel axis (Conv: 0 of OIHW; Gemm: 1 of K×N)."""
    if np.ndim(q.scale) == 0:
        return q
    return ir.QParams(q.scale, q.zero_point, q.bits, q.signed, axis)


def _same_q(a: ir.QParams, b: ir.QParams) -> bool:
    return (a.signed == b.signed and a.bits == b.bits and np.array_equal(a.scale, b.scale)
            and np.array_equal(a.zero_point, b.zero_point))


def _is_int_node(n: ir.Node) -> bool:
    return any(getattr(n, f, None) is not None for f in ("out_q", "q"))


def _fuse_relu(nodes: list[ir.Node], outputs: set[str]) -> list[ir.Node]:
    """Fold a Relu (or Clip with lo == 0, hi == ∞) into the Conv/Gemm/Add producing its input
    when nothing else reads that input."""
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    producer = {n.output: k for k, n in enumerate(nodes)}
    out = list(nodes)
    drop = set()
    for k, n in enumerate(nodes):
        is_relu = isinstance(n, ir.Relu) or (isinstance(n, ir.Clip) and n.lo == 0 and n.hi == np.inf)
        if not is_relu:
            continue
        p = producer.get(n.inputs[0])
        if p is None or p in drop or uses.get(n.inputs[0], 0) != 1 or n.inputs[0] in outputs:
            continue
        prod = out[p]
        if not isinstance(prod, ir.Conv | ir.Gemm | ir.Add):
            continue
        out[p] = _replace(prod, output=n.output, relu=True)
        drop.add(k)
    return [n for k, n in enumerate(out) if k not in drop]


def _replace(node: ir.Node, **changes) -> ir.Node:
    from dataclasses import replace

    return replace(node, **changes)


def _input_shape(vi: onnx.ValueInfoProto, fname: str) -> tuple[int, ...]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        raise ModelError(f"{fname}: graph input {vi.name!r} has no shape")
    dims = [d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim]
    return tuple([1] + dims[1:]) if dims else ()


def _with_shapes(graph: ir.Graph, input_shape: tuple[int, ...], fname: str) -> ir.Graph:
    """Every tensor's shape (batch 1), found by running the reference on zeros — this also
    checks that every node's geometry fits its input."""
    try:
        env = reference.evaluate(graph, np.zeros(input_shape, np.float32), all_tensors=True)
    except TpuError as exc:
        raise ModelError(f"{fname}: {exc}") from None
    except ValueError as exc:  # numpy reshape/broadcast of an inconsistent model
        raise ModelError(f"{fname}: inconsistent tensor shapes ({exc})") from None
    return ir.Graph(graph.name, graph.nodes, graph.inputs, graph.outputs,
                    {k: tuple(v.shape) for k, v in env.items()}, graph.quantized)

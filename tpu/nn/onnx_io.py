"""ONNX export/import of sequential models (opset 13: Conv, Relu, MaxPool, Flatten, Gemm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tpu.errors import TpuError
from tpu.nn.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
from tpu.nn.model import Sequential

OPSET = 13


def to_model_proto(model: Sequential) -> onnx.ModelProto:
    nodes, inits = [], []
    cur = "input"
    for i, layer in enumerate(model.layers):
        out = f"t{i}" if i < len(model.layers) - 1 else "logits"
        name = f"{type(layer).__name__.lower()}{i}"
        if isinstance(layer, Conv2d):
            w, b = f"{name}.W", f"{name}.b"
            inits += [numpy_helper.from_array(layer.params["W"], w),
                      numpy_helper.from_array(layer.params["b"], b)]
            kh, kw = layer.params["W"].shape[2:]
            nodes.append(helper.make_node("Conv", [cur, w, b], [out], name=name,
                                          kernel_shape=[kh, kw], pads=list(layer.pads),
                                          strides=[layer.stride, layer.stride]))
        elif isinstance(layer, Dense):
            w, b = f"{name}.W", f"{name}.b"
            inits += [numpy_helper.from_array(layer.params["W"], w),
                      numpy_helper.from_array(layer.params["b"], b)]
            nodes.append(helper.make_node("Gemm", [cur, w, b], [out], name=name, transB=1))
        elif isinstance(layer, ReLU):
            nodes.append(helper.make_node("Relu", [cur], [out], name=name))
        elif isinstance(layer, MaxPool2d):
            k, s = layer.kernel, layer.stride
            nodes.append(helper.make_node("MaxPool", [cur], [out], name=name,
                                          kernel_shape=[k, k], strides=[s, s]))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [cur], [out], name=name, axis=1))
        else:
            raise TpuError(f"cannot export layer {type(layer).__name__} to ONNX")
        cur = out
    graph = helper.make_graph(
        nodes, model.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *model.input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", None])],
        inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tpu.nn")
    proto.ir_version = 8  # readable by every onnxruntime >= 1.18
    onnx.checker.check_model(proto)
    return proto


def save_onnx(model: Sequential, path: str | Path) -> None:
    from tpu.files import write_atomic

    proto = to_model_proto(model)
    write_atomic(path, lambda p: p.write_bytes(proto.SerializeToString()))


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def load_onnx(path: str | Path) -> Sequential:
    """Read a chain-shaped ONNX model made of Conv/Relu/MaxPool/Flatten/Gemm(transB=1)."""
    p = Path(path)
    if not p.is_file():
        raise TpuError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(p))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise TpuError(f"{path}: not a readable ONNX model ({exc})") from None
    g = proto.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    dims = g.input[0].type.tensor_type.shape.dim
    input_shape = tuple(d.dim_value for d in dims[1:])
    layers = []
    for node in g.node:
        where = f"{path}: node {node.name or node.op_type}"
        if node.op_type == "Conv":
            w = inits[node.input[1]].astype(np.float32)
            pads = list(_attr(node, "pads", [0, 0, 0, 0]))
            strides = list(_attr(node, "strides", [1, 1]))
            if len(set(pads)) != 1 or len(set(strides)) != 1 or _attr(node, "group", 1) != 1:
                raise TpuError(f"{where}: only square, symmetric, ungrouped Conv is supported")
            layer = Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=strides[0], padding=pads[0])
            layer.params["W"] = w
            if len(node.input) > 2:
                layer.params["b"] = inits[node.input[2]].astype(np.float32)
        elif node.op_type == "Gemm":
            w = inits[node.input[1]].astype(np.float32)
            if _attr(node, "transB", 0) != 1 or _attr(node, "transA", 0) != 0:
                raise TpuError(f"{where}: only Gemm with transA=0, transB=1 is supported")
            layer = Dense(w.shape[1], w.shape[0])
            layer.params["W"] = w
            if len(node.input) > 2:
                layer.params["b"] = inits[node.input[2]].astype(np.float32)
        elif node.op_type == "Relu":
            layer = ReLU()
        elif node.op_type == "MaxPool":
            k = list(_attr(node, "kernel_shape"))
            s = list(_attr(node, "strides", k))
            layer = MaxPool2d(k[0], s[0])
        elif node.op_type == "Flatten":
            layer = Flatten()
        else:
            raise TpuError(f"{where}: unsupported op {node.op_type} (supported: Conv, Relu, "
                           "MaxPool, Flatten, Gemm)")
        layers.append(layer)
    return Sequential(layers, input_shape, name=g.name or p.stem)

"""Constant folding with onnx's reference implementation (as onnxruntime folds at session start).

A node whose inputs are all constants (weights transposed by the exporter, shape arithmetic on
static shapes, ...) is computed once at import by ``onnx.reference.ReferenceEvaluator``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Ops never folded: they carry the quantization the importer must see, or are not deterministic.
KEEP = {"QuantizeLinear", "DequantizeLinear", "RandomNormal", "RandomUniform", "RandomNormalLike",
        "RandomUniformLike", "Multinomial", "Bernoulli"}


def single_node_model(node: onnx.NodeProto, inputs: list[np.ndarray], opset: int) -> onnx.ModelProto:
    """``node`` alone in a model; ``inputs`` are the arrays of its non-empty inputs, in order,
    fed as ``in0, in1, ...``."""
    n = onnx.NodeProto()
    n.CopyFrom(node)
    del n.input[:]
    names, k = [], 0
    for name in node.input:
        names.append(f"in{k}" if name else "")
        k += bool(name)
    n.input.extend(names)
    del n.output[:]
    n.output.extend([f"out{i}" for i in range(len(node.output))])
    vis = [helper.make_tensor_value_info(f"in{i}", helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype),
                                         list(np.shape(a)))
           for i, a in enumerate(inputs)]
    outs = [helper.make_tensor_value_info(f"out{i}", onnx.TensorProto.UNDEFINED, None)
            for i in range(len(node.output))]
    graph = helper.make_graph([n], "fold", vis, outs)
    domain = node.domain or ""
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])


def _gather_elements(node: onnx.NodeProto, data: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0) % data.ndim
    # only the index tensor's extent of the other axes is read
    data = data[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(idx.shape))]
    return [np.take_along_axis(data, np.where(idx < 0, idx + data.shape[axis], idx), axis=axis)]


# onnx 1.23's reference GatherElements fails when the indices are smaller than the data along
# the gathered axis (what transformers' token_type_ids buffer exports to)
OWN = {"GatherElements": _gather_elements}


def fold(node: onnx.NodeProto, inputs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    """Evaluate ``node`` on constant ``inputs`` (the arrays of its non-empty inputs, in order)."""
    from onnx.reference import ReferenceEvaluator

    if node.domain in ("", "ai.onnx") and node.op_type in OWN:
        return OWN[node.op_type](node, *map(np.asarray, inputs))

    model = single_node_model(node, inputs, opset)
    feeds = {f"in{i}": np.asarray(a) for i, a in enumerate(inputs)}
    return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]


def to_array(t: onnx.TensorProto) -> np.ndarray:
    return numpy_helper.to_array(t)

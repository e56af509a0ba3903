"""ONNX workloads for the machine's end-to-end runs (random weights; no weights ship offline).

``resnet18_onnx(path, width=0.25, image=224)``: ResNet-18 (He et al. 2016) as a float ONNX
model written with ``onnx.helper``: conv 7×7/2 + ReLU, max pool 3×3/2, four stages of two
basic blocks (3×3 convs, a 1×1/2 downsample where the shape changes, residual Add + ReLU),
global average pool, flatten, fully connected. ``width`` scales every channel count (0.25:
16…128 channels, the quarter-width network). Batch norms are folded into the convs, as the
exporters do for inference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def resnet18_onnx(path: str | Path, *, width: float = 0.25, image: int = 224, classes: int = 1000,
                  seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    nodes, inits = [], {}

    def conv(x, cin, cout, k, stride, name, relu=True):
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        inits[f"{name}.w"], inits[f"{name}.b"] = w, (rng.standard_normal(cout) * 0.1).astype(np.float32)
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [name], name=name,
                                      kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4))
        if not relu:
            return name
        nodes.append(helper.make_node("Relu", [name], [f"{name}.relu"], name=f"{name}.relu"))
        return f"{name}.relu"

    ch = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
    x = conv("input", 3, ch[0], 7, 2, "conv1")
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], name="maxpool", kernel_shape=[3, 3],
                                  strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool", ch[0]
    for stage, cout in enumerate(ch, start=1):
        for block in range(2):
            stride = 2 if block == 0 and stage > 1 else 1
            name = f"layer{stage}.{block}"
            y = conv(x, cin, cout, 3, stride, f"{name}.conv1")
            y = conv(y, cout, cout, 3, 1, f"{name}.conv2", relu=False)
            if stride != 1 or cin != cout:
                x = conv(x, cin, cout, 1, stride, f"{name}.downsample", relu=False)
            nodes.append(helper.make_node("Add", [x, y], [f"{name}.add"], name=f"{name}.add"))
            nodes.append(helper.make_node("Relu", [f"{name}.add"], [f"{name}.out"],
                                          name=f"{name}.relu"))
            x, cin = f"{name}.out", cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="avgpool"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
    inits["fc.w"] = (rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin)).astype(np.float32)
    inits["fc.b"] = (rng.standard_normal(classes) * 0.1).astype(np.float32)
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes, f"resnet18_w{width:g}_{image}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, image, image])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    path = Path(path)
    onnx.save(proto, str(path))
    return path

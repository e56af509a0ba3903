"""Synthetic quantized networks with real topologies (random weights), for timing studies.

No pretrained weights ship offline; cycles, traffic and energy depend only on the shapes, so a
ResNet-18 with random int8 weights is a faithful workload for the machine.
"""

from __future__ import annotations

import numpy as np

from tpu.compiler import ir


class _Builder:
    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...]):
        self.rng = rng
        self.nodes: list[ir.Node] = []
        self.shapes = {"x": shape}
        q = self.act_q()
        self.nodes.append(ir.Quantize("quantize", ("x",), "x_q", q=q))
        self.shapes["x_q"] = shape
        self.q = {"x_q": q}

    def act_q(self) -> ir.QParams:
        return ir.QParams(np.float32(self.rng.uniform(0.01, 0.05)), np.int64(self.rng.integers(0, 40)),
                          8, False)

    def _add(self, node, shape, q):
        self.nodes.append(node)
        self.shapes[node.output] = shape
        self.q[node.output] = q
        return node.output

    def conv(self, x, out_ch, k, stride=1, relu=True, name=None):
        b, c, h, w = self.shapes[x]
        pad = k // 2
        name = name or f"conv{len(self.nodes)}"
        wq = ir.QParams(self.rng.uniform(0.001, 0.01, out_ch).astype(np.float32),
                        np.zeros(out_ch, np.int64), 8, True, 0)
        out_q = self.act_q()
        node = ir.Conv(name, (x,), name, weight=self.rng.integers(-127, 128, (out_ch, c, k, k)),
                       bias=self.rng.integers(-5000, 5000, out_ch), strides=(stride, stride),
                       pads=(pad,) * 4, relu=relu, x_q=self.q[x], w_q=wq, out_q=out_q)
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self._add(node, (b, out_ch, ho, wo), out_q)

    def add(self, a, b, name):
        out_q = self.act_q()
        node = ir.Add(name, (a, b), name, relu=True, a_q=self.q[a], b_q=self.q[b], out_q=out_q)
        return self._add(node, self.shapes[a], out_q)

    def maxpool(self, x, k, stride, pad, name="maxpool"):
        b, c, h, w = self.shapes[x]
        node = ir.MaxPool(name, (x,), name, kernel=(k, k), strides=(stride, stride), pads=(pad,) * 4,
                          q=self.q[x])
        return self._add(node, (b, c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1),
                         self.q[x])

    def gap(self, x, name="avgpool"):
        b, c = self.shapes[x][:2]
        out_q = self.act_q()
        node = ir.AvgPool(name, (x,), name, global_=True, x_q=self.q[x], out_q=out_q)
        return self._add(node, (b, c, 1, 1), out_q)

    def flatten(self, x, name="flatten"):
        b, c = self.shapes[x][:2]
        return self._add(ir.Reshape(name, (x,), name, flatten_axis=1), (b, c), self.q[x])

    def fc(self, x, n, name="fc"):
        k = self.shapes[x][1]
        out_q = self.act_q()
        wq = ir.QParams(self.rng.uniform(0.001, 0.01, n).astype(np.float32), np.zeros(n, np.int64),
                        8, True, 1)
        node = ir.Gemm(name, (x,), name, weight=self.rng.integers(-127, 128, (k, n)),
                       bias=self.rng.integers(-5000, 5000, n), x_q=self.q[x], w_q=wq, out_q=out_q)
        return self._add(node, (self.shapes[x][0], n), out_q)

    def graph(self, name, out) -> ir.Graph:
        self.nodes.append(ir.Dequantize("dequantize", (out,), "y", q=self.q[out]))
        self.shapes["y"] = self.shapes[out]
        return ir.Graph(name, tuple(self.nodes), ("x",), ("y",), self.shapes, quantized=True)


def resnet18(seed: int = 0, image: int = 224, classes: int = 1000) -> ir.Graph:
    """ResNet-18 (He et al. 2016) as an int8 graph: 1.8 GMACs at 224×224."""
    g = _Builder(np.random.default_rng(seed), (1, 3, image, image))
    x = g.conv("x_q", 64, 7, 2, name="conv1")
    x = g.maxpool(x, 3, 2, 1)
    for stage, (ch, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
        for block in range(2):
            s = stride if block == 0 else 1
            name = f"layer{stage}.{block}"
            y = g.conv(x, ch, 3, s, name=f"{name}.conv1")
            y = g.conv(y, ch, 3, 1, relu=False, name=f"{name}.conv2")
            if s != 1 or g.shapes[x][1] != ch:
                x = g.conv(x, ch, 1, s, relu=False, name=f"{name}.downsample")
            x = g.add(x, y, f"{name}.add")
    return g.graph("resnet18", g.fc(g.flatten(g.gap(x)), classes))

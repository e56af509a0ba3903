"""The compiler's graph IR: a list of nodes in topological order over named tensors.

One IR serves float and quantized models. A float model (straight from ONNX) has float
weights and no quantization parameters; the quantization pass (or the import of a model that
onnxruntime already quantized) fills in integer weights, int32 biases and ``QParams``. Nodes
are frozen dataclasses; passes build new graphs rather than mutating.

Integer semantics of every quantized node are those of onnxruntime's CPU kernels (DESIGN.md
§4); ``tpu.compiler.reference`` is their executable definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class QParams:
    """Affine quantization y = (q - zero_point) * scale, per tensor or per channel (``axis``)."""

    scale: np.ndarray  # float32, shape () or (channels,)
    zero_point: np.ndarray  # int64, same shape
    bits: int = 8
    signed: bool = False
    axis: int | None = None

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


@dataclass(frozen=True, eq=False)
class Node:
    name: str
    inputs: tuple[str, ...]
    output: str


@dataclass(frozen=True, eq=False)
class Quantize(Node):
    """Float → integer (QuantizeLinear: true division, round half to even, saturate)."""

    q: QParams = None


@dataclass(frozen=True, eq=False)
class Dequantize(Node):
    """Integer → float32 (DequantizeLinear)."""

    q: QParams = None


@dataclass(frozen=True, eq=False)
class Conv(Node):
    """2-D convolution, NCHW input, OIHW weight (``group`` > 1: grouped / depthwise).

    Quantized: ``weight`` integer with ``w_q`` (per-tensor or per output channel, axis 0),
    ``bias`` int32 at scale s_x·s_w, ``x_q``/``out_q`` activation params. Float: ``weight``
    and ``bias`` float32, the q fields None. ``relu`` clamps the output at zero (fused).
    """

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    relu: bool = False
    x_q: QParams | None = None
    w_q: QParams | None = None
    out_q: QParams | None = None


@dataclass(frozen=True, eq=False)
class Gemm(Node):
    """y = x·W + b with x (M×K) and ``weight`` (K×N) (MatMul, Gemm, QLinearMatMul, QGemm).

    Quantized: ``w_q`` per tensor or per output column (axis 1). Same fields as Conv.
    """

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    relu: bool = False
    x_q: QParams | None = None
    w_q: QParams | None = None
    out_q: QParams | None = None


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Elementwise a + b (QLinearAdd semantics when quantized); ``relu`` fused."""

    relu: bool = False
    a_q: QParams | None = None
    b_q: QParams | None = None
    out_q: QParams | None = None


@dataclass(frozen=True, eq=False)
class Relu(Node):
    """Standalone ReLU (quantized: max(q, zero_point))."""

    q: QParams | None = None


@dataclass(frozen=True, eq=False)
class Clip(Node):
    lo: float = 0.0
    hi: float = 6.0
    q: QParams | None = None


@dataclass(frozen=True, eq=False)
class MaxPool(Node):
    kernel: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    q: QParams | None = None  # quantized input and output share params


@dataclass(frozen=True, eq=False)
class AvgPool(Node):
    """AveragePool; ``global_`` for GlobalAveragePool (kernel = whole plane)."""

    kernel: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False
    ceil_mode: bool = False
    global_: bool = False
    x_q: QParams | None = None
    out_q: QParams | None = None


@dataclass(frozen=True, eq=False)
class Reshape(Node):
    """Reshape (``shape`` as in ONNX: 0 copies a dimension, -1 is inferred) or Flatten
    (``flatten_axis`` set). Integer tensors keep their quantization unchanged."""

    shape: tuple[int, ...] | None = None
    flatten_axis: int | None = None


@dataclass(frozen=True, eq=False)
class Constant(Node):
    """A constant tensor (e.g. the second operand of an Add); ``inputs`` is empty.

    Quantized graphs hold the integer value with its ``q`` params (as onnxruntime's quantizer
    stores a quantized initializer); float graphs hold float32 and ``q`` None.
    """

    value: np.ndarray = None
    q: QParams | None = None


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes in execution order; ``inputs``/``outputs`` name graph tensors; ``shapes`` holds
    every tensor's shape with batch 1 (the batch dimension is free at run time)."""

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    quantized: bool = False

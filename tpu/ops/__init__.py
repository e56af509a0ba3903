"""The op registry: one module per op family, each holding its ONNX import rules, its float and
integer semantics, where it runs on the machine and what it costs there (see tpu.ops.core).

Importing this package registers every family's import rules (tpu.ops.registry.RULES)."""

from tpu.ops import (  # noqa: F401  (each module registers its rules)
    activation,
    conv,
    elementwise,
    gemm,
    norm,
    pool,
    quant,
    resize,
    rnn,
    shape,
)
from tpu.ops.activation import (
    Abs,
    Clip,
    Erf,
    Exp,
    Gelu,
    HardSigmoid,
    HardSwish,
    LeakyRelu,
    Neg,
    Reciprocal,
    Relu,
    Sigmoid,
    Sqrt,
    Tanh,
)
from tpu.ops.conv import Conv
from tpu.ops.core import Graph, Node, Numerics, QParams, TensorSpec, Work
from tpu.ops.elementwise import Add, Div, Mul, Pow, Sub, Where
from tpu.ops.gemm import Gemm, MatMul
from tpu.ops.matrix import MatrixOp
from tpu.ops.norm import BatchNorm, LayerNorm, ReduceMax, ReduceMean, ReduceSum, Softmax
from tpu.ops.pool import AvgPool, MaxPool
from tpu.ops.quant import Constant, Dequantize, Quantize
from tpu.ops.resize import Resize
from tpu.ops.rnn import GRU, LSTM
from tpu.ops.shape import (
    Concat,
    Expand,
    Gather,
    HostOp,
    Pad,
    Reshape,
    Shape,
    Slice,
    Squeeze,
    Transpose,
    Unsqueeze,
)

__all__ = [
    "GRU", "LSTM", "Abs", "Add", "AvgPool", "BatchNorm", "Clip", "Concat", "Constant", "Conv", "Dequantize",
    "Div",
    "Erf", "Exp", "Expand", "Gather", "Gelu", "Gemm", "Graph", "HardSigmoid", "HardSwish", "HostOp",
    "LayerNorm", "LeakyRelu", "MatMul", "MatrixOp", "MaxPool", "Mul", "Neg", "Node", "Numerics", "Pad",
    "Pow", "QParams", "Quantize", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum", "Relu",
    "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Sqrt", "Squeeze", "Sub", "Tanh",
    "TensorSpec", "Transpose", "Unsqueeze", "Where", "Work",
]

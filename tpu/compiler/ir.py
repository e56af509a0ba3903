"""The compiler's graph IR (kept here for existing imports; it lives in :mod:`tpu.ops`).

A graph is a list of nodes in topological order over named tensors. One IR serves float and
quantized models: the quantization pass (or the import of a model onnxruntime already quantized)
fills in integer weights, int32 biases and ``QParams``. Each op's semantics, shape rule, machine
unit and cost are defined with the op in its family module of :mod:`tpu.ops`.
"""

from tpu.ops import *  # noqa: F401,F403
from tpu.ops import __all__  # noqa: F401

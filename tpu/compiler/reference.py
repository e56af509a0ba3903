"""The golden model: a graph evaluated op by op with each op's own semantics (``Node.run``).

Integer ops compute what onnxruntime's CPU kernels compute (docs/numerics.md), bit for bit;
float ops compute float32. The program on the array is checked against this.
"""

from __future__ import annotations

import numpy as np

from tpu.errors import TpuError
from tpu.ops.core import MALFORMED, Graph, Node, Numerics
from tpu.ops.quant import dequantize_array as _dq_array
from tpu.ops.quant import quantize_array as _q_array
from tpu.ops.window import im2col, out_size  # noqa: F401  (re-exported)
from tpu.quant import dequantize as _dequantize  # noqa: F401
from tpu.quant import quantize as _quantize  # noqa: F401

REQUANT_MODES = ("float", "fixed")


def numerics(requant: str = "float", saturate_pairs: bool = False, acc_bits: int | None = 32) -> Numerics:
    if requant not in REQUANT_MODES:
        raise TpuError(f"requant mode must be one of {REQUANT_MODES}, got {requant!r}")
    return Numerics(requant, saturate_pairs, acc_bits)


def run_node(node: Node, args: list[np.ndarray], mode: str = "float", saturate_pairs: bool = False,
             acc_bits: int | None = 32) -> np.ndarray:
    """Apply one node to its evaluated inputs."""
    return node.evaluate(args, numerics(mode, saturate_pairs, acc_bits))


def evaluate(graph: Graph, x, *, requant: str = "float", all_tensors: bool = False,
             saturate_pairs: bool = False, acc_bits: int | None = 32, observe=None):
    """Run the graph on ``x`` (one array, or one per graph input).

    ``saturate_pairs=True`` reproduces onnxruntime's u8 × s8 kernels on x86 CPUs with AVX2 but
    no VNNI (int16 saturation of product pairs); the default is exact arithmetic. ``acc_bits``
    is the accumulator width Conv/Gemm sums wrap to (None: exact). ``observe(name, value)`` is
    called on every tensor as it is computed (calibration observers use it).

    Returns the list of graph outputs, or with ``all_tensors`` the dict of every tensor; other
    tensors are dropped as soon as nothing reads them (memory stays at the live set)."""
    nx = numerics(requant, saturate_pairs, acc_bits)
    xs = graph.check_inputs(x)
    env = dict(zip(graph.inputs, xs, strict=True))
    last_use = {}
    for k, node in enumerate(graph.nodes):
        for t in node.inputs:
            last_use[t] = k
    keep = set(graph.outputs)
    for k, node in enumerate(graph.nodes):
        try:
            env[node.output] = node.evaluate([env[t] if t else None for t in node.inputs], nx)
        except MALFORMED as exc:
            raise TpuError(f"node {node.name!r} ({node.op}): {type(exc).__name__}: {exc}") from None
        if observe is not None:
            observe(node.output, env[node.output])
        if not all_tensors:
            for t in set(node.inputs):
                if last_use.get(t) == k and t not in keep:
                    env.pop(t, None)
    if all_tensors:
        return env
    return [env[o] for o in graph.outputs]


# Thin names kept for callers of the earlier reference module.
def conv_accumulate(x, node, *, acc_bits: int | None = 32, saturate_pairs: bool = False):
    return node.accumulate([x], numerics("float", saturate_pairs, acc_bits)).reshape(
        *_grid(node, np.shape(x))).transpose(0, 3, 1, 2)


def _grid(node, shape):
    n, o, ho, wo = node.infer([shape], [])
    return n, ho, wo, o


def gemm_accumulate(x, node, *, acc_bits: int | None = 32, saturate_pairs: bool = False):
    return node.accumulate([x], numerics("float", saturate_pairs, acc_bits))


def requantize(acc, node, mode: str = "float"):
    return node.requantize(acc, mode)


def quantize_values(x, q):
    return _q_array(x, q)


def dequantize_values(x, q):
    return _dq_array(x, q)

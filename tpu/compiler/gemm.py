"""One GEMM ``C = A·B`` as a program on the machine: A read from DRAM, B loaded into the weight
buffer, the array, the accumulators, C written back — the same DMA, buffers and scoreboard
``tpu run`` uses, so ``tpu gemm``'s cycles include waiting for DRAM (``array_cycles`` are the
array's alone)."""

from __future__ import annotations

import numpy as np

from tpu.array.precision import Precision
from tpu.config import Config
from tpu.ops import Gemm, Graph, QParams, TensorSpec


def gemm_graph(m: int, k: int, b: np.ndarray, precision: Precision) -> Graph:
    """A graph of one raw GEMM: integer A (m × k) in, the wrapped accumulators out."""
    x_q = QParams(np.float32(1), np.int64(0), precision.act_bits, precision.act_signed)
    w_q = QParams(np.float32(1), np.int64(0), precision.weight_bits, precision.weight_signed)
    node = Gemm("gemm", ("A",), "C", weight=np.asarray(b, np.int64), x_q=x_q, w_q=w_q)
    return Graph(f"gemm{m}x{k}x{b.shape[1]}", (node,), ("A",), ("C",), quantized=True,
                 specs={"A": TensorSpec((m, k), "int64")})


def run_gemm(a: np.ndarray, b: np.ndarray, config: Config, precision: Precision):
    """The machine's run of ``A·B`` (timing, traffic and energy; values are ``tpu.array.gemm``'s)."""
    from tpu.compiler import compile as compile_graph

    graph = gemm_graph(a.shape[0], a.shape[1], b, precision)
    return compile_graph(graph, config).run(a, values=False)

"""Static post-training quantization of a float IR graph (calibration data → integer graph).

Scheme (onnxruntime ``quantize_static`` conventions unless told otherwise):

* activations: per tensor, asymmetric, ``act_bits`` wide (unsigned by default, ``act_signed``
  for int8-style), range from the calibration ``method``: ``"minmax"`` (running min/max),
  ``"percentile"`` (99.99 % of |x|), ``"kl"`` (TensorRT entropy), ``"mse"``; the range is
  observed on the float graph's tensors over the whole calibration array;
* weights: per output channel (``per_channel``) or per tensor, symmetric by default
  (``symmetric_weights``; signed symmetric uses the restricted range ±(2^(b-1)-1)),
  ``weight_bits`` wide;
* bias: int32 at scale s_x·s_w (:func:`tpu.quant.bias_int32`);
* a Conv/Gemm/Add with a fused ReLU gets its output range from the ReLU'd values (so the zero
  point sits at qmin and the clamp does the ReLU); MaxPool, Reshape, Relu and Clip keep their
  input's parameters; the graph gets a Quantize after each input and a Dequantize before each
  output.

Any bit width 2..16 works (``convention`` picks the qparams rules, see tpu.quant.schemes).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tpu.compiler import ir, reference
from tpu.errors import TpuError
from tpu.quant import bias_int32, qparams, qrange
from tpu.quant import quantize as quantize_values
from tpu.quant.observers import METHODS
from tpu.quant.qmodel import Scheme, act_range
from tpu.quant.schemes import qparams_from_range


def quantize(graph: ir.Graph, calib: np.ndarray, *, per_channel: bool = True,
             method: str = "minmax", act_bits: int = 8, weight_bits: int = 8,
             act_signed: bool = False, weight_signed: bool = True,
             symmetric_weights: bool = True, convention: str = "onnxruntime") -> ir.Graph:
    """Quantize a float graph with static post-training calibration on ``calib`` (N, ...)."""
    if graph.quantized:
        raise TpuError(f"graph {graph.name!r} is already quantized")
    if method not in METHODS:
        raise TpuError(f"calibration method must be one of {METHODS}, got {method!r}")
    for what, b in (("act_bits", act_bits), ("weight_bits", weight_bits)):
        if not isinstance(b, int) or not 2 <= b <= 16:
            raise TpuError(f"{what} must be an integer in 2..16, got {b!r}")
    calib = np.asarray(calib, np.float32)
    if calib.ndim < 1 or len(calib) == 0:
        raise TpuError("calibration data must be a non-empty array (N, ...)")

    env = reference.evaluate(graph, calib, all_tensors=True)
    act_scheme = Scheme(a_bits=act_bits, a_signed=act_signed, calib=method, convention=convention)
    qp: dict[str, ir.QParams] = {}

    def act_q(tensor: str) -> ir.QParams:
        if tensor not in qp:
            # one calibration rule for both quantization paths (tpu.quant's integer model too)
            lo, hi = act_range(env[tensor], act_scheme)
            rng = qrange(act_bits, act_signed, convention=convention)
            s, z = qparams_from_range(lo, hi, rng, symmetric=False, convention=convention)
            qp[tensor] = ir.QParams(np.float32(s), np.int64(z), act_bits, act_signed, None)
        return qp[tensor]

    def weight_q(w: np.ndarray, axis: int) -> tuple[np.ndarray, ir.QParams]:
        ax = axis if per_channel else None
        s, z = qparams(w, bits=weight_bits, signed=weight_signed, symmetric=symmetric_weights,
                       axis=ax, convention=convention)
        rng = qrange(weight_bits, weight_signed, symmetric=symmetric_weights, convention=convention)
        wq = quantize_values(w, s, z, bits=weight_bits, signed=weight_signed, axis=ax,
                             qmin=rng.qmin, qmax=rng.qmax)
        return wq, ir.QParams(s, z, weight_bits, weight_signed, ax)

    nodes: list[ir.Node] = []
    renames = {}
    for name in graph.inputs:
        q = act_q(name)
        nodes.append(ir.Quantize(f"{name}_quantize", (name,), f"{name}_q", q=q))
        renames[name] = f"{name}_q"
        qp[f"{name}_q"] = q

    def src(t: str) -> str:
        return renames.get(t, t)

    for n in graph.nodes:
        ins = tuple(src(i) for i in n.inputs)
        if isinstance(n, ir.Conv | ir.Gemm):
            axis = 0 if isinstance(n, ir.Conv) else 1
            wq, w_q = weight_q(np.asarray(n.weight, np.float32), axis)
            x_q = qp[ins[0]]
            bias = None if n.bias is None else bias_int32(n.bias, x_q.scale, w_q.scale)
            new = replace(n, inputs=ins, weight=wq, bias=bias, x_q=x_q, w_q=w_q, out_q=act_q(n.output))
        elif isinstance(n, ir.Add):
            new = replace(n, inputs=ins, a_q=qp[ins[0]], b_q=qp[ins[1]], out_q=act_q(n.output))
        elif isinstance(n, ir.AvgPool):
            new = replace(n, inputs=ins, x_q=qp[ins[0]], out_q=act_q(n.output))
        elif isinstance(n, ir.MaxPool | ir.Relu | ir.Clip):
            new = replace(n, inputs=ins, q=qp[ins[0]])
            qp[n.output] = qp[ins[0]]
        elif isinstance(n, ir.Reshape):
            new = replace(n, inputs=ins)
            qp[n.output] = qp[ins[0]]
        elif isinstance(n, ir.Constant):
            q = act_q(n.output)
            v = quantize_values(n.value, q.scale, q.zero_point, bits=q.bits, signed=q.signed)
            new = replace(n, value=v, q=q)
        else:
            raise TpuError(f"node {n.name!r}: cannot quantize {type(n).__name__}")
        nodes.append(new)

    outputs = []
    for o in graph.outputs:
        nodes.append(ir.Dequantize(f"{o}_dequantize", (o,), f"{o}_dq", q=qp[o]))
        outputs.append(f"{o}_dq")
    shapes = dict(graph.shapes)
    for i in graph.inputs:
        shapes[f"{i}_q"] = graph.shapes.get(i, ())
    for o in graph.outputs:
        shapes[f"{o}_dq"] = graph.shapes.get(o, ())
    return ir.Graph(graph.name, tuple(nodes), graph.inputs, tuple(outputs), shapes, quantized=True)

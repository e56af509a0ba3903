"""Static post-training quantization of a float graph (calibration data → integer graph).

Each op decides its own integer form (``Node.quantize``, in its family module of tpu.ops), the
same way onnxruntime's QDQ fusion does, so a float model quantized here and a model quantized by
onnxruntime run the same kinds of integer ops; ops without an integer form stay float islands
(their inputs dequantized, their outputs quantized by whatever integer op reads them).

Scheme (onnxruntime ``quantize_static`` conventions unless told otherwise):

* activations: per tensor, asymmetric, ``act_bits`` wide (unsigned by default, ``act_signed``
  for int8-style), range from the calibration ``method``: ``"minmax"`` (running min/max),
  ``"percentile"`` (99.99 % of |x|), ``"kl"`` (TensorRT entropy), ``"mse"``. Observers see the
  calibration set ``batch`` images at a time, so memory does not grow with its size;
* weights: per output channel (``per_channel``) or per tensor, symmetric by default
  (``symmetric_weights``; signed symmetric uses the restricted range ±(2^(b-1)-1));
* bias: int32 at scale s_x·s_w (:func:`tpu.quant.bias_int32`);
* an op with a fused ReLU gets its output range from the ReLU'd values (the zero point sits at
  qmin and the clamp does the ReLU); data movement keeps its input's parameters.

Any bit width 2..16 works (``convention`` picks the qparams rules, see tpu.quant.schemes).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tpu.compiler import reference
from tpu.errors import ShapeError, TpuError
from tpu.ops.core import MALFORMED, Graph, Node, QParams
from tpu.ops.quant import Constant, Dequantize, Quantize, quantize_array
from tpu.quant import bias_int32, qparams, qrange
from tpu.quant import quantize as quantize_values
from tpu.quant.observers import METHODS
from tpu.quant.qmodel import Scheme, act_observer, observed_range
from tpu.quant.schemes import qparams_from_range

CALIB_BATCH = 16


# A host-made float tensor this large is an attention mask, not data (see _Quantizer.masked)
MASK_MAGNITUDE = 1e4


def _huge_value(value) -> bool:
    v = np.asarray(value)
    return v.dtype.kind == "f" and v.size > 0 and float(np.abs(v).max()) >= MASK_MAGNITUDE


def quantize(graph: Graph, calib, *, per_channel: bool = True, method: str = "minmax",
             act_bits: int = 8, weight_bits: int = 8, act_signed: bool = False,
             weight_signed: bool = True, symmetric_weights: bool = True,
             convention: str = "onnxruntime", batch: int = CALIB_BATCH,
             layer_bits: dict | None = None) -> Graph:
    """Quantize a float graph with static post-training calibration on ``calib`` (N, ...).

    ``layer_bits`` (``{layer name: tpu.compiler.widths.LayerBits}``) gives some matrix layers
    their own weight and input-activation widths; the others take ``weight_bits``/``act_bits``
    (see tpu.compiler.widths for how the tensors between layers get their widths)."""
    if graph.quantized:
        raise TpuError(f"graph {graph.name!r} is already quantized")
    if method not in METHODS:
        raise TpuError(f"calibration method must be one of {METHODS}, got {method!r}")
    for what, b in (("act_bits", act_bits), ("weight_bits", weight_bits)):
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16:
            raise TpuError(f"{what} must be an integer in 2..16, got {b!r}")
    from tpu.compiler.widths import LayerBits, resolve

    layer_w, tensor_a = resolve(graph, layer_bits or {}, LayerBits(weight_bits, act_bits))
    scheme = Scheme(a_bits=act_bits, a_signed=act_signed, calib=method, convention=convention)
    ranges = calibrate(graph, calib, scheme, batch)
    q = _Quantizer(graph, ranges, per_channel=per_channel, act_bits=act_bits, act_signed=act_signed,
                   weight_bits=weight_bits, weight_signed=weight_signed,
                   symmetric_weights=symmetric_weights, convention=convention)
    q.layer_weight_bits, q.tensor_act_bits = layer_w, tensor_a
    return q.run()


def calibrate(graph: Graph, calib, scheme: Scheme, batch: int = CALIB_BATCH) -> dict:
    """The float range of every float tensor over the calibration set, seen ``batch`` at a time."""
    try:
        xs = graph.check_inputs(calib)
    except ShapeError as exc:
        raise ShapeError(f"calibration data: {exc}") from None
    n = graph.batch_of(xs)
    observers: dict = {}

    def observe(name, value):
        if value.dtype.kind == "f":
            if name not in observers:
                observers[name] = act_observer(scheme)
            observers[name].observe(value)

    for start in range(0, n, batch):
        chunk = [_batch_slice(graph, i, x, start, batch) for i, x in zip(graph.inputs, xs, strict=True)]
        for name, x in zip(graph.inputs, chunk, strict=True):
            observe(name, x)
        reference.evaluate(graph, chunk, observe=observe)
    return {name: observed_range(obs, scheme) for name, obs in observers.items()}


def _batch_slice(graph: Graph, name: str, x: np.ndarray, start: int, batch: int) -> np.ndarray:
    dims = graph.spec(name).shape
    axis = next((i for i, d in enumerate(dims) if d is None), None)
    if axis is None:
        return x
    return np.take(x, range(start, min(start + batch, x.shape[axis])), axis=axis)


class _Quantizer:
    """The context ``Node.quantize`` calls (``qc``): integer and float views of tensors."""

    def __init__(self, graph: Graph, ranges: dict, *, per_channel, act_bits, act_signed, weight_bits,
                 weight_signed, symmetric_weights, convention):
        self.graph = graph
        self.ranges = ranges
        self.per_channel = per_channel
        self.act_bits, self.act_signed = act_bits, act_signed
        self.weight_bits, self.weight_signed = weight_bits, weight_signed
        self.symmetric_weights = symmetric_weights
        self.convention = convention
        self.qp: dict[str, QParams] = {}  # integer tensors
        self.as_int: dict[str, str] = {}  # float tensor -> its quantized copy
        self.as_float: dict[str, str] = {}  # integer tensor -> its dequantized copy
        self.constants = {n.output: n for n in graph.nodes if isinstance(n, Constant)}
        self.nodes: list[Node] = []
        self._act: dict[str, QParams] = {}
        self.layer_weight_bits: dict[str, int] = {}  # per matrix layer (tpu.compiler.widths)
        self.tensor_act_bits: dict[str, int] = {}  # per activation tensor
        self.current: Node | None = None  # the node being quantized
        # attention masks the host builds (0 where a token may be seen, -1e4 or -3.4e38 where
        # not): a linear 8-bit range over them leaves one step for every real score, and the
        # softmax after them turns uniform. The ops they reach stay float up to the softmax
        self.masked: set[str] = set()
        for n in graph.nodes:
            if n.unit == "host" and (self._huge(n.output) or any(
                    t in self.masked or (t in self.constants and _huge_value(self.constants[t].value))
                    for t in n.inputs)):
                self.masked.add(n.output)

    def _huge(self, tensor: str) -> bool:
        lo, hi = self.ranges.get(tensor, (0.0, 0.0))
        return max(abs(lo), abs(hi)) >= MASK_MAGNITUDE

    # --- what Node.quantize calls -----------------------------------------------------------
    def act_q(self, tensor: str) -> QParams:
        if tensor not in self._act:
            if tensor not in self.ranges:
                raise TpuError(f"tensor {tensor!r} was not seen during calibration (not float?)")
            lo, hi = self.ranges[tensor]
            bits = self.tensor_act_bits.get(tensor, self.act_bits)
            rng = qrange(bits, self.act_signed, convention=self.convention)
            s, z = qparams_from_range(lo, hi, rng, symmetric=False, convention=self.convention)
            self._act[tensor] = QParams(np.float32(s), np.int64(z), bits, self.act_signed, None)
        return self._act[tensor]

    def int_input(self, tensor: str) -> tuple[str, QParams]:
        """``tensor`` as integers: itself if integer, else a quantized copy (a constant is
        quantized at compile time, an activation by a Quantize node)."""
        if tensor in self.qp:
            return tensor, self.qp[tensor]
        if tensor not in self.as_int:
            q = self.act_q(tensor)
            name = f"{tensor}_q"
            if tensor in self.constants:
                value = self.quantize_constant(self.constants[tensor].value, q)
                self.emit(Constant(name, (), name, value=value, q=q))
            else:
                self.emit(Quantize(f"{tensor}_quantize", (tensor,), name, q=q))
            self.as_int[tensor] = name
        name = self.as_int[tensor]
        return name, self.qp[name]

    def float_input(self, tensor: str) -> str:
        if tensor not in self.qp:
            return tensor
        if tensor not in self.as_float:
            name = f"{tensor}_dq"
            self.emit(Dequantize(f"{tensor}_dequantize", (tensor,), name, q=self.qp[tensor]))
            self.as_float[tensor] = name
        return self.as_float[tensor]

    def float_island(self, node: Node) -> Node:
        params = set(getattr(node, "params", ()))
        ins = tuple(t if i in params or not t else self.float_input(t) for i, t in enumerate(node.inputs))
        return replace(node, inputs=ins)

    def passthrough(self, node: Node) -> Node:
        """A data-movement op: integers in, the same parameters out (floats stay floats)."""
        x = node.inputs[0]
        if x in self.qp:
            return replace(node, q=self.qp[x])
        return node

    def weight(self, w: np.ndarray, axis: int) -> tuple[np.ndarray, QParams]:
        ax = axis if self.per_channel else None
        b = self.layer_weight_bits.get(getattr(self.current, "name", None), self.weight_bits)
        sgn = self.weight_signed
        s, z = qparams(w, bits=b, signed=sgn, symmetric=self.symmetric_weights, axis=ax,
                       convention=self.convention)
        rng = qrange(b, sgn, symmetric=self.symmetric_weights, convention=self.convention)
        wq = quantize_values(w, s, z, bits=b, signed=sgn, axis=ax, qmin=rng.qmin, qmax=rng.qmax)
        return wq, QParams(s, z, b, sgn, ax)

    @staticmethod
    def bias(b, x_q: QParams, w_q: QParams) -> np.ndarray:
        return bias_int32(b, x_q.scale, w_q.scale)

    @staticmethod
    def quantize_constant(value, q: QParams) -> np.ndarray:
        return quantize_array(np.asarray(value, np.float32), q)

    def constant(self, node: Constant) -> Node:
        return node

    # --- the pass ---------------------------------------------------------------------------
    def emit(self, node: Node) -> None:
        self.nodes.append(node)
        q = getattr(node, "out_q", None) or getattr(node, "q", None)
        if q is not None and not isinstance(node, Dequantize):
            self.qp[node.output] = q

    def run(self) -> Graph:
        g = self.graph
        for n in g.nodes:
            if not np.all([np.all(np.isfinite(np.asarray(v, np.float64)))
                           for v in (getattr(n, f, None) for f in ("weight", "bias", "value", "table"))
                           if v is not None and np.asarray(v).dtype.kind == "f"]):
                raise TpuError(f"node {n.name!r}: its weights contain NaN or infinity")
            self.current = n
            params = set(getattr(n, "params", ()))
            if any(t in self.masked for i, t in enumerate(n.inputs) if t and i not in params):
                self.emit(self.float_island(n))
                if n.op != "Softmax":  # its output is a probability again
                    self.masked.add(n.output)
                continue
            try:
                self.emit(n.quantize(self))
            except MALFORMED as exc:
                raise TpuError(f"node {n.name!r} ({n.op}): cannot quantize it ({type(exc).__name__}: "
                               f"{exc})") from None
        self.current = None
        outputs = []
        for o in g.outputs:
            outputs.append(self.float_input(o))
        graph = Graph(g.name, tuple(self.nodes), g.inputs, tuple(outputs), quantized=True,
                      specs={t: g.spec(t) for t in g.inputs})
        shapes = graph.shapes_at(1) if g.shapes else {}
        return replace(graph, shapes=shapes, _cache={})

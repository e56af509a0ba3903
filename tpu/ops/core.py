"""The IR every op family builds on: quantization parameters, nodes, graphs, numerics and work.

A node is a frozen dataclass. Each op family (one module of :mod:`tpu.ops`) subclasses
:class:`Node` and says, in one place:

* ``run``: what it computes, float32 or integer (the executable definition the machine is
  checked against);
* ``infer``: its output shape from its input shapes (and, for shape arithmetic, values);
* ``unit`` and ``work``: where it runs on the machine (matrix unit, vector unit, host, or a
  view that moves nothing) and how many element operations of each class it costs there;
* ``quantize``: how the static quantization pass turns its float form into the integer one;

and registers the ONNX import rules that build it (:func:`tpu.ops.registry.onnx_op`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from tpu.errors import ModelError, ShapeError, TpuError

UNITS = ("matrix", "vector", "host", "view")
# What an op's arithmetic raises on inputs it cannot take (named as a ShapeError of that node).
MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError, OverflowError)


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
        if self.signed and self.bits == 1:
            return 1  # binary: {-1, +1}
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def same(self, other: QParams | None) -> bool:
        """Equal parameters (onnxruntime drops a DQ/Q pair around data movement only then)."""
        return (other is not None and self.signed == other.signed and self.bits == other.bits
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))


@dataclass(frozen=True)
class Numerics:
    """The arithmetic conventions a run follows where the peers differ (docs/numerics.md).

    * ``requant``: ``"float"`` is MLAS's float32 requantization (onnxruntime), ``"fixed"`` the
      gemmlowp int32 multiplier + shift the activation unit implements (TFLite reference);
    * ``saturate_pairs``: onnxruntime's u8 × s8 kernels on x86 CPUs with AVX2 but no VNNI add
      pairs of products in int16 with saturation; False is exact arithmetic (VNNI, ARM, the TPU);
    * ``acc_bits``: the width Conv/Gemm sums wrap to (None: exact).
    """

    requant: str = "float"
    saturate_pairs: bool = False
    acc_bits: int | None = 32

    def __post_init__(self):
        if self.requant not in ("float", "fixed"):
            raise TpuError(f"requant mode must be float or fixed, got {self.requant!r}")


def narrow(a: np.ndarray) -> np.ndarray:
    """Integer ``a`` in the narrowest signed type that holds it (weights kept for a whole run:
    ViT-B/16's 86 M take 660 MiB as int64, 83 as int8). Readers widen before any arithmetic."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu" or a.size == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return a if a.dtype == t else a.astype(t)
    return a.astype(np.int64)


@dataclass(frozen=True)
class Work:
    """Element operations of each class a vector-unit op performs (``[vector]`` cycles apply):
    ``alu`` add/compare/select/copy, ``mul`` multiply, ``lut`` table lookup, ``fp`` float32."""

    alu: int = 0
    mul: int = 0
    lut: int = 0
    fp: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def cycles(self, vector) -> int:
        """Cycles on a vector unit ``vector`` (a tpu.config.VectorConfig): each class's
        lane-wide steps times its cycles per step, classes one after another."""
        steps = 0
        for f in fields(self):
            n = getattr(self, f.name)
            steps += -(-n // vector.lanes) * getattr(vector, f"{f.name}_cycles")
        return steps

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class Node:
    """One op: ``inputs`` and ``output`` name graph tensors."""

    name: str
    inputs: tuple[str, ...]
    output: str

    unit: ClassVar[str] = "vector"  # where it runs: one of UNITS

    @property
    def op(self) -> str:
        return type(self).__name__

    @property
    def quantized(self) -> bool:
        """An integer op (its quantization parameters are set)."""
        return any(getattr(self, f.name) is not None for f in fields(self)
                   if f.name == "q" or f.name.endswith("_q"))

    def run(self, args: list[np.ndarray], nx: Numerics) -> np.ndarray:
        raise TpuError(f"node {self.name!r}: no semantics for {self.op}")

    def evaluate(self, args: list[np.ndarray], nx: Numerics) -> np.ndarray:
        """:meth:`run` as every evaluator calls it: float overflow and NaN are IEEE results
        (onnxruntime's too), not warnings to print."""
        with np.errstate(all="ignore"):
            return self.run(args, nx)

    def infer(self, shapes: list[tuple[int, ...]], values: list) -> tuple[int, ...]:
        """Output shape from input shapes; ``values`` holds compile-time values (or None)."""
        return tuple(shapes[0])

    def work(self, shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> Work:
        """Vector-unit work (element operations by class); view/host ops do none."""
        return Work(alu=_size(out))

    def quantize(self, qc) -> Node:
        """The integer form (static PTQ); default: a float island (runs on dequantized inputs)."""
        return qc.float_island(self)

    def describe(self) -> str:
        return ""


@dataclass(frozen=True, eq=False)
class Clamped(Node):
    """An op whose output a following Relu or Clip was fused into: ``relu`` clamps at zero,
    ``clip`` at (lo, hi). Quantized, the clamp is the output range: the zero point (and the
    clip bounds, quantized with the output's parameters) raise the floor and lower the ceiling."""

    relu: bool = False
    clip: tuple[float, float] | None = None

    def clamp_float(self, y: np.ndarray) -> np.ndarray:
        if self.relu:
            y = np.maximum(y, np.float32(0))
        if self.clip is not None:
            y = np.clip(y, np.float32(self.clip[0]), np.float32(self.clip[1]))
        return y

    def clamp_range(self, q: QParams) -> tuple[int, int]:
        from tpu.ops.quant import quantize_array

        lo, hi = q.qmin, q.qmax
        if self.relu:
            lo = max(lo, int(q.zero_point))
        if self.clip is not None:
            if np.isfinite(self.clip[0]):
                lo = max(lo, int(quantize_array(np.float32(self.clip[0]), q)))
            if np.isfinite(self.clip[1]):
                hi = min(hi, int(quantize_array(np.float32(self.clip[1]), q)))
        return lo, hi


def _size(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def size(shape) -> int:
    """Elements in ``shape`` (1 for a scalar)."""
    return _size(shape)


@dataclass(frozen=True)
class TensorSpec:
    """A graph input as declared: dims (None where dynamic) and element type."""

    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes in execution order over named tensors.

    ``inputs``/``outputs`` name graph tensors; ``specs`` declares each input's shape (None for a
    dynamic dimension, usually the batch) and type. ``shapes`` holds every tensor's shape at
    batch 1; :meth:`shapes_at` gives them at any batch from the ops' own shape rules."""

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    quantized: bool = False
    specs: dict[str, TensorSpec] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def spec(self, name: str) -> TensorSpec:
        if name in self.specs:
            return self.specs[name]
        shape = self.shapes.get(name)
        if shape is None:
            raise ModelError(f"graph {self.name!r}: input {name!r} has no declared shape")
        return TensorSpec((None, *shape[1:]) if shape else (), "float32")

    def input_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """Input shapes with the (first) dynamic dimension of each input set to ``batch``; other
        dynamic dimensions are only known from an actual input."""
        out = {}
        for n in self.inputs:
            dims = list(self.spec(n).shape)
            for i, d in enumerate(dims):
                if d is None:
                    if any(e is None for e in dims[:i]):
                        raise ShapeError(f"input {n!r} has dynamic dimensions besides the batch "
                                         f"({self.spec(n).shape}); give an input to fix their sizes")
                    dims[i] = batch
            out[n] = tuple(dims)
        return out

    def check_inputs(self, xs) -> list[np.ndarray]:
        """The arrays to run on, one per graph input, checked against the declared shapes and
        types (as onnxruntime checks them): a wrong rank, size or element type is a ShapeError."""
        if isinstance(xs, dict):  # by input name, as a .npz holds them
            if set(xs) != set(self.inputs):
                raise ShapeError(f"model {self.name!r} takes inputs {', '.join(self.inputs)}; got "
                                 f"{', '.join(map(str, xs)) or 'none'}")
            xs = [xs[name] for name in self.inputs]
        xs = list(xs) if isinstance(xs, list | tuple) else [xs]
        if len(xs) != len(self.inputs):
            several = f" ({', '.join(self.inputs)}; from the command line: X.npz, one array per " \
                      f"input name)" if len(self.inputs) > 1 else ""
            raise ShapeError(f"model {self.name!r} takes {len(self.inputs)} input(s){several}, "
                             f"got {len(xs)}")
        out = []
        for name, x in zip(self.inputs, xs, strict=True):
            spec = self.spec(name)
            try:
                a = np.asarray(x)
            except ValueError as exc:  # ragged nested lists
                raise ShapeError(f"input {name!r}: not a rectangular array ({exc})") from None
            kind = a.dtype.kind
            if spec.dtype == "float32":
                if kind not in "biuf":
                    raise ShapeError(f"input {name!r} must be real numbers, got dtype {a.dtype}")
                a = a.astype(np.float32)
                if not np.all(np.isfinite(a)):
                    raise ShapeError(f"input {name!r} contains NaN or infinity")
            else:
                if kind not in "biu" and not (kind == "f" and np.all(np.mod(a, 1) == 0)):
                    raise ShapeError(f"input {name!r} must be integers ({spec.dtype}), got dtype {a.dtype}")
                if spec.dtype == "int32" and a.size and (a.min() < -2**31 or a.max() >= 2**31):
                    raise ShapeError(f"input {name!r} is int32; its values reach "
                                     f"[{a.min()}, {a.max()}]")
                a = a.astype(np.int32 if spec.dtype == "int32" else np.int64)  # as declared
            if a.ndim != len(spec.shape) or any(d is not None and d != n for d, n in zip(spec.shape, a.shape,
                                                                                            strict=True)):
                want = "×".join("N" if d is None else str(d) for d in spec.shape)
                raise ShapeError(f"input {name!r} has shape {'×'.join(map(str, a.shape)) or 'scalar'}; "
                                 f"the model takes {want}")
            if a.size == 0:
                raise ShapeError(f"input {name!r} is empty (shape {a.shape})")
            out.append(a)
        batches = {a.shape[next(i for i, d in enumerate(self.spec(n).shape) if d is None)]
                   for a, n in zip(out, self.inputs, strict=True) if None in self.spec(n).shape}
        if len(batches) > 1:
            raise ShapeError(f"inputs disagree on the batch dimension: {sorted(batches)}")
        return out

    def batch_of(self, xs: list[np.ndarray]) -> int:
        """The size of the inputs' first dynamic dimension (1 when every dimension is static)."""
        for a, n in zip(xs, self.inputs, strict=True):
            for i, d in enumerate(self.spec(n).shape):
                if d is None:
                    return int(a.shape[i])
        return 1

    def shapes_for(self, xs: list[np.ndarray]) -> dict[str, tuple[int, ...]]:
        """Every tensor's shape for these inputs."""
        return self.propagate({n: tuple(np.shape(a)) for n, a in zip(self.inputs, xs, strict=True)})[0]

    def shapes_at(self, batch: int) -> dict[str, tuple[int, ...]]:
        return self.propagate(self.input_shapes(batch))[0]

    def propagate(self, input_shapes: dict[str, tuple[int, ...]]):
        """(shapes, values): every tensor's shape, and the values known before running (constants
        and the shape arithmetic that depends only on shapes)."""
        key = tuple(sorted(input_shapes.items()))
        if key not in self._cache:
            self._cache[key] = propagate(self, input_shapes)
        return self._cache[key]

    def producers(self) -> dict[str, Node]:
        return {n.output: n for n in self.nodes}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out


MAX_ELEMENTS = 1 << 34  # a tensor bigger than this is a mistake in the model, not a workload


def propagate(graph: Graph, input_shapes: dict[str, tuple[int, ...]], known: dict | None = None):
    """Shape propagation through the ops' ``infer`` rules; host ops whose inputs are known are
    evaluated (shape arithmetic), so a Reshape fed by Shape → Gather → Concat gets its target.
    ``known`` holds values of host tensors computed before (for a partial graph)."""
    shapes: dict[str, tuple[int, ...]] = dict(input_shapes)
    values: dict[str, np.ndarray] = dict(known or {})
    nx = Numerics()
    for node in graph.nodes:
        ins = [shapes.get(t) for t in node.inputs]
        missing = [t for t, s in zip(node.inputs, ins, strict=True) if s is None and t]
        if missing:
            raise ModelError(f"node {node.name!r} ({node.op}): input {missing[0]!r} is not produced "
                             f"by any earlier node or graph input")
        vals = [values.get(t) for t in node.inputs]
        try:
            out = tuple(int(d) for d in node.infer(ins, vals))
        except MALFORMED as exc:
            raise ShapeError(f"node {node.name!r} ({node.op}): inputs {ins} do not fit "
                             f"({type(exc).__name__}: {exc})") from None
        if any(d < 0 for d in out) or _size(out) > MAX_ELEMENTS:
            raise ShapeError(f"node {node.name!r} ({node.op}): output shape {out} is not a valid size")
        shapes[node.output] = out
        if node.unit != "host":
            continue
        if getattr(node, "shape_only", False):  # Shape: needs no data, only its input's shape
            args = [np.broadcast_to(np.float32(0), s) for s in ins]
        elif all(v is not None for v in vals):
            args = vals
        else:
            continue
        try:
            values[node.output] = np.asarray(node.evaluate(args, nx))
        except MALFORMED as exc:
            raise ShapeError(f"node {node.name!r} ({node.op}): {type(exc).__name__}: {exc}") from None
    return shapes, values


def replace(node: Node, **changes) -> Node:
    return dataclasses.replace(node, **changes)

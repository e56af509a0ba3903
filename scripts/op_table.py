"""Print the op table of docs/compiler.md: every ONNX op type the importer accepts, and where it runs.

The rows come from the op registry (``tpu.ops.registry.RULES``, one import rule per op type) and
the importer's own ops (``tpu.frontend.onnx_import.CORE``). Nothing in the "where" columns is
written by hand: each op type is *probed* — a model holding that one op (named ``probe``) is
built with onnx.helper, imported by ``tpu.frontend.load_onnx``'s importer, quantized by
``tpu.compiler.quantize.quantize`` (static PTQ, the defaults of ``tpu run --calib``) when it is
float — com.microsoft QLinear*/QGemm ops come quantized — and lowered for the default machine
(edge-32) by ``tpu.compiler.lower.lower_layers``. The row names the IR node(s) the op became and
where each ran. An op type registered without a probe here makes the script fail, so the table
cannot silently fall behind the registry.

    .venv/bin/python scripts/op_table.py        # the Markdown table (tests/test_docs.py checks
                                                # docs/compiler.md holds exactly this)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tpu import load_config  # noqa: E402
from tpu.compiler.lower import lower_layers  # noqa: E402
from tpu.compiler.quantize import quantize  # noqa: E402
from tpu.frontend.onnx_import import CORE, import_model  # noqa: E402
from tpu.ops.registry import RULES  # noqa: E402

N = helper.make_node
MS = "com.microsoft"
F32 = np.float32


def _f(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(F32)


def _i64(*values):
    return np.array(values, np.int64)


class Probe:
    """A one-op model: ``nodes`` (the op of interest named ``probe``, reading the activation
    ``a``), constant ``inits``, one input ``x`` of ``shape`` (``dtype`` float or int64), opset
    ``opset``. With ``pre``, ``a`` is computed from ``x`` by a matrix op (a 1×1 Conv, or a MatMul
    on the last axis), so the op reads an integer activation as it does inside a network; else
    ``a`` is ``x``."""

    def __init__(self, nodes, inits=None, shape=(1, 4, 6, 6), opset=13, dtype=TensorProto.FLOAT,
                 outputs=("y",), pre=True):
        self.nodes, self.inits, self.shape, self.opset = nodes, dict(inits or {}), shape, opset
        self.dtype, self.outputs, self.pre = dtype, outputs, pre

    def model(self):
        inits = dict(self.inits)
        if not self.pre:
            first = N("Identity", ["x"], ["a"], name="pre")
        elif len(self.shape) == 4:
            first = N("Conv", ["x", "pre_w"], ["a"], name="pre", kernel_shape=[1, 1])
            inits["pre_w"] = _f(self.shape[1], self.shape[1], 1, 1, seed=2, scale=0.5)
        else:
            first = N("MatMul", ["x", "pre_w"], ["a"], name="pre")
            inits["pre_w"] = _f(self.shape[-1], self.shape[-1], seed=2, scale=0.5)
        graph = helper.make_graph(
            [first, *self.nodes], "probe", [helper.make_tensor_value_info("x", self.dtype, list(self.shape))],
            [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in self.outputs],
            [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
        ops = [helper.make_opsetid("", self.opset), helper.make_opsetid(MS, 1)]
        model = helper.make_model(graph, opset_imports=ops)
        model.ir_version = 8
        return model

    def calib(self):
        if self.dtype == TensorProto.INT64:
            return np.random.default_rng(1).integers(0, 5, self.shape)
        return np.random.default_rng(1).uniform(0.1, 2.0, self.shape).astype(F32)


def unary(op, opset=13, pre=True, **attrs):
    return Probe([N(op, ["a"], ["y"], name="probe", **attrs)], opset=opset, pre=pre)


def with_consts(op, consts, shape=(1, 4, 6, 6), opset=13, pre=True, **attrs):
    """``op(x, *consts)``: constant parameter inputs ("" for an absent one)."""
    names = [k if v is not None else "" for k, v in consts.items()]
    return Probe([N(op, ["a", *names], ["y"], name="probe", **attrs)],
                 {k: v for k, v in consts.items() if v is not None}, shape, opset, pre=pre)


def conv(group=1, c=4, o=4, k=3, shape=(1, 4, 6, 6)):
    return Probe([N("Conv", ["a", "W", "B"], ["y"], name="probe", group=group, kernel_shape=[k, k],
                    pads=[1, 1, 1, 1])], {"W": _f(o, c // group, k, k, scale=0.3), "B": _f(o, scale=0.1)},
                 shape, pre=False)


def batchnorm(after_conv: bool):
    c = 4
    stats = {"g": np.full(c, 1.5, F32), "b": _f(c, scale=0.1), "m": _f(c, scale=0.1),
             "v": np.full(c, 2.0, F32)}
    # alone it reads the input (after the pre Conv it would be folded into that Conv); after its
    # own Conv (named with the prefix too) it is folded into that Conv's weights
    nodes = [N("BatchNormalization", ["c" if after_conv else "a", "g", "b", "m", "v"], ["y"], name="probe")]
    if after_conv:
        nodes.insert(0, N("Conv", ["a", "W"], ["c"], name="probe_conv", kernel_shape=[1, 1]))
        stats["W"] = _f(c, c, 1, 1, scale=0.5)
    return Probe(nodes, stats, pre=False)


def rnn(op):
    gates, hidden, feats = (4 if op == "LSTM" else 3), 3, 2
    inits = {"W": _f(1, gates * hidden, feats, scale=0.5), "R": _f(1, gates * hidden, hidden, scale=0.5),
             "B": _f(1, 2 * gates * hidden, scale=0.1)}
    return Probe([N(op, ["a", "W", "R", "B"], ["y"], name="probe", hidden_size=hidden)], inits, (4, 1, feats))


def qoperator(op, extra_inputs, extra_inits, *, shape=(1, 4, 6, 6), **attrs):
    """x → QuantizeLinear (u8) → ``op`` (com.microsoft or standard) → DequantizeLinear → y."""
    inits = {"xs": np.float32(0.02), "xz": np.uint8(128), "ys": np.float32(0.03), "yz": np.uint8(100),
             **extra_inits}
    domain = "" if op in ("QLinearConv", "QLinearMatMul") else MS
    return Probe([N("QuantizeLinear", ["a", "xs", "xz"], ["q"], name="quant"),
                  N(op, ["q", "xs", "xz", *extra_inputs, "ys", "yz"], ["yq"], name="probe", domain=domain,
                    **attrs),
                  N("DequantizeLinear", ["yq", "ys", "yz"], ["y"], name="dequant")], inits, shape, pre=False)


def _qweights(*shape):
    return {"w": np.random.default_rng(0).integers(-100, 100, shape).astype(np.int8),
            "ws": np.float32(0.01), "wz": np.int8(0)}


PROBES = {
    # matrix ops
    "Conv": conv(),
    "Conv (depthwise: group = channels)": conv(group=8, c=8, o=8, shape=(1, 8, 8, 8)),
    "Gemm": Probe([N("Gemm", ["a", "W", "B"], ["y"], name="probe", transB=1)],
                  {"W": _f(5, 24, scale=0.2), "B": _f(5, scale=0.1)}, (1, 24), pre=False),
    "MatMul (constant second operand)": Probe([N("MatMul", ["a", "W"], ["y"], name="probe")],
                                              {"W": _f(24, 5, scale=0.2)}, (1, 24), pre=False),
    "MatMul (two activations)": Probe([N("Transpose", ["a"], ["at"], name="t", perm=[0, 2, 1]),
                                       N("MatMul", ["a", "at"], ["y"], name="probe")], shape=(1, 6, 8)),
    "QLinearConv": qoperator("QLinearConv", ["w", "ws", "wz"], _qweights(4, 4, 3, 3), pads=[1, 1, 1, 1]),
    "QLinearMatMul": qoperator("QLinearMatMul", ["w", "ws", "wz"], _qweights(24, 5), shape=(1, 24)),
    "QGemm": Probe([N("QuantizeLinear", ["a", "xs", "xz"], ["q"], name="quant"),
                    N("QGemm", ["q", "xs", "xz", "w", "ws", "wz", "", "ys", "yz"], ["yq"], name="probe",
                      domain=MS),
                    N("DequantizeLinear", ["yq", "ys", "yz"], ["y"], name="dequant")],
                   {"xs": np.float32(0.02), "xz": np.uint8(128), "ys": np.float32(0.03), "yz": np.uint8(100),
                    **_qweights(24, 5)}, (1, 24), pre=False),
    # elementwise
    "Add": Probe([N("Add", ["a", "a"], ["y"], name="probe")]),
    "Mul": Probe([N("Mul", ["a", "a"], ["y"], name="probe")]),
    "Sub": Probe([N("Sub", ["a", "c"], ["y"], name="probe")], {"c": np.float32(0.5)}),
    "Div": Probe([N("Div", ["a", "c"], ["y"], name="probe")], {"c": np.float32(2.0)}),
    "Pow": Probe([N("Pow", ["a", "c"], ["y"], name="probe")], {"c": np.float32(2.0)}),
    "Where": Probe([N("Where", ["cond", "a", "c"], ["y"], name="probe")],
                   {"cond": np.array([[True, False, True]]), "c": np.float32(0.25)}, (1, 2, 3)),
    "QLinearAdd": qoperator("QLinearAdd", ["q", "xs", "xz"], {}),
    "QLinearMul": qoperator("QLinearMul", ["q", "xs", "xz"], {}),
    # unary
    "Relu (after a Conv, Gemm or Add)": unary("Relu"),
    "Clip (after a Conv, Gemm or Add)": with_consts("Clip", {"lo": np.float32(0.0), "hi": np.float32(1.0)}),
    "Relu": unary("Relu", pre=False),
    **{op: unary(op) for op in ("Sigmoid", "LeakyRelu", "HardSigmoid", "Tanh", "Erf", "Exp", "Neg", "Abs",
                                "Reciprocal")},
    "Sqrt": unary("Sqrt", pre=False),  # of the positive input
    "HardSwish": unary("HardSwish", opset=14),
    "Gelu": unary("Gelu", opset=20),
    "Clip": with_consts("Clip", {"lo": np.float32(-0.5), "hi": np.float32(1.0)}, pre=False),
    "QLinearSigmoid": qoperator("QLinearSigmoid", [], {}),
    "QLinearLeakyRelu": qoperator("QLinearLeakyRelu", [], {}, alpha=0.1),
    # normalisation and reductions
    "BatchNormalization": batchnorm(after_conv=False),
    "BatchNormalization (after a Conv)": batchnorm(after_conv=True),
    "LayerNormalization": Probe([N("LayerNormalization", ["a", "g", "b"], ["y"], name="probe")],
                                {"g": np.full(8, 1.1, F32), "b": np.full(8, 0.1, F32)}, (1, 3, 8), opset=17),
    "Softmax": unary("Softmax", axis=-1),
    "QLinearSoftmax": qoperator("QLinearSoftmax", [], {}, shape=(1, 3, 8), axis=-1, opset=13),
    "ReduceMean": unary("ReduceMean", axes=[2, 3]),
    "ReduceMax": unary("ReduceMax", axes=[2, 3]),
    "ReduceSum": with_consts("ReduceSum", {"axes": _i64(2, 3)}),
    # pooling
    "MaxPool": unary("MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
    "GlobalMaxPool": unary("GlobalMaxPool"),
    "AveragePool": unary("AveragePool", kernel_shape=[2, 2], strides=[2, 2]),
    "GlobalAveragePool": unary("GlobalAveragePool"),
    "QLinearAveragePool": qoperator("QLinearAveragePool", [], {}, kernel_shape=[2, 2], strides=[2, 2]),
    "QLinearGlobalAveragePool": qoperator("QLinearGlobalAveragePool", [], {}, channels_last=0),
    # data movement and shapes
    "Reshape": with_consts("Reshape", {"shape": _i64(0, -1)}),
    "Flatten": unary("Flatten", axis=1),
    "Squeeze": with_consts("Squeeze", {"axes": _i64(0)}),
    "Unsqueeze": with_consts("Unsqueeze", {"axes": _i64(0)}),
    "Transpose": unary("Transpose", perm=[0, 2, 3, 1]),
    "Slice": with_consts("Slice", {"st": _i64(1), "en": _i64(5), "ax": _i64(2)}),
    "Split": Probe([N("Split", ["a", "sp"], ["y0", "y1"], name="probe", axis=1)], {"sp": _i64(2, 2)},
                   outputs=("y0", "y1")),
    "Concat": Probe([N("Concat", ["a", "a"], ["y"], name="probe", axis=1)]),
    "QLinearConcat": Probe([N("QuantizeLinear", ["a", "xs", "xz"], ["q"], name="quant"),
                            N("QLinearConcat", ["ys", "yz", "q", "xs", "xz", "q", "xs", "xz"], ["yq"],
                              name="probe", domain=MS, axis=1),
                            N("DequantizeLinear", ["yq", "ys", "yz"], ["y"], name="dequant")],
                           {"xs": np.float32(0.02), "xz": np.uint8(128), "ys": np.float32(0.03),
                            "yz": np.uint8(100)}, pre=False),
    "Expand": with_consts("Expand", {"shape": _i64(2, 4, 6, 6)}),
    "Pad": with_consts("Pad", {"pads": _i64(0, 0, 1, 1, 0, 0, 1, 1)}),
    "Resize": with_consts("Resize", {"roi": None, "scales": np.array([1, 1, 2, 2], F32)}),
    "Resize (linear)": with_consts("Resize", {"roi": None, "scales": np.array([1, 1, 2, 2], F32)},
                                   mode="linear"),
    "Gather (rows of an activation)": with_consts("Gather", {"idx": _i64(3, 0)}, axis=1),
    "Gather (embedding: constant table, ids input)": Probe(
        [N("Gather", ["T", "a"], ["y"], name="probe", axis=0)], {"T": _f(10, 6)}, (1, 5),
        dtype=TensorProto.INT64, pre=False),
    "Shape": Probe([N("Shape", ["a"], ["s"], name="probe"), N("Reshape", ["a", "s"], ["y"], name="r")]),
    # recurrent
    "LSTM": rnn("LSTM"),
    "GRU": rnn("GRU"),
}

# What the importer does itself with the op types no rule builds (tpu/frontend/onnx_import.py).
CORE_ROWS = {
    "QuantizeLinear": "Quantize: host after a graph input, else the vector unit (edge of a float island)",
    "DequantizeLinear": "folded into the integer op it feeds; else Dequantize: host before a graph "
                        "output, else the vector unit",
    "Constant": "a constant (folded at import)",
    "Identity": "an alias (nothing runs)",
    "Dropout": "an alias (inference: nothing runs)",
}

QDQ = {"fuse": "fused: integer op", "drop": "Q/DQ dropped: runs on the integers",
       None: "not fused: float island"}
MAPPING = {"dynamic": " (second operand loaded at run time)", "packed": " (groups packed block-diagonally)"}


def place(layer) -> str:
    """Where one lowered layer runs, in the words of the table's legend."""
    if layer.kind == "matmul":
        return "matrix unit" + MAPPING.get(layer.mapping, "")
    if layer.kind == "vector":
        if layer.island:
            return "vector unit, float32 island"
        classes = [c for c in ("alu", "mul", "lut", "fp") if getattr(layer.work, c)]
        return f"vector unit, integer ({', '.join(classes)})"
    return {"host": "host", "view": "view (nothing moves)"}[layer.kind]


def probe(probe: Probe, config) -> tuple[str, str]:
    """(IR nodes, where they run) of the op named ``probe*`` in the lowered probe model."""
    graph = import_model(probe.model(), "probe.onnx")
    if not graph.quantized:
        graph = quantize(graph, probe.calib())
    layers = lower_layers(graph, config, graph.input_shapes(1))
    mine = [la for la in layers if la.name.startswith("probe")]
    if not mine:  # folded into the op before it (a Relu or Clip into a Conv): it produces the output
        pre = [la for la in layers if la.name == "pre"]
        if not pre:
            raise SystemExit(f"the probe op vanished from the lowered graph: {[la.name for la in layers]}")
        return f"{pre[0].op} (folded into it)", place(pre[0])
    nodes = list(dict.fromkeys(la.op for la in mine))
    places = list(dict.fromkeys(place(la) for la in mine))
    return ", ".join(nodes), "; ".join(places)


def rows() -> list[tuple[str, ...]]:
    missing = sorted(op for op in RULES if not any(p.split(" (")[0] == op for p in PROBES))
    unknown = sorted({p.split(" (")[0] for p in PROBES} - set(RULES))
    if missing or unknown or set(CORE_ROWS) != set(CORE):
        raise SystemExit(f"scripts/op_table.py is out of date: no probe for {missing}, probes of "
                         f"unregistered ops {unknown}, importer ops {sorted(CORE)} vs {sorted(CORE_ROWS)}")
    config = load_config()
    out = []
    for label in sorted(PROBES, key=lambda p: (RULES[p.split(" (")[0]].module, p)):
        rule = RULES[label.split(" (")[0]]
        nodes, where = probe(PROBES[label], config)
        qoperator = rule.op_type.startswith("QLinear") or rule.op_type == "QGemm"
        qdq = "—" if qoperator or where == "host" else QDQ[rule.qdq]
        out.append((f"`{label.split(' (')[0]}`" + (f" ({label.split(' (', 1)[1]}" if " (" in label else ""),
                    rule.module.rsplit(".", 1)[1], nodes, where, qdq))
    for op, what in CORE_ROWS.items():
        out.append((f"`{op}`", "importer", "—", what, "—"))
    return out


def table() -> str:
    from tpu.report import markdown_table

    head = ("ONNX op", "tpu/ops/", "IR node", "runs on (edge-32, after `tpu run --calib`)",
            "onnxruntime QDQ group (DQ → op → Q)")
    return markdown_table(head, rows())


if __name__ == "__main__":
    print(table())

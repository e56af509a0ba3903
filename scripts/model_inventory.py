"""Op-type inventories of the committed model skeletons (tests/data/models/*.skel.onnx), as Markdown.

For each model: the float graph (materialized, seed 0), onnxruntime's quantize_static QDQ and
QOperator graphs (U8 activations, S8 per-channel weights, MinMax, reduce_range off and on; the
counts are of reduce_range off), and onnxruntime's optimized QDQ graph (ORT_ENABLE_ALL, one
thread, CPU), split into ops that run on 8-bit data, float islands (DequantizeLinear → float op
→ QuantizeLinear) and other float or shape ops. Each quantized model is also run once.

    .venv/bin/python scripts/model_inventory.py > /work/helpers/model_inventory.md
    .venv/bin/python scripts/model_inventory.py resnet18_w025_64 lstm_h32_s16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto
from onnxruntime import quantization as ortq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tpu.frontend.skeleton import materialize, sample_inputs  # noqa: E402

MODELS = REPO / "tests" / "data" / "models"
CALIB = 8  # calibration samples of batch 1
FORMATS = {"QDQ": ortq.QuantFormat.QDQ, "QOperator": ortq.QuantFormat.QOperator}
INT8 = {TensorProto.UINT8, TensorProto.INT8}


class Reader(ortq.CalibrationDataReader):
    def __init__(self, model: onnx.ModelProto):
        self._feeds = iter([sample_inputs(model, batch=1, seed=100 + i) for i in range(CALIB)])

    def get_next(self):
        return next(self._feeds, None)


def _name(n: onnx.NodeProto) -> str:
    return f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type


def op_counts(model: onnx.ModelProto) -> Counter:
    return Counter(_name(n) for n in model.graph.node)


def elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor, propagated in graph order: enough to tell 8-bit from float.
    (onnx.shape_inference does not know the com.microsoft ops of an optimized graph.)"""
    types = {i.name: i.data_type for i in model.graph.initializer}
    types |= {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    for n in model.graph.node:
        attrs = {a.name: a for a in n.attribute}
        ins = [types.get(i, TensorProto.UNDEFINED) for i in n.input if i]
        if n.op_type == "DequantizeLinear" or n.op_type.endswith("ToFloat"):
            out = TensorProto.FLOAT
        elif n.op_type in ("QuantizeLinear", "DynamicQuantizeLinear"):
            out = ins[2] if len(ins) > 2 else TensorProto.UINT8
        elif n.op_type.startswith("QLinear") or n.op_type in ("QGemm", "QAttention"):
            out = next((t for t in ins if t in INT8), TensorProto.UINT8)  # the activations' type
        elif n.op_type in ("Shape", "Size", "NonZero", "ArgMax", "ArgMin"):
            out = TensorProto.INT64
        elif n.op_type in ("MatMulInteger", "ConvInteger"):
            out = TensorProto.INT32
        elif n.op_type == "Cast":
            out = attrs["to"].i
        elif n.op_type in ("Constant", "ConstantOfShape"):
            out = attrs["value"].t.data_type if "value" in attrs else TensorProto.FLOAT
        else:  # data movement and arithmetic keep the type of their first input
            out = ins[0] if ins else TensorProto.UNDEFINED
        for o in n.output:
            types[o] = out
    return types


def classify(model: onnx.ModelProto) -> list[str]:
    """What the non-Q/DQ nodes of an (optimized) QDQ graph compute on: 8-bit data, shapes (nodes
    fed only by Shape and constants), or float; float nodes are grouped into connected regions,
    each shown with where its inputs come from and where its outputs go."""
    g = model.graph
    types = elem_types(model)
    const = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    shape: set[str] = set()
    producer = {o: n for n in g.node for o in n.output}
    eight_bit, shape_ops, float_nodes = Counter(), Counter(), []
    for n in g.node:
        inputs = [i for i in n.input if i]
        if n.op_type in ("Shape", "Size") or (inputs and all(i in const | shape for i in inputs)
                                              and any(i in shape for i in inputs)):
            shape.update(n.output)
            shape_ops[_name(n)] += 1
        elif n.op_type in ("QuantizeLinear", "DequantizeLinear", "Constant"):
            continue
        elif types.get(n.input[0]) in INT8 or any(types.get(o) in INT8 for o in n.output):
            eight_bit[_name(n)] += 1
        else:
            float_nodes.append(n)
    # Connected float regions (union-find over tensors passed between float nodes).
    parent = {id(n): id(n) for n in float_nodes}

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k

    in_region = {o: n for n in float_nodes for o in n.output}
    for n in float_nodes:
        for i in n.input:
            if i in in_region:
                parent[root(id(n))] = root(id(in_region[i]))
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    regions: dict[int, list] = {}
    for n in float_nodes:
        regions.setdefault(root(id(n)), []).append(n)
    signatures = Counter()
    for nodes in regions.values():
        srcs, dsts = set(), set()
        for n in nodes:
            for i in n.input:
                if i and i not in in_region and i not in const and i not in shape:
                    srcs.add(producer[i].op_type if i in producer else "input")
            for o in n.output:
                dsts.update(c.op_type for c in consumers.get(o, []) if c not in nodes)
                dsts.update(["output"] if o in outputs else [])
        ops = Counter(_name(n) for n in nodes)
        body = " + ".join(f"{k}×{v}" if v > 1 else k for k, v in sorted(ops.items()))
        signatures[f"{'/'.join(sorted(srcs)) or 'const'} → [{body}] → {'/'.join(sorted(dsts)) or '—'}"] += 1
    return ([f"8-bit: {fmt_counts(eight_bit)}", f"shape arithmetic: {fmt_counts(shape_ops)}",
             "float regions (inputs from → [ops] → outputs to):"]
            + [f"    - {sig}" + (f" (×{k})" if k > 1 else "") for sig, k in sorted(signatures.items())])


def fmt_counts(c: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) or "—"


def _signature(v: onnx.ValueInfoProto) -> str:
    t = v.type.tensor_type
    dims = ", ".join(d.dim_param or str(d.dim_value) for d in t.shape.dim)
    return f"{v.name} {TensorProto.DataType.Name(t.elem_type).lower()} [{dims}]"


def first_line(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
    return f"{type(exc).__name__}: {msg[:300]} (at {where})"


def inventory(path: Path, tmp: Path) -> str:
    name = path.name.removesuffix(".skel.onnx")
    model = materialize(onnx.load(str(path)), seed=0)
    src = tmp / f"{name}.onnx"
    onnx.save(model, str(src))
    feeds = sample_inputs(model, batch=1, seed=1)
    status, graphs = [], {"float": op_counts(model)}
    optimized = None
    for rr in (False, True):
        for fmt, qf in FORMATS.items():
            dst = tmp / f"{name}.{fmt}.rr{int(rr)}.onnx"
            step = "quantize_static"
            try:
                ortq.quantize_static(str(src), str(dst), Reader(model), quant_format=qf, per_channel=True,
                                     reduce_range=rr, activation_type=ortq.QuantType.QUInt8,
                                     weight_type=ortq.QuantType.QInt8,
                                     calibrate_method=ortq.CalibrationMethod.MinMax)
                step = "InferenceSession"
                so = ort.SessionOptions()
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                so.intra_op_num_threads = 1
                opt = tmp / f"{name}.{fmt}.rr{int(rr)}.opt.onnx"
                so.optimized_model_filepath = str(opt)
                sess = ort.InferenceSession(str(dst), so, providers=["CPUExecutionProvider"])
                step = "run"
                (y,) = sess.run(None, feeds)
                ok = "finite" if np.isfinite(y).all() else "NON-FINITE"
                status.append(f"{fmt} reduce_range={rr}: ok (output {list(y.shape)}, {ok})")
            except Exception as exc:  # a report, not a library: record the crash and go on
                status.append(f"{fmt} reduce_range={rr}: **fails in {step}**: {first_line(exc)}")
                continue
            if not rr:
                graphs[fmt] = op_counts(onnx.load(str(dst)))
                if fmt == "QDQ":
                    optimized = onnx.load(str(opt))
                    graphs["ORT-optimized QDQ"] = op_counts(optimized)
    lines = [f"## {name}", "", model.doc_string, "",
             f"- {' '.join(_signature(v) for v in model.graph.input)} → "
             f"{' '.join(_signature(v) for v in model.graph.output)}; "
             f"{sum(1 for _ in model.graph.initializer)} initializers"]
    identity = {o for n in model.graph.node if n.op_type == "Identity" for o in n.output}
    fed = Counter(n.op_type for n in model.graph.node
                  if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2] in identity)
    if fed:
        lines.append("- bias through an Identity node (zero biases the exporter deduplicated): "
                     + fmt_counts(fed))
    lines += [f"- {s}" for s in status] + [""]
    cols = list(graphs)
    ops = sorted(set().union(*graphs.values()))
    lines += ["| op | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    lines += [f"| {op} | " + " | ".join(str(graphs[c].get(op, "")) for c in cols) + " |" for op in ops]
    lines += ["| **nodes** | " + " | ".join(str(sum(graphs[c].values())) for c in cols) + " |", ""]
    if optimized is not None:
        lines += ["ORT-optimized QDQ graph (reduce_range off), non-Q/DQ nodes by the data they run on:", ""]
        lines += [f"- {line}" if not line.startswith(" ") else line for line in classify(optimized)]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="model names (default: every skeleton)")
    args = parser.parse_args(argv)
    paths = sorted(MODELS.glob("*.skel.onnx"))
    if args.names:
        paths = [p for p in paths if p.name.removesuffix(".skel.onnx") in args.names]
    print(f"# Op inventories of tests/data/models (onnxruntime {ort.__version__}, onnx {onnx.__version__})\n")
    print("Made by `.venv/bin/python scripts/model_inventory.py`. Quantization: quantize_static, "
          f"U8 activations, S8 per-channel weights, MinMax, {CALIB} random calibration samples; "
          "op counts are for reduce_range off.\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            print(inventory(path, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()

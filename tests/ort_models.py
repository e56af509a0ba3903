"""ONNX test models and their onnxruntime-quantized versions, shared by the compiler tests.

* ``single_op(name, dir)``: a float model with one op of interest (written with onnx.helper).
* ``residual_cnn(dir)``: a small CNN with random weights covering residual Add, strided, 1×1 and
  depthwise convolutions, AveragePool, GlobalAveragePool, Clip, Reshape and MatMul+Add.
* ``digits_model(name, dir)``: a private copy of the bundled digits CNN/MLP (see its docstring).
* ``quantize(src, dst, calib, fmt=, act=, per_channel=)``: ``quantize_static`` with MinMax.
* ``ort_run(path, x)``: onnxruntime CPU, ORT_ENABLE_ALL, the test oracle.
* ``ort_models`` fixture (session scope): ``ort_models.get(base, fmt, act, per_channel)`` caches
  every model in one temporary directory per test session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

try:
    import onnxruntime as ort
    from onnxruntime import quantization as ortq
except ImportError as exc:  # the oracle is a dev dependency: fail loudly, never skip
    raise ImportError("the compiler tests need onnxruntime: pip install onnxruntime") from exc

OPSET = 13
FORMATS = ("qoperator", "qdq")
ACTS = ("u8", "s8")  # U8S8 and S8S8


def _model(nodes, inputs, outputs, inits, name="m", opset=OPSET) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _save(proto, path: Path) -> Path:
    onnx.save(proto, str(path))
    return path


def _w(rng, *shape, fan_in=None):
    fan_in = fan_in or int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


# Single-op float models: name -> (input shape, builder(rng) -> (nodes, out shape, inits)).
def _conv(c, o, k, *, group=1, **attrs):
    def build(rng):
        inits = {"W": _w(rng, o, c // group, k, k), "B": (rng.standard_normal(o) * 0.1).astype(np.float32)}
        return [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv", group=group,
                                 kernel_shape=[k, k], **attrs)], inits
    return build


def _simple(op, **attrs):
    def build(rng):
        return [helper.make_node(op, ["x"], ["y"], name=op.lower(), **attrs)], {}
    return build


def _gemm(rng):
    return [helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="gemm", transB=1)], {
        "W": _w(rng, 10, 24), "B": (rng.standard_normal(10) * 0.1).astype(np.float32)}


def _matmul(rng):
    return [helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")], {"W": _w(rng, 24, 12, fan_in=24)}


def _add(rng):
    return [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", kernel_shape=[1, 1]),
            helper.make_node("Add", ["c", "x"], ["y"], name="add")], {"W": _w(rng, 4, 4, 1, 1)}


def _reshape(rng):
    return [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")], {
        "shape": np.array([0, -1], np.int64)}


def _batchnorm(rng):
    c = 4
    return [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", kernel_shape=[3, 3],
                             pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="bn",
                             epsilon=1e-3)], {
        "W": _w(rng, c, 3, 3, 3), "B": rng.standard_normal(c).astype(np.float32),
        "g": rng.uniform(0.5, 2, c).astype(np.float32), "b": rng.standard_normal(c).astype(np.float32),
        "m": rng.standard_normal(c).astype(np.float32), "v": rng.uniform(0.5, 2, c).astype(np.float32)}


def _after_conv(op, *, second="x", **attrs):
    """Conv(x) then ``op`` on it (and ``second``): the op sees an activation produced in the graph."""
    def build(rng):
        c = 4
        ins = ["c", second] if second else ["c"]
        return [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", kernel_shape=[1, 1]),
                helper.make_node(op, ins, ["y"], name=op.lower(), **attrs)], {"W": _w(rng, c, c, 1, 1)}
    return build


def _with_consts(op, consts, **attrs):
    """``op(x, *consts)`` with constant parameter inputs (pads, scales, axes, ...)."""
    def build(rng):
        return [helper.make_node(op, ["x", *[k if k else "" for k in consts]], ["y"], name=op.lower(),
                                 **attrs)], {k: v for k, v in consts.items() if k}
    return build


def _split_add(rng):
    return [helper.make_node("Split", ["x", "sp"], ["a", "b"], name="split", axis=1),
            helper.make_node("Add", ["a", "b"], ["y"], name="add")], {"sp": np.array([2, 2], np.int64)}


def _attention(rng):
    """softmax(x·xᵀ / 2)·x: two activations multiplied, as attention does."""
    N = helper.make_node
    return [N("Transpose", ["x"], ["xt"], name="t", perm=[0, 2, 1]),
            N("MatMul", ["x", "xt"], ["s"], name="qk"),
            N("Div", ["s", "two"], ["s2"], name="scale"),
            N("Softmax", ["s2"], ["p"], name="softmax", axis=-1),
            N("MatMul", ["p", "x"], ["y"], name="pv")], {"two": np.float32(2.0)}


def _concat(rng):
    return [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", kernel_shape=[1, 1]),
            helper.make_node("Concat", ["c", "x"], ["y"], name="concat", axis=1)], {"W": _w(rng, 4, 4, 1, 1)}


def _layernorm(rng):
    return [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="ln", axis=-1)], {
        "g": rng.normal(1, 0.2, 16).astype(np.float32), "b": rng.normal(0, 0.2, 16).astype(np.float32)}


def _embedding(rng):
    """A float input selects rows of a constant table through integer ids it is cast to."""
    return [helper.make_node("Gather", ["T", "ids"], ["e"], name="embed", axis=0),
            helper.make_node("Add", ["e", "x"], ["y"], name="add")], {
        "T": rng.normal(0, 1, (10, 6)).astype(np.float32), "ids": np.array([3, 1, 4, 1, 5], np.int64)}


SINGLE_OPS = {
    "conv": ((1, 3, 9, 9), _conv(3, 6, 3, pads=[1, 1, 1, 1])),
    "conv_strided": ((1, 3, 9, 9), _conv(3, 6, 3, strides=[2, 2], pads=[0, 1, 1, 0])),
    "conv_dilated": ((1, 3, 9, 9), _conv(3, 4, 3, dilations=[2, 2], pads=[2, 2, 2, 2])),
    "conv_1x1": ((1, 5, 6, 6), _conv(5, 7, 1)),
    "conv_group": ((1, 4, 7, 7), _conv(4, 6, 3, group=2, pads=[1, 1, 1, 1])),
    "conv_depthwise": ((1, 6, 7, 7), _conv(6, 6, 3, group=6, pads=[1, 1, 1, 1], strides=[2, 2])),
    "gemm": ((1, 24), _gemm),
    "matmul": ((1, 24), _matmul),
    "add": ((1, 4, 5, 5), _add),
    "maxpool": ((1, 3, 8, 8), _simple("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "avgpool": ((1, 3, 8, 8), _simple("AveragePool", kernel_shape=[3, 3], strides=[2, 2],
                                      pads=[1, 1, 1, 1])),
    "avgpool_incl": ((1, 3, 8, 8), _simple("AveragePool", kernel_shape=[2, 2], strides=[2, 2],
                                           pads=[1, 1, 1, 1], count_include_pad=1)),
    "globalavgpool": ((1, 5, 6, 6), _simple("GlobalAveragePool")),
    "flatten": ((1, 3, 4, 4), _simple("Flatten", axis=1)),
    "reshape": ((1, 3, 4, 4), _reshape),
    "relu": ((1, 3, 4, 4), _simple("Relu")),
    "clip": ((1, 3, 4, 4), lambda rng: ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")],
                                        {"lo": np.float32(-0.5), "hi": np.float32(1.0)})),
    "batchnorm": ((1, 3, 6, 6), _batchnorm),
    # the ops of issue 10 beyond the digits models
    "sub": ((1, 4, 5, 5), _after_conv("Sub")),
    "mul": ((1, 4, 5, 5), _after_conv("Mul")),
    "div": ((1, 4, 5, 5), _after_conv("Div", second="d")),
    "sigmoid": ((1, 4, 5, 5), _after_conv("Sigmoid", second=None)),
    "tanh": ((1, 4, 5, 5), _after_conv("Tanh", second=None)),
    "erf": ((1, 4, 5, 5), _after_conv("Erf", second=None)),
    "leakyrelu": ((1, 4, 5, 5), _after_conv("LeakyRelu", second=None, alpha=0.1)),
    "hardsigmoid": ((1, 4, 5, 5), _after_conv("HardSigmoid", second=None)),
    "hardswish": ((1, 4, 5, 5), _after_conv("HardSwish", second=None)),
    "concat": ((1, 4, 5, 5), _concat),
    "split": ((1, 4, 5, 5), _split_add),
    "pad": ((1, 3, 5, 5), _with_consts("Pad", {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)})),
    "pad_reflect": ((1, 3, 5, 5), _with_consts("Pad", {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)},
                                               mode="reflect")),
    "resize_nearest": ((1, 3, 4, 4), _with_consts("Resize", {"": None,  # no roi
                                                             "scales": np.array([1, 1, 2, 2], np.float32)},
                                                  mode="nearest")),
    "resize_linear": ((1, 3, 4, 4), _with_consts("Resize", {"": None,
                                                            "scales": np.array([1, 1, 2, 2], np.float32)},
                                                 mode="linear")),
    "transpose": ((1, 3, 4, 5), _simple("Transpose", perm=[0, 2, 3, 1])),
    "slice": ((1, 3, 6, 6), _with_consts("Slice", {"st": np.array([1, 0], np.int64),
                                                   "en": np.array([5, 6], np.int64),
                                                   "ax": np.array([2, 3], np.int64),
                                                   "sp": np.array([2, 3], np.int64)})),
    "reducemean": ((1, 3, 4, 5), _simple("ReduceMean", axes=[2, 3], keepdims=1)),
    "softmax": ((1, 3, 8), _simple("Softmax", axis=-1)),
    "layernorm": ((1, 5, 16), _layernorm),
    "attention": ((1, 6, 8), _attention),
    "matmul_batched": ((1, 3, 4, 6), lambda rng: ([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
                                                  {"W": _w(rng, 6, 5, fan_in=6)})),
    "where": ((1, 2, 3), lambda rng: ([helper.make_node("Where", ["cond", "x", "other"], ["y"],
                                                        name="where")],
                                      {"cond": np.array([[True, False, True]]),
                                       "other": np.full((1, 3), 0.25, np.float32)})),
    "gather_rows": ((1, 5, 6), _with_consts("Gather", {"idx": np.array([4, 0, 2], np.int64)}, axis=1)),
    "expand": ((1, 1, 4), _with_consts("Expand", {"shape": np.array([1, 3, 4], np.int64)})),
    "embedding": ((1, 5, 6), _embedding),
}
OPSETS = {"layernorm": 17, "hardswish": 14}  # ops newer than OPSET


def single_op(name: str, directory: Path, seed: int = 0) -> Path:
    shape, build = SINGLE_OPS[name]
    nodes, inits = build(np.random.default_rng(seed))
    if name == "div":
        inits["d"] = np.random.default_rng(seed + 1).uniform(0.5, 2, (1, 4, 1, 1)).astype(np.float32)
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph(nodes, name, [_vi("x", ["N", *shape[1:]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSETS.get(name, OPSET))])
    rank = ReferenceEvaluator(probe).run(None, {"x": np.zeros(shape, np.float32)})[0].ndim
    out = _vi("y", [f"d{i}" for i in range(rank)])
    proto = _model(nodes, [_vi("x", ["N", *shape[1:]])], [out], inits, name, OPSETS.get(name, OPSET))
    return _save(proto, Path(directory) / f"{name}.onnx")


def residual_cnn(directory: Path, seed: int = 1) -> Path:
    """1×8×8 → conv3x3(8)+relu → [conv3x3(8)+relu → conv1x1(8)] + skip → relu →
    conv3x3 s2 (16) + clip(0,6) → depthwise 3x3 (16) + relu → avgpool 2 → conv1x1(16) + relu →
    global avg pool → reshape → matmul(16×10) + add bias."""
    rng = np.random.default_rng(seed)
    N = helper.make_node
    nodes = [
        N("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        N("Relu", ["c1"], ["r1"], name="relu1"),
        N("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        N("Relu", ["c2"], ["r2"], name="relu2"),
        N("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", kernel_shape=[1, 1]),
        N("Add", ["c3", "r1"], ["a1"], name="add1"),
        N("Relu", ["a1"], ["r3"], name="relu3"),
        N("Conv", ["r3", "w4", "b4"], ["c4"], name="conv4", kernel_shape=[3, 3], strides=[2, 2],
          pads=[1, 1, 1, 1]),
        N("Clip", ["c4", "lo", "hi"], ["r4"], name="clip4"),
        N("Conv", ["r4", "w5", "b5"], ["c5"], name="dw5", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
          group=16),
        N("Relu", ["c5"], ["r5"], name="relu5"),
        N("AveragePool", ["r5"], ["p5"], name="avgpool5", kernel_shape=[2, 2], strides=[2, 2]),
        N("Conv", ["p5", "w6", "b6"], ["c6"], name="conv6", kernel_shape=[1, 1]),
        N("Relu", ["c6"], ["r6"], name="relu6"),
        N("GlobalAveragePool", ["r6"], ["g"], name="gap"),
        N("Reshape", ["g", "shape"], ["f"], name="reshape"),
        N("MatMul", ["f", "wfc"], ["mm"], name="fc"),
        N("Add", ["mm", "bfc"], ["y"], name="fc_bias"),
    ]
    b = lambda n: (rng.standard_normal(n) * 0.1).astype(np.float32)  # noqa: E731
    inits = {"w1": _w(rng, 8, 1, 3, 3), "b1": b(8), "w2": _w(rng, 8, 8, 3, 3), "b2": b(8),
             "w3": _w(rng, 8, 8, 1, 1), "b3": b(8), "w4": _w(rng, 16, 8, 3, 3), "b4": b(16),
             "lo": np.float32(0), "hi": np.float32(6), "w5": _w(rng, 16, 1, 3, 3), "b5": b(16),
             "w6": _w(rng, 16, 16, 1, 1), "b6": b(16), "shape": np.array([-1, 16], np.int64),
             "wfc": _w(rng, 16, 10, fan_in=16), "bfc": b(10)}
    proto = _model(nodes, [_vi("x", ["N", 1, 8, 8])], [_vi("y", ["N", 10])], inits, "residual_cnn")
    return _save(proto, Path(directory) / "residual_cnn.onnx")


def digits_model(name: str, directory: Path) -> Path:
    """A private copy of the bundled model: quantize_static writes ``<model>-inferred.onnx`` beside
    its input, which must not land in the package nor race between test workers."""
    import shutil

    from tpu.nn.digits import bundled_model

    src = bundled_model(name)
    if not src.is_file():
        raise FileNotFoundError(f"{src} is missing: retrain it with `tpu quant train`")
    return Path(shutil.copy(src, Path(directory) / src.name))


class _Reader(ortq.CalibrationDataReader):
    def __init__(self, names: list[str], calib, batch: int = 64):
        xs = list(calib) if isinstance(calib, list | tuple) else [calib]
        xs = [x if x.dtype.kind in "iu" else x.astype(np.float32) for x in xs]
        self._it = iter([{n: x[i:i + batch] for n, x in zip(names, xs, strict=True)}
                         for i in range(0, len(xs[0]), batch)])

    def get_next(self):
        return next(self._it, None)


def _ort_saturates_u8s8() -> bool:
    """Ask onnxruntime itself which u8 × s8 kernel it runs here: 255·127 + 255·127 is 64770
    exactly (VNNI, ARM) or 32767 where the pair is added in int16 with saturation (AVX2
    without VNNI). A behavioural probe: /proc/cpuinfo says what the CPU has, not what
    onnxruntime dispatched."""
    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    a = helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 2])
    graph = helper.make_graph([node], "probe", [a],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1])],
                              [numpy_helper.from_array(np.array([[127], [127]], np.int8), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    y = int(sess.run(None, {"a": np.array([[255, 255]], np.uint8)})[0][0, 0])
    if y not in (32767, 64770):
        raise AssertionError(f"unexpected u8 x s8 probe result {y}")
    return y == 32767


# ORT's U8S8 kernels on AVX2 without VNNI add u8·s8 product pairs in int16 with saturation;
# with VNNI (or 7-bit weights, reduce_range) they are exact. The reference reproduces both.
ORT_SATURATES_U8S8 = _ort_saturates_u8s8()


def quantize(src: Path, dst: Path, calib: np.ndarray, *, fmt: str = "qoperator",
             act: str = "u8", per_channel: bool = False, reduce_range: bool = False,
             pre_process: bool | None = None) -> Path:
    """onnxruntime's quantize_static; ``pre_process`` runs its recommended quant_pre_process first
    (None: only where QOperator needs it)."""
    proto = onnx.load(str(src))
    inits = {i.name for i in proto.graph.initializer}
    names = [i.name for i in proto.graph.input if i.name not in inits]
    if pre_process is None:
        # quantize_static's QOperator mode crashes on biases the exporter deduplicated into
        # Identity nodes; its own pre-processing folds them first
        pre_process = fmt == "qoperator" and any(n.op_type == "Identity" for n in proto.graph.node)
    if pre_process:
        pre = dst.with_name(dst.stem + ".pre.onnx")
        ortq.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        src = pre
    ortq.quantize_static(
        str(src), str(dst),
        _Reader(names, calib),
        quant_format=ortq.QuantFormat.QOperator if fmt == "qoperator" else ortq.QuantFormat.QDQ,
        per_channel=per_channel,
        reduce_range=reduce_range,
        activation_type=ortq.QuantType.QUInt8 if act == "u8" else ortq.QuantType.QInt8,
        weight_type=ortq.QuantType.QInt8,
        calibrate_method=ortq.CalibrationMethod.MinMax)
    return dst


def ort_session(path: Path, optimized_path: Path | None = None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    so.log_severity_level = 3  # errors only: its warnings about unused initializers are noise here
    if optimized_path is not None:
        so.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _feed(sess: ort.InferenceSession, x) -> dict[str, np.ndarray]:
    """One array per model input: ``x`` an array (one input) or a list of them, in order."""
    xs = list(x) if isinstance(x, list | tuple) else [x]
    return {i.name: np.asarray(v) if np.asarray(v).dtype.kind in "iub" else np.asarray(v, np.float32)
            for i, v in zip(sess.get_inputs(), xs, strict=True)}


def ort_run(path: Path, x) -> np.ndarray:
    sess = ort_session(path)
    return sess.run(None, _feed(sess, x))[0]


def random_input(name: str, n: int = 16, seed: int = 0) -> np.ndarray:
    shape = SINGLE_OPS[name][0]
    return np.random.default_rng(seed).standard_normal((n, *shape[1:])).astype(np.float32)


MODELS_DIR = Path(__file__).resolve().parent / "data" / "models"
# Real architectures exported from torchvision / torch.nn (scripts/export_models.py), reduced
# width and resolution; materialized from their weight-free skeletons with seed 0.
REAL_MODELS = ("mobilenet_v2_w035_64", "squeezenet1_1_64", "shufflenet_v2_x0_5_64",
               "efficientnet_b0_w050_d050_64", "resnet18_w025_64", "resnet18_w025_64_dynamo",
               "transformer_d32_l2_s16", "lstm_h32_s16", "gru_h32_s16",
               "mobilenet_v3_small_64", "googlenet_64", "regnet_y_400mf_64", "densenet_g8_64",
               "convnext_s3_64", "vit_p8_d64_l2_32",
               "hf_bert_l2_d32_s16", "hf_distilbert_l2_d32_s16", "hf_gpt2_l2_d32_s16")


def real_model(name: str, directory: Path, seed: int = 0) -> Path:
    from tpu.frontend.skeleton import materialize

    proto = materialize(onnx.load(str(MODELS_DIR / f"{name}.skel.onnx")), seed=seed)
    return _save(proto, Path(directory) / f"{name}.onnx")


def sample(path: Path, n: int, seed: int) -> np.ndarray:
    from tpu.frontend.skeleton import sample_inputs

    xs = list(sample_inputs(onnx.load(str(path)), batch=n, seed=seed).values())
    return xs[0] if len(xs) == 1 else xs  # several inputs: a list, in the model's order


def first(x, n: int):
    """The first ``n`` samples of an input batch, or of each of several."""
    return [a[:n] for a in x] if isinstance(x, list) else x[:n]


def ort_tensors(path: Path, x: np.ndarray, tensors: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    """onnxruntime's values of intermediate ``tensors`` (name → element type), exposed as extra
    graph outputs; the model's own outputs come first under their names."""
    proto = onnx.load(str(path))
    known = {o.name for o in proto.graph.output}
    produced = {o for n in proto.graph.node for o in n.output}
    for name, dtype in tensors.items():
        if name in produced and name not in known:
            proto.graph.output.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), None))
    tmp = Path(path).with_suffix(".probe.onnx")
    onnx.save(proto, str(tmp))
    sess = ort_session(tmp)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, _feed(sess, x)), strict=True))


def assert_matches_ort(graph, path: Path, x: np.ndarray, *, saturate_pairs: bool = False) -> dict:
    """The reference against onnxruntime, layer by layer with onnxruntime's values fed forward
    (so each layer is judged on identical inputs): every integer op exactly, every float island's
    requantized output within 1 LSB (onnxruntime's float kernels sum in another order). Returns
    how many elements each island differed in, and the final outputs' largest difference."""
    from tpu.ops import Numerics, Quantize

    nx = Numerics(saturate_pairs=saturate_pairs)
    probe = {n.output: (np.int8 if (getattr(n, "out_q", None) or n.q).signed else np.uint8)
             for n in graph.nodes if n.quantized and n.op not in ("Constant",)
             and (getattr(n, "out_q", None) or getattr(n, "q", None)) is not None and n.op != "Dequantize"}
    ref = ort_tensors(path, x, probe)
    plain = ort_run(path, x)  # exposing tensors must not change what onnxruntime computes
    assert np.array_equal(ref[onnx.load(str(path)).graph.output[0].name], plain)
    env = dict(zip(graph.inputs, graph.check_inputs(x), strict=True))
    islands, compared = {}, 0
    for node in graph.nodes:
        y = node.run([env[t] if t else None for t in node.inputs], nx)
        if node.output in ref and node.output in probe:
            want = ref[node.output].astype(np.int64)
            diff = np.abs(np.asarray(y, np.int64) - want)
            if isinstance(node, Quantize) and node.inputs[0] not in graph.inputs:
                assert diff.max() <= 1, f"float island before {node.output!r}: {diff.max()} LSB"
                islands[node.output] = int(np.count_nonzero(diff))
            else:
                assert diff.max() == 0, (f"{node.op} {node.name!r}: {np.count_nonzero(diff)} of {diff.size} "
                                         f"elements differ, by up to {diff.max()}")
            y = want
            compared += 1
        env[node.output] = y
    outs = [ref[o.name] for o in onnx.load(str(path)).graph.output]
    from tpu.compiler.reference import evaluate

    ours = evaluate(graph, x, saturate_pairs=saturate_pairs)
    worst = max(float(np.abs(np.asarray(a, np.float64) - b).max()) for a, b in zip(ours, outs, strict=True))
    return {"islands": islands, "max_output_diff": worst, "compared": compared,
            "integer_ops": sum(1 for n in graph.nodes if n.output in probe)}


class OrtModels:
    """Float and quantized models, built once per test session in ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[tuple, Path] = {}
        self._digits = None

    def digits(self):
        if self._digits is None:
            from tpu.nn.digits import load_digits_split

            self._digits = load_digits_split()
        return self._digits

    def float_model(self, base: str) -> Path:
        key = (base,)
        if key not in self._cache:
            if base in ("cnn", "mlp"):
                self._cache[key] = digits_model(base, self.root)
            elif base == "residual_cnn":
                self._cache[key] = residual_cnn(self.root)
            elif base in REAL_MODELS:
                self._cache[key] = real_model(base, self.root)
            else:
                self._cache[key] = single_op(base, self.root)
        return self._cache[key]

    def calib(self, base: str) -> np.ndarray:
        if base in ("cnn", "mlp", "residual_cnn"):
            return self.digits()[0][:200]
        if base in REAL_MODELS:
            return sample(self.float_model(base), 16, seed=1)
        return random_input(base, n=32, seed=1)

    def test_input(self, base: str) -> np.ndarray:
        if base in ("cnn", "mlp", "residual_cnn"):
            return self.digits()[1]
        if base in REAL_MODELS:
            return sample(self.float_model(base), 4, seed=2)
        return random_input(base, n=64, seed=2)

    def get(self, base: str, fmt: str | None = None, act: str = "u8",
            per_channel: bool = False, reduce_range: bool = False) -> Path:
        if fmt is None:
            return self.float_model(base)
        key = (base, fmt, act, per_channel, reduce_range)
        if key not in self._cache:
            rr = ".rr" if reduce_range else ""
            dst = self.root / f"{base}.{fmt}.{act}s8.{'pc' if per_channel else 'pt'}{rr}.onnx"
            self._cache[key] = quantize(self.float_model(base), dst, self.calib(base), fmt=fmt,
                                        act=act, per_channel=per_channel, reduce_range=reduce_range)
        return self._cache[key]


@pytest.fixture(scope="session")
def ort_models(tmp_path_factory) -> OrtModels:
    return OrtModels(tmp_path_factory.mktemp("ort_models"))

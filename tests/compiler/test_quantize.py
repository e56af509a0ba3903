"""Static post-training quantization of float IR graphs."""

import numpy as np
import pytest

from tpu.compiler import ir
from tpu.compiler.quantize import quantize
from tpu.compiler.reference import evaluate
from tpu.errors import TpuError
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model, load_digits_split


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def _sqnr(ref, y):
    return 10 * np.log10(np.sum(ref**2) / np.sum((ref - y) ** 2))


@pytest.mark.parametrize("name", ["cnn", "mlp"])
@pytest.mark.parametrize("kw", [{}, {"per_channel": False}, {"method": "percentile"},
                                {"method": "mse"}, {"act_signed": True}])
def test_int8_ptq_tracks_float(digits, name, kw):
    x_tr, x_te, _, y_te = digits
    g = load_onnx(bundled_model(name))
    ref = evaluate(g, x_te)[0]
    q = quantize(g, x_tr[:200], **kw)
    first_int = next(n for n in q.nodes if n.quantized)  # views (the MLP's flatten) may come first
    assert q.quantized and isinstance(first_int, ir.Quantize) and isinstance(q.nodes[-1], ir.Dequantize)
    y = evaluate(q, x_te)[0]
    assert _sqnr(ref, y) > 25
    assert abs(np.mean(y.argmax(1) == y_te) - np.mean(ref.argmax(1) == y_te)) <= 0.02


def test_bit_widths_trade_precision(digits):
    x_tr, x_te, _, _ = digits
    g = load_onnx(bundled_model("cnn"))
    ref = evaluate(g, x_te)[0]
    sq = {}
    for bits in (2, 4, 8, 12):
        q = quantize(g, x_tr[:200], weight_bits=bits, act_bits=max(bits, 8))
        assert all(n.w_q.bits == bits for n in q.nodes if isinstance(n, ir.Conv | ir.Gemm))
        sq[bits] = _sqnr(ref, evaluate(q, x_te, acc_bits=None)[0])
    assert sq[2] < sq[4] < sq[8] <= sq[12] + 1


def test_weights_and_bias_are_integers_in_range(digits):
    g = quantize(load_onnx(bundled_model("cnn")), digits[0][:100], weight_bits=4)
    for n in g.nodes:
        if isinstance(n, ir.Conv | ir.Gemm):
            # ORT's convention keeps int4 symmetric at [-8, 7] (tpu.quant.schemes)
            assert n.weight.min() >= -8 and n.weight.max() <= 7 and n.weight.max() > 3
            assert n.bias.dtype == np.int32


def test_bad_requests_raise(digits):
    g = load_onnx(bundled_model("mlp"))
    with pytest.raises(TpuError, match="method"):
        quantize(g, digits[0][:10], method="magic")
    with pytest.raises(TpuError, match="2..16"):
        quantize(g, digits[0][:10], act_bits=1)
    with pytest.raises(TpuError, match="already quantized"):
        quantize(quantize(g, digits[0][:10]), digits[0][:10])


def _masked_softmax_model(path, fill: float, mask_type: int):
    """scores = x·W (sharp: about ±5), + Where(mask == 1, 0, fill), Softmax: how transformers
    exports an attention mask (fill -3.4e38 today, -1e4 in older exports)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["s"]),
             helper.make_node("Equal", ["mask", "one"], ["mb"]),
             helper.make_node("Where", ["mb", "zero", "fill"], ["m"]),
             helper.make_node("Add", ["s", "m"], ["sm"]),
             helper.make_node("Softmax", ["sm"], ["y"], axis=-1)]
    one = np.array(1, helper.tensor_dtype_to_np_dtype(mask_type))
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.float32(0), "zero"),
             numpy_helper.from_array(np.float32(fill), "fill"), numpy_helper.from_array(one, "one")]
    graph = helper.make_graph(nodes, "masked", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 8]),
        helper.make_tensor_value_info("mask", mask_type, ["b", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return w


@pytest.mark.parametrize(("fill", "mask_type"), [(-1e4, 7), (float(np.finfo(np.float32).min), 7),
                                                 (-1e4, 6)])  # int64, int64, int32 masks
@pytest.mark.parametrize("padded_calibration", [True, False])
def test_attention_masks_stay_float_up_to_the_softmax(tmp_path, fill, mask_type, padded_calibration):
    """A host-made mask in an 8-bit range leaves one step for every real score: the softmax
    turned uniform (error 0.86 against float). The mask's Add and the Softmax stay float, and
    masked positions get exactly zero weight, whether or not calibration saw padding."""
    from tpu.compiler import compile as compile_graph
    from tpu.frontend import load_onnx

    w = _masked_softmax_model(tmp_path / "m.onnx", fill, mask_type)
    rng = np.random.default_rng(1)

    def batch(n, padded):
        x = rng.standard_normal((n, 8)).astype(np.float32) * 2
        keep = rng.integers(2, 9, (n, 1)) if padded else np.full((n, 1), 8)
        return [x, (np.arange(8) < keep).astype(np.int64)]

    graph = quantize(load_onnx(tmp_path / "m.onnx"), batch(32, padded_calibration))
    x, mask = batch(6, True)
    got = compile_graph(graph, "edge-32").run([x, mask]).outputs[0]
    s = np.where(mask == 1, x @ w, -np.inf)
    want = np.exp(s - s.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    assert np.all(got[mask == 0] == 0)
    assert np.abs(got - want).max() < 0.1, np.abs(got - want).max()  # 8-bit scores; uniform: > 0.3

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

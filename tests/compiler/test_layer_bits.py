"""Per-layer widths (tpu run --layer-bits): each layer quantized, timed and costed at its own
widths on the multi-precision array, handing over through exact requantization."""

import numpy as np
import pytest

import tpu
from tpu.cli import main
from tpu.compiler import compile as compile_graph
from tpu.compiler import reference
from tpu.compiler.quantize import quantize
from tpu.compiler.widths import LayerBits, load_layer_bits
from tpu.errors import ConfigError, ShapeError, TpuError
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model, load_digits_split

X_TRAIN, X_TEST, _, Y_TEST = load_digits_split()
GRAPH = load_onnx(bundled_model("cnn"))
MIXED = {"conv2d0": LayerBits(8, 8), "conv2d3": LayerBits(4, 4), "dense7": LayerBits(1, 8)}


def run(layer_bits, config="edge-32", backend="fast", n=40):
    q = quantize(GRAPH, X_TRAIN[:256], layer_bits=layer_bits)
    return q, compile_graph(q, tpu.load_config(config)).run(X_TEST[:n], backend=backend)


def test_all_eight_is_the_default_run():
    _, default = run(None)
    _, eights = run({name: LayerBits(8, 8) for name in MIXED})
    np.testing.assert_array_equal(default.outputs[0], eights.outputs[0])
    assert default.totals == eights.totals


def test_mixed_widths_exact_and_alike_on_fast_and_cycle():
    q, fast = run(MIXED)
    _, cycle = run(MIXED, backend="cycle", n=6)
    np.testing.assert_array_equal(fast.outputs[0][:6], cycle.outputs[0])
    # the program computes what the quantized graph means, layer widths and all
    np.testing.assert_array_equal(fast.outputs[0], reference.evaluate(q, X_TEST[:40])[0])
    nodes = {n.name: n for n in q.nodes}
    assert (nodes["conv2d3"].w_q.bits, nodes["conv2d3"].x_q.bits) == (4, 4)
    assert set(np.unique(nodes["dense7"].weight)) == {-1, 1}  # binary weights
    # conv2d0's output is conv2d3's input: quantized at 4 bits by conv2d0's requantization
    assert nodes["conv2d0"].out_q.bits == 4


def test_each_layer_is_timed_and_costed_at_its_widths():
    _, eights = run(None)
    _, mixed = run(MIXED)
    e = {s.name: s for s in eights.layers}
    m = {s.name: s for s in mixed.layers}
    program = compile_graph(quantize(GRAPH, X_TRAIN[:256], layer_bits=MIXED), tpu.load_config())
    layer = next(lay for lay in program.program(40).layers if lay.name == "conv2d3")
    assert layer.precision.act_bits == 4 and dict(m["conv2d3"].counts.pe_ops) == {
        "2x4x4": m["conv2d3"].macs // 2}  # packed two to a PE
    assert m["conv2d3"].busy_cycles < e["conv2d3"].busy_cycles
    assert m["conv2d3"].dram_bytes.weights == e["conv2d3"].dram_bytes.weights // 2
    assert m["dense7"].dram_bytes.weights < e["dense7"].dram_bytes.weights / 4  # 1-bit weights
    assert mixed.totals["energy_pj"]["total"] < eights.totals["energy_pj"]["total"]


def test_refusals_name_the_layer():
    with pytest.raises(TpuError, match="no matrix layer named 'conv9'.*conv2d0, conv2d3, dense7"):
        quantize(GRAPH, X_TRAIN[:64], layer_bits={"conv9": LayerBits(4, 8)})
    with pytest.raises(ConfigError, match="act_bits must be an integer in 2..16"):
        LayerBits(8, 1)
    q = quantize(GRAPH, X_TRAIN[:64], layer_bits={"dense7": LayerBits(16, 8)})
    with pytest.raises(ShapeError, match="layer 'dense7': weights span .* 8-bit signed"):
        compile_graph(q, tpu.load_config("gemmini-16")).run(X_TEST[:2])


def test_cli_layer_bits(tmp_path, capsys):
    f = tmp_path / "bits.toml"
    f.write_text('["conv2d3"]\nweight_bits = 4\nact_bits = 4\n')
    assert main(["run", "--layer-bits", str(f), "--json", str(tmp_path / "r.json")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert load_layer_bits(f) == {"conv2d3": LayerBits(4, 4)}
    for text, message in (('["conv9"]\nweight_bits = 4\nact_bits = 8\n', "no matrix layer named 'conv9'"),
                          ('["conv2d0"]\nweight_bits = 4\n', "missing act_bits"),
                          ('["conv2d0"]\nweight_bits = 4\nact_bits = 8\nlanes = 2\n', "unknown key 'lanes'"),
                          ('["conv2d0"]\nweight_bits = 0\nact_bits = 8\n', "weight_bits must be")):
        f.write_text(text)
        out = tmp_path / "x.json"
        assert main(["run", "--layer-bits", str(f), "--json", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and not out.exists()

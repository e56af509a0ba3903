"""The cycle-level Python machine runs compiled programs bit-exactly (fixed-point requant), its
trace respects every wait, and its cycle count stays within the documented bound of the
compiler's analytic scoreboard. Layers that declare other widths on a multi-precision array run
on the native operation; what the machine cannot run is one error naming the layer."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tpu
from tests.compiler.random_graphs import residual_graph
from tpu.compiler import compile as compile_graph
from tpu.compiler import ir, reference, zoo
from tpu.machine import AssemblyError, assemble, isa, run


def upper_slack(result, program, config) -> int:
    """What the machine may spend beyond the scoreboard: the DMA beats it moves beyond the
    program's (host round trips of tensors, activation constants), the beats each segment
    loads before its first MATMUL starts (a segment starts after the host step before it, where
    the scoreboard overlaps those loads with earlier layers), a pipeline fill per MATMUL (the
    scoreboard fills once per layer) and a few cycles of latency per instruction (DRAM latency,
    the accumulator write, the activation unit's two stages and its write)."""
    a, bpc = config.array, config.memory.dram_bytes_per_cycle
    compiler_beats = sum(-(-i.nbytes // bpc) for i in program.instrs if i.unit == "dma")
    machine_beats = sum(-(-r["nbytes"] // bpc) for r in result.instrs if r["unit"] == "dma")
    matmuls = sum(r["op"] == "MATMUL" for r in result.instrs)
    prologue = 0
    for seg in {r["segment"] for r in result.instrs}:
        rs = [r for r in result.instrs if r["segment"] == seg]
        first = min(r["start"] for r in rs if r["op"] == "MATMUL")
        prologue += sum(-(-r["nbytes"] // bpc) for r in rs if r["unit"] == "dma" and r["start"] < first)
    return max(0, machine_beats - compiler_beats) + prologue + matmuls * (a.rows + a.cols) + \
        len(result.instrs) * 4


def array_cycles(fast) -> int:
    """The scoreboard's cycles on the matrix layers' critical path: the machine never beats them
    (it runs the vector and host layers on the host, in no machine cycles)."""
    return sum(s.cycles for s in fast.layers if s.unit == "array")


def machine_config(rows, cols, *, ub=262144, acc=131072, bpc=16, act_signed=True):
    cfg = tpu.load_config().replace(rows=rows, cols=cols, act_signed=act_signed)
    return dataclasses.replace(cfg, memory=dataclasses.replace(
        cfg.memory, unified_buffer_bytes=ub, accumulator_bytes=acc, dram_bytes_per_cycle=bpc))


def check_trace(result, image):
    """Every instruction starts after what it waits for has ended; each unit runs in order."""
    ends = {}
    for r in result.instrs:
        ends[(r["segment"], r["unit"], r["index"])] = r["end"]
    segments = [i for i, s in enumerate(image.steps) if hasattr(s, "streams")]
    for r in result.instrs:
        ins = image.steps[r["segment"]].streams[r["unit"]][r["index"]]
        for u, n in zip(isa.UNITS, ins.waits, strict=True):
            if n:
                assert r["start"] >= ends[(r["segment"], u, n - 1)], (r, u, n)
        if r["index"]:
            prev = [x for x in result.instrs if (x["segment"], x["unit"], x["index"])
                    == (r["segment"], r["unit"], r["index"] - 1)][0]
            assert r["start"] > prev["start"]
    assert segments


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), rows=st.integers(2, 8), cols=st.integers(2, 8),
       batch=st.integers(1, 3), hw=st.integers(4, 8), act_signed=st.booleans(),
       array_signed=st.booleans(), ub=st.sampled_from([64, 600, 262144]),
       acc_rows=st.sampled_from([2, 5, 4096]), bpc=st.sampled_from([1, 3, 16]),
       requant=st.sampled_from(["float", "fixed"]))
def test_machine_equals_reference_and_bounds_the_fast_path(seed, rows, cols, batch, hw, act_signed,
                                                           array_signed, ub, acc_rows, bpc, requant):
    rng = np.random.default_rng(seed)
    graph = residual_graph(rng, act_signed=act_signed, weight_zp=False, hw=hw)
    config = machine_config(rows, cols, ub=ub, acc=2 * acc_rows * cols * 4, bpc=bpc,
                            act_signed=array_signed)
    x = rng.normal(0, 1, (batch, 2, hw, hw)).astype(np.float32)
    compiled = compile_graph(graph, config)
    program = compiled.program(batch)
    result = run(program, x, requant=requant)
    ref = reference.evaluate(graph, x, requant=requant, all_tensors=True)
    np.testing.assert_array_equal(result.outputs[0], ref["out"])
    for name in ("c2", "c3", "s", "y"):
        if name in result.tensors:
            np.testing.assert_array_equal(result.tensors[name], ref[name], err_msg=name)
    check_trace(result, assemble(program))
    fast = compiled.run(x, requant=requant)
    cycles = fast.totals["cycles"]
    assert array_cycles(fast) <= result.cycles <= cycles + upper_slack(result, program, config), \
        (result.cycles, cycles)
    per_layer, stalls = result.layer_cycles()  # the report's attribution adds up
    assert sum(per_layer.values()) == result.cycles and all(stalls[k] <= per_layer[k] for k in stalls)


def depthwise_graph(rng, *, channels=5, hw=5, act_signed=False):
    """Quantize → 3×3 depthwise Conv (stride 2, padded) + ReLU → 1×1 Conv → Dequantize."""
    from tests.compiler.random_graphs import qp

    q_in, q1, q2 = (qp(rng, 8, act_signed) for _ in range(3))

    def wq(n):
        return qp(rng, 8, True, n=n, axis=0, symmetric=True)
    nodes = (
        ir.Quantize("quant", ("x",), "xq", q=q_in),
        ir.Conv("dw", ("xq",), "d", weight=rng.integers(-128, 128, (channels, 1, 3, 3)),
                bias=rng.integers(-900, 900, channels), strides=(2, 2), pads=(1, 1, 1, 1),
                group=channels, relu=True, x_q=q_in, w_q=wq(channels), out_q=q1),
        ir.Conv("pw", ("d",), "p", weight=rng.integers(-128, 128, (3, channels, 1, 1)),
                bias=rng.integers(-900, 900, 3), x_q=q1, w_q=wq(3), out_q=q2),
        ir.Dequantize("dequant", ("p",), "out", q=q2),
    )
    ho = (hw - 1) // 2 + 1
    shapes = {"x": (1, channels, hw, hw), "xq": (1, channels, hw, hw),
              "d": (1, channels, ho, ho), "p": (1, 3, ho, ho), "out": (1, 3, ho, ho)}
    return ir.Graph("depthwise", nodes, ("x",), ("out",), shapes, quantized=True)


@pytest.mark.parametrize("ub", [262144, 100])
def test_packed_depthwise_runs_in_a_segment(ub):
    """Depthwise groups packed block-diagonally (3 to a pack on 3 columns, the last pack holding
    the remaining 2) run as one MATMUL per pack, their channels walked by the im2col lanes (or,
    with a unified buffer too small for the layer, from the host's patch matrix)."""
    rng = np.random.default_rng(3)
    graph = depthwise_graph(rng)
    config = machine_config(4, 3, ub=ub)
    x = rng.normal(0, 1, (2, 5, 5, 5)).astype(np.float32)
    compiled = compile_graph(graph, config, depthwise="packed")
    program = compiled.program(2)
    assert program.layers[1].packs == ((0, 1, 2), (3, 4))
    result = run(program, x)
    np.testing.assert_array_equal(result.outputs[0], reference.evaluate(graph, x)[0])
    ops = [(h["op"], h["node"]) for h in result.host]
    streamed = [("im2col", "dw"), ("im2col", "pw")] if ub < 262144 else []
    assert ops == [("Quantize", "quant"), *streamed, ("Dequantize", "dequant")]


def test_streamed_layer_and_host_steps_are_counted():
    """A unified buffer too small for a layer: its patches come from a host im2col, chunk by
    chunk; every op without RTL is listed as a host step."""
    rng = np.random.default_rng(4)
    graph = residual_graph(rng, act_signed=False, hw=8)
    config = machine_config(4, 4, ub=200)
    x = rng.normal(0, 1, (2, 2, 8, 8)).astype(np.float32)
    result = run(compile_graph(graph, config).program(2), x, requant="fixed")
    np.testing.assert_array_equal(result.outputs[0], reference.evaluate(graph, x, requant="fixed")[0])
    kinds = [h["op"] for h in result.host]
    assert "im2col" in kinds
    assert {"Quantize", "Add", "MaxPool", "AvgPool", "Dequantize"} <= set(kinds)
    assert result.segments >= 2
    assert sum(h["elements"] for h in result.host if h["op"] == "im2col") > 0


def test_quarter_width_resnet18_on_a_small_image():
    """ResNet-18's topology at quarter width (16…128 channels) on a 32×32 image: strided
    convs, downsample branches, residual adds on the host, the first conv streamed."""
    graph = _quarter_resnet(image=32)
    config = machine_config(8, 8, ub=16384)
    x = np.random.default_rng(0).normal(0, 1, (1, 3, 32, 32)).astype(np.float32)
    result = run(compile_graph(graph, config).program(1), x)
    np.testing.assert_array_equal(result.outputs[0], reference.evaluate(graph, x)[0])
    assert sum(h["op"] == "Add" for h in result.host) == 8


def _quarter_resnet(image: int):
    """zoo.resnet18's graph with every channel count divided by 4 (random int8 weights)."""
    import tpu.compiler.zoo as z

    real = z._Builder.conv

    def conv(self, x, out_ch, *a, **kw):
        return real(self, x, max(1, out_ch // 4), *a, **kw)
    z._Builder.conv = conv
    try:
        return zoo.resnet18(image=image, classes=10)
    finally:
        z._Builder.conv = real


def test_weight_zero_points_are_refused_with_the_reason():
    rng = np.random.default_rng(1)
    graph = residual_graph(rng, act_signed=False, weight_zp=True)
    program = compile_graph(graph, machine_config(4, 4)).program(1)
    with pytest.raises(AssemblyError, match="zero points"):
        assemble(program)


def test_other_dataflows_and_wide_operands_are_refused():
    rng = np.random.default_rng(1)
    graph = residual_graph(rng)
    for cfg in (machine_config(4, 4).replace(dataflow="os"),
                machine_config(4, 4).replace(act_bits=9)):
        with pytest.raises(tpu.errors.ConfigError, match="machine"):
            assemble(compile_graph(graph, cfg).program(1))


def test_multi_precision_layers_run_on_the_native_operation():
    """edge-32 is multi-precision: layers declare their own widths (u8 activations read unsigned,
    4-bit operands packed two to a PE, binary weights). The machine maps each one back onto the
    PEs' native s8 × s8 product (u8 activations shifted by −128, the shift folded into the bias)
    and computes the same integers."""
    from tpu.compiler.quantize import quantize
    from tpu.compiler.widths import LayerBits
    from tpu.frontend import load_onnx
    from tpu.nn.digits import bundled_model, load_digits_split

    x_train, x_test, _, _ = load_digits_split()
    mixed = {"conv2d0": LayerBits(8, 8), "conv2d3": LayerBits(4, 4), "dense7": LayerBits(1, 8)}
    graph = quantize(load_onnx(bundled_model("cnn")), x_train[:256], layer_bits=mixed)
    config = tpu.load_config()
    assert config.array.multi_precision and config.array.act_signed
    compiled = compile_graph(graph, config)
    x = x_test[:12]
    result = compiled.run(x, backend="machine")
    np.testing.assert_array_equal(result.outputs[0], compiled.run(x).outputs[0])
    np.testing.assert_array_equal(result.outputs[0], reference.evaluate(graph, x)[0])
    program = compiled.program(12)
    image = assemble(program)
    conv0 = program.layers[1]
    assert conv0.name == "conv2d0" and not conv0.precision.act_signed  # declared u8
    assert conv0.mapped[0].dx == 0 and image.mapped[1][0].dx == -128  # on the s8 PEs
    assert program.layers[3].precision.act_bits == 4  # packed on the fast path, native here


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "tpu.cli", *args], capture_output=True, text=True)


def test_what_the_machine_cannot_run_is_one_line_naming_what_to_change(tmp_path):
    """Operands wider than the PEs, another dataflow, fp16 PEs, onnxruntime's pair saturation:
    one line each (exit status 2), naming the layer or key and what to do, nothing written."""
    wide = tmp_path / "wide.toml"
    wide.write_text('["conv2d3"]\nweight_bits = 8\nact_bits = 16\n')
    os_cfg = tmp_path / "os.toml"
    os_cfg.write_text('[array]\ndataflow = "os"\n')
    fp = tmp_path / "fp.toml"
    fp.write_text('[array]\nformat = "bf16"\nact_bits = 16\nweight_bits = 16\n')
    cases = [
        (["--layer-bits", str(wide)], ["conv2d3", "W8A16", "--layer-bits", "fast or cycle"]),
        (["--config", str(os_cfg)], ["dataflow 'os'", "fast and cycle"]),
        (["--config", str(fp)], ["format 'bf16'", "fast and cycle"]),
        (["--saturate-pairs"], ["--saturate-pairs", "without it"]),
    ]
    for extra, words in cases:
        out = tmp_path / "r.json"
        proc = _cli("run", "--backend", "machine", "--json", str(out), *extra)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert all(w in proc.stderr for w in words), (words, proc.stderr)
        assert not out.exists()

"""The roofline: the machine's ceilings, and points placed from compiler runs."""

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tests.compiler.random_graphs import residual_graph
from tpu.cli import main
from tpu.compiler import compile as compile_graph
from tpu.errors import TpuError
from tpu.roofline import gemm_point, layer_points, parse_gemm, roof


def with_bandwidth(config, bytes_per_cycle):
    return dataclasses.replace(config, memory=dataclasses.replace(
        config.memory, dram_bytes_per_cycle=bytes_per_cycle))


def test_tpu_v1_roof_matches_the_paper():
    """Jouppi et al. 2017: 92 TOPS peak, 34 GB/s weight memory, ridge ≈ 1350 MACs/byte."""
    r = roof(tpu.load_config("tpu-v1"))
    assert r.peak_tops == pytest.approx(92, rel=0.01)
    assert r.dram_bytes_per_s == pytest.approx(34e9, rel=0.02)
    assert r.ridge_macs_per_byte == pytest.approx(1350, rel=0.02)
    assert r.attainable(200) == pytest.approx(200 * r.dram_bytes_per_s)
    assert r.attainable(1e6) == r.peak_macs_per_s


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 70), k=st.integers(1, 100), n=st.integers(1, 70),
       rows=st.sampled_from([4, 8, 16]), bpc=st.sampled_from([1, 4, 16]))
def test_gemm_point_never_beats_peak_and_moves_its_weights(m, k, n, rows, bpc):
    config = with_bandwidth(tpu.load_config().replace(rows=rows, cols=rows), bpc)
    p = gemm_point(m, k, n, config)
    assert p.macs == m * k * n
    assert p.cycles >= math.ceil(m * k * n / (rows * rows))  # no more MACs per cycle than PEs
    assert p.achieved_macs_per_s <= roof(config).peak_macs_per_s
    assert p.weight_bytes >= k * n  # int8 weights cross DRAM at least once
    assert p.dram_bytes == p.weight_bytes  # input staged on chip, output left there
    assert p.bound == ("memory" if p.intensity < roof(config).ridge_macs_per_byte else "compute")


def test_weight_bound_fc_runs_at_the_bandwidth_roof():
    """Few rows, big weights, slow DRAM (a tile takes far longer to fetch than to use): the
    time is the weight bytes over the DRAM bandwidth."""
    config = with_bandwidth(tpu.load_config("edge-32"), 2)
    p = gemm_point(4, 512, 512, config)
    assert p.bound == "memory"
    weight_cycles = 512 * 512 / 2
    tile_cycles = 32 * 32 / 2
    # the first tiles may be prefetched while the staging op runs: at most two tiles early
    assert weight_cycles - 2 * tile_cycles <= p.cycles <= 1.05 * weight_cycles
    assert p.fraction_of_roof == pytest.approx(1.0, abs=0.1)


def test_layer_points_cover_the_matrix_layers_of_a_run():
    rng = np.random.default_rng(3)
    graph = residual_graph(rng)
    config = tpu.load_config().replace(rows=4, cols=4)
    result = compile_graph(graph, config).run(rng.normal(0, 1, (2, 2, 6, 6)).astype(np.float32))
    points = layer_points(result)
    matrix = [s for s in result.layers if s.macs]
    assert [p.name for p in points] == [s.name for s in matrix] == ["conv1", "conv2", "conv3", "fc"]
    for p, s in zip(points, matrix, strict=True):
        assert p.macs == s.macs and p.cycles == s.cycles
        assert p.dram_bytes == s.dram_bytes.total
        assert p.achieved_macs_per_s == pytest.approx(s.macs * config.clock.hz / s.cycles)


@pytest.mark.parametrize("spec", ["2x3", "0x4x5", "axbxc", "1x2x3x4", ""])
def test_parse_gemm_rejects_bad_shapes(spec):
    with pytest.raises(TpuError, match="MxKxN"):
        parse_gemm(spec)


def test_parse_gemm():
    assert parse_gemm("200x2048X4") == (200, 2048, 4)
    assert parse_gemm("3×4×5") == (3, 4, 5)


def test_cli_writes_json_and_plot(tmp_path, capsys):
    j, png = tmp_path / "r.json", tmp_path / "r.png"
    assert main(["roofline", "--config", "tpu-v1", "--gemm", "16x256x256", "--json", str(j),
                 "--plot", str(png)]) == 0
    r = json.loads(j.read_text())
    assert r["roof"]["peak_macs_per_s"] == 256 * 256 * 7e8
    (p,) = r["points"]
    assert p["name"] == "16x256x256" and p["macs"] == 16 * 256 * 256 and p["bound"] == "memory"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ridge" in capsys.readouterr().out


def test_cli_default_runs_the_digits_cnn(tmp_path):
    j = tmp_path / "r.json"
    assert main(["roofline", "--json", str(j)]) == 0
    names = [p["name"] for p in json.loads(j.read_text())["points"]]
    assert len(names) == 3  # two convolutions and the dense layer of the digits CNN


@pytest.mark.parametrize("argv", [["--gemm", "12x5"], ["--model", "m.onnx"]])
def test_cli_bad_input_fails_cleanly(tmp_path, capsys, argv):
    j = tmp_path / "r.json"
    assert main(["roofline", *argv, "--json", str(j)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tpu roofline: error:") and err.count("\n") == 1
    assert not j.exists()

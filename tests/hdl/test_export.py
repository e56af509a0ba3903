"""Verilog export and yosys area through the CLI."""

import json

import pytest

from tpu.cli import main


@pytest.fixture
def small_config(tmp_path):
    def make(bits=8, dataflow="ws"):
        f = tmp_path / f"a{bits}{dataflow}.toml"
        f.write_text(f'[array]\nrows = 2\ncols = 3\ndataflow = "{dataflow}"\nact_bits = {bits}\n'
                     f"weight_bits = {bits}\nacc_bits = {max(2 * bits, 16)}\n"
                     "[memory]\naccumulator_bytes = 256\n")
        return str(f)
    return make


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_verilog_export_writes_the_top_modules(tmp_path, small_config, dataflow):
    out = tmp_path / "v"
    assert main(["hdl", "verilog", "--config", small_config(dataflow=dataflow), "-o", str(out)]) == 0
    mu = (out / "matrix_unit.v").read_text()
    assert "module" in mu and "out_data" in mu and "out_valid" in mu
    assert "module" in (out / "activation_unit.v").read_text()


def test_area_grows_with_operand_width_and_sits_beside_the_model(tmp_path, small_config):
    figures = {}
    for bits in (4, 8, 16):
        j = tmp_path / f"area{bits}.json"
        assert main(["hdl", "area", "--config", small_config(bits), "--json", str(j)]) == 0
        figures[bits] = json.loads(j.read_text())
    t = {b: r["pe"]["transistors"] for b, r in figures.items()}
    assert t[4] < t[8] < t[16]
    assert t[16] > 2 * t[8]  # the multiplier grows faster than linearly
    for r in figures.values():
        assert r["array_estimate"]["transistors"] == 6 * r["pe"]["transistors"]
        an = r["analytic"]
        assert an["pe_um2"] > 0 and an["synth_pe_um2"] == pytest.approx(
            r["pe"]["transistors"] * an["um2_per_transistor"])
        # analytic and synthesized within a factor of two of each other
        assert 0.5 < an["synth_pe_um2"] / an["pe_um2"] < 2

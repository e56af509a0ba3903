"""Verilog export and yosys area through the CLI."""

import json

import pytest

from tpu.cli import main


@pytest.fixture
def small_config(tmp_path):
    def make(bits=8, dataflow="ws", acc_bits=None):
        f = tmp_path / f"a{bits}{dataflow}{acc_bits}.toml"
        f.write_text(f'[array]\nrows = 2\ncols = 3\ndataflow = "{dataflow}"\nact_bits = {bits}\n'
                     f"weight_bits = {bits}\nacc_bits = {acc_bits or max(2 * bits, 16)}\n"
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


def test_machine_verilog_has_documented_ports_and_flattens(tmp_path, small_config):
    out = tmp_path / "v"
    assert main(["hdl", "verilog", "--config", small_config(acc_bits=32), "-o", str(out),
                 "--flatten"]) == 0
    text = (out / "tpu_machine.v").read_text()
    assert text.startswith("// tpu_machine: the whole TPU")
    for port in ("imem_we", "dram_rd_en", "dram_wr_data", "halted", "cycles", "ev_start"):
        assert port in text.split("module tpu_machine(")[1].split(");")[0]
    flat = (out / "tpu_machine_flat.v").read_text()
    assert flat.count("\nmodule ") + flat.startswith("module ") == 1  # one module: flattened


def test_area_synthesizes_the_whole_machine(tmp_path, small_config):
    j = tmp_path / "area.json"
    assert main(["hdl", "area", "--config", small_config(acc_bits=32), "--machine", "--json",
                 str(j)]) == 0
    r = json.loads(j.read_text())
    # the machine is the array plus DMA, sequencers, activation unit: well above its PEs
    assert r["machine"]["transistors"] > 3 * r["array_estimate"]["transistors"]
    assert r["machine"]["sram_bytes"]["unified_buffer"] == 262144

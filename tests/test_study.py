"""The precision study: rows per width, FP32 estimate, QAT rows, CLI (reduced widths, small batch)."""

import json

import numpy as np
import pytest

import tpu
from tpu.cli import main
from tpu.cost import area, fp_mac_energy_pj, load_tech
from tpu.study import (
    FP32_METHOD,
    PTQ_METHOD,
    PTQ_MSE_METHOD,
    array_for,
    digits_workload,
    float_machine,
    sqnr_db,
    study,
)

BATCH = 40


@pytest.fixture(scope="module")
def rows():
    return study(digits_workload(BATCH), tpu.load_config(), weight_bits=(2, 8), act_bits=(8,),
                 qat_epochs=0, floats=())


def test_sqnr():
    ref = np.array([[1.0, -2.0, 3.0]])
    assert sqnr_db(ref, ref) == np.inf
    assert sqnr_db(ref, 1.1 * ref) == pytest.approx(20.0)  # noise power 1 % of the signal


def test_rows_in_order_with_fp32_first(rows):
    assert [(r.weight_bits, r.act_bits, r.method) for r in rows] == [
        (32, 32, FP32_METHOD), (2, 8, PTQ_METHOD), (2, 8, PTQ_MSE_METHOD), (8, 8, PTQ_METHOD)]
    fp32, w2, w2_mse, w8 = rows
    assert fp32.agreement == 1.0 and fp32.sqnr_db == np.inf
    assert all(r.batch == BATCH for r in rows)


def test_calibration_is_its_own_column(rows):
    """PTQ-MSE changes the weight calibration only: the PTQ run's cost, a better accuracy."""
    _, w2, w2_mse, _ = rows
    assert w2.calibration == "w maxabs, a minmax" and w2_mse.calibration == "w mse, a minmax"
    for key in ("energy_pj", "area_mm2", "cycles", "dram_bytes"):
        assert getattr(w2_mse, key) == getattr(w2, key)
    assert w2_mse.accuracy > w2.accuracy + 0.2


def test_wider_weights_cost_more_and_agree_better(rows):
    fp32, w2, _, w8 = rows
    assert w2.energy_pj < w8.energy_pj < fp32.energy_pj
    assert w2.area_mm2 < w8.area_mm2 < fp32.area_mm2
    assert w8.sqnr_db > w2.sqnr_db + 10  # 6 dB per bit, roughly
    assert w8.agreement >= 0.9  # int8 keeps the FP32 decision on nearly every digit


def test_costs_follow_the_cost_model(rows):
    config = tpu.load_config()
    fp32, _, _, w8 = rows
    assert w8.area_mm2 == pytest.approx(area(array_for(config, 8, 8)).total)
    macs_per_inference = 8 * 8 * 9 * 8 + 4 * 4 * 72 * 16 + 64 * 10  # conv, conv, dense
    tech = load_tech(config.tech.name)
    assert fp32.energy_pj > macs_per_inference * fp_mac_energy_pj(tech, "fp32")
    assert fp32.dram_bytes > w8.dram_bytes


def test_json_rows_carry_the_fields(rows):
    d = rows[1].to_dict()
    for key in ("weight_bits", "act_bits", "method", "accuracy", "energy_pj", "area_mm2", "cycles"):
        assert key in d
    assert rows[0].to_dict()["sqnr_db"] is None  # JSON has no infinity
    json.dumps([r.to_dict() for r in rows])


def test_qat_row_keeps_the_ptq_cost():
    rows = study(digits_workload(20), tpu.load_config(), weight_bits=(2,), act_bits=(8,),
                 qat_epochs=1)
    assert [r.method.split()[0] for r in rows] == ["fp32", "fp16", "bf16", "ptq", "ptq-mse", "qat-mse"]
    ptq, qat = rows[3], rows[5]
    for key in ("energy_pj", "area_mm2", "cycles", "dram_bytes"):
        assert getattr(qat, key) == getattr(ptq, key)
    assert 0.0 <= qat.accuracy <= 1.0


def test_cli_writes_table_json_and_plot(tmp_path, capsys):
    j, png = tmp_path / "s.json", tmp_path / "s.png"
    argv = ["study", "precision", "--batch", "20", "--weight-bits", "4", "--act-bits", "8",
            "--qat-epochs", "0", "--json", str(j), "--plot", str(png)]
    assert main(argv) == 0
    data = json.loads(j.read_text())
    assert [(r["weight_bits"], r["act_bits"], r["method"].split()[0]) for r in data["rows"]] == [
        (32, 32, "fp32"), (16, 16, "fp16"), (16, 16, "bf16"), (4, 8, "ptq"), (4, 8, "ptq-mse")]
    assert data["rows"][4]["calibration"] == "w mse, a minmax"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "W4A8 PTQ" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--weight-bits", "1,8"], ["--batch", "0"],
                                  ["model.onnx"], ["--act-bits", "x"]])
def test_cli_bad_input_fails_cleanly(tmp_path, capsys, argv):
    j = tmp_path / "s.json"
    assert main(["study", "precision", *argv, "--qat-epochs", "0", "--json", str(j)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tpu study: error:") and err.count("\n") == 1
    assert not j.exists()


def test_float_rows_are_computed_on_float_arrays():
    """FP16/BF16 accuracy from the model on the fp16/bf16 array; cost from the 16-bit program
    charged with the format's units: dearer than W8A8, cheaper than the FP32 estimate."""
    rows = study(digits_workload(BATCH), tpu.load_config(), weight_bits=(8,), act_bits=(8,),
                 qat_epochs=0)
    fp32, fp16, bf16, w8 = rows
    for r, fmt in ((fp16, "fp16"), (bf16, "bf16")):
        assert r.method.startswith(fmt) and r.agreement >= 0.95 and np.isfinite(r.sqnr_db)
        assert r.sqnr_db > w8.sqnr_db  # 11 (fp16) or 8 (bf16) significant bits, per element
        assert w8.energy_pj < r.energy_pj < fp32.energy_pj
        assert r.area_mm2 == pytest.approx(area(float_machine(tpu.load_config(), fmt)).total)
    assert fp16.cycles == bf16.cycles and bf16.energy_pj < fp16.energy_pj  # narrower multiplier

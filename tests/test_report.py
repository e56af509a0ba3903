"""One schema for every file the tpu command writes (tpu/report.py): versions, the full config
(loadable back with --config), one shape for bytes and energy, and CSV carrying the JSON."""

import csv
import json

import numpy as np
import pytest

import tpu
from tests.test_scalesim import DATA
from tpu.cli import main
from tpu.quant.report import Row
from tpu.report import SCHEMA_VERSION, quant_document
from tpu.scalesim import machine_from_scalesim, parse_config


def walk(value):
    """(enclosing dict, key, value) of every dict entry in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield value, k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def check_schema(doc, kind, config):
    assert doc["schema_version"] == SCHEMA_VERSION and doc["tpu_version"] == tpu.__version__
    assert doc["kind"] == kind
    if config is not None:
        assert doc["config"] == config.to_dict()
    for parent, key, value in walk(doc):
        assert key != "energy_pj", f"{parent}: energy without what it covers"
        if key in ("dram_bytes", "sram_bytes"):
            assert set(value) == {"weights", "inputs", "outputs", "total"}, parent
            assert value["total"] == value["weights"] + value["inputs"] + value["outputs"]
        if key.startswith("energy_pj_per_"):
            assert value["total"] == pytest.approx(sum(v for k, v in value.items() if k != "total"))
        if key == "energy_pj_per_batch":
            for part, v in value.items():
                assert parent["energy_pj_per_inference"][part] * doc["batch"] == pytest.approx(v)


def reload(tmp_path, path, config):
    """--config takes the report back: the same machine runs a GEMM."""
    np.save(tmp_path / "ra.npy", np.ones((3, 5), np.int8))
    np.save(tmp_path / "rb.npy", np.ones((5, 2), np.int8))
    out = tmp_path / "again.json"
    assert main(["gemm", "--a", str(tmp_path / "ra.npy"), "--b", str(tmp_path / "rb.npy"),
                 "--config", str(path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"] == config.to_dict()


def test_run_json_and_csv(tmp_path):
    cfg = tpu.load_config("gemmini-16")
    r, c = tmp_path / "R.json", tmp_path / "L.csv"
    assert main(["run", "--config", "gemmini-16", "--json", str(r), "--csv", str(c)]) == 0
    doc = json.loads(r.read_text())
    check_schema(doc, "run", cfg)
    assert doc["batch"] == 360 and doc["model"] and 0.9 < doc["accuracy"] <= 1
    reload(tmp_path, r, cfg)
    rows = list(csv.DictReader(c.open()))
    assert len(rows) == len(doc["layers"]) + 1 and rows[-1]["name"] == "total"
    for row, layer in zip(rows, [*doc["layers"], doc["totals"]], strict=True):
        assert row["schema_version"] == str(SCHEMA_VERSION) and row["kind"] == "run"
        assert row["config.array.rows"] == "16" and row["config.name"] == "gemmini-16"
        assert row["batch"] == "360" and row["accuracy"] == str(doc["accuracy"])
        for key, value in flatten(layer).items():
            assert row[key] == str(value), key  # every figure of the JSON is in the CSV


def test_gemm_json(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((40, 50), np.int8))
    np.save(tmp_path / "b.npy", np.ones((50, 30), np.int8))
    out = tmp_path / "g.json"
    assert main(["gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
                 "--config", "tpu-v1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    check_schema(doc, "gemm", tpu.load_config("tpu-v1"))
    assert doc["energy_pj_per_gemm"]["total"] > 0 and doc["dram_bytes"]["weights"] == 1500
    reload(tmp_path, out, tpu.load_config("tpu-v1"))


def test_scalesim_and_roofline_json(tmp_path):
    out = tmp_path / "s.json"
    assert main(["scalesim", "-c", str(DATA / "scale3.cfg"), "-t", str(DATA / "gemm.csv"), "--gemm",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    machine = machine_from_scalesim(parse_config(DATA / "scale3.cfg"))  # its SRAM sizes, our machine
    check_schema(doc, "scalesim", machine)
    assert doc["scalesim_config"]["array_rows"] == 8
    reload(tmp_path, out, machine)
    out = tmp_path / "r.json"
    assert main(["roofline", "--gemm", "64x128x32", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    check_schema(doc, "roofline", tpu.load_config())
    (point,) = doc["points"]
    assert point["dram_bytes"]["weights"] == 128 * 32


def test_study_json(tmp_path):
    out = tmp_path / "s.json"
    assert main(["study", "precision", "--batch", "6", "--weight-bits", "4,8", "--act-bits", "8",
                 "--qat-epochs", "0", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    check_schema(doc, "study", tpu.load_config())
    methods = [r["method"].split()[0] for r in doc["rows"]]
    assert doc["batch"] == 6 and methods == ["fp32", "fp16", "bf16", "ptq", "ptq-mse", "ptq"]
    fp32, _, _, w4, _, w8 = doc["rows"]
    assert fp32["dram_bytes"]["total"] > w8["dram_bytes"]["total"] > w4["dram_bytes"]["weights"]
    assert set(w8["energy_pj_per_inference"]) == {"mac", "register", "sram", "dram", "vector",
                                                        "leakage", "total"}


def test_quant_document_has_no_machine_and_no_infinity():
    doc = quant_document([Row("cnn", "FP32", 0.97, 1.0, float("inf"), 0)])
    check_schema(doc, "quant-report", None)
    assert doc["config"] is None and doc["rows"][0]["sqnr_db"] is None
    json.dumps(doc, allow_nan=False)


def test_hdl_area_json(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text('[array]\nrows = 2\ncols = 3\nact_bits = 4\nweight_bits = 4\nacc_bits = 16\n'
                   "[memory]\naccumulator_bytes = 256\n")
    out = tmp_path / "a.json"
    assert main(["hdl", "area", "--config", str(cfg), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    check_schema(doc, "hdl-area", tpu.load_config(cfg))
    assert doc["pe"]["transistors"] > 0

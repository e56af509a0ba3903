import csv
import json
import subprocess
import sys

import numpy as np

from tpu.cli import main
from tpu.nn.digits import bundled_model, load_digits_split


def test_default_run_reports_accuracy_layers_and_plots(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", "--json", str(out), "--csv", str(tmp_path / "l.csv"),
                 "--plots", str(tmp_path / "plots"), "--output", str(tmp_path / "y.npy")]) == 0
    report = json.loads(out.read_text())
    assert report["accuracy"] > 0.95  # INT8 of a 97 % FP32 model
    assert report["batch"] == 360
    y = np.load(tmp_path / "y.npy")
    _, _, _, labels = load_digits_split()
    assert y.shape == (360, 10) and np.mean(y.argmax(1) == labels) == report["accuracy"]
    rows = list(csv.DictReader((tmp_path / "l.csv").open()))
    assert [r["name"] for r in rows] == [layer["name"] for layer in report["layers"]] + ["total"]
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"cycles.png", "energy.png", "roofline.png"}
    text = capsys.readouterr().out
    assert "accuracy on 360 held-out digits" in text and "Conv" in text


def test_compile_asm_shows_the_program(tmp_path, capsys):
    np.save(tmp_path / "calib.npy", load_digits_split()[0][:64])
    assert main(["compile", str(bundled_model("cnn")), "--calib", str(tmp_path / "calib.npy"), "--asm"]) == 0
    asm = capsys.readouterr().out
    for op in ("READ_HOST", "READ_WEIGHTS", "MATMUL", "ACTIVATE", "VECTOR", "WRITE_HOST"):
        assert op in asm


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tpu.cli", *args], capture_output=True, text=True)


def test_float_model_without_calibration_is_one_clear_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    proc = _cli("run", str(bundled_model("cnn")), "--input", str(tmp_path / "x.npy"),
                "--output", str(tmp_path / "y.npy"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "float model; pass --calib" in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "y.npy").exists()


def test_not_an_onnx_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("hello")
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    proc = _cli("run", str(bad), "--input", str(tmp_path / "x.npy"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr

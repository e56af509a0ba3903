"""What a user of the library meets besides the numbers: plotting never switches their
matplotlib backend, long commands say what they are doing, the checkout has no broken links."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from tpu.cli import main

ROOT = Path(__file__).resolve().parent.parent

_PLOTS = """
import matplotlib
matplotlib.use("svg")  # the user's choice (a notebook's inline backend, say)
import matplotlib.pyplot as plt
import tpu
from tpu.report import run_figures
from tpu.roofline import gemm_point, roof, roofline_figure
from tpu.study import StudyRow, study_figure

cfg = tpu.load_config()
figs = [roofline_figure(roof(cfg), [gemm_point(8, 8, 8, cfg)])]
row = StudyRow(8, 8, "ptq", 0.9, 0.95, 30.0, 1e3, 1.0, 100, 64, 2)
figs.append(study_figure([row, StudyRow(32, 32, "fp32", 0.9, 1.0, float("inf"), 4e3, 2.0, 100, 256, 2)]))
layer = {"name": "fc", "cycles": 10, "stall_cycles": 2, "utilization": 0.5,
         "energy_pj": {"mac": 1.0, "register": 2.0, "sram": 3.0, "dram": 4.0, "vector": 0.5,
                       "leakage": 1.5, "total": 12.0}}
figs += run_figures({"layers": [layer]}).values()
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert plt.get_fignums() == [], plt.get_fignums()  # nothing left in pyplot's registry
from matplotlib.figure import Figure
assert all(isinstance(f, Figure) for f in figs)
print(len(figs))
"""


def test_plotting_leaves_the_users_backend_alone():
    proc = subprocess.run([sys.executable, "-c", _PLOTS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4"


def test_no_broken_symlinks_in_the_checkout():
    broken = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("build", "__pycache__")]
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                broken.append(str(path.relative_to(ROOT)))
    assert broken == []
    assert sorted(p.name for p in (ROOT / "configs").glob("*.toml")) == sorted(
        p.name for p in (ROOT / "tpu" / "configs").glob("*.toml"))


def test_quant_train_needs_an_output_folder(capsys):
    bundled = {p: p.stat().st_mtime_ns for p in (ROOT / "tpu" / "models").glob("*.onnx")}
    try:
        main(["quant", "train"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "--out-dir" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in bundled} == bundled


def test_study_reports_progress_unless_quiet(tmp_path, capsys):
    argv = ["study", "precision", "--batch", "4", "--weight-bits", "8", "--act-bits", "8",
            "--qat-epochs", "0"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "tpu study: FP32 estimate (4 inputs)" in err and "tpu study: W8A8 post-training" in err
    assert main(["--quiet", *argv]) == 0
    assert capsys.readouterr().err == ""


def test_quant_report_logs_each_row(caplog):
    from tpu.nn.digits import load_digits_split
    from tpu.nn.model import digits_mlp
    from tpu.quant.qmodel import Scheme
    from tpu.quant.report import Spec, evaluate

    data = load_digits_split()
    with caplog.at_level(logging.INFO, logger="tpu"):
        evaluate("mlp", digits_mlp(0), data, rows=[Spec("W8A8 a", "PTQ", Scheme()),
                                                   Spec("W8A8 b", "PTQ", Scheme(w_calib="mse"))])
    assert [r.getMessage() for r in caplog.records] == [
        "mlp: W8A8 a PTQ, weights maxabs (1 of 2)", "mlp: W8A8 b PTQ, weights mse (2 of 2)"]

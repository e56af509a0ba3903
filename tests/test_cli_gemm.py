import json
import subprocess
import sys

import numpy as np
import pytest

from tpu.cli import main


def test_gemm_writes_exact_output_and_report(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (256, 256)), rng.integers(-128, 128, (256, 256))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    args = ["gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
            "--output", str(tmp_path / "c.npy"), "--json", str(tmp_path / "r.json")]
    assert main(args) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), a @ b)
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["macs"] == 256**3 and r["folds"] == 64
    assert 256**3 / (32 * 32) <= r["cycles"] <= 22399  # ideal ≤ ours ≤ SCALE-Sim ws
    assert r["utilization"] == pytest.approx(256**3 / (r["cycles"] * 1024))
    # int8 operands, buffers large enough: compulsory traffic only
    assert r["dram_bytes"]["inputs"] == r["dram_bytes"]["weights"] == 65536
    e = r["energy_pj_per_gemm"]
    assert e["total"] == pytest.approx(e["mac"] + e["register"] + e["sram"] + e["dram"])
    assert "cycles" in capsys.readouterr().out


def test_bad_input_one_line_no_traceback_no_output(tmp_path):
    np.save(tmp_path / "a.npy", np.full((2, 2), 300))
    np.save(tmp_path / "b.npy", np.ones((2, 2), int))
    out = tmp_path / "c.npy"
    proc = subprocess.run(
        [sys.executable, "-m", "tpu.cli", "gemm", "--a", str(tmp_path / "a.npy"),
         "--b", str(tmp_path / "b.npy"), "--output", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "A holds values in [300, 300]" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy"]

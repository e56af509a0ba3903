import json
import subprocess
import sys

import numpy as np
import pytest

from tpu.cli import main
from tpu.config import load_config
from tpu.cost import leakage_mw


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
    assert 256**3 / (32 * 32) <= r["array_cycles"] <= 22399  # ideal ≤ the array ≤ SCALE-Sim ws
    assert r["utilization"] == pytest.approx(256**3 / (r["cycles"] * 1024))
    # int8 operands, buffers large enough: compulsory traffic only; C leaves as int32
    d = r["dram_bytes"]
    assert d["inputs"] == d["weights"] == 65536 and d["outputs"] == 256 * 256 * 4
    # the machine's time: no shorter than the array's nor than the DMA at 16 bytes per cycle
    assert r["cycles"] >= max(r["array_cycles"], d["total"] / 16)
    assert r["cycles"] - r["stall_cycles"] <= r["array_cycles"] + 256  # overlapped, but for a fill
    e = r["energy_pj_per_gemm"]
    assert e["total"] == pytest.approx(e["mac"] + e["register"] + e["sram"] + e["dram"] + e["vector"]
                                       + e["leakage"])
    # leakage: the machine's static power for the GEMM's simulated time
    assert e["leakage"] == pytest.approx(leakage_mw(load_config("edge-32")) * r["seconds"] * 1e9)
    assert "cycles" in capsys.readouterr().out


def test_slow_dram_makes_gemm_memory_bound(tmp_path):
    """At one DRAM byte per cycle the 256³ GEMM moves 393,216 bytes: the machine takes that
    long, whatever the array (audit: the array-only figure of 16,447 cycles was reported)."""
    cfg = tmp_path / "slow.toml"
    cfg.write_text("[memory]\ndram_bytes_per_cycle = 1\n")
    out = tmp_path / "r.json"
    assert main(["gemm", "--shape", "256x256x256", "--config", str(cfg), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["dram_bytes"]["total"] == 393_216 and r["cycles"] >= 393_216
    assert r["array_cycles"] < 20_000


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


def test_shape_runs_random_operands(tmp_path):
    from tpu.cli import main

    out = tmp_path / "r.json"
    assert main(["gemm", "--shape", "40x30x20", "--json", str(out)]) == 0
    import json

    r = json.loads(out.read_text())
    assert (r["m"], r["k"], r["n"]) == (40, 30, 20)
    assert main(["gemm", "--shape", "40x30"]) == 2
    assert main(["gemm"]) == 2


@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
def test_shape_on_a_float_array_draws_values_of_its_format(tmp_path, fmt):
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'[array]\nformat = "{fmt}"\nact_bits = 16\nweight_bits = 16\n')
    out = tmp_path / "r.json"
    assert main(["gemm", "--shape", "20x30x10", "--config", str(cfg), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["macs"] == 20 * 30 * 10 and r["config"]["array"]["format"] == fmt


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`tpu ... | head -1`: the pipe is closed when tpu writes."""
    cmd = f"{sys.executable} -m tpu.cli gemm --shape 300x200x100 | true"  # closed before tpu writes
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr

"""Sweep specs: points, pruning, error rows, and one-line errors naming the file and key."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tpu.sweep as sweep
from tpu.sweep import SweepError, load_spec, points

SCALESIM_TOPO = "Layer,H,W,FH,FW,C,N,stride,\nconv1,16,16,3,3,4,8,1,\nfc,1,1,1,1,64,10,1,\n"


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_points_prune_and_mark_invalid_configs(tmp_path):
    spec = load_spec(write(tmp_path, """
[sweep]
workload = "resnet18"
[axes]
"array.rows" = [16, 64, 128]
"array.cols" = [64, 128]
"array.acc_bits" = [8, 32]
[[constraints]]
expr = "array.rows * array.cols <= 8192 and not array.rows == 16"
"""))
    assert spec.size == 12
    pts = list(points(spec))
    bad = [p for p in pts if p.error]
    good = [p for p in pts if not p.error]
    assert len(bad) == 6 and all("array.acc_bits (8) must hold" in p.error for p in bad)
    assert sorted((p.params["array.rows"], p.params["array.cols"]) for p in good) == [(64, 64), (64, 128),
                                                                                       (128, 64)]
    assert all(p.config.value("array.rows") == p.params["array.rows"] for p in good)


@pytest.mark.parametrize(("text", "message"), [
    ('[sweep]\nworkload = "alexnet"\n', "sweep.workload names 'alexnet'"),
    ('[sweep]\nworkload = "resnet18"\n[axes]\n"array.rowz" = [1]\n', "axes.array.rowz"),
    ('[sweep]\nworkload = "resnet18"\n[axes]\nrows = [1]\n', "must be spelled section.key"),
    ('[sweep]\nworkload = "resnet18"\n[axes]\n"array.rows" = []\n', "non-empty list"),
    ('[sweep]\nworkload = "resnet18"\n[[constraints]]\nexpr = "__import__(1)"\n',
     "constraints[0].expr"),
    ('[sweep]\nworkload = "resnet18"\n[[constraints]]\nexpr = "array.foo > 1"\n', "array.foo"),
    ('[sweep]\nworkload = "resnet18"\nbase = "nope"\n', "sweep.base"),
    ('[sweep]\nworkload = "resnet18"\nbatch = 0\n', "sweep.batch"),
    ('[sweep]\nworkload = "resnet18"\n[axes]\n"array.rows" = [8, 8]\n', "repeats a value"),
    ("[sweep\n", "not valid TOML"),
    ('[sweep]\nworkload = "resnet18"\n[[constraints]]\nexpr = "array.rows **"\n', "not an expression"),
])
def test_bad_specs_are_one_line_errors(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SweepError) as exc:
        load_spec(path)
    assert str(path) in str(exc.value) and message in str(exc.value)
    done = subprocess.run([sys.executable, "-m", "tpu.cli", "sweep", str(path), "--db",
                           str(tmp_path / "r.sqlite")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "r.sqlite").exists()


def test_scalesim_workload_user_tech_and_error_rows(tmp_path):
    """A SCALE-Sim topology swept over a user's tech table (by relative path) and an invalid
    value: error rows carry their message, the others the machine report."""
    from tpu.cost.tech import TABLE_DIR

    write(tmp_path, SCALESIM_TOPO, "topo.csv")
    text = (TABLE_DIR / "horowitz45.toml").read_text().replace('name = "horowitz45"', 'name = "mine"')
    write(tmp_path, text.replace("lpddr4 = 8.0", "lpddr4 = 80.0"), "mine.toml")
    spec = write(tmp_path, """
[sweep]
workload = "topo.csv"
[axes]
"tech.name" = ["horowitz45", "mine.toml"]
"memory.dram_bytes_per_cycle" = [0, 16]
""")
    df = sweep.run(spec, tmp_path / "r.sqlite", workers=1)
    assert list(df["status"]) == ["error", "ok", "error", "ok"]
    assert df.loc[0, "error"] == "memory.dram_bytes_per_cycle must be at least 1, got 0"
    ours, mine = df.loc[1], df.loc[3]
    assert mine["cycles"] == ours["cycles"] and mine["energy_pj"] > ours["energy_pj"]
    report = json.loads(ours["report"])
    assert report["kind"] == "run" and [r["name"] for r in report["layers"]] == ["conv1", "fc"]
    assert report["totals"]["energy_pj_per_batch"]["total"] == pytest.approx(ours["energy_pj"])
    # `sweep show --json`: params, status and metrics per point; pareto among them
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "tpu.cli", "sweep", "show", str(tmp_path / "r.sqlite"),
                           "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["kind"] == "sweep" and data["schema_version"] >= 1
    assert data["points"][0] == {"params": {"tech.name": "horowitz45", "memory.dram_bytes_per_cycle": 0},
                                 "status": "error", "error": df.loc[0, "error"], "cycles": None,
                                 "energy_pj": None, "area_mm2": None, "dram_bytes": None,
                                 "utilization": None, "seconds": None}
    assert [p["params"]["tech.name"] for p in data["pareto"]] == ["horowitz45"]

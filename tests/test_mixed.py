"""tpu study mixed: uniform points, per-layer sensitivity, a greedy allocation under a budget —
every point measured by running the compiled integer program."""

import json

import numpy as np
import pytest

import tpu
from tpu.cli import main
from tpu.compiler import compile as compile_graph
from tpu.compiler import reference
from tpu.compiler.quantize import quantize
from tpu.compiler.widths import LayerBits
from tpu.errors import TpuError
from tpu.mixed import BASE, mixed_study
from tpu.study import digits_workload, sqnr_db


@pytest.fixture(scope="module")
def full():
    """The digits CNN on all 360 held-out digits, default widths and a one-point budget."""
    return mixed_study(digits_workload(), tpu.load_config(), budget=1.0)


def test_finds_a_cheaper_assignment_within_one_point(full):
    base, chosen = full.base, full.chosen
    assert set(base.layers.values()) == {BASE}
    assert len(set(chosen.layers.values())) > 1  # really mixed
    assert chosen.accuracy >= base.accuracy - 0.01
    assert chosen.energy_pj < 0.9 * base.energy_pj
    # ... and no uniform width does as well inside the budget at that energy
    assert not any(p.accuracy >= base.accuracy - 0.01 and p.energy_pj <= chosen.energy_pj
                   for p in full.uniform)


def test_points_are_measured_runs(full):
    """A point's figures are those of compiling and running its assignment."""
    work = digits_workload()
    point = full.chosen
    graph = quantize(work.graph, work.calib, layer_bits=point.layers)
    r = compile_graph(graph, tpu.load_config()).run(work.x)
    assert point.accuracy == float(np.mean(np.argmax(r.outputs[0], 1) == work.labels))
    assert point.cycles == r.totals["cycles"]
    assert point.energy_pj == pytest.approx(r.totals["energy_pj"]["total"] / len(work.x))
    ref = reference.evaluate(work.graph, work.x)[0]
    assert point.sqnr_db == sqnr_db(ref, r.outputs[0])
    # narrowing a layer loses signal: every single-layer point is noisier than all-W8A8
    assert all(p.sqnr_db < full.base.sqnr_db for p in full.points if p.kind == "sensitivity")


def test_pareto_front_is_undominated(full):
    every = full.uniform + full.points
    front = [p for p in every if p.pareto]
    assert full.chosen.pareto and front
    for p in front:
        assert not any(q.accuracy >= p.accuracy and q.energy_pj <= p.energy_pj and
                       (q.accuracy > p.accuracy or q.energy_pj < p.energy_pj) for q in every)
    for p in every:
        if not p.pareto:
            assert any(q.accuracy >= p.accuracy and q.energy_pj <= p.energy_pj for q in front)


def test_cli_json_and_errors(tmp_path, capsys):
    out, png = tmp_path / "m.json", tmp_path / "m.png"
    argv = ["study", "mixed", "--batch", "40", "--weight-bits", "4,8", "--act-bits", "8",
            "--budget", "0", "--json", str(out), "--plot", str(png)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["kind"] == "study-mixed" and data["batch"] == 40
    assert [(u["weight_bits"], u["act_bits"]) for u in data["uniform"]] == [(4, 8), (8, 8)]
    for p in data["points"]:
        assert set(p["layers"]) == {"conv2d0", "conv2d3", "dense7"}
        assert {"accuracy", "energy_pj_per_inference", "cycles", "sqnr_db"} <= set(p)
    base = next(u for u in data["uniform"] if u["weight_bits"] == 8)
    assert data["chosen"]["accuracy"] >= base["accuracy"]  # a zero budget loses nothing
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "chosen within 0 points" in capsys.readouterr().out
    assert main(["study", "mixed", "--budget", "-1", "--json", str(tmp_path / "x.json")]) == 2
    assert main(["study", "mixed", "--config", "gemmini-16"]) == 2
    err = capsys.readouterr().err
    assert "multi_precision = true" in err


def test_plain_array_is_refused():
    with pytest.raises(TpuError, match="multi_precision"):
        mixed_study(digits_workload(10), tpu.load_config("gemmini-16"))
    assert LayerBits(8, 8) == BASE

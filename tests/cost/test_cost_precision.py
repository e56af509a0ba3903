"""Costs of the multi-precision array: PE operations by lane count, binary lanes, shifted sums,
the packing logic's area, and the tech tables' logic entries."""

import shutil

import numpy as np
import pytest

import tpu
from tpu.array import gemm
from tpu.array.activity import array_counts
from tpu.array.precision import Precision
from tpu.config import load_config
from tpu.cost import area, energy, load_tech
from tpu.cost.energy import Counts
from tpu.cost.pe import op_energy_pj
from tpu.cost.tech import TABLE_DIR
from tpu.errors import ConfigError

EDGE = load_config("edge-32")
H = load_tech("horowitz45")


def _run(precision, dataflow="ws"):
    config = EDGE.replace(dataflow=dataflow)
    rng = np.random.default_rng(0)
    p = precision

    def draw(bits, shape):
        return rng.choice([-1, 1], shape) if bits == 1 else rng.integers(0, 2 ** (bits - 1), shape)

    r = gemm(draw(p.act_bits, (64, 128)), draw(p.weight_bits, (128, 64)), config, precision=p)
    return array_counts(r.plan, config), config


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_passes_and_lanes_are_charged(dataflow):
    """16×16 does four times the int8 PE operations plus shifted sums; 4-bit lanes do half the
    operations, each cheaper than an int8 one; binary lanes cheaper still."""
    c8, cfg = _run(Precision(8, 8), dataflow)
    c16, _ = _run(Precision(16, 16), dataflow)
    c4, _ = _run(Precision(4, 4), dataflow)
    c1, _ = _run(Precision(1, 1), dataflow)
    assert c8.pe_ops == {"1x8x8": c8.macs} and c8.shifted_adds == 0
    assert c16.pe_ops == {"1x8x8": 4 * c8.macs} and c16.shifted_adds > 0
    assert c4.pe_ops == {"2x4x4": c8.macs // 2}
    assert c1.pe_ops == {"8x1x1": c8.macs // 8}
    e = {b: energy(c, cfg).mac for b, c in ((8, c8), (16, c16), (4, c4), (1, c1))}
    assert e[16] > 4 * e[8]
    assert e[1] < e[4] < e[8]


def test_op_energy_is_its_circuit():
    a = EDGE.array
    ext = 1  # sign modes widen the multiplier's inputs by a bit
    add = H.int_add.energy(32)
    assert op_energy_pj(H, a, 1, 8, 8) == pytest.approx(H.int_mult.energy(9 * 9) + add)
    assert op_energy_pj(H, a, 2, 4, 4) == pytest.approx(
        2 * H.int_mult.energy((4 + ext) ** 2) + H.int_add.energy(4 + 4 + 2 + 1) + add)
    assert op_energy_pj(H, a, 8, 1, 1) == pytest.approx(8 * H.xnor.energy(1) + H.popcount.energy(8) + add)
    plain = a.__class__(multi_precision=False, packing=False)
    assert op_energy_pj(H, plain, 1, 8, 8) == pytest.approx(H.int_mult.energy(64) + add)


def test_counts_add_their_pe_operations():
    c = Counts(macs=2, pe_ops={"1x8x8": 2}) + Counts(macs=4, pe_ops={"1x8x8": 1, "2x4x4": 2})
    assert dict(c.pe_ops) == {"1x8x8": 3, "2x4x4": 2} and c.macs == 6
    assert c.to_dict()["pe_ops"] == {"1x8x8": 3, "2x4x4": 2}
    with pytest.raises(ValueError, match="lanes x act field"):
        Counts(pe_ops={"int8": 1})


def test_packing_logic_costs_area():
    plain = area(EDGE.replace(multi_precision=False, packing=False)).array
    multi = area(EDGE).array
    assert 1.2 * plain < multi < 4 * plain
    for df in ("ws", "os"):  # every dataflow has some
        plain = EDGE.replace(dataflow=df, multi_precision=False, packing=False)
        assert area(EDGE.replace(dataflow=df)).array > area(plain).array


def test_float_arrays_cost_fp_units():
    bf16 = EDGE.replace(format="bf16", act_bits=16, weight_bits=16)
    e = energy(Counts(macs=10), bf16).mac
    assert e == pytest.approx(10 * (H.fp["bf16"].mult_pj + H.fp["fp32"].add_pj))
    assert area(bf16).array > area(EDGE.replace(act_bits=16, weight_bits=16, acc_bits=48)).array / 4


@pytest.mark.parametrize("name", ["horowitz45", "aladdin40"])
def test_logic_entries_cite_sources(name):
    t = load_tech(name)
    for unit in ("xnor", "popcount", "shifter"):
        curve = t.logic(unit)
        assert len(curve.source) > 20 and curve.energy(8) > 0 and curve.area(8) > 0
    assert t.popcount.energy(16) > 2 * t.popcount.energy(8) * 0.9  # grows about linearly


def test_table_without_logic_entries_says_what_is_missing(tmp_path):
    text = (TABLE_DIR / "horowitz45.toml").read_text()
    cut = text[: text.index("[xnor]")] + text[text.index("[dram]"):]
    (tmp_path / "horowitz45.toml").write_text(cut)
    t = load_tech("horowitz45", tmp_path)
    assert t.xnor is None
    with pytest.raises(ConfigError, match=r"no \[xnor\] section"):
        t.logic("xnor")
    shutil.rmtree(tmp_path)


def test_gemm_report_names_the_mode(tmp_path):
    r = gemm(np.ones((3, 4), int), np.ones((4, 2), int), tpu.load_config(), precision=Precision(4, 4))
    assert r.report()["precision"]["lanes"] == 2 and r.report()["format"] == "int"

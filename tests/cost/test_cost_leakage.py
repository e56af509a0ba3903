"""Leakage (static) power: the tables' values, bad values refused, energy = power x simulated
time, and how it grows with the array, the buffers and the run."""

import re
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpu.config import load_config
from tpu.cost import Counts, energy, leakage_mw, load_tech, pe_leakage_mw, sram_leakage_mw
from tpu.cost.area import pe_register_bits
from tpu.cost.buffers import buffers
from tpu.cost.pe import accumulator_shifters
from tpu.cost.tech import FP_FORMATS, LOGIC_UNITS, TABLE_DIR
from tpu.errors import ConfigError

TABLES = ("horowitz45", "aladdin40")
EDGE = load_config("edge-32")
BUFFERS = ("memory.weight_buffer_bytes", "memory.unified_buffer_bytes", "memory.accumulator_bytes")


def _raw(name):
    return tomllib.loads((TABLE_DIR / f"{name}.toml").read_text())


@pytest.mark.parametrize("name", TABLES)
def test_table_leakage_loads_as_written(name):
    raw, t = _raw(name), load_tech(name)
    for key in ("int_add", *LOGIC_UNITS):  # curves of x itself, exact at their points
        for x, _, _, mw in raw[key]["points"]:
            assert getattr(t, key).leakage(x) == mw
    for n, _, _, mw in raw["int_mult"]["points"]:  # an n x n point sits at n^2
        assert t.int_mult.leakage(n * n) == mw
    for fmt in FP_FORMATS:
        assert t.fp[fmt].add_leakage_mw == raw["fp"][fmt]["add_leakage_mw"] > 0
        assert t.fp[fmt].mult_leakage_mw == raw["fp"][fmt]["mult_leakage_mw"] > 0
    assert t.register.leakage_mw_per_bit == raw["register"]["leakage_mw_per_bit"] > 0
    assert [p[5] for p in t.sram.points] == [p[5] for p in raw["sram"]["points"]]
    assert t.to_dict()["sram"]["leakage"]["capacity_exp"] == t.sram.leakage.capacity_exp


@pytest.mark.parametrize("name", TABLES)
def test_sram_leakage_law_fits_its_cacti_points(name):
    """The table comments claim every point within a factor 1.12; the port-width exponent is
    held at zero or above (CACTI's cells leak whatever the port)."""
    s = load_tech(name).sram
    assert 0.9 < s.leakage.capacity_exp < 1.0 and s.leakage.width_exp >= 0
    for size, width, *_, mw in s.points:
        assert mw / 1.13 < sram_leakage_mw(load_tech(name), int(size), int(width)) < 1.13 * mw


def test_horowitz45_logic_leakage_is_aladdin_scaled_to_45nm():
    """The derivation the table documents: ALADDIN's 40 nm leakage x 1/0.869 (Stillmaker & Baas),
    widths scaled as the loader scales them."""
    h, a = load_tech("horowitz45"), load_tech("aladdin40")
    pairs = [(h.int_add.leakage(32), a.int_add.leakage(32)),
             (h.int_mult.leakage(32 * 32), a.int_mult.leakage(32 * 32)),
             (h.register.leakage_mw_per_bit, a.register.leakage_mw_per_bit),
             (h.xnor.leakage(32), a.xnor.leakage(32)), (h.shifter.leakage(32), a.shifter.leakage(32)),
             *((getattr(h.fp[f], k), getattr(a.fp[f], k)) for f in FP_FORMATS
               for k in ("add_leakage_mw", "mult_leakage_mw"))]
    for hv, av in pairs:
        assert hv / av == pytest.approx(1 / 0.869, rel=2e-3)
    assert h.int_add.leakage(8) == pytest.approx(h.int_add.leakage(32) / 4, rel=1e-3)  # linear
    assert h.int_mult.leakage(8 * 8) == pytest.approx(h.int_mult.leakage(32 * 32) / 16, rel=1e-3)


def _points_leaking(text: str, law) -> str:
    """Every SRAM point's leakage column replaced by ``law(bytes)``."""
    def row(m):
        cols = [c.strip() for c in m.group(1).split(",")]
        return "[" + ", ".join([*cols[:5], f"{law(float(cols[0])):.6g}"]) + "]"
    return re.sub(r"\[(\d+, \d+, [^\]\[]+)\]", row, text)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda t: t.replace("leakage_mw_per_bit = 8.51e-5", "leakage_mw_per_bit = -8.51e-5"),
         "register.leakage_mw_per_bit"),
        (lambda t: t.replace("leakage_mw_per_bit = 8.51e-5\n", ""), "register.leakage_mw_per_bit"),
        (lambda t: t.replace("mult_leakage_mw = 0.1379", 'mult_leakage_mw = "high"'),
         "fp.fp32.mult_leakage_mw"),
        (lambda t: t.replace("[32, 0.1, 137.0, 0.002589]", "[32, 0.1, 137.0, 0]"), "int_add.points[2]"),
        (lambda t: t.replace("[32, 0.1, 137.0, 0.002589]", "[32, 0.1, 137.0, 0.001]"),
         "int_add.points[2]"),  # leaks less than the 16-bit adder
        (lambda t: t.replace("[32, 0.9171, 656.3, 0.004658]", "[32, 0.9171, 656.3]"), "shifter.points[0]"),
        (lambda t: t.replace("[4096, 32, 2.541, 3.148, 13196, 4.899]",
                             "[4096, 32, 2.541, 3.148, 13196, -4.899]"), "sram.points[0]"),
        (lambda t: _points_leaking(t, lambda size: 1e9 / size), "sram.points"),  # falls with capacity
    ],
)
def test_bad_leakage_value_is_refused_naming_file_and_key(tmp_path, edit, key):
    text = (TABLE_DIR / "horowitz45.toml").read_text()
    bad = edit(text)
    assert bad != text
    (tmp_path / "horowitz45.toml").write_text(bad)
    with pytest.raises(ConfigError) as exc:
        load_tech("horowitz45", tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and str(tmp_path / "horowitz45.toml") in msg and key in msg
    if key == "sram.points":
        assert "leakage_mw" in msg


@pytest.mark.parametrize("name", TABLES)
def test_leakage_energy_is_static_power_times_seconds(name):
    """A plain int8 ws array: every PE's multiplier, adder and registers, every buffer, from
    the table; leakage energy is that power for cycles / clock seconds."""
    cfg = EDGE.replace(multi_precision=False, packing=False, **{"tech.name": name})
    t, a = load_tech(name), cfg.array
    pe = (t.int_mult.leakage(a.act_bits * a.weight_bits) + t.int_add.leakage(a.acc_bits)
          + pe_register_bits(a) * t.register.leakage_mw_per_bit)
    sram = sum(t.sram.leakage(b.size_bytes, b.port_bits) for b in buffers(cfg).values())
    power_w = (a.rows * a.cols * pe + sram) / 1e3
    assert leakage_mw(cfg) == pytest.approx(power_w * 1e3)
    assert pe_leakage_mw(t, a) == pytest.approx(pe)
    cycles = 12_345
    e = energy(Counts(cycles=cycles), cfg)
    assert e.leakage == pytest.approx(power_w * (cycles / cfg.clock.hz) * 1e12)  # J -> pJ
    assert e.total == e.leakage
    slow = cfg.replace(**{"clock.hz": cfg.clock.hz / 4})  # the same cycles last four times as long
    assert energy(Counts(cycles=cycles), slow).leakage == pytest.approx(4 * e.leakage)
    assert energy(Counts(macs=1000), cfg).leakage == 0  # no time, no leakage


@given(rows=st.integers(1, 128), cols=st.integers(1, 128), k=st.integers(2, 4),
       name=st.sampled_from(TABLES))
def test_leakage_grows_with_the_array(rows, cols, k, name):
    cfg = EDGE.replace(rows=rows, cols=cols, **{"tech.name": name})
    base = leakage_mw(cfg)
    assert leakage_mw(cfg.replace(rows=rows * k)) > base
    assert leakage_mw(cfg.replace(cols=cols * k)) > base
    t = load_tech(name)
    pes = leakage_mw(cfg) - sum(sram_leakage_mw(t, b.size_bytes, b.port_bits)
                                for b in buffers(cfg).values())
    assert pes == pytest.approx(rows * cols * pe_leakage_mw(t, cfg.array)
                                + accumulator_shifters(t, cfg.array, "leakage"))


@given(size=st.integers(1 << 10, 1 << 26), k=st.integers(2, 8), buffer=st.sampled_from(BUFFERS),
       name=st.sampled_from(TABLES))
def test_leakage_grows_with_buffer_capacity(size, k, buffer, name):
    cfg = EDGE.replace(**{buffer: size, "tech.name": name})
    bigger = cfg.replace(**{buffer: k * size})
    assert leakage_mw(bigger) > leakage_mw(cfg)


@given(c1=st.integers(0, 10**9), c2=st.integers(1, 10**9), name=st.sampled_from(TABLES))
def test_leakage_grows_with_runtime(c1, c2, name):
    cfg = EDGE.replace(**{"tech.name": name})
    e1, e2 = energy(Counts(cycles=c1), cfg).leakage, energy(Counts(cycles=c2), cfg).leakage
    both = energy(Counts(cycles=c1) + Counts(cycles=c2), cfg).leakage
    assert both == pytest.approx(e1 + e2) and both > e1

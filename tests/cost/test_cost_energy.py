"""Energy model: published anchors, scaling laws, and per-layer sums."""


import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpu.config import load_config
from tpu.cost import (
    Counts,
    Energy,
    Operands,
    dram_energy_pj_per_bit,
    energy,
    fp_mac_energy_pj,
    int_add_energy_pj,
    int_mult_energy_pj,
    load_tech,
    mac_energy_pj,
    register_energy_pj,
    sram_energy_pj,
)
from tpu.errors import ConfigError

H = load_tech("horowitz45")
A = load_tech("aladdin40")
TABLES = [H, A]
bits = st.integers(2, 32)


def test_horowitz_anchors_exact():
    # Horowitz ISSCC 2014 (docs/cost.md, "The tables and their sources"), reproduced exactly.
    assert int_mult_energy_pj(H, 8, 8) == 0.2
    assert int_mult_energy_pj(H, 32, 32) == 3.1
    assert int_add_energy_pj(H, 8) == 0.03
    assert int_add_energy_pj(H, 16) == 0.05
    assert int_add_energy_pj(H, 32) == 0.1
    assert fp_mac_energy_pj(H, "fp32") == pytest.approx(3.7 + 0.9)
    assert fp_mac_energy_pj(H, "fp16") == pytest.approx(1.1 + 0.4)


def test_aladdin_anchors_exact():
    # Accelergy's Aladdin 40 nm units at 1 ns.
    assert int_mult_energy_pj(A, 32, 32) == 12.68
    assert int_add_energy_pj(A, 32) == 0.21
    assert register_energy_pj(A, 1) == 0.009
    assert fp_mac_energy_pj(A, "fp32") == pytest.approx(35.32 + 16.68)


def test_int8_mac_is_the_sum_of_its_parts():
    assert mac_energy_pj(H, 8, 8, 32) == pytest.approx(0.2 + 0.1)


def test_fp32_mac_much_costlier_than_int8_mac():
    # Horowitz: fp32 MAC ~4.6 pJ vs an int8 multiply with a 32-bit add ~0.3 pJ (>10x).
    for t in TABLES:
        assert fp_mac_energy_pj(t, "fp32") > 10 * mac_energy_pj(t, 8, 8, 32)
        fp32, fp16, bf16 = (fp_mac_energy_pj(t, f) for f in ("fp32", "fp16", "bf16"))
        assert fp32 > fp16 > bf16


def test_16bit_vs_8bit_mac_ratio():
    # The multiplier quadruples (2x width, squared); the 32-bit adder stays: Horowitz gives
    # (4 * 0.2 + 0.1) / (0.2 + 0.1) = 3.0 under a pure square law; interpolation to the 32-bit
    # point (3.1 pJ, not 16 * 0.2 = 3.2) lowers it slightly.
    ratio = mac_energy_pj(H, 16, 16, 32) / mac_energy_pj(H, 8, 8, 32)
    assert 2.8 < ratio <= 3.0
    assert 3.7 < int_mult_energy_pj(H, 16, 16) / int_mult_energy_pj(H, 8, 8) <= 4.0


small = st.integers(0, 8)


@given(a=bits, w=bits, acc=bits, da=small, dw=small, dacc=st.integers(0, 32))
def test_mac_energy_monotone_in_every_width(a, w, acc, da, dw, dacc):
    for t in TABLES:
        assert mac_energy_pj(t, a + da, w + dw, acc + dacc) >= mac_energy_pj(t, a, w, acc)


@given(n=st.integers(2, 64))
def test_multiplier_quadratic_adder_linear(n):
    for t in TABLES:
        # Doubling both operands: ~4x (exactly 4 where one law holds, within the 3.1-vs-3.2
        # disagreement of Horowitz's 8- and 32-bit points otherwise).
        mult = int_mult_energy_pj(t, n, n)
        assert int_mult_energy_pj(t, 2 * n, 2 * n) / mult == pytest.approx(4, rel=0.04)
        # Doubling one operand doubles the product a*w.
        assert int_mult_energy_pj(t, n, 2 * n) / mult == pytest.approx(2, rel=0.04)
        assert int_add_energy_pj(t, 2 * n) / int_add_energy_pj(t, n) == pytest.approx(2, rel=0.25)
    assert int_add_energy_pj(A, 2 * n) == pytest.approx(2 * int_add_energy_pj(A, n))


@given(size=st.integers(64, 1 << 26), k=st.integers(2, 16), width=st.integers(8, 4096))
def test_sram_grows_like_sqrt_capacity(size, k, width):
    for t in TABLES:
        for write in (False, True):
            small = sram_energy_pj(t, size, width, write)
            big = sram_energy_pj(t, size * k, width, write)
            # CACTI's points follow ~capacity^0.45-0.55 (H-tree and bitline lengths ~ sqrt)
            assert k ** 0.4 <= big / small <= k ** 0.6


@given(size=st.integers(64, 1 << 24), w=st.integers(1, 1024), k=st.integers(2, 8))
def test_sram_wider_ports_cost_more_per_access_less_per_bit(size, w, k):
    for t in TABLES:
        narrow, wide = sram_energy_pj(t, size, w), sram_energy_pj(t, size, k * w)
        assert narrow < wide < k * narrow


def test_register_energy_linear():
    for t in TABLES:
        assert register_energy_pj(t, 32) == pytest.approx(4 * register_energy_pj(t, 8))


def test_dram_ordering_per_design():
    # docs/cost.md "DRAM types": DDR3 > LPDDR > GDDR5 > LPDDR4 > HBM2, and DDR4 between DDR3 and LPDDR4.
    for t in TABLES:
        e = {k: dram_energy_pj_per_bit(t, k) for k in ("ddr3", "lpddr", "gddr5", "lpddr4", "hbm2")}
        assert list(e.values()) == sorted(e.values(), reverse=True)
        assert (e["ddr3"], e["lpddr"], e["gddr5"], e["lpddr4"], e["hbm2"]) == (70, 40, 14, 8, 3.9)
        assert e["ddr3"] > dram_energy_pj_per_bit(t, "ddr4") > e["lpddr4"]


def test_bad_inputs():
    with pytest.raises(ConfigError, match="hbm3"):
        dram_energy_pj_per_bit(H, "hbm3")
    with pytest.raises(ConfigError, match="fp8"):
        fp_mac_energy_pj(H, "fp8")
    with pytest.raises(ValueError, match="act_bits"):
        mac_energy_pj(H, 0, 8, 32)
    with pytest.raises(ValueError, match="macs"):
        Counts(macs=-1)


_bytes = st.integers(0, 10**8)
operands = st.builds(Operands, _bytes, _bytes, _bytes)
counts = st.builds(
    Counts,
    macs=st.integers(0, 10**9),
    weight_register_writes=st.integers(0, 10**9),
    act_register_writes=st.integers(0, 10**9),
    psum_register_writes=st.integers(0, 10**9),
    sram_reads=operands,
    sram_writes=operands,
    dram_bytes=operands,
    accumulator_reads=st.integers(0, 10**8),
    accumulator_writes=st.integers(0, 10**8),
    cycles=st.integers(0, 10**9),
)
CONFIGS = [load_config("edge-32"), load_config("tpu-v1")]


@given(c=counts)
def test_total_is_sum_of_parts(c):
    for cfg in CONFIGS:
        e = energy(c, cfg)
        assert e.total == e.mac + e.register + e.sram + e.dram + e.vector + e.leakage
        assert e.to_dict()["total"] == e.total
        assert min(e.mac, e.register, e.sram, e.dram, e.leakage) >= 0


@given(c1=counts, c2=counts)
def test_energy_is_additive_over_layers(c1, c2):
    cfg = CONFIGS[0]
    both = energy(c1 + c2, cfg)
    parts = energy(c1, cfg) + energy(c2, cfg)
    for k in ("mac", "register", "sram", "dram", "leakage", "total"):
        assert getattr(both, k) == pytest.approx(getattr(parts, k), rel=1e-12, abs=1e-9)
    assert sum([c1, c2]) == c1 + c2
    assert sum([energy(c1, cfg)]).total == energy(c1, cfg).total


def test_energy_charges_each_count_at_its_unit_cost():
    cfg = load_config("edge-32").replace(multi_precision=False, packing=False)  # a plain int8 array
    a, m = cfg.array, cfg.memory
    e = energy(Counts(macs=10), cfg)
    assert e.mac == pytest.approx(10 * mac_energy_pj(H, a.act_bits, a.weight_bits, a.acc_bits))
    e = energy(Counts(psum_register_writes=3, act_register_writes=5), cfg)
    assert e.register == pytest.approx((3 * 32 + 5 * 8) * H.register.energy_pj_per_bit)
    e = energy(Counts(sram_reads={"weights": 32}, sram_writes={"outputs": 64}), cfg)
    # 32 bytes = one read of the weight buffer's 32-int8 (256-bit) port; 64 bytes = two writes
    # of the unified buffer's 256-bit port.
    want = sram_energy_pj(H, m.weight_buffer_bytes, 256)
    want += 2 * sram_energy_pj(H, m.unified_buffer_bytes, 256, write=True)
    assert e.sram == pytest.approx(want)
    e = energy(Counts(dram_bytes={"inputs": 100}), cfg)
    assert e.dram == pytest.approx(100 * 8 * 8.0)  # lpddr4: 8 pJ/bit
    assert Energy(1, 2, 3, 4).total == 10


def test_wider_operands_cost_more_for_the_same_counts():
    c = Counts(macs=1000, act_register_writes=1000, psum_register_writes=1000)
    base = load_config("edge-32")
    wide = base.replace(act_bits=16, weight_bits=16)
    assert energy(c, wide).mac > 2.5 * energy(c, base).mac
    assert energy(c, wide).register > energy(c, base).register


def test_unknown_tech_in_config_is_a_config_error():
    cfg = load_config("edge-32")
    bad = cfg.__class__(array=cfg.array, memory=cfg.memory, clock=cfg.clock,
                        tech=cfg.tech.__class__(name="nope"))
    with pytest.raises(ConfigError, match="'nope'.*horowitz45"):
        energy(Counts(macs=1), bad)


def test_aladdin40_changes_the_estimate():
    cfg = load_config("edge-32")
    c = Counts(macs=1000)
    other = cfg.__class__(array=cfg.array, memory=cfg.memory, clock=cfg.clock,
                          tech=cfg.tech.__class__(name="aladdin40"))
    # Aladdin's 1 ns 32x32 multiplier (12.68 pJ) is costlier than Horowitz's (3.1 pJ).
    assert energy(c, other).mac > energy(c, cfg).mac

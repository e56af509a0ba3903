"""Area model: anchors, PE-count linearity, SRAM linearity."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpu.config import load_config
from tpu.cost import area, fp_mac_area_um2, load_tech, mac_area_um2, pe_area_um2, sram_area_mm2
from tpu.cost.area import pe_register_bits
from tpu.cost.pe import accumulator_shifters

H = load_tech("horowitz45")


def test_horowitz_area_anchors():
    assert mac_area_um2(H, 8, 8, 32) == 282.0 + 137.0
    assert mac_area_um2(H, 32, 32, 8) == 3495.0 + 36.0
    assert fp_mac_area_um2(H, "fp32") == 7700.0 + 4184.0
    assert fp_mac_area_um2(H, "fp32") > 20 * mac_area_um2(H, 8, 8, 32)


@given(rows=st.integers(1, 256), cols=st.integers(1, 256), k=st.integers(2, 4))
def test_array_area_linear_in_pe_count(rows, cols, k):
    cfg = load_config("edge-32")
    one = dataclasses.replace(cfg, array=dataclasses.replace(cfg.array, rows=rows, cols=cols))
    more = dataclasses.replace(cfg, array=dataclasses.replace(cfg.array, rows=rows * k, cols=cols))
    shifters = accumulator_shifters(H, one.array) / 1e6  # one per column (sliced sums)
    assert shifters > 0
    assert area(more).array - shifters == pytest.approx(k * (area(one).array - shifters))
    assert area(more).sram >= area(one).sram  # a taller array may widen the unified buffer port
    assert area(one).array == pytest.approx(rows * cols * pe_area_um2(H, cfg.array) / 1e6 + shifters)


@given(size=st.integers(1, 1 << 26), width=st.integers(1, 4096), k=st.integers(2, 8))
def test_sram_area_grows_with_capacity_and_port_width(size, width, k):
    for name in ("horowitz45", "aladdin40"):
        t = load_tech(name)
        a = sram_area_mm2(t, size, width)
        # nearly linear in capacity (cells), weakly growing with the port (periphery)
        assert k ** 0.9 * a < sram_area_mm2(t, k * size, width) <= k * a
        assert a < sram_area_mm2(t, size, k * width) < k ** 0.3 * a


@pytest.mark.parametrize("name", ["horowitz45", "aladdin40"])
def test_sram_law_fits_its_cacti_points(name):
    t = load_tech(name)
    for size, width, read, write, um2, _ in t.sram.points:
        assert read / 2 < t.sram.read_pj(size, width) < 2 * read
        assert write / 2 < t.sram.write_pj(size, width) < 2 * write
        assert um2 / 2 < t.sram.area_um2(size, width) < 2 * um2


def test_total_and_plausible_magnitudes():
    a = area(load_config("tpu-v1"))
    assert a.total == a.array + a.sram
    assert a.to_dict() == {"array": a.array, "sram": a.sram, "total": a.total}
    # 28.25 MiB of SRAM at 45 nm with Intel's 0.346 um2 6T cell (Mistry et al., IEDM 2007):
    # between the bitcells alone and 3x that (CACTI's periphery, wide ports).
    cells = (25165824 + 4194304 + 262144) * 8 * 0.346 / 1e6
    assert cells < a.sram < 3 * cells


def test_pe_registers_follow_the_dataflow():
    """ws/is keep two banks of the stationary operand; os keeps a shadow sum for draining."""
    ws = load_config("edge-32").replace(act_bits=4, weight_bits=8, acc_bits=24, multi_precision=False,
                                        packing=False)
    is_, os_ = ws.replace(dataflow="is"), ws.replace(dataflow="os")
    assert pe_register_bits(ws.array) == 4 + 2 * 8 + 24 + 1
    assert pe_register_bits(is_.array) == 8 + 2 * 4 + 24 + 1
    assert pe_register_bits(os_.array) == 4 + 8 + 2 * 24 + 2
    diff = pe_area_um2(H, ws.array) - pe_area_um2(H, is_.array)
    assert diff == pytest.approx(4 * H.register.area_um2_per_bit)


def test_40nm_is_smaller_per_sram_byte():
    assert sram_area_mm2(load_tech("aladdin40"), 1 << 20, 128) < sram_area_mm2(H, 1 << 20, 128)


def test_buffer_ports_follow_the_array():
    """A wider array has wider buffer ports: same capacity, more SRAM area."""
    from tpu.cost.buffers import buffers

    cfg = load_config("edge-32")
    b = buffers(cfg)
    assert (b["weights"].port_bits, b["unified"].port_bits, b["accumulators"].port_bits) == (256, 256, 1024)
    wide = cfg.replace(cols=128)
    assert buffers(wide)["weights"].port_bits == 1024
    assert area(wide).sram > area(cfg).sram
    assert buffers(cfg.replace(rows=64, dataflow="is"))["weights"].port_bits == 64 * 8

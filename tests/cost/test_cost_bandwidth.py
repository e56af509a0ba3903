"""Roofline helpers against TPU v1's published figures (docs/machine.md, "TPU v1 check")."""

import pytest

from tpu.config import load_config
from tpu.cost import (
    attainable_macs_per_second,
    peak_macs_per_second,
    ridge_macs_per_byte,
    roofline_seconds,
)


def test_tpu_v1_peak_and_ridge():
    cfg = load_config("tpu-v1")
    # 92 TOPS = 2 ops per MAC x 256 x 256 x 700 MHz.
    assert 2 * peak_macs_per_second(cfg) == pytest.approx(92e12, rel=0.005)
    # Ridge ~1350 MACs per weight byte (34 GB/s; the preset rounds to 48 B/cycle).
    assert ridge_macs_per_byte(cfg) == pytest.approx(1350, rel=0.02)


def test_roofline_bounds():
    cfg = load_config("edge-32")
    peak, ridge = peak_macs_per_second(cfg), ridge_macs_per_byte(cfg)
    assert attainable_macs_per_second(cfg, 10**6, 0) == peak
    assert attainable_macs_per_second(cfg, int(4 * ridge), 1) == peak
    assert attainable_macs_per_second(cfg, int(ridge), 4) == pytest.approx(peak / 4)
    assert roofline_seconds(cfg, 1024 * 1000, 0) == pytest.approx(1000 / cfg.clock.hz)
    assert roofline_seconds(cfg, 0, 16 * 500) == pytest.approx(500 / cfg.clock.hz)

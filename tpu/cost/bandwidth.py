"""Roofline quantities of a config: peak compute, DRAM bandwidth, ridge point, bounds."""

from __future__ import annotations


def peak_macs_per_second(config) -> float:
    return config.array.rows * config.array.cols * config.clock.hz


def dram_bytes_per_second(config) -> float:
    return config.memory.dram_bytes_per_cycle * config.clock.hz


def ridge_macs_per_byte(config) -> float:
    """Arithmetic intensity (MACs per DRAM byte) above which a layer is compute-bound."""
    return peak_macs_per_second(config) / dram_bytes_per_second(config)


def attainable_macs_per_second(config, macs: int, dram_bytes: int) -> float:
    """Roofline: min(peak, intensity x DRAM bandwidth); a layer with no DRAM traffic is at peak."""
    peak = peak_macs_per_second(config)
    if dram_bytes == 0:
        return peak
    return min(peak, macs / dram_bytes * dram_bytes_per_second(config))


def roofline_seconds(config, macs: int, dram_bytes: int) -> float:
    """Lower bound on run time: the slower of computing and moving the DRAM bytes."""
    return max(macs / peak_macs_per_second(config), dram_bytes / dram_bytes_per_second(config))

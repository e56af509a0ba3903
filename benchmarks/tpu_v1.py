"""The TPU v1 paper check (Jouppi et al., ISCA 2017): our tpu-v1 preset's roofline figures
beside the paper's. Run: python benchmarks/tpu_v1.py

Timing of the two GEMMs: the compiler's scoreboard at the preset's DRAM bandwidth (48 B/cycle),
each GEMM as a layer in the middle of a network (input and output in the unified buffer, see
tpu.roofline), and, for comparison, the analytic bound max(matrix-unit cycles, weight bytes the
program moves / DRAM bytes per cycle). The conv-shaped GEMM's weights (2304×256) do not fit the
256 KiB weight buffer, and its 8192 rows need four passes through the 2048-row accumulator
halves, so the program reloads them per pass.
"""

from __future__ import annotations

from tpu.array import gemm_cycles
from tpu.array.schedule import accumulator_rows
from tpu.config import load_config
from tpu.report import markdown_table
from tpu.roofline import gemm_point, roof, tops

PAPER_WEIGHT_BW = 34e9  # bytes/s, DDR3 weight memory
PAPER_PEAK_TOPS = 92.0
PAPER_RIDGE = 1350  # MACs per weight byte
PAPER_MLP0_MEASURED_TOPS = 12.3
FC = (200, 2048, 2048)  # a fully connected layer at batch 200 (MLP0-like)
CONV = (8192, 2304, 256)  # a 3×3×256→256 convolution on 8192 output pixels, as a GEMM


def analytic_tops(config, m, k, n, weight_bytes: int) -> float:
    """max(matrix-unit cycles, the weight bytes the program moves / DRAM bytes per cycle)."""
    cycles = max(gemm_cycles(m, k, n, config), weight_bytes / config.memory.dram_bytes_per_cycle)
    return tops(m * k * n / (cycles / config.clock.hz))


def main() -> None:
    config = load_config("tpu-v1")
    machine = roof(config)
    fc, conv = gemm_point(*FC, config), gemm_point(*CONV, config)
    fc_roof_paper = tops(FC[0] * PAPER_WEIGHT_BW)  # intensity 200 MACs per weight byte
    rows = [
        ("peak (TOPS)", f"{PAPER_PEAK_TOPS:.0f}", f"{machine.peak_tops:.2f}", "256×256 MACs × 700 MHz × 2"),
        ("weight DRAM (GB/s)", f"{PAPER_WEIGHT_BW / 1e9:.0f}", f"{machine.dram_bytes_per_s / 1e9:.1f}",
         "48 bytes/cycle × 700 MHz"),
        ("ridge (MACs/weight byte)", f"≈{PAPER_RIDGE}", f"{machine.ridge_macs_per_byte:,.0f}", ""),
        ("FC 200×2048·2048 roof (TOPS)", f"{fc_roof_paper:.1f}", f"{tops(fc.attainable_macs_per_s):.2f}",
         "200 MACs per weight byte × bandwidth"),
        ("FC 200×2048·2048 run (TOPS)", f"{PAPER_MLP0_MEASURED_TOPS} (MLP0)", f"{fc.achieved_tops:.2f}",
         f"scoreboard, {fc.cycles:,} cycles, {fc.bound}-bound"),
        ("  analytic max(compute, weights/bw)", "", f"{analytic_tops(config, *FC, fc.weight_bytes):.2f}",
         f"{fc.weight_bytes / 2**20:.2f} MiB of weights moved"),
        ("conv GEMM 8192×2304·256 (TOPS)", "near peak", f"{conv.achieved_tops:.2f}",
         f"scoreboard, {conv.fraction_of_roof:.0%} of peak, {conv.bound}-bound"),
        ("  analytic max(compute, weights/bw)", "", f"{analytic_tops(config, *CONV, conv.weight_bytes):.2f}",
         f"{conv.weight_bytes / 2**20:.2f} MiB of weights moved: {conv.weight_bytes // (CONV[1] * CONV[2])}× "
         f"({CONV[0] // accumulator_rows(config)} accumulator chunks)"),
    ]
    print(markdown_table(("quantity", "paper", "ours", "how"), rows))


if __name__ == "__main__":
    main()
